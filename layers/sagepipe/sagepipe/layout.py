"""Every S3 key the pipeline reads or writes (see docs/design.md)."""

from __future__ import annotations

from dataclasses import dataclass

INCOMING = "incoming/"
PIPELINE_CONFIG_NAME = "pipeline.json"
DATA_SUFFIXES = (".csv", ".csv.gz")


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def model_of_incoming_key(key: str) -> str | None:
    """`incoming/<model>/<file>` -> model; None for keys outside that shape."""
    if not key.startswith(INCOMING):
        return None
    parts = key[len(INCOMING) :].split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0]


def is_data_key(key: str) -> bool:
    return key.lower().endswith(DATA_SUFFIXES)


def pipeline_config_key(model: str) -> str:
    return f"{INCOMING}{model}/{PIPELINE_CONFIG_NAME}"


@dataclass(frozen=True)
class RunLayout:
    """Keys of one run: runs/<model>/<run_id>/..."""

    model: str
    run_id: str

    @property
    def root(self) -> str:
        return f"runs/{self.model}/{self.run_id}/"

    @property
    def training_output_prefix(self) -> str:
        return f"{self.root}training/"

    @property
    def transform_output_prefix(self) -> str:
        return f"{self.root}transform/"

    @property
    def metrics_key(self) -> str:
        return f"{self.root}metrics.json"

    @property
    def prepared_key(self) -> str:
        """The Prepared record, written by the processing job (the Lambda path returns it)."""
        return f"{self.root}prepared.json"

    @property
    def processing_prefix(self) -> str:
        return f"{self.root}processing/"

    @property
    def processing_data_prefix(self) -> str:
        """The copy of the uploaded object version the processing job reads."""
        return f"{self.processing_prefix}data/"

    @property
    def processing_job_prefix(self) -> str:
        """The job description (job.json) the processing job reads."""
        return f"{self.processing_prefix}job/"


PROCESSING_CODE = "code/processing/"


def processing_code_prefix(digest: str) -> str:
    """Where the processing job's code bundle lives; the content hash names it."""
    return f"{PROCESSING_CODE}{digest}/"


def version_key(model: str, version: str) -> str:
    return f"models/{model}/versions/{version}.json"


def live_pointer_key(model: str) -> str:
    return f"models/{model}/live.json"
