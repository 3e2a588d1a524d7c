"""Typed views of the state machine's data (see docs/design.md, State machine data).

Each step reads the parts it needs from its Lambda event with `from_dict` and returns
its own record with `to_dict`; Step Functions stores that at the step's ResultPath.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunInput:
    run_id: str
    model: str
    version: str
    bucket: str
    key: str
    version_id: str | None
    size: int
    poll_seconds: int
    # Above this object size the run preprocesses in a SageMaker Processing job instead
    # of the preprocess Lambda (the state machine's Choice compares `size` with it).
    processing_threshold_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.processing_threshold_bytes is None:
            del data["processing_threshold_bytes"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunInput:
        threshold = data.get("processing_threshold_bytes")
        return cls(
            run_id=str(data["run_id"]),
            model=str(data["model"]),
            version=str(data["version"]),
            bucket=str(data["bucket"]),
            key=str(data["key"]),
            version_id=data.get("version_id"),
            size=int(data.get("size", 0)),
            poll_seconds=int(data["poll_seconds"]),  # the Wait states read it: no default
            processing_threshold_bytes=None if threshold is None else int(threshold),
        )


@dataclass(frozen=True)
class Prepared:
    """What preprocessing produced: channel URIs, the contract, the resolved settings."""

    config: dict[str, Any]
    algorithm: str
    content_type: str
    train_uri: str
    validation_uri: str | None
    test_features_uri: str
    test_labels_uri: str
    schema_uri: str
    profile_uri: str
    rows: dict[str, int]
    feature_count: int
    train_target_mean: float
    dropped: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prepared:
        return cls(**data)


@dataclass(frozen=True)
class ProcessingRef:
    """The SageMaker Processing job that preprocesses a large input."""

    job_name: str
    image: str
    instance_type: str
    prepared_uri: str  # where the job writes the Prepared record (prepared.json)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessingRef:
        return cls(
            job_name=str(data["job_name"]),
            image=str(data["image"]),
            instance_type=str(data["instance_type"]),
            prepared_uri=str(data["prepared_uri"]),
        )


@dataclass(frozen=True)
class TrainingRef:
    job_name: str
    image: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingRef:
        return cls(job_name=str(data["job_name"]), image=str(data["image"]))


@dataclass(frozen=True)
class TransformRef:
    job_name: str
    model_name: str
    model_data: str
    output_uri: str
    trained_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransformRef:
        return cls(**data)


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    deploy: bool
    reason: str
    metrics_uri: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        return cls(**data)


@dataclass(frozen=True)
class Deployment:
    endpoint_name: str
    endpoint_config_name: str
    variant: str
    version: str
    action: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        return cls(**data)
