"""Names derived from a model name and an uploaded object.

Every SageMaker name built here matches `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`, and the run
id doubles as the Step Functions execution name, so a redelivered S3 event maps to the
same execution and never starts a second run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sagepipe.errors import InputDataError

MODEL_NAME_MAX = 32
PREFIX_MAX = 30
SAGEMAKER_NAME_MAX = 63
_MODEL_NAME = re.compile(r"^[a-z0-9](-?[a-z0-9])*$")
_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def validate_model_name(name: str) -> str:
    if not _MODEL_NAME.fullmatch(name) or len(name) > MODEL_NAME_MAX:
        raise InputDataError(
            f"model name {name!r} is invalid: use 1-{MODEL_NAME_MAX} lowercase letters, "
            "digits and single hyphens, starting and ending with a letter or digit"
        )
    return name


def is_sagemaker_name(name: str) -> bool:
    return bool(_SAGEMAKER_NAME.fullmatch(name))


def version_id(event_time: datetime, bucket: str, key: str, object_identity: str) -> str:
    """`<YYYYmmddHHMMSS>-<hash8>`: sortable by time, unique per uploaded object."""
    import hashlib  # here: loading OpenSSL costs the predict function ~3 ms of cold start

    stamp = event_time.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    digest = hashlib.sha256(f"{bucket}/{key}/{object_identity}".encode()).hexdigest()[:8]
    return f"{stamp}-{digest}"


@dataclass(frozen=True)
class RunNames:
    """Every name one run uses."""

    model: str
    version: str
    prefix: str

    @property
    def run_id(self) -> str:
        return f"{self.model}-{self.version}"

    @property
    def processing_job(self) -> str:
        return f"{self.run_id}-pp"

    @property
    def training_job(self) -> str:
        return f"{self.run_id}-tr"

    @property
    def sagemaker_model(self) -> str:
        return f"{self.run_id}-m"

    @property
    def transform_job(self) -> str:
        return f"{self.run_id}-tf"

    @property
    def endpoint_config(self) -> str:
        return f"{self.run_id}-ec"

    @property
    def endpoint(self) -> str:
        return endpoint_name(self.prefix, self.model)

    @property
    def variant(self) -> str:
        return variant_name(self.version)


def endpoint_name(prefix: str, model: str) -> str:
    return f"{prefix}-{model}"


def variant_name(version: str) -> str:
    return f"v{version}"


def version_of_variant(variant: str) -> str | None:
    """Inverse of variant_name; None for a variant this pipeline did not name."""
    return variant[1:] if variant.startswith("v") and len(variant) > 1 else None


def parse_event_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
