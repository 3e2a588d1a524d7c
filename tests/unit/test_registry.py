"""ModelVersion and LivePointer records, and the registry over an in-memory S3."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagepipe.contract import ColumnSpec, FeatureContract
from sagepipe.registry import LivePointer, ModelRegistry, ModelVersion

VERSION = "20261120093000-1a2b3c4d"


class FakeS3:
    """The two S3 calls the registry makes, over a dict."""

    def __init__(self, error_code: str | None = None) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._error_code = error_code

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:  # noqa: N803
        self.objects[(Bucket, Key)] = {"Body": Body, "ContentType": ContentType}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        if self._error_code is not None:
            raise ClientError({"Error": {"Code": self._error_code}}, "GetObject")
        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)]["Body"])}


def _contract() -> FeatureContract:
    return FeatureContract(
        model="housing",
        target="price",
        algorithm="xgboost",
        columns=(
            ColumnSpec("rooms", "numeric", fill=3.0),
            ColumnSpec("city", "categorical", categories=("a",)),
        ),
        missing="native",
        content_type="text/libsvm",
    )


def _version() -> ModelVersion:
    return ModelVersion(
        model="housing",
        version=VERSION,
        run_id=f"housing-{VERSION}",
        trained_at="2026-11-20T09:45:00+00:00",
        algorithm="xgboost",
        metrics={"rmse": 1.5, "mae": 1.0, "r2": 0.8, "rows": 10.0, "baseline_rmse": 3.0},
        contract=_contract(),
        model_data=f"s3://b/runs/housing/housing-{VERSION}/training/x/output/model.tar.gz",
        sagemaker_model=f"housing-{VERSION}-m",
        variant=f"v{VERSION}",
    )


def _pointer() -> LivePointer:
    return LivePointer(
        model="housing",
        version=VERSION,
        endpoint="sagepipe-housing",
        variant=f"v{VERSION}",
        updated_at="2026-11-20T10:00:00+00:00",
    )


def test_model_version_json_round_trip() -> None:
    record = _version()
    data = json.loads(record.to_json())
    assert set(data) == {
        "model",
        "version",
        "run_id",
        "trained_at",
        "algorithm",
        "metrics",
        "contract",
        "model_data",
        "sagemaker_model",
        "variant",
    }
    assert data["contract"]["format_version"] == 1
    assert data["contract"]["features"] == ["rooms", "city=a", "city=__other__"]
    assert ModelVersion.from_json(record.to_json()) == record


def test_live_pointer_json_round_trip() -> None:
    pointer = _pointer()
    assert json.loads(pointer.to_json()) == {
        "model": "housing",
        "version": VERSION,
        "endpoint": "sagepipe-housing",
        "variant": f"v{VERSION}",
        "updated_at": "2026-11-20T10:00:00+00:00",
    }
    assert LivePointer.from_json(pointer.to_json().encode()) == pointer


def test_registry_writes_to_the_design_keys() -> None:
    s3 = FakeS3()
    registry = ModelRegistry(s3, "bucket")  # type: ignore[arg-type]
    registry.put_version(_version())
    registry.put_live(_pointer())
    assert set(s3.objects) == {
        ("bucket", f"models/housing/versions/{VERSION}.json"),
        ("bucket", "models/housing/live.json"),
    }
    for stored in s3.objects.values():
        assert stored["ContentType"] == "application/json"
        assert isinstance(stored["Body"], bytes)


def test_registry_reads_back_what_it_wrote() -> None:
    registry = ModelRegistry(FakeS3(), "bucket")  # type: ignore[arg-type]
    registry.put_version(_version())
    registry.put_live(_pointer())
    assert registry.get_version("housing", VERSION) == _version()
    assert registry.get_live("housing") == _pointer()


def test_registry_missing_records_are_none() -> None:
    registry = ModelRegistry(FakeS3(), "bucket")  # type: ignore[arg-type]
    assert registry.get_version("housing", VERSION) is None
    assert registry.get_live("housing") is None


@pytest.mark.parametrize("code", ["404", "NotFound"])
def test_registry_treats_head_style_not_found_as_missing(code: str) -> None:
    registry = ModelRegistry(FakeS3(error_code=code), "bucket")  # type: ignore[arg-type]
    assert registry.get_live("housing") is None


def test_registry_reraises_other_errors() -> None:
    registry = ModelRegistry(FakeS3(error_code="AccessDenied"), "bucket")  # type: ignore[arg-type]
    with pytest.raises(ClientError, match="AccessDenied"):
        registry.get_live("housing")
