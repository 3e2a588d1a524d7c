"""Run a contender in a fresh interpreter and measure wall time and peak memory."""

from __future__ import annotations

import json
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


def own_peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB.

    Not ru_maxrss: Linux starts a child's ru_maxrss at its parent's resident set at the
    fork, so a child of a large parent (the bench, after generating data) reports at
    least the parent's size. VmHWM belongs to the address space exec gave the child.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM (the bench measures memory on Linux)")


def measure(module_args: list[str], cwd: Path | None = None) -> Measurement:
    """`python -m bench.contenders <args>` in a child, which reports its own peak RSS."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.contenders", *module_args],
        stdout=subprocess.PIPE,
        cwd=cwd,
    )
    assert child.stdout is not None
    output = child.stdout.read()
    status = child.wait()
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"contender {module_args} exited with {status}")
    result = json.loads(output.decode().strip().splitlines()[-1])
    peak_rss_mb = float(result.pop("peak_rss_mb"))
    return Measurement(seconds=seconds, peak_rss_mb=peak_rss_mb, result=result)


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def row(label: str, ours: float, baseline: float, unit: str, better: str) -> str:
    ratio = baseline / ours if better == "lower" else ours / baseline
    figures = f"{ours:>12.3f} {unit:<4} vs baseline {baseline:>12.3f} {unit:<4}"
    return f"  {label:<34} {figures} ratio {ratio:>7.2f}x"
