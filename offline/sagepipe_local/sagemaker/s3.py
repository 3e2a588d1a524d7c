"""S3 access for jobs and endpoints: through boto3 at the offline S3 endpoint, or any
other ObjectStore (the offline stack passes one that reads its S3 in process)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

_S3_URI = re.compile(r"^(?:s3|https)://(?P<bucket>[^/]+)/?(?P<key>.*)$")
_DUMMY_SECRET = "testing"  # moto accepts any credentials


class S3AccessError(Exception):
    """S3 refused or could not be reached; the message names the URI and the cause."""

    def __init__(self, message: str, *, transient: bool, missing: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.missing = missing  # no such bucket or key (yet)


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        match = _S3_URI.match(uri)
        if match is None:
            raise ValueError(f"not an S3 URI: {uri!r}")
        return cls(match.group("bucket"), match.group("key"))

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def child(self, *parts: str) -> S3Location:
        """`s3://b/out` + `job/output` -> `s3://b/out/job/output` (one slash between)."""
        key = self.key.rstrip("/")
        for part in parts:
            key = f"{key}/{part.strip('/')}" if key else part.strip("/")
        return S3Location(self.bucket, key)


class ObjectStore(Protocol):
    """What jobs and endpoints do with S3. Errors are S3AccessError."""

    def list_objects(self, prefix: S3Location) -> list[S3Location]:
        """Every object whose key starts with the prefix (S3Prefix semantics), sorted."""
        ...

    def read(self, location: S3Location) -> bytes: ...

    def download(self, location: S3Location, path: Path) -> None: ...

    def write(self, location: S3Location, data: bytes, content_type: str) -> None: ...


class S3Store:
    """An ObjectStore through boto3 (a container process reaches S3 this way)."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        session = boto3.session.Session(region_name=region)
        if session.get_credentials() is None:
            session = boto3.session.Session(
                region_name=region,
                aws_access_key_id=_DUMMY_SECRET,
                aws_secret_access_key=_DUMMY_SECRET,
            )
        self._client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                s3={"addressing_style": "path", "payload_signing_enabled": False},
                retries={"mode": "standard", "max_attempts": 3},
                connect_timeout=5,
                read_timeout=60,
            ),
        )

    def list_objects(self, prefix: S3Location) -> list[S3Location]:
        """Every object whose key starts with the prefix (S3Prefix semantics), sorted."""
        found: list[S3Location] = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=prefix.bucket, Prefix=prefix.key):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if not key.endswith("/"):
                        found.append(S3Location(prefix.bucket, key))
        except (ClientError, BotoCoreError) as error:
            raise _access_error("list", prefix, error) from error
        return sorted(found, key=lambda location: location.key)

    def read(self, location: S3Location) -> bytes:
        try:
            response = self._client.get_object(Bucket=location.bucket, Key=location.key)
            data: bytes = response["Body"].read()
        except (ClientError, BotoCoreError) as error:
            raise _access_error("read", location, error) from error
        return data

    def download(self, location: S3Location, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.read(location))

    def write(self, location: S3Location, data: bytes, content_type: str) -> None:
        try:
            self._client.put_object(
                Bucket=location.bucket, Key=location.key, Body=data, ContentType=content_type
            )
        except (ClientError, BotoCoreError) as error:
            raise _access_error("write", location, error) from error


def _access_error(action: str, location: S3Location, error: Exception) -> S3AccessError:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "Unknown")
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        return S3AccessError(
            f"could not {action} {location.uri}: {code}",
            transient=status >= 500 or status == 0,
            missing=status == 404,
        )
    return S3AccessError(f"could not {action} {location.uri}: {error}", transient=True)
