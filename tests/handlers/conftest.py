"""Fixtures for the Lambda handler tests.

`functions/<dir>/app.py` are not packages, so each test loads its handler from the file
under a unique module name. The handlers cache their settings and boto3 clients with
functools.cache; the loader clears those caches after setting the function's environment,
so every test builds its own settings and its clients inside moto's `mock_aws`.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sagepipe import observability

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO / "functions"
EVENTS_DIR = REPO / "tests" / "events"

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "sagepipe-data"
PREFIX = "sagepipe"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/sagepipe-sagemaker"
MODEL = "housing"
VERSION = "20261120093000-1a2b3c4d"
RUN_ID = f"{MODEL}-{VERSION}"
RUN_ROOT = f"runs/{MODEL}/{RUN_ID}/"

# Template Globals, then each function's own environment (docs/design.md).
GLOBAL_ENV = {
    "DATA_BUCKET": BUCKET,
    "RESOURCE_PREFIX": PREFIX,
    "POWERTOOLS_SERVICE_NAME": "sagepipe",
    "POWERTOOLS_METRICS_NAMESPACE": "Sagepipe",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
FUNCTION_ENV: dict[str, dict[str, str]] = {
    "start_run": {"POLL_SECONDS": "5"},  # STATE_MACHINE_ARN: per test
    "preprocess": {
        "DEFAULT_TARGET": "",
        "DEFAULT_ALGORITHM": "xgboost",
        "DEFAULT_MAX_RMSE": "",
        "TEST_FRACTION": "0.2",
        "VALIDATION_FRACTION": "0.1",
        "SEED": "42",
        "MAX_CATEGORIES": "20",
        "MIN_ROWS": "20",
    },
    "start_processing": {
        "DEFAULT_TARGET": "",
        "DEFAULT_ALGORITHM": "xgboost",
        "DEFAULT_MAX_RMSE": "",
        "TEST_FRACTION": "0.2",
        "VALIDATION_FRACTION": "0.1",
        "SEED": "42",
        "MAX_CATEGORIES": "20",
        "MIN_ROWS": "20",
        "SAGEMAKER_ROLE_ARN": ROLE_ARN,
        "PROCESSING_INSTANCE_TYPE": "auto",
        "PROCESSING_MAX_RUNTIME_SECONDS": "14400",
    },
    "collect_processing": {},
    "start_training": {
        "SAGEMAKER_ROLE_ARN": ROLE_ARN,
        "TRAINING_INSTANCE_TYPE": "ml.m5.large",
        "TRAINING_MAX_RUNTIME_SECONDS": "3600",
        "USE_SPOT_TRAINING": "false",
    },
    "job_status": {},
    "start_transform": {"SAGEMAKER_ROLE_ARN": ROLE_ARN, "TRANSFORM_INSTANCE_TYPE": "ml.m5.large"},
    "evaluate": {},
    "deploy": {"ENDPOINT_INSTANCE_TYPE": "ml.m5.large", "ENDPOINT_INSTANCE_COUNT": "1"},
    "record_live": {},
    "notify": {},  # TOPIC_ARN: per test
}

# Anything that could send a request somewhere real, or read a developer's profile.
_SCRUBBED_ENV = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_LAMBDA_FUNCTION_NAME",
    "LAMBDA_TASK_ROOT",
)


@dataclass(frozen=True)
class FakeLambdaContext:
    function_name: str = "sagepipe-test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sagepipe-test-function"
    aws_request_id: str = "5f1e0a4e-1111-4222-8333-944445555666"
    log_group_name: str = "/aws/lambda/sagepipe-test-function"
    log_stream_name: str = "2026/11/20/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


HandlerLoader = Callable[..., ModuleType]


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of tests/events/<name> (tests may mutate it)."""
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return copy.deepcopy(loaded)


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, no endpoint overrides, every AWS call served by moto."""
    for name in _SCRUBBED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    # The Metrics singleton read its namespace when sagepipe.observability was imported,
    # possibly before this environment existed.
    monkeypatch.setattr(observability.metrics, "namespace", "Sagepipe")
    with mock_aws():
        yield


@pytest.fixture
def s3(aws: None) -> Any:
    """A moto S3 client with the data bucket created."""
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def sagemaker(aws: None) -> Any:
    return boto3.client("sagemaker", region_name=REGION)


@pytest.fixture
def load_handler(aws: None, monkeypatch: pytest.MonkeyPatch) -> HandlerLoader:
    """load_handler("deploy", ENDPOINT_INSTANCE_COUNT="2") -> the module of functions/deploy/app.py.

    The function's environment (Globals + its own + overrides) is set before the module
    is used; its cached settings and client factories are cleared.
    """

    def load(directory: str, **env: str) -> ModuleType:
        for name, value in {**GLOBAL_ENV, **FUNCTION_ENV[directory], **env}.items():
            monkeypatch.setenv(name, value)
        path = FUNCTIONS_DIR / directory / "app.py"
        module_name = f"sagepipe_test_handler_{directory}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, module_name, module)
        spec.loader.exec_module(module)
        _clear_caches(module)
        return module

    return load


def _clear_caches(module: ModuleType) -> None:
    """settings() and the client factories (sagemaker(), s3(), sfn(), sns())."""
    for value in vars(module).values():
        cache_clear = getattr(value, "cache_clear", None)
        if callable(cache_clear) and getattr(value, "__module__", None) == module.__name__:
            cache_clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A handler that raises flushes no metrics; Powertools warns about that."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.filterwarnings("ignore:No application metrics"))


# Resources created directly in moto, standing in for what earlier steps made.

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def create_training_job(sagemaker: Any, name: str = f"{RUN_ID}-tr") -> dict[str, Any]:
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE_ARN,
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{BUCKET}/{RUN_ROOT}data/train/train.csv",
                    }
                },
                "ContentType": "text/libsvm",
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/{RUN_ROOT}training/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    job: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=name)
    return job


def create_model(sagemaker: Any, name: str = f"{RUN_ID}-m") -> None:
    sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={
            "Image": XGBOOST_IMAGE,
            "ModelDataUrl": f"s3://{BUCKET}/{RUN_ROOT}training/{RUN_ID}-tr/output/model.tar.gz",
        },
        ExecutionRoleArn=ROLE_ARN,
    )


def create_endpoint(sagemaker: Any, endpoint: str, config: str, model: str, variant: str) -> None:
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
