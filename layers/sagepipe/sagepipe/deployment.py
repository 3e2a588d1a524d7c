"""Endpoint configuration and what to do with an existing endpoint."""

from __future__ import annotations

from typing import Any, Literal

Decision = Literal["create", "update", "replace", "wait"]

# Another create, update or delete is under way: nothing can be started now.
BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


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


def choose_action(existing_status: str | None) -> Decision:
    """What to do with the model's endpoint, given its status (None: there is none).

    create: no endpoint. update: in place, so it keeps serving. wait: another change is
    under way. replace: an endpoint left Failed by an earlier create cannot be updated;
    delete it (nothing is served from it, so nothing is lost) and create it once the
    deletion, which is asynchronous, has freed the name.
    """
    if existing_status is None:
        return "create"
    if existing_status in BUSY_STATUSES:
        return "wait"
    if existing_status == "Failed":
        return "replace"
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
