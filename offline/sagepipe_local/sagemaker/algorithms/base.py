"""What a built-in algorithm offers the emulator: train into a model dir, load a predictor."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class UserError(Exception):
    """The caller's fault (data, hyperparameters): a job fails with "ClientError: ..."."""


class AlgorithmError(Exception):
    """The algorithm itself failed: a job fails with "AlgorithmError: ..."."""


class PayloadError(Exception):
    """The model server refused a payload; `status` is the HTTP status the container gives."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ChannelData:
    """A training channel as files on disk (the container's /opt/ml/input/data/<name>)."""

    name: str
    content_type: str | None
    files: Sequence[Path]
    gzipped: bool


@dataclass(frozen=True)
class TrainingEnvironment:
    hyperparameters: Mapping[str, str]
    channels: Mapping[str, ChannelData]
    model_dir: Path
    log: logging.LoggerAdapter[logging.Logger]
    # Raises when the job must stop (StopTrainingJob, max run time, shutdown).
    check_stop: Callable[[], None]


@dataclass(frozen=True)
class TrainingOutcome:
    """Final metrics as SageMaker names them, e.g. {"validation:rmse": 1.2}."""

    final_metrics: Mapping[str, float]


class Predictor(Protocol):
    # Accept types the real container can answer with; the first is its default.
    output_types: tuple[str, ...]

    def predict(self, body: bytes, content_type: str) -> FloatArray:
        """One row per record (a column vector for single-output models)."""
        ...


class Algorithm(Protocol):
    name: str

    def train(self, environment: TrainingEnvironment) -> TrainingOutcome: ...

    def load(self, model_dir: Path, *, threads: int = 1) -> Predictor:
        """`threads`: what one prediction may use (an endpoint answers each request on
        one; a batch transform container puts its instance's cores on each mini-batch)."""
        ...


def describe_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
