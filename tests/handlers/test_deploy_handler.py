"""deploy: version record first, then endpoint config and create-or-update of the endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from sagepipe.errors import EndpointBusyError, TransientError
from sagepipe.registry import ModelVersion

from .conftest import (
    ACCOUNT,
    BUCKET,
    PREFIX,
    REGION,
    RUN_ID,
    RUN_ROOT,
    VERSION,
    FakeLambdaContext,
    HandlerLoader,
    create_model,
    load_event,
)

ENDPOINT = f"{PREFIX}-housing"
CONFIG = f"{RUN_ID}-ec"
MODEL_NAME = f"{RUN_ID}-m"
VARIANT = f"v{VERSION}"
VERSION_KEY = f"models/housing/versions/{VERSION}.json"
PREVIOUS_CONFIG = "housing-20261001000000-0f0f0f0f-ec"
NOW = datetime(2026, 11, 20, 9, 50, tzinfo=UTC)
ENDPOINT_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"
CONTRACT = {
    "format_version": 1,
    "model": "housing",
    "target": "price",
    "algorithm": "xgboost",
    "columns": [
        {"name": "rooms", "kind": "numeric", "fill": 5.0},
        {"name": "city", "kind": "categorical", "categories": ["a", "b"]},
    ],
    "dropped": [{"name": "id", "reason": "identifier-like: 40 distinct values in 40 rows"}],
    "features": ["rooms", "city=a", "city=b", "city=__other__"],
    "missing": "native",
    "content_type": "text/libsvm",
}


@pytest.fixture
def handler(load_handler: HandlerLoader, s3: Any) -> Any:
    s3.put_object(Bucket=BUCKET, Key=f"{RUN_ROOT}schema.json", Body=json.dumps(CONTRACT).encode())
    return load_handler("deploy")


@pytest.fixture
def calls(handler: Any, s3: Any) -> list[tuple[str, str, bool]]:
    """(service, operation, version record exists at that moment), in call order.

    Recorded at before-parameter-build, which botocore emits for every call, stubbed or not.
    """
    log: list[tuple[str, str, bool]] = []

    def recorder(service: str) -> Callable[..., None]:
        def record(model: Any, **_: Any) -> None:
            log.append((service, model.name, _exists(s3, VERSION_KEY)))

        return record

    handler.sagemaker().meta.events.register(
        "before-parameter-build.sagemaker", recorder("sagemaker")
    )
    handler.s3().meta.events.register("after-call.s3", recorder("s3"))
    return log


def _exists(s3: Any, key: str) -> bool:
    try:
        s3.head_object(Bucket=BUCKET, Key=key)
    except ClientError:
        return False
    return True


def _endpoint(status: str, config: str) -> dict[str, Any]:
    return {
        "EndpointName": ENDPOINT,
        "EndpointArn": ENDPOINT_ARN,
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
    }


def _existing_config() -> dict[str, Any]:
    return {
        "EndpointConfigName": CONFIG,
        "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{CONFIG}",
        "ProductionVariants": [{"VariantName": VARIANT, "ModelName": MODEL_NAME}],
        "CreationTime": NOW,
    }


def test_first_deploy_creates_the_endpoint(
    handler: Any,
    calls: list[tuple[str, str, bool]],
    s3: Any,
    sagemaker: Any,
    lambda_context: FakeLambdaContext,
) -> None:
    create_model(sagemaker, MODEL_NAME)  # made by start_transform

    result = handler.lambda_handler(load_event("sfn_deploy.json"), lambda_context)

    assert result == {
        "endpoint_name": ENDPOINT,
        "endpoint_config_name": CONFIG,
        "variant": VARIANT,
        "version": VERSION,
        "action": "create",
    }
    config = sagemaker.describe_endpoint_config(EndpointConfigName=CONFIG)
    (variant,) = config["ProductionVariants"]
    assert variant["VariantName"] == VARIANT
    assert variant["ModelName"] == MODEL_NAME
    assert variant["InstanceType"] == "ml.m5.large"
    assert variant["InitialInstanceCount"] == 1
    assert variant["InitialVariantWeight"] == 1.0
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == CONFIG

    operations = [operation for _, operation, _ in calls]
    assert "CreateEndpoint" in operations
    assert "UpdateEndpoint" not in operations
    # The version record exists before any endpoint call, so predict can always find it.
    put_index = next(i for i, (service, op, _) in enumerate(calls) if op == "PutObject")
    create_index = operations.index("CreateEndpoint")
    assert put_index < create_index
    assert all(exists for service, _, exists in calls if service == "sagemaker")


def test_version_record(
    handler: Any, s3: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    create_model(sagemaker, MODEL_NAME)
    event = load_event("sfn_deploy.json")
    handler.lambda_handler(event, lambda_context)

    stored = s3.get_object(Bucket=BUCKET, Key=VERSION_KEY)
    assert stored["ContentType"] == "application/json"
    body = stored["Body"].read()
    assert json.loads(body)["contract"] == CONTRACT
    record = ModelVersion.from_json(body)
    assert record.model == "housing"
    assert record.version == VERSION
    assert record.run_id == RUN_ID
    assert record.trained_at == event["transform"]["trained_at"]
    assert record.algorithm == "xgboost"
    assert record.metrics == event["evaluation"]["metrics"]
    assert all(isinstance(value, float) for value in record.metrics.values())
    assert record.contract.features == tuple(CONTRACT["features"])
    assert record.model_data == event["transform"]["model_data"]
    assert record.sagemaker_model == MODEL_NAME
    assert record.variant == VARIANT


def test_instance_settings_reach_the_endpoint_config(
    load_handler: HandlerLoader, s3: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{RUN_ROOT}schema.json", Body=json.dumps(CONTRACT).encode())
    create_model(sagemaker, MODEL_NAME)
    handler = load_handler(
        "deploy", ENDPOINT_INSTANCE_TYPE="ml.c5.large", ENDPOINT_INSTANCE_COUNT="2"
    )
    handler.lambda_handler(load_event("sfn_deploy.json"), lambda_context)
    (variant,) = sagemaker.describe_endpoint_config(EndpointConfigName=CONFIG)["ProductionVariants"]
    assert variant["InstanceType"] == "ml.c5.large"
    assert variant["InitialInstanceCount"] == 2


def test_existing_endpoint_is_updated_blue_green(
    handler: Any, calls: list[tuple[str, str, bool]], lambda_context: FakeLambdaContext
) -> None:
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_client_error(
            "describe_endpoint_config",
            service_error_code="ValidationException",
            service_message=f"Could not find endpoint configuration {CONFIG}",
            expected_params={"EndpointConfigName": CONFIG},
        )
        stubber.add_response(
            "create_endpoint_config",
            {"EndpointConfigArn": _existing_config()["EndpointConfigArn"]},
            {
                "EndpointConfigName": CONFIG,
                "ProductionVariants": [
                    {
                        "VariantName": VARIANT,
                        "ModelName": MODEL_NAME,
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                        "InitialVariantWeight": 1.0,
                    }
                ],
            },
        )
        stubber.add_response(
            "describe_endpoint",
            _endpoint("InService", PREVIOUS_CONFIG),
            {"EndpointName": ENDPOINT},
        )
        stubber.add_response(
            "update_endpoint",
            {"EndpointArn": ENDPOINT_ARN},
            {
                "EndpointName": ENDPOINT,
                "EndpointConfigName": CONFIG,
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
            },
        )
        result = handler.lambda_handler(load_event("sfn_deploy.json"), lambda_context)
        stubber.assert_no_pending_responses()

    assert result["action"] == "update"
    assert result["endpoint_config_name"] == CONFIG
    sagemaker_calls = [(op, exists) for service, op, exists in calls if service == "sagemaker"]
    assert sagemaker_calls == [
        ("DescribeEndpointConfig", True),
        ("CreateEndpointConfig", True),
        ("DescribeEndpoint", True),
        ("UpdateEndpoint", True),
    ]


def test_retry_reuses_an_existing_endpoint_config(
    handler: Any, lambda_context: FakeLambdaContext
) -> None:
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response("describe_endpoint_config", _existing_config())
        stubber.add_response("describe_endpoint", _endpoint("InService", PREVIOUS_CONFIG))
        stubber.add_response("update_endpoint", {"EndpointArn": ENDPOINT_ARN})
        result = handler.lambda_handler(load_event("sfn_deploy.json"), lambda_context)
        stubber.assert_no_pending_responses()
    assert result["action"] == "update"


@pytest.mark.parametrize("status", ["Updating", "Creating", "SystemUpdating", "RollingBack"])
def test_busy_endpoint_is_a_transient_error(
    handler: Any, status: str, lambda_context: FakeLambdaContext
) -> None:
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response("describe_endpoint_config", _existing_config())
        stubber.add_response("describe_endpoint", _endpoint(status, PREVIOUS_CONFIG))
        # Nothing else is stubbed: an update_endpoint call would fail the test.
        with pytest.raises(EndpointBusyError, match=f"{ENDPOINT} is {status}"):
            handler.lambda_handler(load_event("sfn_deploy.json"), lambda_context)
        stubber.assert_no_pending_responses()


def test_failed_endpoint_is_deleted_then_created_on_retry(
    handler: Any, s3: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    create_model(sagemaker, MODEL_NAME)
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response("describe_endpoint_config", _existing_config())
        stubber.add_response("describe_endpoint", _endpoint("Failed", PREVIOUS_CONFIG))
        stubber.add_response("delete_endpoint", {}, {"EndpointName": ENDPOINT})
        # DeleteEndpoint is asynchronous: creating the same name now would fail.
        with pytest.raises(EndpointBusyError, match="being deleted"):
            handler.lambda_handler(load_event("sfn_deploy.json"), lambda_context)
        stubber.assert_no_pending_responses()

    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response("describe_endpoint_config", _existing_config())
        stubber.add_response("describe_endpoint", _endpoint("Deleting", PREVIOUS_CONFIG))
        with pytest.raises(EndpointBusyError, match="is Deleting"):
            handler.lambda_handler(load_event("sfn_deploy.json"), lambda_context)

    # Once it is gone (moto has no such endpoint), the retry creates it.
    result = handler.lambda_handler(load_event("sfn_deploy.json"), lambda_context)
    assert result["action"] == "create"
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == CONFIG


def test_throttling_is_transient(handler: Any, lambda_context: FakeLambdaContext) -> None:
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response("describe_endpoint_config", _existing_config())
        stubber.add_client_error("describe_endpoint", service_error_code="ThrottlingException")
        with pytest.raises(TransientError):
            handler.lambda_handler(load_event("sfn_deploy.json"), lambda_context)


def test_missing_model_is_a_client_error(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    # moto validates that the endpoint config's model exists.
    with pytest.raises(ClientError, match="Could not find model"):
        handler.lambda_handler(load_event("sfn_deploy.json"), lambda_context)
    # The version record was still written first (it is immutable and harmless).
    assert _exists(s3, VERSION_KEY)
