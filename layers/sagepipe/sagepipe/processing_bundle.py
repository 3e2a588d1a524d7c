"""The processing job's code: this package's own source files, named by their content.

The bundle is every .py/.txt file of the package directory (the one the running Lambda
imported), laid out as `sagepipe/<path>`; its digest names the S3 prefix it is uploaded
to, so an unchanged package is uploaded once and a changed one never overwrites a bundle
a running job may be reading.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import sagepipe

BUNDLED_SUFFIXES = frozenset({".py", ".txt", ".typed"})
MANIFEST_NAME = "MANIFEST.json"  # uploaded last: its presence means the bundle is complete
DIGEST_LENGTH = 20


def package_dir() -> Path:
    return Path(sagepipe.__file__).resolve().parent


@dataclass(frozen=True)
class CodeBundle:
    files: dict[str, bytes]  # "sagepipe/processing_job.py" -> content, sorted by path

    @classmethod
    def of_package(cls, directory: Path | None = None) -> CodeBundle:
        root = directory or package_dir()
        files = {
            f"{root.name}/{path.relative_to(root).as_posix()}": path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
            and path.suffix in BUNDLED_SUFFIXES
            and "__pycache__" not in path.relative_to(root).parts
        }
        return cls(files=files)

    @property
    def digest(self) -> str:
        hasher = hashlib.sha256()
        for name, content in self.files.items():
            hasher.update(name.encode())
            hasher.update(b"\0")
            hasher.update(hashlib.sha256(content).digest())
        return hasher.hexdigest()[:DIGEST_LENGTH]

    def manifest(self) -> bytes:
        entries = {
            name: hashlib.sha256(content).hexdigest() for name, content in self.files.items()
        }
        return json.dumps({"digest": self.digest, "files": entries}, indent=1).encode()
