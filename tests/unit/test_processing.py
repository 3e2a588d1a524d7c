"""Processing job requests, sizing, the threshold and the settings around them."""

from __future__ import annotations

import json

import pytest

from sagepipe.errors import ConfigError, InputDataError
from sagepipe.job_status import processing_job_state
from sagepipe.processing import (
    GIB,
    MIB,
    ProcessingJobDescription,
    ProcessingJobSpec,
    create_processing_job_request,
    instance_type_for,
    processing_image_uri,
    processing_threshold_bytes,
    volume_size_gb,
)
from sagepipe.run_state import RunInput
from sagepipe.step_settings import StartProcessingSettings, StartRunSettings
from sagepipe.steps.start_run import UploadedObject, run_input_for

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
BASE = {"DATA_BUCKET": "sagepipe-data", "STATE_MACHINE_ARN": "arn:aws:states:x"}


@pytest.mark.parametrize(
    ("threshold_mb", "key", "expected"),
    [
        (None, "incoming/m/a.csv", None),
        (1900, "incoming/m/a.csv", 1900 * MIB),
        (1900, "incoming/m/a.CSV.GZ", 190 * MIB),
        (0, "incoming/m/a.csv", 0),
        (0.5, "incoming/m/a.csv", MIB // 2),
    ],
)
def test_threshold_bytes(threshold_mb: float | None, key: str, expected: int | None) -> None:
    assert processing_threshold_bytes(threshold_mb, key) == expected


@pytest.mark.parametrize(
    ("size", "gzipped", "expected"),
    [
        (10 * MIB, False, "ml.m5.large"),
        (1 * GIB, False, "ml.m5.large"),  # 4.75 GiB at peak of 8
        (2 * GIB, False, "ml.m5.xlarge"),
        (2 * GIB, True, "ml.m5.12xlarge"),  # counted as 20 GiB of text
        (40 * GIB, False, "ml.m5.24xlarge"),
    ],
)
def test_auto_instance_type_fits_the_estimated_peak(
    size: int, gzipped: bool, expected: str
) -> None:
    assert instance_type_for(size, gzipped=gzipped) == expected


def test_a_configured_instance_type_is_used_as_is() -> None:
    assert instance_type_for(100 * GIB, gzipped=False, configured="ml.r5.24xlarge") == (
        "ml.r5.24xlarge"
    )


def test_an_input_too_large_for_any_instance_is_an_input_error() -> None:
    with pytest.raises(InputDataError, match=r"too large to preprocess.*ml\.m5\.24xlarge"):
        instance_type_for(80 * GIB, gzipped=False)


def test_volume_holds_input_and_output() -> None:
    assert volume_size_gb(1 * MIB, gzipped=False) == 11
    assert volume_size_gb(10 * GIB, gzipped=False) == 10 + 23
    assert volume_size_gb(10_000 * GIB, gzipped=True) == 16384


def test_image_uri_per_region() -> None:
    assert processing_image_uri("eu-west-1") == (
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
    )
    with pytest.raises(ConfigError, match="mars-east-1"):
        processing_image_uri("mars-east-1")


def _spec() -> ProcessingJobSpec:
    root = "s3://sagepipe-data/runs/housing/housing-20261120093000-1a2b3c4d/"
    return ProcessingJobSpec(
        job_name="housing-20261120093000-1a2b3c4d-pp",
        region="us-east-1",
        role_arn=ROLE,
        instance_type="ml.m5.xlarge",
        volume_size_gb=15,
        max_runtime_seconds=14400,
        code_uri="s3://sagepipe-data/code/processing/0123456789abcdef0123/",
        data_uri=f"{root}processing/data/",
        job_uri=f"{root}processing/job/",
        output_uri=root.rstrip("/"),
        tags=(("sagepipe:model", "housing"),),
    )


def test_request_runs_the_bootstrap_on_the_bundle() -> None:
    request = create_processing_job_request(_spec())

    app = request["AppSpecification"]
    assert app["ContainerEntrypoint"] == ["python3", "-m", "sagepipe.processing_bootstrap"]
    arguments = app["ContainerArguments"]
    job_arguments = arguments[arguments.index("--") + 1 :]
    assert job_arguments[:6] == [
        "--job",
        "/opt/ml/processing/input/job/job.json",
        "--data",
        "/opt/ml/processing/input/data",
        "--output",
        "/opt/ml/processing/output/run",
    ]
    assert "/opt/ml/processing/input/code/sagepipe/processing_requirements.txt" in arguments
    assert request["Environment"]["PYTHONPATH"] == "/opt/ml/processing/input/code"
    local_paths = {i["InputName"]: i["S3Input"]["LocalPath"] for i in request["ProcessingInputs"]}
    assert local_paths == {
        "code": "/opt/ml/processing/input/code",
        "data": "/opt/ml/processing/input/data",
        "job": "/opt/ml/processing/input/job",
    }
    (output,) = request["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3UploadMode"] == "EndOfJob"
    cluster = request["ProcessingResources"]["ClusterConfig"]
    assert cluster == {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 15}
    assert "NetworkConfig" not in request  # pip needs outbound internet
    assert request["Tags"] == [{"Key": "sagepipe:model", "Value": "housing"}]


def test_request_satisfies_the_service_model() -> None:
    validation = pytest.importorskip("sagepipe_local.sagemaker.validation")
    validation.validate_request("CreateProcessingJob", create_processing_job_request(_spec()))


def test_job_description_round_trip() -> None:
    description = ProcessingJobDescription(
        model="housing",
        source_name="s3://b/incoming/housing/a.csv",
        data_file="a.csv",
        run_root_uri="s3://b/runs/housing/r/",
        config={"target": "price"},
        max_categories=20,
        min_rows=20,
    )
    assert ProcessingJobDescription.from_json(description.to_json()) == description
    with pytest.raises(ConfigError, match="incomplete"):
        ProcessingJobDescription.from_json(json.dumps({"model": "housing"}))
    with pytest.raises(ConfigError, match="JSON object"):
        ProcessingJobDescription.from_json("[]")


def test_exit_message_is_the_reason_of_a_failed_job() -> None:
    failed = processing_job_state("Failed", "AlgorithmError: See job logs", " InputDataError: x \n")
    assert (failed.state, failed.reason) == ("FAILED", "InputDataError: x")
    assert processing_job_state("Failed", "ClientError: y", "  ").reason == "ClientError: y"
    completed = processing_job_state("Completed", None, "a message on success")
    assert (completed.state, completed.reason) == ("SUCCEEDED", None)


def _upload(key: str) -> UploadedObject:
    return UploadedObject(
        bucket="sagepipe-data",
        key=key,
        version_id="v1",
        size=123,
        identity="v1",
        event_time="2026-11-20T09:30:00.000Z",
    )


def test_start_run_writes_the_threshold_into_the_run() -> None:
    settings = StartRunSettings.from_env({**BASE, "PROCESSING_THRESHOLD_MB": "1900"})
    run = run_input_for(_upload("incoming/housing/a.csv"), settings)
    packed = run_input_for(_upload("incoming/housing/a.csv.gz"), settings)

    assert run is not None and packed is not None
    assert run.to_dict()["processing_threshold_bytes"] == 1900 * MIB
    assert packed.processing_threshold_bytes == 190 * MIB
    assert RunInput.from_dict(run.to_dict()) == run


def test_without_a_threshold_the_run_has_no_such_field() -> None:
    run = run_input_for(_upload("incoming/housing/a.csv"), StartRunSettings.from_env(BASE))
    assert run is not None
    assert "processing_threshold_bytes" not in run.to_dict()
    assert RunInput.from_dict(run.to_dict()).processing_threshold_bytes is None


def test_a_run_carries_the_stacks_poll_seconds_and_has_no_default_of_its_own() -> None:
    run = run_input_for(_upload("incoming/housing/a.csv"), StartRunSettings.from_env(BASE))
    assert run is not None
    data = run.to_dict()
    assert RunInput.from_dict(data).poll_seconds == StartRunSettings.from_env(BASE).poll_seconds
    del data["poll_seconds"]  # the state machine's Wait states read it
    with pytest.raises(KeyError, match="poll_seconds"):
        RunInput.from_dict(data)


@pytest.mark.parametrize("value", ["-1", "many"])
def test_invalid_threshold_setting(value: str) -> None:
    with pytest.raises(ConfigError, match="PROCESSING_THRESHOLD_MB"):
        StartRunSettings.from_env({**BASE, "PROCESSING_THRESHOLD_MB": value})


def test_start_processing_settings() -> None:
    env = {"DATA_BUCKET": "b", "SAGEMAKER_ROLE_ARN": ROLE, "DEFAULT_TARGET": "price"}
    settings = StartProcessingSettings.from_env(env)
    assert settings.instance_type == "auto"
    assert settings.max_runtime_seconds == 14400
    assert settings.preprocess.defaults.target == "price"
    assert settings.common.data_bucket == "b"
    explicit = StartProcessingSettings.from_env(
        {
            **env,
            "PROCESSING_INSTANCE_TYPE": "ml.m5.4xlarge",
            "PROCESSING_MAX_RUNTIME_SECONDS": "600",
        }
    )
    assert (explicit.instance_type, explicit.max_runtime_seconds) == ("ml.m5.4xlarge", 600)
    with pytest.raises(ConfigError, match="PROCESSING_INSTANCE_TYPE"):
        StartProcessingSettings.from_env({**env, "PROCESSING_INSTANCE_TYPE": "m5.large"})
    with pytest.raises(ConfigError, match="SAGEMAKER_ROLE_ARN"):
        StartProcessingSettings.from_env({"DATA_BUCKET": "b"})
