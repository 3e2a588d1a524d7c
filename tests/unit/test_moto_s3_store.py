"""MotoS3Store: the emulator's in-process S3 gives what boto3 at the endpoint would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sagepipe_local.local_aws import ACCOUNT_ID
from sagepipe_local.moto_s3 import MotoS3Store
from sagepipe_local.sagemaker.s3 import S3AccessError, S3Location

BUCKET = "data"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_lists_the_objects_under_a_prefix_sorted_without_folder_markers(s3: Any) -> None:
    for key in ("run/b.csv", "run/a.csv", "run/", "run/sub/c.csv", "runs/d.csv", "other/e"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")

    listed = MotoS3Store(ACCOUNT_ID).list_objects(S3Location(BUCKET, "run/"))

    assert [location.key for location in listed] == ["run/a.csv", "run/b.csv", "run/sub/c.csv"]
    everything = MotoS3Store(ACCOUNT_ID).list_objects(S3Location(BUCKET, "run"))
    assert [location.key for location in everything][-1] == "runs/d.csv"


def test_a_deleted_object_is_neither_listed_nor_read(s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="run/gone", Body=b"x")
    s3.delete_object(Bucket=BUCKET, Key="run/gone")
    store = MotoS3Store(ACCOUNT_ID)

    assert store.list_objects(S3Location(BUCKET, "run/")) == []
    with pytest.raises(S3AccessError) as raised:
        store.read(S3Location(BUCKET, "run/gone"))
    assert raised.value.missing and not raised.value.transient


def test_reads_and_downloads_the_latest_bytes(s3: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key="model.tar.gz", Body=b"old")
    s3.put_object(Bucket=BUCKET, Key="model.tar.gz", Body=b"new bytes")
    store = MotoS3Store(ACCOUNT_ID)
    target = tmp_path / "deep" / "model.tar.gz"

    store.download(S3Location(BUCKET, "model.tar.gz"), target)

    assert store.read(S3Location(BUCKET, "model.tar.gz")) == b"new bytes"
    assert target.read_bytes() == b"new bytes"


def test_writes_an_object_that_clients_read_with_its_content_type(s3: Any) -> None:
    MotoS3Store(ACCOUNT_ID).write(S3Location(BUCKET, "out/x.out"), b"1.5\n", "text/csv")

    answer = s3.get_object(Bucket=BUCKET, Key="out/x.out")
    assert answer["Body"].read() == b"1.5\n"
    assert answer["ContentType"] == "text/csv"


@pytest.mark.parametrize("bucket", [BUCKET, "no-such-bucket"])
def test_missing_objects_and_buckets_are_missing_errors_naming_the_uri(
    s3: Any, bucket: str
) -> None:
    store = MotoS3Store(ACCOUNT_ID)
    location = S3Location(bucket, "nothing/here")

    with pytest.raises(S3AccessError, match=f"s3://{bucket}/nothing/here") as raised:
        store.read(location)
    assert raised.value.missing and not raised.value.transient
    if bucket != BUCKET:
        with pytest.raises(S3AccessError):
            store.list_objects(location)
        with pytest.raises(S3AccessError):
            store.write(location, b"x", "text/plain")
