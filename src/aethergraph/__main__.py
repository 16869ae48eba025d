"""``python -m aethergraph``: the ``aethergraph`` command line."""

import sys

from aethergraph.cli.main import main

sys.exit(main())
