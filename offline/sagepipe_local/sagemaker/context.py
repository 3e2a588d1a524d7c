"""What every part of the emulator shares: settings, S3, the registry, background threads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sagepipe_local.sagemaker.naming import ArnFactory
from sagepipe_local.sagemaker.s3 import ObjectStore
from sagepipe_local.sagemaker.state import Registry

logger = logging.getLogger(__name__)


@dataclass
class BackgroundWork:
    """Daemon threads for jobs and endpoint loads, stoppable as a group."""

    shutting_down: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def stop(self, timeout_seconds: float) -> None:
        self.shutting_down.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=timeout_seconds)
            if thread.is_alive():
                logger.warning("background thread %s did not stop in time", thread.name)


@dataclass
class EmulatorContext:
    region: str
    arns: ArnFactory
    s3: ObjectStore
    registry: Registry
    work_dir: Path
    phase_delay_seconds: float
    background: BackgroundWork = field(default_factory=BackgroundWork)

    def pause(self, seconds: float | None = None) -> bool:
        """Sleep one phase (or `seconds`); True when the emulator is shutting down."""
        delay = self.phase_delay_seconds if seconds is None else seconds
        return self.background.shutting_down.wait(delay)
