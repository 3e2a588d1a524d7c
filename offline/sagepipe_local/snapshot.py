"""Keep the local S3 objects in a state directory across restarts.

Layout: `<state_dir>/s3/manifest.json` (bucket -> key -> blob, ETag, content type,
metadata) and `<state_dir>/s3/blobs/<sha256>` (contents, shared by identical objects).
Only current objects are kept, not older versions. Saves are incremental: an object whose
ETag has not changed is not downloaded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from sagepipe_local import local_aws

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOG = logging.getLogger(__name__)

FORMAT_VERSION: Final = 1
_HEADER_FIELDS: Final = (
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "CacheControl",
)
_CHUNK: Final = 1024 * 1024


class S3Snapshot:
    def __init__(
        self, state_dir: Path, endpoint_url: str, region: str = local_aws.DEFAULT_REGION
    ) -> None:
        self._root = state_dir / "s3"
        self._blobs = self._root / "blobs"
        self._manifest_path = self._root / "manifest.json"
        self._client: S3Client = local_aws.s3_client(endpoint_url, region)
        self._lock = threading.Lock()

    # -- manifest -----------------------------------------------------------------------

    def _load(self) -> dict[str, dict[str, dict[str, Any]]]:
        """bucket -> key -> entry; an unreadable manifest is reported and ignored."""
        try:
            document = json.loads(self._manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as error:
            LOG.warning("ignoring unreadable snapshot %s: %s", self._manifest_path, error)
            return {}
        if document.get("format") != FORMAT_VERSION:
            LOG.warning("ignoring snapshot %s: unknown format", self._manifest_path)
            return {}
        buckets: dict[str, dict[str, dict[str, Any]]] = document.get("buckets", {})
        return buckets

    def _write(self, buckets: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        document = {"format": FORMAT_VERSION, "buckets": buckets}
        fd, temp_name = tempfile.mkstemp(dir=self._root, prefix=".manifest-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, sort_keys=True)
        Path(temp_name).replace(self._manifest_path)

    # -- restore ------------------------------------------------------------------------

    def restore(self) -> int:
        """Put every saved object back; returns how many. Run before notifications exist."""
        with self._lock:
            buckets = self._load()
            restored = 0
            for bucket, objects in buckets.items():
                self._ensure_bucket(bucket)
                for key, entry in objects.items():
                    blob = self._blobs / str(entry["blob"])
                    if not blob.is_file():
                        LOG.warning("snapshot: s3://%s/%s has no saved content", bucket, key)
                        continue
                    request: dict[str, Any] = {
                        "Bucket": bucket,
                        "Key": key,
                        "Metadata": dict(entry.get("metadata") or {}),
                    }
                    if entry.get("content_type"):
                        request["ContentType"] = entry["content_type"]
                    request.update(entry.get("headers") or {})
                    with blob.open("rb") as body:
                        self._client.put_object(Body=body, **request)
                    restored += 1
            LOG.info("snapshot: restored %d object(s) from %s", restored, self._root)
            # ETags are unchanged, so the next save reuses every blob.
            self._save_locked()
            return restored

    def _ensure_bucket(self, bucket: str) -> None:
        try:
            self._client.head_bucket(Bucket=bucket)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
                raise
            self._client.create_bucket(Bucket=bucket)

    # -- save ---------------------------------------------------------------------------

    def save(self) -> int:
        """Record the current objects; returns how many were downloaded."""
        with self._lock:
            return self._save_locked()

    def _save_locked(self) -> int:
        previous = self._load()
        current: dict[str, dict[str, dict[str, Any]]] = {}
        downloaded = 0
        paginator = self._client.get_paginator("list_objects_v2")
        for bucket_info in self._client.list_buckets().get("Buckets", []):
            bucket = bucket_info["Name"]
            objects: dict[str, dict[str, Any]] = {}
            for page in paginator.paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    key, etag = item["Key"], item["ETag"]
                    modified = item["LastModified"].isoformat()
                    known = previous.get(bucket, {}).get(key)
                    if (
                        known
                        and known.get("etag") == etag
                        and (self._blobs / known["blob"]).is_file()
                    ):
                        if known.get("last_modified") != modified:
                            known = self._refresh(bucket, key, known, modified)
                        if known is not None:
                            objects[key] = known
                        continue
                    entry = self._download(bucket, key, etag, modified)
                    if entry is not None:
                        objects[key] = entry
                        downloaded += 1
            current[bucket] = objects
        if current != previous:
            self._write(current)
            self._collect_garbage(current)
        return downloaded

    def _has_blob(self, entry: dict[str, Any]) -> bool:
        return (self._blobs / str(entry.get("blob"))).is_file()

    def _refresh(
        self, bucket: str, key: str, known: dict[str, Any], modified: str
    ) -> dict[str, Any] | None:
        """Same content, newer object: its metadata may differ."""
        try:
            head = self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey"}:
                return None
            raise
        return {**known, **self._describe(head), "last_modified": modified}

    def _download(self, bucket: str, key: str, etag: str, modified: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NoSuchKey":
                return None  # deleted since the listing
            raise
        self._blobs.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, temp_name = tempfile.mkstemp(dir=self._blobs, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in response["Body"].iter_chunks(_CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)
            Path(temp_name).replace(self._blobs / digest.hexdigest())
        finally:
            with contextlib.suppress(FileNotFoundError):
                Path(temp_name).unlink()
        return {
            "blob": digest.hexdigest(),
            "etag": etag,
            "last_modified": modified,
            **self._describe(response),
        }

    @staticmethod
    def _describe(response: Any) -> dict[str, Any]:
        return {
            "content_type": response.get("ContentType"),
            "metadata": dict(response.get("Metadata") or {}),
            "headers": {name: response[name] for name in _HEADER_FIELDS if response.get(name)},
        }

    def _collect_garbage(self, buckets: dict[str, dict[str, dict[str, Any]]]) -> None:
        used = {entry["blob"] for objects in buckets.values() for entry in objects.values()}
        if not self._blobs.is_dir():
            return
        for blob in self._blobs.iterdir():
            if blob.name not in used and not blob.name.startswith("."):
                blob.unlink(missing_ok=True)


class PeriodicSaver:
    """Saves in the background every `interval` seconds so a crash loses little."""

    def __init__(self, snapshot: S3Snapshot, interval: float) -> None:
        self._snapshot = snapshot
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="s3-snapshot", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._snapshot.save()
            except Exception:
                LOG.exception("snapshot: periodic save failed")
