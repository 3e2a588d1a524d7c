"""The run summary sent to the notification topic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["deployed", "rejected", "failed"]
_CAUSE_MAX = 1000


@dataclass(frozen=True)
class RunSummary:
    outcome: Outcome
    model: str
    run_id: str
    subject: str
    text: str
    error: str | None = None
    cause: str | None = None
    version: str | None = None  # the model version that went live; deployed runs only


def failure_cause(step: str, error: str, cause: str | None) -> str:
    """`<step> failed: <reason>`, with the reason unwrapped from a Lambda error payload."""
    reason = cause or error
    if cause:
        try:
            payload: Any = json.loads(cause)
        except json.JSONDecodeError:
            payload = None
        if isinstance(payload, dict) and "errorMessage" in payload:
            reason = str(payload["errorMessage"])
    return f"{step} failed: {reason}"[:_CAUSE_MAX]


def summarize(
    outcome: Outcome,
    model: str,
    run_id: str,
    *,
    metrics: dict[str, Any] | None = None,
    gate_reason: str | None = None,
    failure: dict[str, Any] | None = None,
    version: str | None = None,
) -> RunSummary:
    rmse = _format_rmse(metrics)
    if outcome == "deployed":
        text = (
            f"Model {model}, run {run_id}: deployed version {version}. RMSE {rmse}. "
            f"{gate_reason or ''}"
        ).strip()
        return RunSummary(
            outcome, model, run_id, f"sagepipe {model}: deployed", text, version=version
        )
    if outcome == "rejected":
        text = (
            f"Model {model}, run {run_id}: not deployed, the live model is unchanged. "
            f"RMSE {rmse}. {gate_reason or ''}"
        ).strip()
        return RunSummary(outcome, model, run_id, f"sagepipe {model}: not deployed", text)
    failure = failure or {}
    step = str(failure.get("step", "unknown step"))
    error = str(failure.get("error", "Error"))
    cause = failure_cause(step, error, failure.get("cause"))
    text = f"Model {model}, run {run_id}: FAILED, the live model is unchanged. {cause}"
    return RunSummary(
        outcome, model, run_id, f"sagepipe {model}: run failed", text, error=error, cause=cause
    )


def _format_rmse(metrics: dict[str, Any] | None) -> str:
    if not metrics or "rmse" not in metrics:
        return "n/a"
    return f"{float(metrics['rmse']):.4g} (mean baseline {float(metrics['baseline_rmse']):.4g})"
