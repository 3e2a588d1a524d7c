"""SageMaker statuses -> RUNNING / SUCCEEDED / FAILED with a reason."""

from __future__ import annotations

import pytest

from sagepipe.job_status import (
    FIRST_LOOK_SECONDS,
    LOOK_FRACTION,
    MAX_LOOK_SECONDS,
    JobState,
    endpoint_state,
    job_state,
    wait_while_running,
)

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


RUNNING = JobState(state="RUNNING", status="InProgress", reason=None)
DONE = JobState(state="SUCCEEDED", status="Completed", reason=None)


class FakeTime:
    """A clock that only moves when slept on, and the reads it answers."""

    def __init__(self, answers: list[JobState]) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.read_at: list[float] = []
        self._answers = answers

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def read(self) -> JobState:
        self.read_at.append(self.now)
        return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]


def test_a_finished_job_is_read_once() -> None:
    fake = FakeTime([DONE])
    assert wait_while_running(fake.read, 60, clock=fake.clock, sleep=fake.sleep) == DONE
    assert fake.read_at == [0.0]


def test_zero_budget_is_one_look() -> None:
    fake = FakeTime([RUNNING, DONE])
    assert wait_while_running(fake.read, 0, clock=fake.clock, sleep=fake.sleep) == RUNNING
    assert fake.read_at == [0.0]


def test_looks_space_out_with_the_time_waited() -> None:
    fake = FakeTime([RUNNING] * 40 + [DONE])
    assert wait_while_running(fake.read, 60, clock=fake.clock, sleep=fake.sleep) == DONE
    assert fake.sleeps[0] == FIRST_LOOK_SECONDS
    for read_at, sleep in zip(fake.read_at, fake.sleeps, strict=False):
        assert sleep == pytest.approx(max(FIRST_LOOK_SECONDS, LOOK_FRACTION * read_at))


def test_looks_never_space_out_beyond_the_maximum() -> None:
    fake = FakeTime([RUNNING])
    wait_while_running(fake.read, 100, clock=fake.clock, sleep=fake.sleep)
    assert max(fake.sleeps) == MAX_LOOK_SECONDS
    # 100 s of waiting: a look every 10 ms for the first 0.1 s, then ever further apart:
    # 87 in all (the last at 100 s).
    assert len(fake.read_at) == 87


def test_a_job_still_running_when_the_budget_ends_is_running() -> None:
    fake = FakeTime([RUNNING])
    assert wait_while_running(fake.read, 12, clock=fake.clock, sleep=fake.sleep) == RUNNING
    # The last sleep is cut to the budget, and the last look comes at its end.
    assert fake.now == pytest.approx(12)
    assert fake.read_at[-1] == pytest.approx(12)


def test_a_failure_ends_the_wait() -> None:
    failed = JobState(state="FAILED", status="Failed", reason="AlgorithmError: boom")
    fake = FakeTime([RUNNING, failed])
    assert wait_while_running(fake.read, 60, clock=fake.clock, sleep=fake.sleep) == failed
