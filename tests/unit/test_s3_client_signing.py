"""S3 uploads are not SHA-256-hashed for signing, over plain HTTP too (as over HTTPS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sagepipe import aws
from sagepipe_local import local_aws
from sagepipe_local.sagemaker.s3 import S3Store

UNSIGNED = {"UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}
HTTP_ENDPOINT = "http://127.0.0.1:9"  # never reached: the request is stopped before it is sent


class _StoppedError(Exception):
    pass


def _payload_hash_of_a_put(client: Any) -> str:
    seen: dict[str, Any] = {}

    def stop(request: Any, **_: Any) -> None:
        seen.update(request.headers)
        raise _StoppedError

    client.meta.events.register("before-send.s3.PutObject", stop)
    with pytest.raises(_StoppedError):
        client.put_object(Bucket="bucket", Key="key", Body=b"x" * 100_000)
    value = {k.lower(): v for k, v in seen.items()}["x-amz-content-sha256"]
    return value.decode() if isinstance(value, bytes) else str(value)


def _functions_client(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", HTTP_ENDPOINT)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return aws.s3_client()


def _offline_client(monkeypatch: pytest.MonkeyPatch) -> Any:
    del monkeypatch
    return local_aws.client("s3", HTTP_ENDPOINT)


def _emulator_client(monkeypatch: pytest.MonkeyPatch) -> Any:
    del monkeypatch
    return S3Store(HTTP_ENDPOINT, "us-east-1")._client


@pytest.mark.parametrize("make_client", [_functions_client, _offline_client, _emulator_client])
def test_put_object_sends_an_unsigned_payload(
    monkeypatch: pytest.MonkeyPatch, make_client: Callable[[pytest.MonkeyPatch], Any]
) -> None:
    assert _payload_hash_of_a_put(make_client(monkeypatch)) in UNSIGNED
