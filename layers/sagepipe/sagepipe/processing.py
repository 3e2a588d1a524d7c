"""The SageMaker Processing job that preprocesses inputs too large for the preprocess Lambda.

The job runs this package's own preprocessing (`sagepipe.processing_job`) in the
region's SageMaker scikit-learn image (Python 3.12). Its entrypoint,
`sagepipe.processing_bootstrap`, first installs the pinned requirements
(`processing_requirements.txt`) unless they are already importable at those versions.

Everything the job reads and writes is a file under /opt/ml/processing (SageMaker copies
the inputs from S3 before the container starts and the outputs to S3 after it exits):

    input/code/sagepipe/...     this package (code bundle, content-addressed in S3)
    input/data/<file>           the uploaded object version (copied under the run)
    input/job/job.json          ProcessingJobDescription
    output/run/...              channels, schema.json, profile.json, prepared.json
                                -> runs/<model>/<run_id>/

No pandas and no AWS calls here: request building, sizing and the job description.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sagepipe.errors import ConfigError, InputDataError
from sagepipe.training import FRAMEWORK_IMAGE_ACCOUNTS

MIB = 1024 * 1024
GIB = 1024 * MIB

# What preprocessing needs, measured by `make bench` (section "capacity",
# bench/lambda_capacity.py) on flight-delay CSVs in a fresh interpreter with the Lambda's
# imports and without pyarrow (as in the layers): peak RSS ~= 135 MiB + 4.2 x input
# size. The figures below round that up; the bench reports if a new measurement
# exceeds them.
PEAK_MEMORY_BASE_BYTES = 256 * MIB
PEAK_MEMORY_PER_INPUT_BYTE = 4.5
# Channels + schema + profile written, per input byte (measured: 1.08).
OUTPUT_BYTES_PER_INPUT_BYTE = 1.25
# A .csv.gz expands to this many times its size (assumed: typical CSVs compress 3-10x;
# the generated flight data 3.0x). Used to size both the threshold and the instance.
GZIP_EXPANSION = 10
# Use at most this share of a Lambda's or an instance's memory.
MEMORY_HEADROOM = 0.8

# Region's SageMaker scikit-learn image, Python 3.12 (sagemaker-python-sdk
# image_uri_config/sklearn.json, version "1.4-2-py312", scope training/processing).
SKLEARN_IMAGE_REPOSITORY = "sagemaker-scikit-learn"
SKLEARN_IMAGE_TAG = "1.4-2-py312-cpu-py3"
# The same registries host SageMaker's XGBoost and scikit-learn framework images.
SKLEARN_ACCOUNTS = FRAMEWORK_IMAGE_ACCOUNTS

# General-purpose instances the job is sized from ("auto"), smallest first: memory GiB.
AUTO_INSTANCE_TYPES: tuple[tuple[str, int], ...] = (
    ("ml.m5.large", 8),
    ("ml.m5.xlarge", 16),
    ("ml.m5.2xlarge", 32),
    ("ml.m5.4xlarge", 64),
    ("ml.m5.12xlarge", 192),
    ("ml.m5.24xlarge", 384),
)
# The ML storage volume holds the input, the outputs and the installed requirements.
VOLUME_BASE_GB = 10
VOLUME_MAX_GB = 16384

# Paths inside the processing container.
CONTAINER_ROOT = "/opt/ml/processing"
CODE_DIR = f"{CONTAINER_ROOT}/input/code"
DATA_DIR = f"{CONTAINER_ROOT}/input/data"
JOB_DIR = f"{CONTAINER_ROOT}/input/job"
OUTPUT_DIR = f"{CONTAINER_ROOT}/output/run"
DEPENDENCIES_DIR = f"{CONTAINER_ROOT}/dependencies"
EXIT_MESSAGE_PATH = "/opt/ml/output/message"  # DescribeProcessingJob's ExitMessage
JOB_FILE_NAME = "job.json"
PREPARED_FILE_NAME = "prepared.json"
REQUIREMENTS_FILE_NAME = "processing_requirements.txt"  # in this package's directory


def is_gzip_key(key: str) -> bool:
    return key.lower().endswith(".gz")


def uncompressed_size_estimate(size_bytes: int, *, gzipped: bool) -> int:
    return size_bytes * GZIP_EXPANSION if gzipped else size_bytes


def processing_threshold_bytes(threshold_mb: float | None, key: str) -> int | None:
    """The object size above which this upload preprocesses in a processing job.

    `threshold_mb` is in MiB of CSV text; a gzip upload is compared by its estimated
    uncompressed size. None: there is no processing path.
    """
    if threshold_mb is None:
        return None
    limit = threshold_mb * MIB
    if is_gzip_key(key):
        limit /= GZIP_EXPANSION
    return int(limit)


def estimated_peak_bytes(size_bytes: int, *, gzipped: bool) -> int:
    text = uncompressed_size_estimate(size_bytes, gzipped=gzipped)
    return int(PEAK_MEMORY_BASE_BYTES + PEAK_MEMORY_PER_INPUT_BYTE * text)


def instance_type_for(size_bytes: int, *, gzipped: bool, configured: str = "auto") -> str:
    """The configured instance type, or for "auto" the smallest that fits the input."""
    if configured != "auto":
        return configured
    needed = estimated_peak_bytes(size_bytes, gzipped=gzipped)
    for instance_type, memory_gib in AUTO_INSTANCE_TYPES:
        if needed <= MEMORY_HEADROOM * memory_gib * GIB:
            return instance_type
    largest, memory_gib = AUTO_INSTANCE_TYPES[-1]
    raise InputDataError(
        f"the input ({size_bytes / GIB:.1f} GiB) is too large to preprocess: it needs about "
        f"{needed / GIB:.0f} GiB of memory, more than {largest} has ({memory_gib} GiB)"
    )


def volume_size_gb(size_bytes: int, *, gzipped: bool) -> int:
    text = uncompressed_size_estimate(size_bytes, gzipped=gzipped)
    needed = size_bytes + OUTPUT_BYTES_PER_INPUT_BYTE * text
    return min(VOLUME_MAX_GB, VOLUME_BASE_GB + math.ceil(needed / GIB))


def processing_image_uri(region: str) -> str:
    account = SKLEARN_ACCOUNTS.get(region)
    if account is None:
        raise ConfigError(
            f"no SageMaker scikit-learn processing image is known for region {region}; "
            f"supported regions: {', '.join(sorted(SKLEARN_ACCOUNTS))}"
        )
    return (
        f"{account}.dkr.ecr.{region}.amazonaws.com/{SKLEARN_IMAGE_REPOSITORY}:{SKLEARN_IMAGE_TAG}"
    )


@dataclass(frozen=True)
class ProcessingJobDescription:
    """job.json: what the processing job preprocesses and how (no AWS names needed)."""

    model: str
    source_name: str  # s3://bucket/incoming/<model>/<file>: how messages name the input
    data_file: str  # its file name under input/data
    run_root_uri: str  # s3://bucket/runs/<model>/<run_id>/ where output/run/ lands
    config: dict[str, Any]  # the resolved PipelineConfig
    max_categories: int
    min_rows: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ProcessingJobDescription:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ConfigError(f"{JOB_FILE_NAME} must hold a JSON object")
        try:
            return cls(
                model=str(data["model"]),
                source_name=str(data["source_name"]),
                data_file=str(data["data_file"]),
                run_root_uri=str(data["run_root_uri"]),
                config=dict(data["config"]),
                max_categories=int(data["max_categories"]),
                min_rows=int(data["min_rows"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"{JOB_FILE_NAME} is incomplete: {error!r}") from error


def bootstrap_command(exit_message_path: str = EXIT_MESSAGE_PATH) -> tuple[list[str], list[str]]:
    """(ContainerEntrypoint, ContainerArguments) of the job."""
    entrypoint = ["python3", "-m", "sagepipe.processing_bootstrap"]
    arguments = [
        "--requirements",
        f"{CODE_DIR}/sagepipe/{REQUIREMENTS_FILE_NAME}",
        "--target",
        DEPENDENCIES_DIR,
        "--exit-message",
        exit_message_path,
        "--",
        "--job",
        f"{JOB_DIR}/{JOB_FILE_NAME}",
        "--data",
        DATA_DIR,
        "--output",
        OUTPUT_DIR,
        "--exit-message",
        exit_message_path,
    ]
    return entrypoint, arguments


@dataclass(frozen=True)
class ProcessingJobSpec:
    job_name: str
    region: str
    role_arn: str
    instance_type: str
    volume_size_gb: int
    max_runtime_seconds: int
    code_uri: str  # S3 prefix of the code bundle
    data_uri: str  # S3 prefix holding the one input file
    job_uri: str  # S3 prefix holding job.json
    output_uri: str  # the run's root, without the trailing slash
    tags: tuple[tuple[str, str], ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)


def _input(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "AppManaged": False,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
            "S3CompressionType": "None",
        },
    }


def create_processing_job_request(spec: ProcessingJobSpec) -> dict[str, Any]:
    entrypoint, arguments = bootstrap_command()
    return {
        "ProcessingJobName": spec.job_name,
        "ProcessingInputs": [
            _input("code", spec.code_uri, CODE_DIR),
            _input("data", spec.data_uri, DATA_DIR),
            _input("job", spec.job_uri, JOB_DIR),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "run",
                    "AppManaged": False,
                    "S3Output": {
                        "S3Uri": spec.output_uri,
                        "LocalPath": OUTPUT_DIR,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": spec.instance_type,
                "VolumeSizeInGB": spec.volume_size_gb,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_seconds},
        "AppSpecification": {
            "ImageUri": processing_image_uri(spec.region),
            "ContainerEntrypoint": entrypoint,
            "ContainerArguments": arguments,
        },
        # The code directory comes first on the import path: the job runs the bundle.
        # No NetworkConfig: the job needs outbound internet (PyPI) unless the image
        # already has the pinned requirements.
        "Environment": {"PYTHONPATH": CODE_DIR, "PYTHONUNBUFFERED": "1", **spec.environment},
        "RoleArn": spec.role_arn,
        "Tags": [{"Key": key, "Value": value} for key, value in spec.tags],
    }
