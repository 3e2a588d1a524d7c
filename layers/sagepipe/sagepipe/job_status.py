"""SageMaker statuses reduced to the three states the state machine branches on, and
waiting (within a time budget) for one to leave RUNNING."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

State = Literal["RUNNING", "SUCCEEDED", "FAILED"]

_JOB_STATES: dict[str, State] = {
    "InProgress": "RUNNING",
    "Stopping": "RUNNING",
    "Completed": "SUCCEEDED",
    "Failed": "FAILED",
    "Stopped": "FAILED",
}
_ENDPOINT_STATES: dict[str, State] = {
    "Creating": "RUNNING",
    "Updating": "RUNNING",
    "SystemUpdating": "RUNNING",
    "RollingBack": "RUNNING",
    "InService": "SUCCEEDED",
    "Failed": "FAILED",
    "UpdateRollbackFailed": "FAILED",
    "OutOfService": "FAILED",
    "Deleting": "FAILED",
}


@dataclass(frozen=True)
class JobState:
    state: State
    status: str
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_state(status: str, failure_reason: str | None) -> JobState:
    """Training, transform or processing job status."""
    state = _JOB_STATES.get(status, "FAILED")
    reason = None
    if state == "FAILED":
        reason = failure_reason or f"the job ended with status {status}"
    return JobState(state=state, status=status, reason=reason)


def processing_job_state(
    status: str, failure_reason: str | None, exit_message: str | None
) -> JobState:
    """A processing job's status; a failed job's own exit message says more than
    SageMaker's FailureReason ("AlgorithmError: See job logs for more information")."""
    state = job_state(status, failure_reason)
    if state.state == "FAILED" and exit_message and exit_message.strip():
        return JobState(state="FAILED", status=status, reason=exit_message.strip())
    return state


def endpoint_state(
    status: str, failure_reason: str | None, config_name: str | None, expected_config: str
) -> JobState:
    """An endpoint is done only when it serves the expected config.

    A failed UpdateEndpoint rolls back: the endpoint returns to InService on the old
    config, which for this run is a failure, not a success.
    """
    state = _ENDPOINT_STATES.get(status, "FAILED")
    if state == "SUCCEEDED" and config_name != expected_config:
        reason = failure_reason or "the endpoint returned to its previous configuration"
        return JobState(
            state="FAILED",
            status=status,
            reason=f"update to {expected_config} rolled back: {reason}",
        )
    if state == "FAILED":
        return JobState(
            state=state, status=status, reason=failure_reason or f"endpoint is {status}"
        )
    return JobState(state=state, status=status, reason=None)


# Waiting for a status: the first look comes at once; each later one after a tenth of the
# time waited so far, but at least FIRST_LOOK_SECONDS and at most MAX_LOOK_SECONDS apart.
# A job is so seen done within about 10 % of its run time (10 ms for a quick one), and a
# long one costs a Describe call every few seconds.
FIRST_LOOK_SECONDS = 0.01
MAX_LOOK_SECONDS = 5.0
LOOK_FRACTION = 0.1


def wait_while_running(
    read: Callable[[], JobState],
    budget_seconds: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> JobState:
    """Read the status until it is no longer RUNNING or the budget is spent.

    Returns the last status read: RUNNING only when the budget ran out first.
    """
    started = clock()
    deadline = started + budget_seconds
    while True:
        state = read()
        now = clock()
        if state.state != "RUNNING" or now >= deadline:
            return state
        interval = min(max(FIRST_LOOK_SECONDS, LOOK_FRACTION * (now - started)), MAX_LOOK_SECONDS)
        sleep(min(interval, deadline - now))
