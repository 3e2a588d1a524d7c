"""Ending the offline stack's worker processes (Lambda workers, job containers)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import IO, Any


def kill_group(
    process: subprocess.Popen[Any] | None, requests: IO[bytes] | None, grace: float
) -> None:
    """SIGKILL a worker's process group (it leads one), reap it within `grace` seconds,
    and close the pipe its requests went down."""
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    if requests is not None:
        with contextlib.suppress(OSError, ValueError):
            requests.close()
