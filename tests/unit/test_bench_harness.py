"""The bench's memory figure: a contender's own peak, whatever its parent holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PARENT_MB = 300
# On Linux the child's ru_maxrss starts at this process's resident set (300+ MB here).
CHILD = "from bench.harness import own_peak_rss_mb; print(own_peak_rss_mb())"


def test_a_child_reports_its_own_peak_not_its_parents() -> None:
    held = bytearray(PARENT_MB * 1024 * 1024)
    held[::4096] = b"\x01" * len(range(0, len(held), 4096))  # every page resident
    child = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert float(child.stdout) < PARENT_MB / 2
    del held
