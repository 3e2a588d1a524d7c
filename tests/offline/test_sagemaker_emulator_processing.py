"""Processing jobs in the SageMaker emulator, through boto3, with moto serving S3."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from sagepipe.processing import (
    ProcessingJobDescription,
    ProcessingJobSpec,
    create_processing_job_request,
)
from sagepipe.processing_bundle import CodeBundle
from sagepipe_local.sagemaker import SageMakerEmulator

pytestmark = pytest.mark.offline

REGION = "us-east-1"
BUCKET = "processing-test"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
DEADLINE_SECONDS = 30.0

# A container script: reads its input, echoes its arguments and environment, writes
# outputs and an exit message, and exits with the code it is given.
SCRIPT = """
import json, os, sys, pathlib
code, out = int(sys.argv[1]), pathlib.Path(sys.argv[2])
rows = pathlib.Path("/opt/ml/processing/input/data/nested/rows.csv".replace(
    "/opt/ml", os.environ["ML_ROOT"])).read_text()
(out / "sub").mkdir(parents=True, exist_ok=True)
(out / "sub" / "count.json").write_text(json.dumps({"lines": rows.count("\\n"),
    "argv": sys.argv[1:], "env": os.environ["PLACES"], "python": sys.executable}))
pathlib.Path(os.environ["ML_ROOT"], "output", "message").write_text(f"finished with {code}")
for i in range(30):
    print(f"progress line {i}", file=sys.stderr)
sys.exit(code)
"""


@dataclass
class Stack:
    sagemaker: Any
    s3: Any


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        host, port = moto.get_host_and_port()
        s3_url = f"http://{host}:{port}"
        emulator = SageMakerEmulator(
            s3_url,
            REGION,
            work_dir=tmp_path_factory.mktemp("processing-work"),
            phase_delay_seconds=0.05,
        )
        server = make_server("127.0.0.1", 0, emulator, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        config = Config(retries={"max_attempts": 1, "mode": "standard"})
        session = boto3.session.Session(region_name=REGION)
        s3 = session.client("s3", endpoint_url=s3_url)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="in/code/script.py", Body=SCRIPT.encode())
        s3.put_object(Bucket=BUCKET, Key="in/data/nested/rows.csv", Body=b"a\nb\nc\n")
        yield Stack(
            sagemaker=session.client(
                "sagemaker", endpoint_url=f"http://127.0.0.1:{server.server_port}", config=config
            ),
            s3=s3,
        )
        server.shutdown()
        emulator.shutdown()
        moto.stop()


def _request(name: str, code: int = 0, **changes: Any) -> dict[str, Any]:
    def s3_input(input_name: str, prefix: str) -> dict[str, Any]:
        return {
            "InputName": input_name,
            "S3Input": {
                "S3Uri": f"s3://{BUCKET}/{prefix}",
                "LocalPath": f"/opt/ml/processing/input/{input_name}",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
            },
        }

    request: dict[str, Any] = {
        "ProcessingJobName": name,
        "ProcessingInputs": [s3_input("code", "in/code/"), s3_input("data", "in/data/")],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "result",
                    "S3Output": {
                        "S3Uri": f"s3://{BUCKET}/out/{name}",
                        "LocalPath": "/opt/ml/processing/output/result",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 10,
            }
        },
        "AppSpecification": {
            "ImageUri": IMAGE,
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/script.py"],
            "ContainerArguments": [str(code), "/opt/ml/processing/output/result"],
        },
        "Environment": {
            "ML_ROOT": "/opt/ml",
            "PLACES": "/opt/ml/processing/input:/usr/lib,--x=/opt/ml/output,/opt/mlx",
        },
        "RoleArn": ROLE,
    }
    request.update(changes)
    return request


def _wait(stack: Stack, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        job: dict[str, Any] = stack.sagemaker.describe_processing_job(ProcessingJobName=name)
        if job["ProcessingJobStatus"] in {"Completed", "Failed", "Stopped"}:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{name} did not finish within {DEADLINE_SECONDS} s")


def _read(stack: Stack, key: str) -> bytes:
    body: bytes = stack.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def test_a_job_runs_its_command_on_the_inputs_and_uploads_the_outputs(stack: Stack) -> None:
    stack.sagemaker.create_processing_job(**_request("runs-ok"))
    first = stack.sagemaker.describe_processing_job(ProcessingJobName="runs-ok")
    assert first["ProcessingJobStatus"] == "InProgress"

    job = _wait(stack, "runs-ok")

    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ExitMessage"] == "finished with 0"
    assert job["ProcessingEndTime"] >= job["ProcessingStartTime"]
    assert job["AppSpecification"]["ImageUri"] == IMAGE
    result = json.loads(_read(stack, "out/runs-ok/sub/count.json"))
    assert result["lines"] == 3
    work = result["argv"][1].removesuffix("/processing/output/result")
    assert "/opt/ml" not in work
    assert result["argv"] == ["0", f"{work}/processing/output/result"]
    # /opt/ml paths are mapped wherever a value or a separated part starts with them.
    assert result["env"] == f"{work}/processing/input:/usr/lib,--x={work}/output,/opt/mlx"
    assert Path(result["python"]).name.startswith("python")
    assert "/opt/ml" not in result["python"]


def test_a_non_zero_exit_fails_with_the_code_and_the_end_of_stderr(stack: Stack) -> None:
    stack.sagemaker.create_processing_job(**_request("exits-3", code=3))

    job = _wait(stack, "exits-3")

    assert job["ProcessingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith("AlgorithmError: the processing container exited with code 3: ")
    assert reason.endswith("progress line 29")
    assert "progress line 9\n" not in reason  # only the tail
    assert len(reason) <= 1024
    assert job["ExitMessage"] == "finished with 3"
    listed = stack.s3.list_objects_v2(Bucket=BUCKET, Prefix="out/exits-3/")
    assert "Contents" not in listed  # nothing uploaded from a failed job


def test_an_image_other_than_scikit_learn_fails_the_job(stack: Stack) -> None:
    request = _request("wrong-image")
    request["AppSpecification"]["ImageUri"] = "1.dkr.ecr.us-east-1.amazonaws.com/mine:latest"
    stack.sagemaker.create_processing_job(**request)

    job = _wait(stack, "wrong-image")

    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: image 1.dkr.ecr")


def test_an_empty_input_prefix_fails_the_job(stack: Stack) -> None:
    request = _request("no-data")
    request["ProcessingInputs"][1]["S3Input"]["S3Uri"] = f"s3://{BUCKET}/nothing/here/"
    stack.sagemaker.create_processing_job(**request)

    job = _wait(stack, "no-data")

    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: No S3 objects found under S3 URL")


def test_stop_kills_the_container(stack: Stack) -> None:
    request = _request("sleeps")
    app = request["AppSpecification"]
    app["ContainerEntrypoint"] = ["python3", "-c"]
    app["ContainerArguments"] = ["import time; time.sleep(60)"]
    stack.sagemaker.create_processing_job(**request)
    time.sleep(0.5)

    stack.sagemaker.stop_processing_job(ProcessingJobName="sleeps")
    job = _wait(stack, "sleeps")

    assert job["ProcessingJobStatus"] == "Stopped"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"AppSpecification": {"ImageUri": IMAGE}},
            "needs AppSpecification.ContainerEntrypoint",
        ),
        ({"ProcessingJobName": "bad_name"}, "1 validation error detected"),
    ],
)
def test_invalid_requests_are_refused(stack: Stack, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientError) as raised:
        stack.sagemaker.create_processing_job(**_request("refused", **change))
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert message in raised.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("ProcessingInputs", 0, "S3Input", "LocalPath"), "/tmp/code", "under /opt/ml/processing/"),
        (("ProcessingInputs", 0, "S3Input", "S3InputMode"), "Pipe", "S3InputMode Pipe"),
        (
            ("ProcessingOutputConfig", "Outputs", 0, "S3Output", "S3UploadMode"),
            "Continuous",
            "S3UploadMode Continuous",
        ),
    ],
)
def test_unsupported_inputs_and_outputs_are_refused(
    stack: Stack, path: tuple[Any, ...], value: str, message: str
) -> None:
    request = _request("refused")
    node: Any = request
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ClientError) as raised:
        stack.sagemaker.create_processing_job(**request)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert message in raised.value.response["Error"]["Message"]


def test_a_reused_name_is_resource_in_use(stack: Stack) -> None:
    stack.sagemaker.create_processing_job(**_request("twice"))
    with pytest.raises(ClientError) as raised:
        stack.sagemaker.create_processing_job(**_request("twice"))
    assert raised.value.response["Error"]["Code"] == "ResourceInUse"
    _wait(stack, "twice")


def test_sagepipes_own_job_runs_from_its_code_bundle(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """The request StartProcessing sends, with the bundle it uploads: no pip offline."""
    bundle = CodeBundle.of_package()
    for name, content in bundle.files.items():
        stack.s3.put_object(Bucket=BUCKET, Key=f"bundle/{name}", Body=content)
    lines = ["rooms,city,price"]
    lines += [f"{i % 7 + 1},{'abc'[i % 3]},{(i % 7 + 1) * 10 + i % 3}" for i in range(50)]
    stack.s3.put_object(Bucket=BUCKET, Key="run/processing/data/a.csv", Body="\n".join(lines))
    root = f"s3://{BUCKET}/run/"
    description = ProcessingJobDescription(
        model="rooms",
        source_name=f"s3://{BUCKET}/incoming/rooms/a.csv",
        data_file="a.csv",
        run_root_uri=root,
        config={"target": "price"},
        max_categories=20,
        min_rows=20,
    )
    stack.s3.put_object(
        Bucket=BUCKET, Key="run/processing/job/job.json", Body=description.to_json().encode()
    )
    spec = ProcessingJobSpec(
        job_name="sagepipe-job",
        region=REGION,
        role_arn=ROLE,
        instance_type="ml.m5.large",
        volume_size_gb=11,
        max_runtime_seconds=600,
        code_uri=f"s3://{BUCKET}/bundle/",
        data_uri=f"{root}processing/data/",
        job_uri=f"{root}processing/job/",
        output_uri=root.rstrip("/"),
    )
    caplog.set_level(logging.INFO, logger="sagepipe_local.sagemaker.processing")

    stack.sagemaker.create_processing_job(**create_processing_job_request(spec))
    job = _wait(stack, "sagepipe-job")

    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    prepared = json.loads(_read(stack, "run/prepared.json"))
    assert prepared["train_uri"] == f"{root}data/train/train.libsvm"
    assert prepared["rows"]["input"] == 50
    assert _read(stack, "run/data/train/train.libsvm")
    assert json.loads(_read(stack, "run/schema.json"))["target"] == "price"
    logged = caplog.text
    assert "nothing to install" in logged
    sagepipe_from = next(line for line in logged.splitlines() if "sagepipe from" in line)
    assert "processing/input/code/sagepipe" in sagepipe_from  # the bundle, not the venv
