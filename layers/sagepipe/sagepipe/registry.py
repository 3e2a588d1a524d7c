"""Model versions and the live pointer, stored as JSON in the data bucket.

A ModelVersion is written once per trained model and never changed, so readers may
cache it forever. The LivePointer says which version the endpoint serves; it is
rewritten only after the endpoint reports InService with that version.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from sagepipe.aws_errors import OBJECT_MISSING_CODES, error_code
from sagepipe.contract import FeatureContract
from sagepipe.layout import live_pointer_key, version_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: str
    run_id: str
    trained_at: str
    algorithm: str
    metrics: dict[str, float]
    contract: FeatureContract
    model_data: str
    sagemaker_model: str
    variant: str

    def to_json(self) -> str:
        data = asdict(self)
        data["contract"] = self.contract.to_dict()
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelVersion:
        data: dict[str, Any] = json.loads(text)
        data["contract"] = FeatureContract.from_dict(data["contract"])
        return cls(**data)


@dataclass(frozen=True)
class LivePointer:
    model: str
    version: str
    endpoint: str
    variant: str
    updated_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> LivePointer:
        return cls(**json.loads(text))


class ModelRegistry:
    """Reads and writes registry records in one bucket."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put_version(self, record: ModelVersion) -> None:
        self._put(version_key(record.model, record.version), record.to_json())

    def get_version(self, model: str, version: str) -> ModelVersion | None:
        text = self._get(version_key(model, version))
        return None if text is None else ModelVersion.from_json(text)

    def put_live(self, pointer: LivePointer) -> None:
        self._put(live_pointer_key(pointer.model), pointer.to_json())

    def get_live(self, model: str) -> LivePointer | None:
        text = self._get(live_pointer_key(model))
        return None if text is None else LivePointer.from_json(text)

    def _put(self, key: str, body: str) -> None:
        self._s3.put_object(
            Bucket=self._bucket, Key=key, Body=body.encode(), ContentType="application/json"
        )

    def _get(self, key: str) -> bytes | None:
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error_code(error) in OBJECT_MISSING_CODES:
                return None
            raise
        return response["Body"].read()
