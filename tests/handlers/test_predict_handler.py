"""predict: POST /predict/{model} and GET /models/{model} behind API Gateway (REST proxy).

S3 (the registry) is moto; InvokeEndpoint and DescribeEndpoint are botocore Stubbers,
whose expected_params pin the exact payload the endpoint receives.
"""

from __future__ import annotations

import base64
import functools
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from sagepipe.contract import ColumnSpec, DroppedColumn, FeatureContract
from sagepipe.prediction_service import PredictionService
from sagepipe.registry import LivePointer, ModelRegistry, ModelVersion

from .conftest import (
    BUCKET,
    FUNCTION_ENV,
    PREFIX,
    REGION,
    FakeLambdaContext,
    HandlerLoader,
    load_event,
)

MODEL = "housing"
ENDPOINT = f"{PREFIX}-{MODEL}"
V1 = "20261120093000-1a2b3c4d"
V2 = "20261121093000-5e6f7a8b"
REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"  # tests/events/apigw_predict.json
MAX_RECORDS = 5

# v1: rooms, city (a, b); district was dropped.
# features 0 rooms, 1 city=a, 2 city=b, 3 city=__other__
CONTRACT_V1 = FeatureContract(
    model=MODEL,
    target="price",
    algorithm="xgboost",
    columns=(
        ColumnSpec("rooms", "numeric", fill=3.0),
        ColumnSpec("city", "categorical", categories=("a", "b")),
    ),
    missing="native",
    content_type="text/libsvm",
    dropped=(DroppedColumn("district", "identifier-like: 90 distinct values in 100 rows"),),
)
# v2, trained on newer data: district is a feature now and city's categories changed.
# features 0 rooms, 1 district=north, 2 district=south, 3 district=__other__,
#          4 city=b, 5 city=c, 6 city=a, 7 city=__other__
CONTRACT_V2 = FeatureContract(
    model=MODEL,
    target="price",
    algorithm="xgboost",
    columns=(
        ColumnSpec("rooms", "numeric", fill=3.0),
        ColumnSpec("district", "categorical", categories=("north", "south")),
        ColumnSpec("city", "categorical", categories=("b", "c", "a")),
    ),
    missing="native",
    content_type="text/libsvm",
)
# The rows of tests/events/apigw_predict.json, encoded with v1's contract.
EVENT_BODY_V1 = b"0 0:3 1:1\n0 0:5.5 3:1\n0"


def version_record(version: str, contract: FeatureContract) -> ModelVersion:
    return ModelVersion(
        model=MODEL,
        version=version,
        run_id=f"{MODEL}-{version}",
        trained_at="2026-11-20T09:41:07+00:00",
        algorithm="xgboost",
        metrics={"rmse": 1.25, "baseline_rmse": 3.5},
        contract=contract,
        model_data=f"s3://{BUCKET}/runs/{MODEL}/{MODEL}-{version}/training/model.tar.gz",
        sagemaker_model=f"{MODEL}-{version}-m",
        variant=f"v{version}",
    )


def live_pointer(version: str) -> LivePointer:
    return LivePointer(
        model=MODEL,
        version=version,
        endpoint=ENDPOINT,
        variant=f"v{version}",
        updated_at="2026-11-20T09:52:40+00:00",
    )


@pytest.fixture
def registry(s3: Any) -> ModelRegistry:
    """v1 is live; v2 is registered (its deployment is under way)."""
    registry = ModelRegistry(s3, BUCKET)
    registry.put_version(version_record(V1, CONTRACT_V1))
    registry.put_version(version_record(V2, CONTRACT_V2))
    registry.put_live(live_pointer(V1))
    return registry


@pytest.fixture
def handler(
    load_handler: HandlerLoader, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """functions/predict/app.py as deployed: its own settings, clients and service."""
    monkeypatch.setitem(
        FUNCTION_ENV, "predict", {"MAX_RECORDS": str(MAX_RECORDS), "LIVE_CACHE_SECONDS": "60"}
    )
    return load_handler("predict")


@dataclass
class Endpoint:
    runtime: Stubber
    control: Stubber

    def answers(self, body: bytes, variant: str, scores: list[float]) -> None:
        # XGBoost is asked for text/csv: one score per line.
        data = "".join(f"{s}\n" for s in scores).encode()
        self.runtime.add_response(
            "invoke_endpoint",
            {
                "Body": StreamingBody(io.BytesIO(data), len(data)),
                "ContentType": "text/csv",
                "InvokedProductionVariant": variant,
            },
            expected_params=invoke_params(body, variant),
        )

    def fails(self, body: bytes, variant: str, code: str, status: int, **fields: Any) -> None:
        self.runtime.add_client_error(
            "invoke_endpoint",
            service_error_code=code,
            service_message=f"{code} from the test",
            http_status_code=status,
            expected_params=invoke_params(body, variant),
            modeled_fields=fields or None,
        )

    def describes(self, *variants: str) -> None:
        self.control.add_response(
            "describe_endpoint",
            {
                "EndpointName": ENDPOINT,
                "EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{ENDPOINT}",
                "EndpointConfigName": f"{MODEL}-{V2}-ec",
                "EndpointStatus": "InService",
                "CreationTime": "2026-11-20T09:45:00Z",
                "LastModifiedTime": "2026-11-21T09:50:00Z",
                "ProductionVariants": [
                    {"VariantName": name, "CurrentWeight": 1.0, "CurrentInstanceCount": 1}
                    for name in variants
                ],
            },
            expected_params={"EndpointName": ENDPOINT},
        )


def invoke_params(body: bytes, variant: str) -> dict[str, Any]:
    return {
        "EndpointName": ENDPOINT,
        "Body": body,
        "ContentType": "text/libsvm",
        "Accept": "text/csv",
        "TargetVariant": variant,
    }


@functools.cache
def stubbed_clients() -> tuple[Any, Any]:
    """Created once: a Stubber answers every call, so no request leaves the test."""
    return (
        boto3.client("sagemaker-runtime", region_name=REGION),
        boto3.client("sagemaker", region_name=REGION),
    )


@pytest.fixture
def endpoint(
    handler: ModuleType, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Endpoint]:
    """The handler's service with stubbed SageMaker clients; every stub must be used."""
    runtime, control = stubbed_clients()
    service = PredictionService(
        registry,
        runtime,
        lambda: control,
        max_records=MAX_RECORDS,
        live_cache_seconds=60,
    )
    monkeypatch.setattr(handler, "service", lambda: service)
    with Stubber(runtime) as runtime_stub, Stubber(control) as control_stub:
        yield Endpoint(runtime_stub, control_stub)
        runtime_stub.assert_no_pending_responses()
        control_stub.assert_no_pending_responses()


def call(
    handler: ModuleType, context: FakeLambdaContext, event: dict[str, Any]
) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = handler.lambda_handler(event, context)
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def predict_event(instances: Any = None, model: str = MODEL) -> dict[str, Any]:
    event = load_event("apigw_predict.json")
    if instances is not None:
        event["body"] = json.dumps({"instances": instances})
    event["pathParameters"] = {"model": model}
    event["path"] = f"/predict/{model}"
    return event


def describe_event(model: str = MODEL) -> dict[str, Any]:
    event = load_event("apigw_describe_model.json")
    event["pathParameters"] = {"model": model}
    event["path"] = f"/models/{model}"
    return event


# --- 200 --------------------------------------------------------------------------------


def test_predict_answers_one_score_per_row_and_the_model_version(
    handler: ModuleType, endpoint: Endpoint, lambda_context: FakeLambdaContext
) -> None:
    endpoint.answers(EVENT_BODY_V1, f"v{V1}", [210.5, 330.0, 180.25])

    status, body, _ = call(handler, lambda_context, predict_event())

    assert status == 200
    assert body == {"predictions": [210.5, 330.0, 180.25], "model": {"name": MODEL, "version": V1}}


def test_base64_bodies_are_decoded(
    handler: ModuleType, endpoint: Endpoint, lambda_context: FakeLambdaContext
) -> None:
    event = predict_event()
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    endpoint.answers(EVENT_BODY_V1, f"v{V1}", [1, 2, 3])

    status, body, _ = call(handler, lambda_context, event)

    assert (status, body["predictions"]) == (200, [1, 2, 3])


def test_describe_model_with_the_deployed_wiring(
    handler: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    status, body, _ = call(handler, lambda_context, describe_event())

    assert status == 200
    assert body == {
        "model": MODEL,
        "version": V1,
        "run_id": f"{MODEL}-{V1}",
        "trained_at": "2026-11-20T09:41:07+00:00",
        "algorithm": "xgboost",
        "metrics": {"rmse": 1.25, "baseline_rmse": 3.5},
        "live_since": "2026-11-20T09:52:40+00:00",
        "target": "price",
        "input": {
            "columns": [
                {"name": "rooms", "type": "number", "nullable": True},
                {"name": "city", "type": "category", "nullable": True, "categories": ["a", "b"]},
            ],
            "ignored_columns": ["district"],
            "notes": body["input"]["notes"],
            "max_records": MAX_RECORDS,
        },
    }


# --- 404 --------------------------------------------------------------------------------


@pytest.mark.parametrize("make_event", [predict_event, describe_event])
def test_unknown_model_is_404(
    handler: ModuleType, lambda_context: FakeLambdaContext, make_event: Any
) -> None:
    status, body, _ = call(handler, lambda_context, make_event(model="bikes"))

    assert status == 404
    assert body == {
        "message": "model 'bikes' not found: it has no live version",
        "request_id": body["request_id"],
    }


@pytest.mark.parametrize("name", ["Housing", "bad_name", "-housing", "a" * 33, "x/../y"])
@pytest.mark.parametrize("make_event", [predict_event, describe_event])
def test_invalid_model_name_is_404(
    handler: ModuleType, lambda_context: FakeLambdaContext, make_event: Any, name: str
) -> None:
    status, body, _ = call(handler, lambda_context, make_event(model=name))

    assert status == 404
    assert body["message"].startswith(f"model {name!r} not found: model names are")


# --- 400 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_body", "message"),
    [
        ("{not json", "request body is not valid JSON: Expecting property name"),
        (None, "request body is empty"),
        ("[1, 2]", "request body must be a JSON object, got an array"),
        ('{"rows": []}', "request body has no 'instances' field"),
        ('{"instances": []}', "'instances' is empty: send at least one row"),
        (
            '{"instances": [{"rooms": 3}]}',
            "row 0 (instances[0]), column 'city': missing: every column is required",
        ),
        (
            '{"instances": [{"rooms": 3, "city": "a"}, {"rooms": 3, "city": "a", "colour": 1}]}',
            "row 1 (instances[1]), column 'colour': unknown column; the model expects "
            "'rooms', 'city'",
        ),
        (
            '{"instances": [{"rooms": "three", "city": "a"}]}',
            "row 0 (instances[0]), column 'rooms': expected a finite number or null, "
            "got string 'three'",
        ),
        (
            '{"instances": [{"rooms": 3, "city": true}]}',
            "row 0 (instances[0]), column 'city': expected a string, an integer or null, "
            "got boolean true",
        ),
        (
            '{"instances": [{"rooms": NaN, "city": "a"}]}',
            "row 0 (instances[0]), column 'rooms': expected a finite number or null, got NaN",
        ),
        (
            '{"instances": [{"rooms": 3, "city": "a", "price": 100}]}',
            "row 0 (instances[0]), column 'price': is the target the model predicts",
        ),
    ],
)
def test_bad_requests_are_400_naming_what_is_wrong(
    handler: ModuleType,
    endpoint: Endpoint,
    lambda_context: FakeLambdaContext,
    raw_body: str | None,
    message: str,
) -> None:
    event = predict_event()
    event["body"] = raw_body

    status, body, _ = call(handler, lambda_context, event)

    assert status == 400
    assert body["message"].startswith(message)
    assert body["request_id"] == REQUEST_ID


def test_too_many_rows_is_400_with_the_configured_limit(
    handler: ModuleType, lambda_context: FakeLambdaContext
) -> None:
    rows = [{"rooms": 3, "city": "a"}] * (MAX_RECORDS + 1)

    status, body, _ = call(handler, lambda_context, predict_event(rows))

    assert status == 400
    assert body["message"] == (
        f"'instances' has {MAX_RECORDS + 1} rows; at most {MAX_RECORDS} rows fit in one request"
    )


def test_wrong_method_is_405(handler: ModuleType, lambda_context: FakeLambdaContext) -> None:
    event = predict_event()
    event["httpMethod"] = "GET"

    status, body, _ = call(handler, lambda_context, event)

    assert (status, body["message"]) == (405, "method GET not allowed; use POST")


# --- 502 / 503 / 500 ---------------------------------------------------------------------


def test_model_error_is_502_with_the_containers_message_and_no_trace(
    handler: ModuleType, endpoint: Endpoint, lambda_context: FakeLambdaContext
) -> None:
    endpoint.fails(
        EVENT_BODY_V1,
        f"v{V1}",
        "ModelError",
        424,
        OriginalStatusCode=400,
        OriginalMessage=(
            "Loading libsvm data failed with Exception, please ensure data is in libsvm "
            'format\nTraceback (most recent call last):\n  File "/serve.py", line 1'
        ),
    )

    status, body, _ = call(handler, lambda_context, predict_event())

    assert status == 502
    assert body == {
        "message": "the model failed (status 400): Loading libsvm data failed with Exception, "
        "please ensure data is in libsvm format",
        "request_id": REQUEST_ID,
    }


@pytest.mark.parametrize(
    ("code", "http_status"),
    [("ModelNotReadyException", 429), ("ServiceUnavailable", 503), ("ThrottlingException", 400)],
)
def test_endpoint_not_ready_is_503(
    handler: ModuleType,
    endpoint: Endpoint,
    lambda_context: FakeLambdaContext,
    code: str,
    http_status: int,
) -> None:
    endpoint.fails(EVENT_BODY_V1, f"v{V1}", code, http_status)

    status, body, headers = call(handler, lambda_context, predict_event())

    assert status == 503
    assert body["message"] == "endpoint is not ready, retry shortly"
    assert headers["Retry-After"] == "5"


def test_missing_endpoint_while_a_model_is_live_is_503(
    handler: ModuleType, endpoint: Endpoint, lambda_context: FakeLambdaContext
) -> None:
    endpoint.fails(EVENT_BODY_V1, f"v{V1}", "ValidationError", 400)
    endpoint.control.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message=f"Could not find endpoint {ENDPOINT}.",
        http_status_code=400,
        expected_params={"EndpointName": ENDPOINT},
    )

    status, body, _ = call(handler, lambda_context, predict_event())

    assert status == 503
    assert body["message"] == (
        f"endpoint {ENDPOINT} does not exist (yet): endpoint is not ready, retry shortly"
    )


def test_an_answer_from_another_variant_is_discarded_with_502(
    handler: ModuleType, endpoint: Endpoint, lambda_context: FakeLambdaContext
) -> None:
    data = b'{"predictions": [{"score": 1}, {"score": 2}, {"score": 3}]}'
    endpoint.runtime.add_response(
        "invoke_endpoint",
        {
            "Body": StreamingBody(io.BytesIO(data), len(data)),
            "ContentType": "application/json",
            "InvokedProductionVariant": f"v{V2}",
        },
        expected_params=invoke_params(EVENT_BODY_V1, f"v{V1}"),
    )

    status, body, _ = call(handler, lambda_context, predict_event())

    assert status == 502
    assert body["message"] == (
        f"the answer came from variant 'v{V2}', not 'v{V1}': it was discarded"
    )


def test_a_short_answer_is_502(
    handler: ModuleType, endpoint: Endpoint, lambda_context: FakeLambdaContext
) -> None:
    endpoint.answers(EVENT_BODY_V1, f"v{V1}", [1.0])

    status, body, _ = call(handler, lambda_context, predict_event())

    assert (status, body["message"]) == (502, "the endpoint answered 1 predictions for 3 rows")


def test_unexpected_errors_are_500_with_the_request_id_and_the_trace_only_in_the_log(
    handler: ModuleType,
    endpoint: Endpoint,
    lambda_context: FakeLambdaContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint.fails(EVENT_BODY_V1, f"v{V1}", "AccessDeniedException", 403)

    response = handler.lambda_handler(predict_event(), lambda_context)

    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"message": "internal error", "request_id": REQUEST_ID}
    assert "Traceback" not in response["body"]
    failure = next(r for r in caplog.records if r.getMessage().endswith("unexpectedly"))
    assert failure.exc_info is not None
    assert "AccessDeniedException" in str(failure.exc_info[1])
    assert handler.logger.get_correlation_id() == REQUEST_ID


# --- schema consistency while an endpoint update rolls out -------------------------------


def test_rollout_reencodes_with_the_contract_of_the_version_that_answers(
    handler: ModuleType, endpoint: Endpoint, lambda_context: FakeLambdaContext
) -> None:
    """The pointer still says v1, but the endpoint already serves v2 (new contract)."""
    rows = [{"rooms": 3, "city": "c", "district": "south"}]
    # v1 ignores district (dropped) and has no city "c": rooms, city=__other__.
    endpoint.fails(b"0 0:3 3:1", f"v{V1}", "ValidationError", 400)
    endpoint.describes(f"v{V2}")
    # v2: rooms, district=south (2), city=c (5).
    endpoint.answers(b"0 0:3 2:1 5:1", f"v{V2}", [412.5])

    status, body, _ = call(handler, lambda_context, predict_event(rows))

    assert status == 200
    assert body == {"predictions": [412.5], "model": {"name": MODEL, "version": V2}}

    # The next request goes straight to v2: no failed call, no DescribeEndpoint.
    endpoint.answers(b"0 0:3 2:1 5:1", f"v{V2}", [412.5])
    status, body, _ = call(handler, lambda_context, predict_event(rows))
    assert (status, body["model"]["version"]) == (200, V2)


def test_rollout_checks_the_request_against_the_new_contract(
    handler: ModuleType, endpoint: Endpoint, lambda_context: FakeLambdaContext
) -> None:
    rows = [{"rooms": 3, "city": "a"}]  # valid for v1; v2 also needs district
    endpoint.fails(b"0 0:3 1:1", f"v{V1}", "ValidationError", 400)
    endpoint.describes(f"v{V2}")

    status, body, _ = call(handler, lambda_context, predict_event(rows))

    assert status == 400
    assert body["message"].startswith("row 0 (instances[0]), column 'district': missing")


def test_rollout_retries_once_then_503(
    handler: ModuleType, endpoint: Endpoint, lambda_context: FakeLambdaContext
) -> None:
    rows = [{"rooms": 3, "city": "c", "district": "south"}]
    endpoint.fails(b"0 0:3 3:1", f"v{V1}", "ValidationError", 400)
    endpoint.describes(f"v{V2}")
    endpoint.fails(b"0 0:3 2:1 5:1", f"v{V2}", "ValidationError", 400)

    status, body, _ = call(handler, lambda_context, predict_event(rows))

    assert (status, body["message"]) == (503, "endpoint is not ready, retry shortly")


def test_rollout_to_a_version_missing_from_the_registry_is_502(
    handler: ModuleType, endpoint: Endpoint, lambda_context: FakeLambdaContext
) -> None:
    endpoint.fails(EVENT_BODY_V1, f"v{V1}", "ValidationError", 400)
    endpoint.describes("v20261122093000-00000000")

    status, body, _ = call(handler, lambda_context, predict_event())

    assert status == 502
    assert body["message"] == (
        "the endpoint serves version 20261122093000-00000000, which is not in the model registry"
    )


def test_metrics_count_predictions_and_rows(
    handler: ModuleType,
    endpoint: Endpoint,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint.answers(EVENT_BODY_V1, f"v{V1}", [1, 2, 3])

    call(handler, lambda_context, predict_event())

    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    emf = next(r for r in logged if "_aws" in r)
    assert (emf["Predictions"], emf["PredictedRows"]) == ([1.0], [3.0])
    assert "PredictLatency" in emf
