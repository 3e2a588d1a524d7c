"""The registry of SageMaker resources, optionally persisted as one JSON file.

Every record is plain data (JSON types only) so the file is a direct dump. All reads
and writes of records go through `Registry.lock`; the server is threaded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STATE_FILE_NAME = "sagemaker-state.json"
FORMAT_VERSION = 1

JOB_TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})


def now() -> float:
    return time.time()


@dataclass
class ModelRecord:
    name: str
    arn: str
    request: dict[str, Any]
    created: float


@dataclass
class EndpointConfigRecord:
    name: str
    arn: str
    request: dict[str, Any]
    created: float

    @property
    def variants(self) -> list[dict[str, Any]]:
        variants: list[dict[str, Any]] = self.request.get("ProductionVariants", [])
        return variants


@dataclass
class EndpointRecord:
    name: str
    arn: str
    status: str
    created: float
    last_modified: float
    config_name: str  # the config that serves (or will serve, while Creating)
    pending_config_name: str | None = None  # the target of an UpdateEndpoint in progress
    pending_started: float | None = None
    failure_reason: str | None = None
    deployment_config: dict[str, Any] | None = None
    # Bumped on every create/update/delete so a slow loader can tell it was overtaken.
    generation: int = 0


@dataclass
class StatusTransition:
    status: str
    start: float
    message: str
    end: float | None = None


@dataclass
class JobRecord:
    kind: str
    name: str
    arn: str
    request: dict[str, Any]
    status: str
    created: float
    last_modified: float
    secondary_status: str | None = None
    transitions: list[StatusTransition] = field(default_factory=list)
    started: float | None = None
    ended: float | None = None
    failure_reason: str | None = None
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.status in JOB_TERMINAL_STATUSES


class Registry:
    def __init__(self, state_dir: Path | None) -> None:
        self.lock = threading.RLock()
        self.models: dict[str, ModelRecord] = {}
        self.endpoint_configs: dict[str, EndpointConfigRecord] = {}
        self.endpoints: dict[str, EndpointRecord] = {}
        self.jobs: dict[str, dict[str, JobRecord]] = {}
        self._state_file = state_dir / STATE_FILE_NAME if state_dir is not None else None

    def jobs_of(self, kind: str) -> dict[str, JobRecord]:
        with self.lock:
            return self.jobs.setdefault(kind, {})

    def save(self) -> None:
        """Write the whole registry atomically; call after every change, under the lock."""
        if self._state_file is None:
            return
        with self.lock:
            document = {
                "format_version": FORMAT_VERSION,
                "models": [dataclasses.asdict(r) for r in self.models.values()],
                "endpoint_configs": [dataclasses.asdict(r) for r in self.endpoint_configs.values()],
                "endpoints": [dataclasses.asdict(r) for r in self.endpoints.values()],
                "jobs": [
                    dataclasses.asdict(record)
                    for table in self.jobs.values()
                    for record in table.values()
                ],
            }
            self._state_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = self._state_file.with_suffix(".tmp")
            temporary.write_text(json.dumps(document, indent=1))
            temporary.replace(self._state_file)

    def load(self) -> bool:
        """Read the state file if there is one; False when there was nothing to load."""
        if self._state_file is None or not self._state_file.exists():
            return False
        try:
            document = json.loads(self._state_file.read_text())
            if not isinstance(document, dict):
                raise TypeError("the state file is not a JSON object")
            return self._load_document(document)
        except (ValueError, TypeError, KeyError) as error:
            # A damaged file must not keep the offline stack from starting.
            aside = self._state_file.with_suffix(".unreadable")
            self._state_file.replace(aside)
            logger.warning("%s is unreadable (%s); moved to %s", self._state_file, error, aside)
            with self.lock:
                self.models.clear()
                self.endpoint_configs.clear()
                self.endpoints.clear()
                self.jobs.clear()
            return False

    def _load_document(self, document: dict[str, Any]) -> bool:
        if document.get("format_version") != FORMAT_VERSION:
            logger.warning(
                "ignoring %s: format version %s is not %s",
                self._state_file,
                document.get("format_version"),
                FORMAT_VERSION,
            )
            return False
        with self.lock:
            for data in document.get("models", []):
                model = ModelRecord(**data)
                self.models[model.name] = model
            for data in document.get("endpoint_configs", []):
                config = EndpointConfigRecord(**data)
                self.endpoint_configs[config.name] = config
            for data in document.get("endpoints", []):
                endpoint = EndpointRecord(**data)
                self.endpoints[endpoint.name] = endpoint
            for data in document.get("jobs", []):
                transitions = [StatusTransition(**t) for t in data.pop("transitions", [])]
                job = JobRecord(**data, transitions=transitions)
                self.jobs_of(job.kind)[job.name] = job
        return True
