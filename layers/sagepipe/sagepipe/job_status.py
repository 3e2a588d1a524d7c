"""SageMaker statuses reduced to the three states the state machine branches on."""

from __future__ import annotations

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
