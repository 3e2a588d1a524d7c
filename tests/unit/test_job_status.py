"""SageMaker statuses -> RUNNING / SUCCEEDED / FAILED with a reason."""

from __future__ import annotations

import pytest

from sagepipe.job_status import JobState, endpoint_state, job_state

EXPECTED = "housing-20261120093000-1a2b3c4d-ec"
PREVIOUS = "housing-20261001000000-0f0f0f0f-ec"


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("InProgress", "RUNNING"),
        ("Stopping", "RUNNING"),
        ("Completed", "SUCCEEDED"),
        ("Failed", "FAILED"),
        ("Stopped", "FAILED"),
        ("SomethingNew", "FAILED"),
    ],
)
def test_job_states(status: str, state: str) -> None:
    result = job_state(status, None)
    assert result.state == state
    assert result.status == status


def test_running_and_succeeded_jobs_have_no_reason() -> None:
    assert job_state("InProgress", None).reason is None
    assert job_state("Completed", "ignored").reason is None


def test_failed_job_carries_the_failure_reason() -> None:
    result = job_state("Failed", "AlgorithmError: label column has NaN")
    assert result == JobState("FAILED", "Failed", "AlgorithmError: label column has NaN")


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_failed_job_without_reason_names_the_status(status: str) -> None:
    assert job_state(status, None).reason == f"the job ended with status {status}"


def test_job_state_to_dict() -> None:
    assert job_state("Failed", "boom").to_dict() == {
        "state": "FAILED",
        "status": "Failed",
        "reason": "boom",
    }


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Creating", "RUNNING"),
        ("Updating", "RUNNING"),
        ("SystemUpdating", "RUNNING"),
        ("RollingBack", "RUNNING"),
        ("InService", "SUCCEEDED"),
        ("Failed", "FAILED"),
        ("UpdateRollbackFailed", "FAILED"),
        ("OutOfService", "FAILED"),
        ("Deleting", "FAILED"),
        ("SomethingNew", "FAILED"),
    ],
)
def test_endpoint_states_on_the_expected_config(status: str, state: str) -> None:
    result = endpoint_state(status, None, EXPECTED, EXPECTED)
    assert result.state == state
    assert result.status == status
    assert (result.reason is None) == (state != "FAILED")


def test_endpoint_in_service_on_the_expected_config_succeeds() -> None:
    assert endpoint_state("InService", None, EXPECTED, EXPECTED) == JobState(
        "SUCCEEDED", "InService", None
    )


def test_endpoint_rolled_back_to_another_config_is_a_failure() -> None:
    result = endpoint_state("InService", None, PREVIOUS, EXPECTED)
    assert result.state == "FAILED"
    assert result.status == "InService"
    assert result.reason == (
        f"update to {EXPECTED} rolled back: the endpoint returned to its previous configuration"
    )


def test_endpoint_rollback_keeps_the_failure_reason() -> None:
    result = endpoint_state("InService", "health check failed", PREVIOUS, EXPECTED)
    assert result.state == "FAILED"
    assert result.reason == f"update to {EXPECTED} rolled back: health check failed"


def test_endpoint_without_config_name_is_not_a_success() -> None:
    assert endpoint_state("InService", None, None, EXPECTED).state == "FAILED"


def test_endpoint_still_updating_on_the_old_config_is_running() -> None:
    result = endpoint_state("Updating", None, PREVIOUS, EXPECTED)
    assert result == JobState("RUNNING", "Updating", None)


def test_failed_endpoint_reason() -> None:
    assert endpoint_state("Failed", "no capacity", EXPECTED, EXPECTED).reason == "no capacity"
    assert endpoint_state("OutOfService", None, EXPECTED, EXPECTED).reason == (
        "endpoint is OutOfService"
    )
