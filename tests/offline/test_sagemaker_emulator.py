"""The SageMaker emulator through boto3, with moto serving S3, as the pipeline reaches it."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from moto.server import ThreadedMotoServer
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import Client

from sagepipe_local.local_aws import ACCOUNT_ID
from sagepipe_local.moto_s3 import MotoS3Store
from sagepipe_local.processes import ALLOCATOR_ENVIRONMENT
from sagepipe_local.sagemaker import SageMakerEmulator

REGION = "us-east-1"
BUCKET = "emulator-test"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
LINEAR_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
PHASE_DELAY = 0.2  # the default: long enough that callers see every phase
DEADLINE_SECONDS = 60.0
FEATURES = 4

CLIENT_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30)


@dataclass
class Stack:
    url: str
    s3_url: str
    emulator: SageMakerEmulator
    sagemaker: Any
    runtime: Any
    s3: Any


@dataclass(frozen=True)
class Dataset:
    train_x: np.ndarray[Any, Any]
    train_y: np.ndarray[Any, Any]
    validation_x: np.ndarray[Any, Any]
    validation_y: np.ndarray[Any, Any]
    test_x: np.ndarray[Any, Any]
    test_y: np.ndarray[Any, Any]


def _dataset() -> Dataset:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(600, FEATURES))
    y = 3.0 * x[:, 0] - 2.0 * x[:, 1] + 0.5 * x[:, 2] + 4.0 + rng.normal(scale=0.1, size=600)
    return Dataset(x[:400], y[:400], x[400:500], y[400:500], x[500:], y[500:])


DATA = _dataset()


def _csv(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any] | None = None) -> str:
    rows = x if y is None else np.column_stack([y, x])
    return "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in rows)


def _libsvm(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any] | None = None) -> str:
    labels = np.zeros(len(x)) if y is None else y
    lines = []
    for label, row in zip(labels, x, strict=True):
        pairs = " ".join(f"{i}:{v:.6f}" for i, v in enumerate(row))
        lines.append(f"{label:.6f} {pairs}\n")
    return "".join(lines)


def _serve(app: Any) -> tuple[BaseWSGIServer, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def _clients(url: str, s3_url: str) -> tuple[Any, Any, Any]:
    session = boto3.session.Session(region_name=REGION)
    return (
        session.client("sagemaker", endpoint_url=url, config=CLIENT_CONFIG),
        session.client("sagemaker-runtime", endpoint_url=url, config=CLIENT_CONFIG),
        session.client("s3", endpoint_url=s3_url),
    )


@pytest.fixture(scope="module")
def aws_environment() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def s3_url(aws_environment: None) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=url, region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    for key, body in {
        "data/libsvm/train/train.libsvm": _libsvm(DATA.train_x, DATA.train_y),
        "data/libsvm/validation/validation.libsvm": _libsvm(DATA.validation_x, DATA.validation_y),
        "data/csv/train/part-1.csv": _csv(DATA.train_x[:200], DATA.train_y[:200]),
        "data/csv/train/part-2.csv": _csv(DATA.train_x[200:], DATA.train_y[200:]),
        "data/csv/validation/validation.csv": _csv(DATA.validation_x, DATA.validation_y),
        "data/test/csv/features.csv": _csv(DATA.test_x),
        "data/test/libsvm/features.libsvm": _libsvm(DATA.test_x),
    }.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    yield url
    server.stop()


# The emulator reaches S3 through boto3 by default; the offline stack gives it moto's
# backend in process (the moto server here runs in this process too).
@pytest.fixture(scope="module", params=["boto3", "in-process"])
def stack(
    s3_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    emulator = SageMakerEmulator(
        s3_url,
        REGION,
        work_dir=tmp_path_factory.mktemp("emulator-work"),
        phase_delay_seconds=PHASE_DELAY,
        s3=MotoS3Store(ACCOUNT_ID) if request.param == "in-process" else None,
    )
    server, thread = _serve(emulator)
    url = f"http://127.0.0.1:{server.server_port}"
    sagemaker, runtime, s3 = _clients(url, s3_url)
    yield Stack(url, s3_url, emulator, sagemaker, runtime, s3)
    server.shutdown()
    thread.join()
    emulator.shutdown()


# Helpers


def wait_for(
    read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last answer: {value}")
        time.sleep(0.05)


def wait_training(stack: Stack, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: stack.sagemaker.describe_training_job(TrainingJobName=name),
        lambda d: d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"),
    )


def wait_transform(stack: Stack, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: stack.sagemaker.describe_transform_job(TransformJobName=name),
        lambda d: d["TransformJobStatus"] in ("Completed", "Failed", "Stopped"),
    )


def wait_endpoint(stack: Stack, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: stack.sagemaker.describe_endpoint(EndpointName=name),
        lambda d: d["EndpointStatus"] in ("InService", "Failed"),
    )


def channel(name: str, prefix: str, content_type: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{prefix}"}
        },
    }
    if content_type is not None:
        result["ContentType"] = content_type
    return result


def start_training(
    stack: Stack,
    name: str,
    *,
    image: str = XGBOOST_IMAGE,
    hyperparameters: dict[str, str] | None = None,
    data: str = "libsvm",
    content_type: str | None = None,
    validation: bool = True,
) -> None:
    channels = [channel("train", f"data/{data}/train/", content_type)]
    if validation:
        channels.append(channel("validation", f"data/{data}/validation/", content_type))
    stack.sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        InputDataConfig=channels,
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/training"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        HyperParameters=hyperparameters
        if hyperparameters is not None
        else {"num_round": "40", "max_depth": "3", "eta": "0.3", "early_stopping_rounds": "5"},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )


def train(stack: Stack, name: str, **options: Any) -> dict[str, Any]:
    start_training(stack, name, **options)
    return wait_training(stack, name)


def create_model(stack: Stack, name: str, image: str, model_data: str) -> None:
    stack.sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={"Image": image, "ModelDataUrl": model_data},
        ExecutionRoleArn=ROLE,
    )


def create_config(stack: Stack, name: str, model: str, variant: str) -> None:
    stack.sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
            }
        ],
    )


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    code: str = error.value.response["Error"]["Code"]
    return code


def error_member(error: pytest.ExceptionInfo[ClientError], member: str) -> Any:
    """A modelled member of the error shape (botocore puts them beside "Error")."""
    response: dict[str, Any] = dict(error.value.response)
    return response[member]


def invoke(stack: Stack, endpoint: str, body: str, **options: Any) -> tuple[str, str]:
    answer = stack.runtime.invoke_endpoint(
        EndpointName=endpoint, Body=body.encode(), ContentType="text/csv", **options
    )
    return answer["InvokedProductionVariant"], answer["Body"].read().decode()


def rmse(predicted: np.ndarray[Any, Any], actual: np.ndarray[Any, Any]) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


@pytest.fixture(scope="module")
def xgboost_job(stack: Stack) -> dict[str, Any]:
    return train(stack, "xgb-libsvm")


@pytest.fixture(scope="module")
def linear_job(stack: Stack) -> dict[str, Any]:
    return train(
        stack,
        "ll-csv",
        image=LINEAR_IMAGE,
        data="csv",
        content_type="text/csv",
        hyperparameters={"predictor_type": "regressor", "feature_dim": str(FEATURES)},
    )


@pytest.fixture(scope="module")
def served_models(stack: Stack, xgboost_job: dict[str, Any], linear_job: dict[str, Any]) -> None:
    create_model(stack, "m-xgb", XGBOOST_IMAGE, xgboost_job["ModelArtifacts"]["S3ModelArtifacts"])
    create_model(stack, "m-ll", LINEAR_IMAGE, linear_job["ModelArtifacts"]["S3ModelArtifacts"])
    create_config(stack, "ec-xgb", "m-xgb", "v-xgb")
    create_config(stack, "ec-ll", "m-ll", "v-ll")


# Training


def test_xgboost_libsvm_training_reports_progress_metrics_and_one_file_artifact(
    stack: Stack,
) -> None:
    start_training(stack, "xgb-progress")
    first = stack.sagemaker.describe_training_job(TrainingJobName="xgb-progress")
    assert first["TrainingJobStatus"] == "InProgress"
    done = wait_training(stack, "xgb-progress")

    assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
    assert done["SecondaryStatus"] == "Completed"
    transitions = [t["Status"] for t in done["SecondaryStatusTransitions"]]
    assert transitions == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert done["TrainingStartTime"] <= done["TrainingEndTime"]
    metrics = {m["MetricName"]: m["Value"] for m in done["FinalMetricDataList"]}
    assert {"train:rmse", "validation:rmse"} <= set(metrics)
    assert metrics["validation:rmse"] < 1.0
    artifact = done["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{BUCKET}/training/xgb-progress/output/model.tar.gz"
    body = stack.s3.get_object(Bucket=BUCKET, Key="training/xgb-progress/output/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(body["Body"].read()), mode="r:gz") as tar:
        assert tar.getnames() == ["xgboost-model"]
    assert done["HyperParameters"]["num_round"] == "40"


def test_xgboost_trains_on_csv_split_across_objects(stack: Stack) -> None:
    done = train(stack, "xgb-csv", data="csv", content_type="text/csv")
    assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in done["FinalMetricDataList"]}
    assert metrics["validation:rmse"] < 1.0


@pytest.mark.parametrize(
    ("name", "hyperparameters", "reason"),
    [
        (
            "hp-extraneous",
            {"num_round": "5", "bogus": "1"},
            "ClientError: Extraneous hyperparameter found: bogus",
        ),
        (
            "hp-missing",
            {"max_depth": "3"},
            "ClientError: Missing required hyperparameter: num_round",
        ),
        (
            "hp-range",
            {"num_round": "5", "eta": "2"},
            "ClientError: Hyperparameter eta: value 2.0 not in range [0, 1]",
        ),
        (
            "hp-type",
            {"num_round": "many"},
            "ClientError: Hyperparameter num_round: 'many' is not an integer",
        ),
    ],
)
def test_bad_hyperparameters_fail_the_job_with_a_client_error(
    stack: Stack, name: str, hyperparameters: dict[str, str], reason: str
) -> None:
    done = train(stack, name, hyperparameters=hyperparameters)
    assert done["TrainingJobStatus"] == "Failed"
    assert done["SecondaryStatus"] == "Failed"
    assert done["FailureReason"] == reason
    assert "ModelArtifacts" not in done


def test_unknown_image_and_missing_data_fail_with_clear_reasons(stack: Stack) -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own-image:latest"
    unknown = train(stack, "unknown-image", image=image)
    assert unknown["TrainingJobStatus"] == "Failed"
    assert unknown["FailureReason"].startswith("ClientError: The offline emulator runs only")
    empty = train(stack, "empty-channel", data="nothing-here", validation=False)
    assert empty["TrainingJobStatus"] == "Failed"
    assert "No S3 objects found under S3 URL" in empty["FailureReason"]


def test_stop_training_job_ends_stopped(stack: Stack) -> None:
    start_training(stack, "to-stop", hyperparameters={"num_round": "100000", "max_depth": "6"})
    stack.sagemaker.stop_training_job(TrainingJobName="to-stop")
    stopping = stack.sagemaker.describe_training_job(TrainingJobName="to-stop")
    assert stopping["TrainingJobStatus"] in ("Stopping", "Stopped")
    done = wait_training(stack, "to-stop")
    assert done["TrainingJobStatus"] == "Stopped"
    assert done["SecondaryStatus"] == "Stopped"
    with pytest.raises(ClientError) as error:
        stack.sagemaker.stop_training_job(TrainingJobName="to-stop")
    assert error_code(error) == "ValidationException"


def test_gzip_channels_train_and_max_runtime_stops_the_job(stack: Stack) -> None:
    stack.s3.put_object(
        Bucket=BUCKET,
        Key="data/gzip/train/train.csv.gz",
        Body=gzip.compress(_csv(DATA.train_x, DATA.train_y).encode()),
    )
    stack.sagemaker.create_training_job(
        TrainingJobName="xgb-gzip",
        AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        InputDataConfig=[
            {**channel("train", "data/gzip/train/", "text/csv"), "CompressionType": "Gzip"}
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/training"},
        HyperParameters={"num_round": "5"},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    gzipped = wait_training(stack, "xgb-gzip")
    assert gzipped["TrainingJobStatus"] == "Completed", gzipped.get("FailureReason")

    stack.sagemaker.create_training_job(
        TrainingJobName="too-long-limited",
        AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        InputDataConfig=[channel("train", "data/libsvm/train/", None)],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/training"},
        HyperParameters={"num_round": "100000", "max_depth": "8"},
        StoppingCondition={"MaxRuntimeInSeconds": 1},
    )
    limited = wait_training(stack, "too-long-limited")
    assert limited["TrainingJobStatus"] == "Stopped"
    assert limited["SecondaryStatus"] == "MaxRuntimeExceeded"


def _containers() -> set[int]:
    """Process ids of this process's container workers."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = next(line for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent.split()[1]) == os.getpid() and b"container_worker" in command:
            found.add(int(entry.name))
    return found


def test_jobs_reuse_a_warm_container_and_survive_one_that_dies(stack: Stack) -> None:
    assert train(stack, "warm-1", hyperparameters={"num_round": "3"})["TrainingJobStatus"] == (
        "Completed"
    )
    warm = _containers()
    assert len(warm) == 1
    assert train(stack, "warm-2", hyperparameters={"num_round": "3"})["TrainingJobStatus"] == (
        "Completed"
    )
    assert _containers() == warm  # the same process ran both jobs
    for pid in warm:  # its allocator keeps freed memory between jobs
        environment = set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
        assert {f"{k}={v}".encode() for k, v in ALLOCATOR_ENVIRONMENT.items()} <= environment

    start_training(stack, "dies", hyperparameters={"num_round": "100000"})
    wait_for(
        lambda: stack.sagemaker.describe_training_job(TrainingJobName="dies"),
        lambda d: d.get("SecondaryStatus") == "Training",
    )
    for pid in warm:
        os.kill(pid, signal.SIGKILL)
    died = wait_training(stack, "dies")
    assert died["TrainingJobStatus"] == "Failed"
    assert died["FailureReason"] == ("InternalServerError: the container process exited (signal 9)")
    again = train(stack, "after-death", hyperparameters={"num_round": "3"})
    assert again["TrainingJobStatus"] == "Completed"
    assert _containers().isdisjoint(warm)


def test_linear_learner_matches_least_squares(stack: Stack, linear_job: dict[str, Any]) -> None:
    assert linear_job["TrainingJobStatus"] == "Completed", linear_job.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in linear_job["FinalMetricDataList"]}
    design = np.column_stack([DATA.train_x, np.ones(len(DATA.train_x))])
    coefficients = np.linalg.lstsq(design, DATA.train_y, rcond=None)[0]
    validation_design = np.column_stack([DATA.validation_x, np.ones(len(DATA.validation_x))])
    expected = rmse(validation_design @ coefficients, DATA.validation_y)
    assert metrics["validation:rmse"] == pytest.approx(expected, rel=1e-3)
    artifact = linear_job["ModelArtifacts"]["S3ModelArtifacts"]
    key = artifact.split(f"s3://{BUCKET}/", 1)[1]
    body = stack.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert tar.getnames() == ["model_algo-1"]


def test_linear_learner_rejects_libsvm_and_classifiers(stack: Stack) -> None:
    libsvm = train(
        stack,
        "ll-libsvm",
        image=LINEAR_IMAGE,
        content_type="text/libsvm",
        hyperparameters={"predictor_type": "regressor"},
    )
    assert libsvm["TrainingJobStatus"] == "Failed"
    assert libsvm["FailureReason"].startswith(
        "ClientError: Channel train: content type text/libsvm"
    )
    classifier = train(
        stack,
        "ll-classifier",
        image=LINEAR_IMAGE,
        data="csv",
        content_type="text/csv",
        hyperparameters={"predictor_type": "binary_classifier"},
    )
    assert "not supported by the offline emulator" in classifier["FailureReason"]
    unknown = train(
        stack,
        "ll-unknown-hp",
        image=LINEAR_IMAGE,
        data="csv",
        content_type="text/csv",
        hyperparameters={"predictor_type": "regressor", "colour": "red"},
    )
    assert "Extraneous hyperparameter found: colour" in unknown["FailureReason"]


# Batch transform


@dataclass(frozen=True)
class TransformCase:
    job: str
    model: str
    folder: str
    content_type: str
    accept: str


@pytest.mark.parametrize(
    "case",
    [
        TransformCase("tf-xgb-libsvm", "m-xgb", "libsvm", "text/libsvm", "text/csv"),
        # Linear Learner has no CSV output: JSON Lines, one {"score": x} per line.
        TransformCase("tf-ll-csv", "m-ll", "csv", "text/csv", "application/jsonlines"),
    ],
    ids=lambda case: case.job,
)
def test_transform_writes_one_prediction_per_input_line(
    stack: Stack, served_models: None, case: TransformCase
) -> None:
    job, model, folder, content_type = case.job, case.model, case.folder, case.content_type
    stack.sagemaker.create_transform_job(
        TransformJobName=job,
        ModelName=model,
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=6,
        TransformInput={
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{BUCKET}/data/test/{folder}/",
                }
            },
            "ContentType": content_type,
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{BUCKET}/transform/{job}/",
            "Accept": case.accept,
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    done = wait_transform(stack, job)
    assert done["TransformJobStatus"] == "Completed", done.get("FailureReason")
    assert done["TransformStartTime"] <= done["TransformEndTime"]
    name = "features.libsvm" if folder == "libsvm" else "features.csv"
    output = stack.s3.get_object(Bucket=BUCKET, Key=f"transform/{job}/{name}.out")
    lines = output["Body"].read().decode().splitlines()
    assert len(lines) == len(DATA.test_y)
    scores = [json.loads(line)["score"] if line.startswith("{") else line for line in lines]
    predictions = np.array([float(score) for score in scores])
    assert rmse(predictions, DATA.test_y) < 1.0


def test_linear_learner_refuses_csv_output_like_the_real_container(
    stack: Stack, served_models: None
) -> None:
    stack.sagemaker.create_transform_job(
        TransformJobName="tf-ll-csv-out",
        ModelName="m-ll",
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/test/csv/"}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{BUCKET}/transform/ll-csv-out/",
            "Accept": "text/csv",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    done = wait_transform(stack, "tf-ll-csv-out")
    assert done["TransformJobStatus"] == "Failed"
    assert "Accept type text/csv is not supported" in done["FailureReason"]


def test_stop_transform_job_ends_stopped(stack: Stack, served_models: None) -> None:
    stack.sagemaker.create_transform_job(
        TransformJobName="tf-stopped",
        ModelName="m-xgb",
        TransformInput={
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{BUCKET}/data/test/libsvm/",
                }
            },
            "ContentType": "text/libsvm",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/transform/tf-stopped/"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    stack.sagemaker.stop_transform_job(TransformJobName="tf-stopped")
    done = wait_transform(stack, "tf-stopped")
    assert done["TransformJobStatus"] == "Stopped"
    listed = stack.s3.list_objects_v2(Bucket=BUCKET, Prefix="transform/tf-stopped/")
    assert listed["KeyCount"] == 0


def test_transform_with_an_unknown_model_is_refused(stack: Stack) -> None:
    with pytest.raises(ClientError) as error:
        stack.sagemaker.create_transform_job(
            TransformJobName="tf-nomodel",
            ModelName="no-such-model",
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/x"}}
            },
            TransformOutput={"S3OutputPath": "s3://b/y"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
    assert error_code(error) == "ValidationException"
    assert "Could not find model" in error.value.response["Error"]["Message"]


# Endpoints


def test_endpoint_update_under_load_never_fails_and_switches_models(
    stack: Stack, served_models: None
) -> None:
    stack.sagemaker.create_endpoint(EndpointName="ep-live", EndpointConfigName="ec-xgb")
    assert stack.sagemaker.describe_endpoint(EndpointName="ep-live")["EndpointStatus"] == "Creating"
    described = wait_endpoint(stack, "ep-live")
    assert described["EndpointStatus"] == "InService"
    assert described["ProductionVariants"][0]["VariantName"] == "v-xgb"
    assert described["ProductionVariants"][0]["CurrentWeight"] == 1.0

    row = _csv(DATA.test_x[:1])
    answers: dict[int, list[str]] = {}
    failures: list[Exception] = []
    stop = threading.Event()

    def hammer(worker: int) -> None:
        seen = answers.setdefault(worker, [])
        while not stop.is_set():
            try:
                variant, _ = invoke(stack, "ep-live", row)
            except (ClientError, BotoCoreError) as error:
                failures.append(error)
                return
            seen.append(variant)

    workers = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(0.3)
    stack.sagemaker.update_endpoint(EndpointName="ep-live", EndpointConfigName="ec-ll")
    updating = stack.sagemaker.describe_endpoint(EndpointName="ep-live")
    assert updating["EndpointStatus"] == "Updating"
    assert updating["EndpointConfigName"] == "ec-xgb"
    assert updating["PendingDeploymentSummary"]["EndpointConfigName"] == "ec-ll"
    final = wait_endpoint(stack, "ep-live")
    time.sleep(0.3)
    stop.set()
    for worker in workers:
        worker.join()

    assert failures == []
    assert final["EndpointStatus"] == "InService"
    assert final["EndpointConfigName"] == "ec-ll"
    assert "FailureReason" not in final
    for seen in answers.values():
        assert seen[0] == "v-xgb"
        assert seen[-1] == "v-ll"
        switched = seen.index("v-ll")
        assert set(seen[switched:]) == {"v-ll"}, "an answer came from the old model after the swap"


def test_invoke_answers_csv_json_and_libsvm(stack: Stack, served_models: None) -> None:
    stack.sagemaker.create_endpoint(EndpointName="ep-formats", EndpointConfigName="ec-xgb")
    wait_endpoint(stack, "ep-formats")
    rows = DATA.test_x[:3]

    variant, text = invoke(stack, "ep-formats", _csv(rows))
    assert variant == "v-xgb"
    csv_scores = [float(line) for line in text.splitlines()]
    assert len(csv_scores) == 3

    answer = stack.runtime.invoke_endpoint(
        EndpointName="ep-formats",
        Body=_libsvm(rows).encode(),
        ContentType="text/libsvm",
        Accept="application/json",
        TargetVariant="v-xgb",
    )
    assert answer["ContentType"] == "application/json"
    assert answer["InvokedProductionVariant"] == "v-xgb"
    scores = [p["score"] for p in json.loads(answer["Body"].read())["predictions"]]
    assert scores == pytest.approx(csv_scores, rel=1e-5)

    missing = stack.runtime.invoke_endpoint(
        EndpointName="ep-formats", Body=b"0.1,,0.3,0.4\n", ContentType="text/csv"
    )
    assert len(missing["Body"].read().decode().splitlines()) == 1

    empty = stack.runtime.invoke_endpoint(
        EndpointName="ep-formats", Body=b"", ContentType="text/csv"
    )
    assert empty["Body"].read() == b""


def test_runtime_errors_have_the_service_codes(stack: Stack, served_models: None) -> None:
    stack.sagemaker.create_endpoint(EndpointName="ep-errors", EndpointConfigName="ec-xgb")
    wait_endpoint(stack, "ep-errors")
    runtime = stack.runtime

    with pytest.raises(ClientError) as unknown:
        runtime.invoke_endpoint(EndpointName="ep-none", Body=b"1,2,3,4", ContentType="text/csv")
    assert error_code(unknown) == "ValidationError"
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    with pytest.raises(ClientError) as variant:
        runtime.invoke_endpoint(
            EndpointName="ep-errors", Body=b"1,2,3,4", ContentType="text/csv", TargetVariant="v9"
        )
    assert error_code(variant) == "ValidationError"

    with pytest.raises(ClientError) as garbage:
        runtime.invoke_endpoint(EndpointName="ep-errors", Body=b"a,b,c,d", ContentType="text/csv")
    assert error_code(garbage) == "ModelError"
    assert garbage.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error_member(garbage, "OriginalStatusCode") == 415
    assert "csv" in error_member(garbage, "OriginalMessage")

    with pytest.raises(ClientError) as width:
        runtime.invoke_endpoint(EndpointName="ep-errors", Body=b"1,2", ContentType="text/csv")
    assert error_code(width) == "ModelError"
    assert error_member(width, "OriginalStatusCode") == 400

    with pytest.raises(ClientError) as large:
        runtime.invoke_endpoint(
            EndpointName="ep-errors", Body=b"1" * 6_291_457, ContentType="text/csv"
        )
    assert error_code(large) == "ValidationError"


def test_failed_update_rolls_back_and_failed_create_fails(
    stack: Stack, served_models: None
) -> None:
    create_model(stack, "m-broken", XGBOOST_IMAGE, f"s3://{BUCKET}/missing/model.tar.gz")
    create_config(stack, "ec-broken", "m-broken", "v-broken")
    stack.sagemaker.create_endpoint(EndpointName="ep-rollback", EndpointConfigName="ec-xgb")
    wait_endpoint(stack, "ep-rollback")

    stack.sagemaker.update_endpoint(EndpointName="ep-rollback", EndpointConfigName="ec-broken")
    rolled_back = wait_for(
        lambda: stack.sagemaker.describe_endpoint(EndpointName="ep-rollback"),
        lambda d: d["EndpointStatus"] != "Updating",
    )
    assert rolled_back["EndpointStatus"] == "InService"
    assert rolled_back["EndpointConfigName"] == "ec-xgb"
    assert "v-broken" in rolled_back["FailureReason"]
    assert invoke(stack, "ep-rollback", _csv(DATA.test_x[:1]))[0] == "v-xgb"

    stack.sagemaker.create_endpoint(EndpointName="ep-broken", EndpointConfigName="ec-broken")
    failed = wait_endpoint(stack, "ep-broken")
    assert failed["EndpointStatus"] == "Failed"
    assert "NoSuchKey" in failed["FailureReason"]
    with pytest.raises(ClientError) as not_serving:
        invoke(stack, "ep-broken", _csv(DATA.test_x[:1]))
    assert error_code(not_serving) == "ValidationError"

    stack.sagemaker.delete_endpoint(EndpointName="ep-broken")
    with pytest.raises(ClientError) as gone:
        stack.sagemaker.describe_endpoint(EndpointName="ep-broken")
    assert error_code(gone) == "ValidationException"
    assert "Could not find endpoint" in gone.value.response["Error"]["Message"]


def test_control_plane_errors_have_the_service_codes(stack: Stack, served_models: None) -> None:
    sagemaker = stack.sagemaker
    with pytest.raises(ClientError) as missing_job:
        sagemaker.describe_training_job(TrainingJobName="never-created")
    assert error_code(missing_job) == "ValidationException"

    start_training(stack, "dup-job", hyperparameters={"num_round": "2"})
    with pytest.raises(ClientError) as duplicate_job:
        start_training(stack, "dup-job", hyperparameters={"num_round": "2"})
    assert error_code(duplicate_job) == "ResourceInUse"

    with pytest.raises(ClientError) as bad_name:
        sagemaker.describe_endpoint(EndpointName="bad_name")
    assert error_code(bad_name) == "ValidationException"
    assert "regular expression pattern" in bad_name.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as duplicate_model:
        create_model(stack, "m-xgb", XGBOOST_IMAGE, f"s3://{BUCKET}/x.tar.gz")
    assert error_code(duplicate_model) == "ValidationException"

    with pytest.raises(ClientError) as no_model:
        create_config(stack, "ec-orphan", "no-such-model", "v1")
    assert error_code(no_model) == "ValidationException"

    with pytest.raises(ClientError) as no_config:
        sagemaker.create_endpoint(EndpointName="ep-orphan", EndpointConfigName="ec-none")
    assert error_code(no_config) == "ValidationException"

    sagemaker.create_endpoint(EndpointName="ep-busy", EndpointConfigName="ec-xgb")
    with pytest.raises(ClientError) as busy:
        sagemaker.update_endpoint(EndpointName="ep-busy", EndpointConfigName="ec-ll")
    assert error_code(busy) == "ValidationException"
    with pytest.raises(ClientError) as in_use:
        sagemaker.delete_endpoint_config(EndpointConfigName="ec-xgb")
    assert error_code(in_use) == "ValidationException"

    with pytest.raises(ClientError) as unknown_operation:
        sagemaker.list_training_jobs()
    assert error_code(unknown_operation) == "UnknownOperationException"

    names = [e["EndpointName"] for e in sagemaker.list_endpoints(MaxResults=100)["Endpoints"]]
    assert "ep-busy" in names
    assert sagemaker.describe_model(ModelName="m-xgb")["PrimaryContainer"]["Image"] == XGBOOST_IMAGE
    config = sagemaker.describe_endpoint_config(EndpointConfigName="ec-ll")
    assert config["ProductionVariants"][0]["ModelName"] == "m-ll"


def test_unmodified_boto3_reaches_it_through_endpoint_variables(
    stack: Stack, served_models: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", stack.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", stack.url)
    sagemaker: Any = boto3.client("sagemaker", region_name=REGION)
    runtime: Any = boto3.client("sagemaker-runtime", region_name=REGION)
    sagemaker.create_endpoint(EndpointName="ep-env", EndpointConfigName="ec-ll")
    wait_for(
        lambda: sagemaker.describe_endpoint(EndpointName="ep-env"),
        lambda d: d["EndpointStatus"] == "InService",
    )
    answer = runtime.invoke_endpoint(
        EndpointName="ep-env", Body=_csv(DATA.test_x[:2]).encode(), ContentType="text/csv"
    )
    assert answer["InvokedProductionVariant"] == "v-ll"
    # Linear Learner's default answer is JSON.
    assert answer["ContentType"] == "application/json"
    assert len(json.loads(answer["Body"].read())["predictions"]) == 2


def test_handles_only_sagemaker_requests(stack: Stack) -> None:
    emulator = stack.emulator
    assert emulator.handles({"HTTP_X_AMZ_TARGET": "SageMaker.ListEndpoints"})
    assert emulator.handles({"REQUEST_METHOD": "POST", "PATH_INFO": "/endpoints/ep/invocations"})
    assert not emulator.handles({"HTTP_X_AMZ_TARGET": "AWSStepFunctions.StartExecution"})
    assert not emulator.handles({"REQUEST_METHOD": "PUT", "PATH_INFO": "/bucket/key"})


# Persistence


def test_state_dir_reload_brings_endpoints_back_in_service(
    s3_url: str, tmp_path: Path, stack: Stack, xgboost_job: dict[str, Any]
) -> None:
    state_dir = tmp_path / "state"
    first = SageMakerEmulator(
        s3_url, REGION, state_dir=state_dir, work_dir=tmp_path / "w1", phase_delay_seconds=0.01
    )
    server, thread = _serve(first)
    url = f"http://127.0.0.1:{server.server_port}"
    sagemaker, runtime, _ = _clients(url, s3_url)
    trained_key = xgboost_job["ModelArtifacts"]["S3ModelArtifacts"].split(f"{BUCKET}/", 1)[1]
    stack.s3.copy_object(
        Bucket=BUCKET, Key="kept/model.tar.gz", CopySource={"Bucket": BUCKET, "Key": trained_key}
    )
    sagemaker.create_model(
        ModelName="kept",
        PrimaryContainer={
            "Image": XGBOOST_IMAGE,
            "ModelDataUrl": f"s3://{BUCKET}/kept/model.tar.gz",
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="kept-ec",
        ProductionVariants=[{"VariantName": "v1", "ModelName": "kept"}],
    )
    sagemaker.create_endpoint(EndpointName="kept-ep", EndpointConfigName="kept-ec")
    first_stack = Stack(url, s3_url, first, sagemaker, runtime, None)
    finished = train(first_stack, "kept-job", hyperparameters={"num_round": "3"})
    start_training(first_stack, "cut-short", hyperparameters={"num_round": "100000"})
    wait_endpoint(first_stack, "kept-ep")
    before = invoke(first_stack, "kept-ep", _csv(DATA.test_x[:2]))
    server.shutdown()
    thread.join()
    first.shutdown()

    # After a restart S3 may still be restoring its objects: the endpoint waits for them.
    artifact = stack.s3.get_object(Bucket=BUCKET, Key="kept/model.tar.gz")["Body"].read()
    stack.s3.delete_object(Bucket=BUCKET, Key="kept/model.tar.gz")
    second = SageMakerEmulator(
        s3_url, REGION, state_dir=state_dir, work_dir=tmp_path / "w2", phase_delay_seconds=0.01
    )
    server, thread = _serve(second)
    url = f"http://127.0.0.1:{server.server_port}"
    sagemaker, runtime, _ = _clients(url, s3_url)
    restored = Stack(url, s3_url, second, sagemaker, runtime, None)
    try:
        reloading = sagemaker.describe_endpoint(EndpointName="kept-ep")
        assert reloading["EndpointStatus"] == "SystemUpdating"
        with pytest.raises(ClientError) as not_ready:
            invoke(restored, "kept-ep", _csv(DATA.test_x[:2]))
        assert error_code(not_ready) == "ModelNotReadyException"
        stack.s3.put_object(Bucket=BUCKET, Key="kept/model.tar.gz", Body=artifact)
        back = wait_for(
            lambda: sagemaker.describe_endpoint(EndpointName="kept-ep"),
            lambda d: d["EndpointStatus"] == "InService",
        )
        assert back["EndpointConfigName"] == "kept-ec"
        assert invoke(restored, "kept-ep", _csv(DATA.test_x[:2])) == before
        assert sagemaker.describe_model(ModelName="kept")["ModelName"] == "kept"
        kept_job = sagemaker.describe_training_job(TrainingJobName="kept-job")
        assert kept_job["TrainingJobStatus"] == "Completed"
        assert kept_job["ModelArtifacts"] == finished["ModelArtifacts"]
        cut_short = sagemaker.describe_training_job(TrainingJobName="cut-short")
        assert cut_short["TrainingJobStatus"] == "Failed"
        assert cut_short["FailureReason"].startswith("InternalServerError: the offline SageMaker")
    finally:
        server.shutdown()
        thread.join()
        second.shutdown()


def test_an_unreadable_state_file_is_set_aside(tmp_path: Path, aws_environment: None) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "sagemaker-state.json").write_text("{not json")
    emulator = SageMakerEmulator("http://127.0.0.1:9", REGION, state_dir=state_dir)
    try:
        client = Client(emulator)
        answer = client.post(
            "/",
            data=json.dumps({"EndpointName": "anything"}),
            headers={
                "X-Amz-Target": "SageMaker.DescribeEndpoint",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
        assert answer.status_code == 400
        assert answer.get_json(force=True)["__type"] == "ValidationException"
        assert (state_dir / "sagemaker-state.unreadable").exists()
    finally:
        emulator.shutdown()
