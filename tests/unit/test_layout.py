"""Every S3 key of the design's layout."""

from __future__ import annotations

import pytest

from sagepipe.layout import (
    RunLayout,
    is_data_key,
    live_pointer_key,
    model_of_incoming_key,
    pipeline_config_key,
    s3_uri,
    split_s3_uri,
    version_key,
)

RUN_ID = "housing-20261120093000-1a2b3c4d"


def test_run_layout_keys() -> None:
    layout = RunLayout(model="housing", run_id=RUN_ID)
    root = f"runs/housing/{RUN_ID}/"
    assert layout.root == root
    assert layout.training_output_prefix == f"{root}training/"
    assert layout.transform_output_prefix == f"{root}transform/"
    assert layout.metrics_key == f"{root}metrics.json"


def test_registry_keys() -> None:
    assert version_key("housing", "20261120093000-1a2b3c4d") == (
        "models/housing/versions/20261120093000-1a2b3c4d.json"
    )
    assert live_pointer_key("housing") == "models/housing/live.json"


def test_pipeline_config_key() -> None:
    assert pipeline_config_key("housing") == "incoming/housing/pipeline.json"


def test_s3_uri_round_trip() -> None:
    uri = s3_uri("bucket", "runs/a/b/c.csv")
    assert uri == "s3://bucket/runs/a/b/c.csv"
    assert split_s3_uri(uri) == ("bucket", "runs/a/b/c.csv")
    assert split_s3_uri("s3://bucket") == ("bucket", "")


@pytest.mark.parametrize("uri", ["bucket/key", "https://bucket.s3.amazonaws.com/key", ""])
def test_split_s3_uri_rejects_other_uris(uri: str) -> None:
    with pytest.raises(ValueError, match="s3://"):
        split_s3_uri(uri)


@pytest.mark.parametrize(
    ("key", "model"),
    [
        ("incoming/housing/data.csv", "housing"),
        ("incoming/housing/pipeline.json", "housing"),
        ("incoming/Bad_Name/data.csv", "Bad_Name"),
        ("incoming/housing/sub/data.csv", None),
        ("incoming/data.csv", None),
        ("incoming//data.csv", None),
        ("incoming/housing/", None),
        ("runs/housing/data.csv", None),
        ("models/housing/live.json", None),
        ("data.csv", None),
    ],
)
def test_model_of_incoming_key(key: str, model: str | None) -> None:
    assert model_of_incoming_key(key) == model


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("incoming/m/data.csv", True),
        ("incoming/m/data.csv.gz", True),
        ("incoming/m/DATA.CSV", True),
        ("incoming/m/pipeline.json", False),
        ("incoming/m/data.parquet", False),
        ("incoming/m/data.gz", False),
    ],
)
def test_is_data_key(key: str, expected: bool) -> None:
    assert is_data_key(key) is expected
