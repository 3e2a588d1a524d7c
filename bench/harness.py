"""Run a contender in a fresh interpreter and measure wall time and peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_rss_mb: float
    result: dict[str, Any]


def measure(module_args: list[str], cwd: Path | None = None) -> Measurement:
    """`python -m bench.contenders <args>` in a child; peak RSS from wait4 (Linux: KiB)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.contenders", *module_args],
        stdout=subprocess.PIPE,
        cwd=cwd,
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"contender {module_args} exited with {child.returncode}")
    result = json.loads(output.decode().strip().splitlines()[-1]) if output.strip() else {}
    return Measurement(seconds=seconds, peak_rss_mb=usage.ru_maxrss / 1024, result=result)


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def row(label: str, ours: float, baseline: float, unit: str, better: str) -> str:
    ratio = baseline / ours if better == "lower" else ours / baseline
    figures = f"{ours:>12.3f} {unit:<4} vs baseline {baseline:>12.3f} {unit:<4}"
    return f"  {label:<34} {figures} ratio {ratio:>7.2f}x"
