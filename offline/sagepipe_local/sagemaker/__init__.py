"""An offline SageMaker + SageMaker Runtime that really trains and really serves.

Speaks the real wire protocols, so unmodified boto3 code reaches it through
AWS_ENDPOINT_URL_SAGEMAKER / AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (or AWS_ENDPOINT_URL).
"""

from __future__ import annotations

from sagepipe_local.sagemaker.app import SageMakerEmulator

__all__ = ["SageMakerEmulator"]
