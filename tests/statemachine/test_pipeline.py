"""The real pipeline.asl.json executed by moto's interpreter with scripted Lambdas.

Each test scripts the functions it cares about on top of a happy path, runs one
execution and checks the outcome, the payload each Lambda received (the Parameters in
docs/design.md) and where the results landed (the ResultPaths).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from sagepipe.errors import InputDataError, TransientError

from .conftest import (
    FUNCTIONS,
    PLACEHOLDER,
    Behaviour,
    Event,
    Pipeline,
    load_asl_text,
    load_event,
    load_template,
)

RUN_ID = "housing-20261120093000-1a2b3c4d"
TRAINING_JOB = f"{RUN_ID}-tr"
TRANSFORM_JOB = f"{RUN_ID}-tf"
ENDPOINT = "sagepipe-housing"
ENDPOINT_CONFIG = f"{RUN_ID}-ec"

PREPARED = {
    "schema_key": f"runs/housing/{RUN_ID}/schema.json",
    "algorithm": "xgboost",
    "content_type": "text/libsvm",
    "rows": {"train": 700, "validation": 100, "test": 200},
}
EVALUATION = {
    "deploy": True,
    "metrics": {"rmse": 1.5, "baseline_rmse": 3.0},
    "reason": "RMSE 1.5 beats the mean baseline 3.0",
}
DEPLOYMENT = {
    "endpoint_name": ENDPOINT,
    "endpoint_config_name": ENDPOINT_CONFIG,
    "variant": "v20261120093000-1a2b3c4d",
    "action": "create",
}


def _status(state: str, status: str, reason: str | None = None) -> Event:
    return {"state": state, "status": status, "reason": reason}


def _sequence(*answers: Event) -> Iterator[Event]:
    """Yield the answers in order, then keep repeating the last one."""
    yield from answers
    while True:
        yield answers[-1]


def job_status_script(
    training: tuple[Event, ...] = (
        _status("RUNNING", "InProgress"),
        _status("SUCCEEDED", "Completed"),
    ),
    transform: tuple[Event, ...] = (_status("SUCCEEDED", "Completed"),),
    endpoint: tuple[Event, ...] = (
        _status("RUNNING", "Creating"),
        _status("SUCCEEDED", "InService"),
    ),
) -> Behaviour:
    answers = {
        "training": _sequence(*training),
        "transform": _sequence(*transform),
        "endpoint": _sequence(*endpoint),
    }

    def job_status(event: Event) -> Event:
        return next(answers[event["kind"]])

    return job_status


def notify(event: Event) -> Event:
    """Mimics the notify contract: {message_id, error, cause, summary}."""
    outcome = event["outcome"]
    if outcome != "failed":
        return {"message_id": "msg-1", "error": None, "cause": None, "summary": outcome}
    failure = event["failure"]
    reason = failure["cause"] or failure["error"]
    with contextlib.suppress(ValueError, TypeError, KeyError):
        reason = json.loads(reason)["errorMessage"]
    cause = f"{failure['step']} failed: {reason}"
    return {"message_id": "msg-1", "error": failure["error"], "cause": cause, "summary": cause}


def happy_path() -> dict[str, Behaviour]:
    return {
        "preprocess": lambda event: PREPARED,
        "start_training": lambda event: {"job_name": TRAINING_JOB},
        "job_status": job_status_script(),
        "start_transform": lambda event: {
            "job_name": TRANSFORM_JOB,
            "model_name": f"{RUN_ID}-m",
        },
        "evaluate": lambda event: EVALUATION,
        "deploy": lambda event: DEPLOYMENT,
        "record_live": lambda event: {"version": "20261120093000-1a2b3c4d"},
        "notify": notify,
    }


@pytest.fixture
def execution_input() -> Event:
    return load_event("statemachine_input.json")


@pytest.fixture
def scripted(pipeline: Pipeline) -> Pipeline:
    pipeline.lambdas.behaviours.update(happy_path())
    return pipeline


def _kinds(pipeline: Pipeline) -> list[str]:
    return [call["kind"] for call in pipeline.lambdas.calls_to("job_status")]


def test_success_path_deploys_and_passes_the_design_payloads(
    scripted: Pipeline, execution_input: Event
) -> None:
    result = scripted.run(execution_input)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    # Each job is checked as soon as it starts; a Wait comes only after a RUNNING answer
    # (the script answers RUNNING once for training and the endpoint).
    assert result.states_entered() == [
        "ChoosePreprocessing",
        "Preprocess",
        "StartTraining",
        "CheckTraining",
        "TrainingDone",
        "WaitForTraining",
        "CheckTraining",
        "TrainingDone",
        "StartTransform",
        "CheckTransform",
        "TransformDone",
        "Evaluate",
        "QualityGate",
        "Deploy",
        "CheckEndpoint",
        "EndpointDone",
        "WaitForEndpoint",
        "CheckEndpoint",
        "EndpointDone",
        "RecordLive",
        "NotifyDeployed",
        "Deployed",
    ]
    run = execution_input["run"]
    calls = scripted.lambdas.calls_to
    assert calls("preprocess") == [run]
    assert calls("start_training") == [{"run": run, "prepared": PREPARED}]
    assert calls("start_transform") == [
        {"run": run, "prepared": PREPARED, "training": {"job_name": TRAINING_JOB}}
    ]
    transform = {"job_name": TRANSFORM_JOB, "model_name": f"{RUN_ID}-m"}
    assert calls("evaluate") == [{"run": run, "prepared": PREPARED, "transform": transform}]
    assert calls("deploy") == [
        {
            "run": run,
            "prepared": PREPARED,
            "training": {"job_name": TRAINING_JOB},
            "transform": transform,
            "evaluation": EVALUATION,
        }
    ]
    assert calls("record_live") == [
        {
            "run": run,
            "prepared": PREPARED,
            "training": {"job_name": TRAINING_JOB},
            "transform": transform,
            "evaluation": EVALUATION,
            "deployment": DEPLOYMENT,
        }
    ]
    endpoint = {"kind": "endpoint", "name": ENDPOINT, "expected_config": ENDPOINT_CONFIG}
    assert calls("job_status") == [
        {"kind": "training", "name": TRAINING_JOB, "run_id": RUN_ID},
        {"kind": "training", "name": TRAINING_JOB, "run_id": RUN_ID},
        {"kind": "transform", "name": TRANSFORM_JOB, "run_id": RUN_ID},
        {**endpoint, "run_id": RUN_ID},
        {**endpoint, "run_id": RUN_ID},
    ]
    assert calls("notify") == [
        {"outcome": "deployed", "run": run, "evaluation": EVALUATION, "deployment": DEPLOYMENT}
    ]

    output = result.output
    assert output is not None
    assert output["run"] == run
    assert output["prepared"] == PREPARED
    assert output["training"] == {"job_name": TRAINING_JOB}
    assert output["training_status"]["state"] == "SUCCEEDED"
    assert output["transform"] == transform
    assert output["transform_status"]["state"] == "SUCCEEDED"
    assert output["evaluation"] == EVALUATION
    assert output["deployment"] == DEPLOYMENT
    assert output["endpoint_status"] == _status("SUCCEEDED", "InService")
    assert output["live"] == {"version": "20261120093000-1a2b3c4d"}
    assert output["notification"]["message_id"] == "msg-1"
    assert "error" not in output
    assert "failure" not in output


def test_training_failure_fails_the_run_naming_the_step_and_reason(
    scripted: Pipeline, execution_input: Event
) -> None:
    reason = "AlgorithmError: Extraneous hyperparameter found: num_rounds"
    scripted.lambdas.behaviours["job_status"] = job_status_script(
        training=(_status("RUNNING", "InProgress"), _status("FAILED", "Failed", reason))
    )

    result = scripted.run(execution_input)

    assert result.status == "FAILED"
    assert result.error == "TrainingJobFailed"
    assert result.cause == f"training failed: {reason}"
    assert scripted.lambdas.calls_to("start_transform") == []
    assert scripted.lambdas.calls_to("notify") == [
        {
            "outcome": "failed",
            "run": execution_input["run"],
            "failure": {"step": "training", "error": "TrainingJobFailed", "cause": reason},
        }
    ]
    assert result.states_entered()[-3:] == ["TrainingJobFailed", "NotifyFailed", "RunFailed"]


def test_gate_rejection_succeeds_without_touching_the_endpoint(
    scripted: Pipeline, execution_input: Event
) -> None:
    rejected = {"deploy": False, "metrics": {"rmse": 3.2}, "reason": "RMSE 3.2 > max 2.0"}
    scripted.lambdas.behaviours["evaluate"] = lambda event: rejected

    result = scripted.run(execution_input)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states_entered()[-1] == "Rejected"
    assert scripted.lambdas.calls_to("deploy") == []
    assert scripted.lambdas.calls_to("record_live") == []
    assert "endpoint" not in _kinds(scripted)
    assert scripted.lambdas.calls_to("notify") == [
        {"outcome": "rejected", "run": execution_input["run"], "evaluation": rejected}
    ]


def test_transient_error_is_retried_until_it_succeeds(
    scripted: Pipeline, execution_input: Event
) -> None:
    failures = iter([TransientError("ThrottlingException"), TransientError("503")])

    def start_training(event: Event) -> Event:
        error = next(failures, None)
        if error is not None:
            raise error
        return {"job_name": TRAINING_JOB}

    scripted.lambdas.behaviours["start_training"] = start_training

    result = scripted.run(execution_input)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert len(scripted.lambdas.calls_to("start_training")) == 3
    # The first retry waits up to 2 s, the second up to 4 s (full jitter).
    assert result.seconds < 15


def test_preprocess_input_error_fails_the_run_and_notifies(
    scripted: Pipeline, execution_input: Event
) -> None:
    message = "incoming/housing/data.csv row 7, column 'rooms': 'seven' is not a number"

    def preprocess(event: Event) -> Event:
        raise InputDataError(message)

    scripted.lambdas.behaviours["preprocess"] = preprocess

    result = scripted.run(execution_input)

    assert result.status == "FAILED"
    assert result.error == "InputDataError"
    assert result.cause == f"preprocess failed: {message}"
    assert len(scripted.lambdas.calls_to("preprocess")) == 1  # not a retryable error
    assert scripted.lambdas.calls_to("start_training") == []
    (notified,) = scripted.lambdas.calls_to("notify")
    assert notified["outcome"] == "failed"
    assert notified["run"] == execution_input["run"]
    failure = notified["failure"]
    assert failure["step"] == "preprocess"
    assert failure["error"] == "InputDataError"
    assert json.loads(failure["cause"])["errorMessage"] == message


def test_endpoint_failure_fails_the_run_after_deploy(
    scripted: Pipeline, execution_input: Event
) -> None:
    reason = "update to x-ec rolled back: the endpoint returned to its previous configuration"
    scripted.lambdas.behaviours["job_status"] = job_status_script(
        endpoint=(_status("RUNNING", "Updating"), _status("FAILED", "InService", reason))
    )

    result = scripted.run(execution_input)

    assert result.status == "FAILED"
    assert result.error == "EndpointDeploymentFailed"
    assert result.cause == f"deploy failed: {reason}"
    assert scripted.lambdas.calls_to("record_live") == []


def test_a_failing_notification_still_ends_in_a_fail_state(
    scripted: Pipeline, execution_input: Event
) -> None:
    def preprocess(event: Event) -> Event:
        raise InputDataError("no rows")

    def broken_notify(event: Event) -> Event:
        raise RuntimeError("SNS is down")

    scripted.lambdas.behaviours["preprocess"] = preprocess
    scripted.lambdas.behaviours["notify"] = broken_notify

    result = scripted.run(execution_input)

    assert result.status == "FAILED"
    assert result.states_entered()[-1] == "RunFailedUnnotified"
    assert result.error == "InputDataError"
    assert result.cause is not None
    cause = json.loads(result.cause)
    assert cause["step"] == "preprocess"
    assert json.loads(cause["cause"])["errorMessage"] == "no rows"


# --- structure of the definition and its wiring to template.yaml -------------------


def _definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(load_asl_text())
    return loaded


def test_definition_has_no_arns_and_only_known_substitutions() -> None:
    text = load_asl_text()
    assert "arn:" not in text
    assert set(PLACEHOLDER.findall(text)) == set(FUNCTIONS)


def test_template_substitutes_every_placeholder() -> None:
    template = load_template()
    machine = template["Resources"]["StateMachine"]["Properties"]
    assert machine["DefinitionUri"] == "statemachine/pipeline.asl.json"
    substitutions = machine["DefinitionSubstitutions"]
    assert set(substitutions) == set(PLACEHOLDER.findall(load_asl_text()))
    for key, value in substitutions.items():
        logical_id = key.removesuffix("Arn")
        assert value == {"Fn::GetAtt": [logical_id, "Arn"]}
        assert template["Resources"][logical_id]["Type"] == "AWS::Serverless::Function"


def test_every_task_retries_and_catches() -> None:
    states = _definition()["States"]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert len(tasks) == 15
    for name, state in tasks.items():
        retry = state["Retry"][-1]
        assert "TransientError" in retry["ErrorEquals"], name
        assert "Lambda.TooManyRequestsException" in retry["ErrorEquals"], name
        *fallbacks, catch = state["Catch"]
        # Only Preprocess falls back (to the processing job) before its catch-all.
        assert [f["Next"] for f in fallbacks] == (
            ["StartProcessing"] if name == "Preprocess" else []
        )
        assert catch["ErrorEquals"] == ["States.ALL"], name
        assert states[catch["Next"]]["Type"] in {"Pass", "Fail"}, name
    (busy,) = [r for r in tasks["Deploy"]["Retry"] if r["ErrorEquals"] == ["EndpointBusyError"]]
    # An endpoint update takes minutes: the busy retrier must wait at least that long.
    total = sum(
        min(busy["IntervalSeconds"] * busy["BackoffRate"] ** i, busy["MaxDelaySeconds"])
        for i in range(busy["MaxAttempts"])
    )
    assert total >= 600
