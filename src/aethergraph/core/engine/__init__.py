"""The engine: decorators, NodeContext, the run lifecycle, the scheduler, runs from outside.

Importing the package installs the ``runner`` built-in, whose provider needs the whole engine.
"""

from aethergraph.core.engine import runner_service as runner_service
