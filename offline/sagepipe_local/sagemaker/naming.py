"""Resource names and ARNs as SageMaker forms them."""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account


def is_valid_name(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is not None


@dataclass(frozen=True)
class ArnFactory:
    region: str
    account_id: str = DEFAULT_ACCOUNT_ID

    def arn(self, resource_type: str, name: str) -> str:
        # SageMaker lower-cases the name in the ARN.
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{resource_type}/{name.lower()}"

    def endpoint_log_stream_arn(self, endpoint_name: str) -> str:
        return (
            f"arn:aws:logs:{self.region}:{self.account_id}:log-group:"
            f"/aws/sagemaker/Endpoints/{endpoint_name}"
        )
