"""Endpoint configuration and the create-or-update decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["create", "update"]


@dataclass(frozen=True)
class EndpointPlan:
    endpoint_name: str
    endpoint_config_name: str
    variant: str
    action: Action


def create_endpoint_config_request(
    config_name: str, model_name: str, variant: str, instance_type: str, instance_count: int
) -> dict[str, Any]:
    """One variant per config: the variant name identifies the model version."""
    return {
        "EndpointConfigName": config_name,
        "ProductionVariants": [
            {
                "VariantName": variant,
                "ModelName": model_name,
                "InstanceType": instance_type,
                "InitialInstanceCount": instance_count,
                "InitialVariantWeight": 1.0,
            }
        ],
    }


def choose_action(existing_status: str | None) -> Action:
    """Create when there is no endpoint; otherwise update it in place so it keeps serving.

    An endpoint left Failed by an earlier create cannot be updated; the caller deletes
    it first (nothing is served from a Failed endpoint, so nothing is lost).
    """
    if existing_status is None or existing_status == "Failed":
        return "create"
    return "update"


def update_endpoint_request(endpoint_name: str, config_name: str) -> dict[str, Any]:
    """Blue/green, all at once: the old fleet serves until the new one is healthy."""
    return {
        "EndpointName": endpoint_name,
        "EndpointConfigName": config_name,
        "RetainAllVariantProperties": False,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "ALL_AT_ONCE",
                    "WaitIntervalInSeconds": 0,
                },
                "TerminationWaitInSeconds": 120,
            }
        },
    }
