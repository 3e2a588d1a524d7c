"""Endpoint config, create-or-update decision and the blue/green update request."""

from __future__ import annotations

import pytest

from sagepipe.deployment import (
    choose_action,
    create_endpoint_config_request,
    update_endpoint_request,
)


def test_endpoint_config_has_one_variant_named_after_the_version() -> None:
    request = create_endpoint_config_request(
        "housing-20261120093000-1a2b3c4d-ec",
        "housing-20261120093000-1a2b3c4d-m",
        "v20261120093000-1a2b3c4d",
        "ml.m5.large",
        2,
    )
    assert request == {
        "EndpointConfigName": "housing-20261120093000-1a2b3c4d-ec",
        "ProductionVariants": [
            {
                "VariantName": "v20261120093000-1a2b3c4d",
                "ModelName": "housing-20261120093000-1a2b3c4d-m",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 2,
                "InitialVariantWeight": 1.0,
            }
        ],
    }


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (None, "create"),
        ("Failed", "replace"),
        ("Creating", "wait"),
        ("Updating", "wait"),
        ("SystemUpdating", "wait"),
        ("RollingBack", "wait"),
        ("Deleting", "wait"),
        ("InService", "update"),
        ("OutOfService", "update"),
        ("UpdateRollbackFailed", "update"),
    ],
)
def test_choose_action(status: str | None, action: str) -> None:
    assert choose_action(status) == action


def test_update_request_is_blue_green_all_at_once() -> None:
    assert update_endpoint_request("sagepipe-housing", "housing-x-ec") == {
        "EndpointName": "sagepipe-housing",
        "EndpointConfigName": "housing-x-ec",
        "RetainAllVariantProperties": False,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "TerminationWaitInSeconds": 120,
            }
        },
    }
