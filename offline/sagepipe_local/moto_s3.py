"""The emulator's S3 access in the offline stack's own process: moto's S3 backend read and
written directly, as SageMaker reaches S3 from inside AWS, without a request through the
local endpoint (no HTTP, signing or XML for each download or artifact upload)."""

from __future__ import annotations

from pathlib import Path

from moto.s3.exceptions import MissingBucket
from moto.s3.models import FakeBucket, FakeKey, S3Backend, s3_backends

from sagepipe_local.sagemaker.s3 import S3AccessError, S3Location

_PARTITION = "aws"


class MotoS3Store:
    """An ObjectStore over the running stack's moto S3 (same account, same process)."""

    def __init__(self, account_id: str) -> None:
        self._account_id = account_id

    @property
    def _backend(self) -> S3Backend:
        # Looked up each time: a reset of moto replaces the backend object.
        backend: S3Backend = s3_backends[self._account_id][_PARTITION]
        return backend

    def list_objects(self, prefix: S3Location) -> list[S3Location]:
        bucket = self._bucket(prefix, "list")
        keys = [
            name
            for name, key in list(bucket.keys.items())
            if isinstance(key, FakeKey) and name.startswith(prefix.key) and not name.endswith("/")
        ]
        return [S3Location(prefix.bucket, name) for name in sorted(keys)]

    def read(self, location: S3Location) -> bytes:
        return self._key(location, "read").value

    def download(self, location: S3Location, path: Path) -> None:
        data = self.read(location)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def write(self, location: S3Location, data: bytes, content_type: str) -> None:
        self._bucket(location, "write")
        key = self._backend.put_object(location.bucket, location.key, data)
        key.set_metadata({"Content-Type": content_type})

    def _bucket(self, location: S3Location, action: str) -> FakeBucket:
        try:
            return self._backend.get_bucket(location.bucket)
        except MissingBucket as error:
            raise S3AccessError(
                f"could not {action} {location.uri}: NoSuchBucket", transient=False, missing=True
            ) from error

    def _key(self, location: S3Location, action: str) -> FakeKey:
        self._bucket(location, action)
        key = self._backend.get_object(location.bucket, location.key)
        if key is None:
            raise S3AccessError(
                f"could not {action} {location.uri}: NoSuchKey", transient=False, missing=True
            )
        return key
