"""The offline stack's worker processes (Lambda workers, job containers): the allocator
settings they start with, and how they end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import IO, Any, Final

# glibc's allocator keeps up to 256 MiB of freed memory instead of handing it back to the
# system after each invocation or job: a warm worker runs one after another, and the
# next one then faulted its buffers in again (a job container's training phase
# 0.161-0.181 -> 0.141-0.143 s, medians of 10; a warm run 13-14 ms faster with the Lambda
# workers' too, in two pairs of 11 runs). The bench's plain-compute process starts with
# the same settings, so that both sides compute alike.
ALLOCATOR_ENVIRONMENT: Final = {
    "MALLOC_TOP_PAD_": str(128 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(256 * 1024 * 1024),
}


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
