"""Model names, version ids, run ids and every SageMaker name derived from them."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sagepipe.errors import InputDataError
from sagepipe.naming import (
    MODEL_NAME_MAX,
    PREFIX_MAX,
    SAGEMAKER_NAME_MAX,
    RunNames,
    endpoint_name,
    is_sagemaker_name,
    parse_event_time,
    validate_model_name,
    variant_name,
    version_id,
    version_of_variant,
)

SAGEMAKER_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
VERSION_PATTERN = re.compile(r"\d{14}-[0-9a-f]{8}")
EVENT_TIME = datetime(2026, 11, 20, 9, 30, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    ["a", "7", "housing", "house-prices", "a-b-c-1", "x" * MODEL_NAME_MAX, "a1-" * 10 + "z9"],
)
def test_valid_model_names(name: str) -> None:
    assert validate_model_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Housing",
        "house_prices",
        "house--prices",
        "-housing",
        "housing-",
        "house prices",
        "house.prices",
        "häuser",
        "housing\n",
        "x" * (MODEL_NAME_MAX + 1),
    ],
)
def test_invalid_model_names(name: str) -> None:
    with pytest.raises(InputDataError, match="model name"):
        validate_model_name(name)


def test_invalid_model_name_message_explains_the_rule() -> None:
    with pytest.raises(InputDataError) as raised:
        validate_model_name("Bad_Name")
    message = str(raised.value)
    assert "'Bad_Name'" in message
    assert f"1-{MODEL_NAME_MAX}" in message


def test_version_id_shape_and_determinism() -> None:
    first = version_id(EVENT_TIME, "bucket", "incoming/m/a.csv", "v1")
    second = version_id(EVENT_TIME, "bucket", "incoming/m/a.csv", "v1")
    assert first == second
    assert VERSION_PATTERN.fullmatch(first)
    assert first.startswith("20261120093000-")


@pytest.mark.parametrize(
    ("bucket", "key", "identity"),
    [
        ("other-bucket", "incoming/m/a.csv", "v1"),
        ("bucket", "incoming/m/b.csv", "v1"),
        ("bucket", "incoming/m/a.csv", "v2"),
    ],
)
def test_version_id_differs_per_object_identity(bucket: str, key: str, identity: str) -> None:
    base = version_id(EVENT_TIME, "bucket", "incoming/m/a.csv", "v1")
    other = version_id(EVENT_TIME, bucket, key, identity)
    assert other != base
    # Same second, different object: only the hash part differs.
    assert other[:14] == base[:14]


def test_version_id_hash_is_sha256_of_bucket_key_identity() -> None:
    expected = hashlib.sha256(b"bucket/incoming/m/a.csv/v1").hexdigest()[:8]
    assert version_id(EVENT_TIME, "bucket", "incoming/m/a.csv", "v1").endswith(f"-{expected}")


def test_version_id_stamp_is_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2026, 11, 20, 11, 30, 0, tzinfo=plus_two)
    assert version_id(local, "b", "k", "i") == version_id(EVENT_TIME, "b", "k", "i")


@pytest.mark.parametrize(
    "value",
    ["2026-11-20T09:30:00.000Z", "2026-11-20T09:30:00Z", "2026-11-20T09:30:00+00:00"],
)
def test_parse_event_time(value: str) -> None:
    parsed = parse_event_time(value)
    assert parsed == EVENT_TIME
    assert parsed.utcoffset() == timedelta(0)


def _longest_names() -> RunNames:
    version = version_id(EVENT_TIME, "bucket", "incoming/x/data.csv", "v1")
    return RunNames(model="m" * MODEL_NAME_MAX, version=version, prefix="p" * PREFIX_MAX)


def test_run_id_is_model_dash_version_and_fits_an_execution_name() -> None:
    names = _longest_names()
    assert names.run_id == f"{names.model}-{names.version}"
    assert len(names.run_id) <= 56
    # Step Functions execution names: at most 80 characters.
    assert len(names.run_id) <= 80


def test_every_sagemaker_name_of_a_32_char_model_is_valid() -> None:
    names = _longest_names()
    sagemaker_names = {
        "training_job": names.training_job,
        "sagemaker_model": names.sagemaker_model,
        "transform_job": names.transform_job,
        "endpoint_config": names.endpoint_config,
        "endpoint": names.endpoint,
        "variant": names.variant,
    }
    for kind, name in sagemaker_names.items():
        assert len(name) <= SAGEMAKER_NAME_MAX, (kind, name, len(name))
        assert SAGEMAKER_PATTERN.fullmatch(name), (kind, name)
        assert is_sagemaker_name(name), (kind, name)


def test_name_suffixes() -> None:
    names = RunNames(model="housing", version="20261120093000-1a2b3c4d", prefix="sagepipe")
    assert names.run_id == "housing-20261120093000-1a2b3c4d"
    assert names.training_job == "housing-20261120093000-1a2b3c4d-tr"
    assert names.sagemaker_model == "housing-20261120093000-1a2b3c4d-m"
    assert names.transform_job == "housing-20261120093000-1a2b3c4d-tf"
    assert names.endpoint_config == "housing-20261120093000-1a2b3c4d-ec"
    assert names.endpoint == "sagepipe-housing"
    assert names.variant == "v20261120093000-1a2b3c4d"


def test_endpoint_and_variant_names() -> None:
    assert endpoint_name("sp", "housing") == "sp-housing"
    assert variant_name("20261120093000-1a2b3c4d") == "v20261120093000-1a2b3c4d"


@pytest.mark.parametrize(
    ("variant", "version"),
    [
        ("v20261120093000-1a2b3c4d", "20261120093000-1a2b3c4d"),
        ("AllTraffic", None),
        ("v", None),
        ("", None),
    ],
)
def test_version_of_variant(variant: str, version: str | None) -> None:
    assert version_of_variant(variant) == version


def test_version_of_variant_inverts_variant_name() -> None:
    version = version_id(EVENT_TIME, "b", "k", "i")
    assert version_of_variant(variant_name(version)) == version


@pytest.mark.parametrize(
    "name", ["", "-a", "a-", "a_b", "a.b", "a" * (SAGEMAKER_NAME_MAX + 1), "abc\n"]
)
def test_is_sagemaker_name_rejects(name: str) -> None:
    assert not is_sagemaker_name(name)


@pytest.mark.parametrize("name", ["a", "A-b", "a--b", "a" * SAGEMAKER_NAME_MAX])
def test_is_sagemaker_name_accepts(name: str) -> None:
    assert is_sagemaker_name(name)
