"""Run every benchmark; figures are printed and written to bench/results/*.json."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SUITE = [
    "w1_run.py",
    "w2_service.py",
    "w3_tools.py",
    "w4_fanout.py",
    "startup.py",
    "w6_server.py",
    "w7_journal.py",
    "w8_scale.py",
]

if __name__ == "__main__":
    for name in SUITE:
        subprocess.run([sys.executable, str(HERE / name), *sys.argv[1:]], cwd=HERE, check=True)
