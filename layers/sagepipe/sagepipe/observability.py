"""Powertools logger, tracer and metrics shared by every function.

The tracer is built on first access (PEP 562 module __getattr__): constructing it imports
the X-Ray SDK (~150 ms), which the prediction function, whose cold start matters and
which Lambda's Active tracing already traces, never pays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

    tracer: Tracer

logger = Logger()
metrics = Metrics()


def __getattr__(name: str) -> Any:
    if name == "tracer":
        from aws_lambda_powertools import Tracer

        built = Tracer()
        globals()["tracer"] = built
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
