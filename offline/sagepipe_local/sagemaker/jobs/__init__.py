"""Job kinds. To add one, subclass JobKind and list it in `job_kinds`."""

from __future__ import annotations

from sagepipe_local.sagemaker.jobs.base import JobKind, JobManager
from sagepipe_local.sagemaker.jobs.processing import ProcessingJobKind
from sagepipe_local.sagemaker.jobs.training import TrainingJobKind
from sagepipe_local.sagemaker.jobs.transform import TransformJobKind


def job_kinds() -> list[JobKind]:
    return [ProcessingJobKind(), TrainingJobKind(), TransformJobKind()]


__all__ = ["JobKind", "JobManager", "job_kinds"]
