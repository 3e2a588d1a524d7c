"""PredictionService: caches, the rollout detour, error mapping by code (no AWS, no moto)."""

from __future__ import annotations

import functools
import io
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from sagepipe.contract import ColumnSpec, DroppedColumn, FeatureContract
from sagepipe.errors import (
    EndpointFailureError,
    EndpointUnavailableError,
    ModelNotFoundError,
    RequestError,
)
from sagepipe.prediction_service import PredictionService
from sagepipe.registry import LivePointer, ModelVersion

MODEL = "housing"
ENDPOINT = "sagepipe-housing"
V1 = "20261120093000-1a2b3c4d"
V2 = "20261121093000-5e6f7a8b"
BODY = json.dumps({"instances": [{"x": 1.5}]})


def contract(*categories: str) -> FeatureContract:
    """x; and c, one-hot with these categories, or dropped when there are none."""
    columns = [ColumnSpec("x", "numeric", fill=0.0)]
    dropped: tuple[DroppedColumn, ...] = ()
    if categories:
        columns.append(ColumnSpec("c", "categorical", categories=categories))
    else:
        dropped = (DroppedColumn("c", "constant: every training value is 'a'"),)
    return FeatureContract(
        model=MODEL,
        target="y",
        algorithm="xgboost",
        columns=tuple(columns),
        missing="native",
        content_type="text/libsvm",
        dropped=dropped,
    )


def version(name: str, feature_contract: FeatureContract) -> ModelVersion:
    return ModelVersion(
        model=MODEL,
        version=name,
        run_id=f"{MODEL}-{name}",
        trained_at="2026-11-20T09:41:07+00:00",
        algorithm="xgboost",
        metrics={"rmse": 1.0},
        contract=feature_contract,
        model_data="s3://b/model.tar.gz",
        sagemaker_model=f"{MODEL}-{name}-m",
        variant=f"v{name}",
    )


def pointer(name: str) -> LivePointer:
    return LivePointer(MODEL, name, ENDPOINT, f"v{name}", "2026-11-20T09:52:40+00:00")


class FakeRegistry:
    """Counts reads, so the tests can see what the caches save."""

    def __init__(self) -> None:
        self.live: LivePointer | None = pointer(V1)
        self.versions = {V1: version(V1, contract()), V2: version(V2, contract("a"))}
        self.reads: Counter[str] = Counter()
        self.failure: ClientError | None = None

    def get_live(self, model: str) -> LivePointer | None:
        self.reads["live"] += 1
        if self.failure is not None:
            raise self.failure
        return self.live if model == MODEL else None

    def get_version(self, model: str, name: str) -> ModelVersion | None:
        self.reads[name] += 1
        return self.versions.get(name)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@functools.cache
def clients() -> tuple[Any, Any]:
    return (
        boto3.client("sagemaker-runtime", region_name="us-east-1"),
        boto3.client("sagemaker", region_name="us-east-1"),
    )


class Harness:
    def __init__(self, runtime: Stubber, control: Stubber) -> None:
        self.runtime = runtime
        self.control = control
        self.registry = FakeRegistry()
        self.clock = Clock()
        self.service = PredictionService(
            self.registry,  # type: ignore[arg-type]
            clients()[0],
            lambda: clients()[1],
            max_records=100,
            live_cache_seconds=5,
            clock=self.clock,
        )

    def answers(self, body: bytes, variant: str, *scores: float) -> None:
        # XGBoost is asked for text/csv: one score per line.
        data = "".join(f"{s}\n" for s in scores).encode()
        self.runtime.add_response(
            "invoke_endpoint",
            {
                "Body": StreamingBody(io.BytesIO(data), len(data)),
                "ContentType": "text/csv",
                "InvokedProductionVariant": variant,
            },
            expected_params={
                "EndpointName": ENDPOINT,
                "Body": body,
                "ContentType": "text/libsvm",
                "Accept": "text/csv",
                "TargetVariant": variant,
            },
        )

    def fails(self, code: str, status: int = 400, **fields: Any) -> None:
        self.runtime.add_client_error(
            "invoke_endpoint",
            service_error_code=code,
            service_message=f"{code}: a message the service decides on",
            http_status_code=status,
            modeled_fields=fields or None,
        )

    def describes(self, *variants: tuple[str, float]) -> None:
        self.control.add_response(
            "describe_endpoint",
            {
                "EndpointName": ENDPOINT,
                "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{ENDPOINT}",
                "EndpointStatus": "Updating",
                "CreationTime": "2026-11-20T09:45:00Z",
                "LastModifiedTime": "2026-11-21T09:50:00Z",
                "ProductionVariants": [
                    {"VariantName": name, "CurrentWeight": weight} for name, weight in variants
                ],
            },
        )


@pytest.fixture
def harness() -> Iterator[Harness]:
    runtime, control = clients()
    with Stubber(runtime) as runtime_stub, Stubber(control) as control_stub:
        yield Harness(runtime_stub, control_stub)
        runtime_stub.assert_no_pending_responses()
        control_stub.assert_no_pending_responses()


def test_predicts_with_the_live_version(harness: Harness) -> None:
    harness.answers(b"0 0:1.5", f"v{V1}", 7.5)

    result = harness.service.predict(MODEL, BODY)

    assert (result.version, result.predictions, result.rerouted_from) == (V1, [7.5], None)
    assert result.to_dict() == {"predictions": [7.5], "model": {"name": MODEL, "version": V1}}


def test_pointer_is_cached_for_its_ttl_and_versions_forever(harness: Harness) -> None:
    for _ in range(3):
        harness.answers(b"0 0:1.5", f"v{V1}", 1.0)
        harness.service.predict(MODEL, BODY)
    assert harness.registry.reads == {"live": 1, V1: 1}

    harness.clock.now += 5  # the pointer expires; the version record never does
    harness.answers(b"0 0:1.5", f"v{V1}", 1.0)
    harness.service.predict(MODEL, BODY)
    assert harness.registry.reads == {"live": 2, V1: 1}


def test_a_new_pointer_is_seen_once_the_cache_expires(harness: Harness) -> None:
    harness.answers(b"0 0:1.5", f"v{V1}", 1.0)
    harness.service.predict(MODEL, BODY)
    harness.registry.live = pointer(V2)
    harness.clock.now += 6

    harness.answers(b"0 0:1.5", f"v{V2}", 2.0)  # v2's contract: c is missing -> no entry
    body = json.dumps({"instances": [{"x": 1.5, "c": None}]})
    assert harness.service.predict(MODEL, body).version == V2


def test_unknown_models_are_cached_too_but_for_a_second_only(harness: Harness) -> None:
    for _ in range(3):
        with pytest.raises(ModelNotFoundError, match="'bikes' not found"):
            harness.service.predict("bikes", BODY)
    assert harness.registry.reads == {"live": 1}

    harness.clock.now += 1  # a first deployment is seen after a second, not after five
    with pytest.raises(ModelNotFoundError, match="'bikes' not found"):
        harness.service.predict("bikes", BODY)
    assert harness.registry.reads == {"live": 2}


def test_a_first_deployment_is_served_a_second_after_a_not_found(harness: Harness) -> None:
    harness.registry.live = None  # asked before the model's first run went live
    with pytest.raises(ModelNotFoundError, match="no live version"):
        harness.service.predict(MODEL, BODY)
    harness.registry.live = pointer(V1)

    harness.clock.now += 0.5
    with pytest.raises(ModelNotFoundError):
        harness.service.predict(MODEL, BODY)
    harness.clock.now += 0.5
    harness.answers(b"0 0:1.5", f"v{V1}", 7.5)
    assert harness.service.predict(MODEL, BODY).version == V1


def test_invalid_names_never_reach_the_registry(harness: Harness) -> None:
    with pytest.raises(ModelNotFoundError, match="model names are"):
        harness.service.describe("../etc")
    assert harness.registry.reads == {}


def test_bad_requests_read_the_registry_no_more_than_good_ones(harness: Harness) -> None:
    # The body is parsed with the live version's contract, so the pointer and the
    # version record are read first; both stay cached like a good request's.
    for _ in range(3):
        with pytest.raises(RequestError, match="not valid JSON"):
            harness.service.predict(MODEL, "{")
    assert harness.registry.reads == {"live": 1, V1: 1}


def test_registry_throttling_is_503(harness: Harness) -> None:
    harness.registry.failure = ClientError(
        {"Error": {"Code": "SlowDown", "Message": "slow down"}}, "GetObject"
    )
    with pytest.raises(EndpointUnavailableError, match="registry is busy"):
        harness.service.predict(MODEL, BODY)


def test_other_registry_errors_propagate(harness: Harness) -> None:
    harness.registry.failure = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject"
    )
    with pytest.raises(ClientError):
        harness.service.predict(MODEL, BODY)


def test_a_pointer_to_a_missing_record_is_an_internal_error(harness: Harness) -> None:
    del harness.registry.versions[V1]
    with pytest.raises(LookupError, match="no registry record"):
        harness.service.predict(MODEL, BODY)


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ModelNotReadyException", 429, EndpointUnavailableError),
        ("ServiceUnavailable", 503, EndpointUnavailableError),
        ("ThrottlingException", 400, EndpointUnavailableError),
        ("InternalFailure", 500, EndpointUnavailableError),
        ("InternalDependencyException", 530, EndpointUnavailableError),
        ("ModelError", 424, EndpointFailureError),
    ],
)
def test_errors_are_told_apart_by_code(
    harness: Harness, code: str, status: int, error: type[Exception]
) -> None:
    harness.fails(code, status)
    with pytest.raises(error):
        harness.service.predict(MODEL, BODY)


def test_model_error_keeps_the_first_line_of_the_container_message_trimmed(
    harness: Harness,
) -> None:
    harness.fails("ModelError", 424, OriginalStatusCode=500, OriginalMessage="x" * 400 + "\nat y")
    with pytest.raises(EndpointFailureError) as caught:
        harness.service.predict(MODEL, BODY)
    message = str(caught.value)
    assert message.startswith("the model failed (status 500): xxx")
    assert message.endswith("...")
    assert "at y" not in message
    assert len(message) < 350


def test_rollout_follows_the_heaviest_serving_variant_and_remembers_it(harness: Harness) -> None:
    body = json.dumps({"instances": [{"x": 1.5, "c": "a"}]})
    harness.fails("ValidationError")
    harness.describes(("AllTraffic", 0.0), (f"v{V1}", 0.2), (f"v{V2}", 0.8))
    harness.answers(b"0 0:1.5 1:1", f"v{V2}", 3.0)

    result = harness.service.predict(MODEL, body)

    assert (result.version, result.rerouted_from) == (V2, V1)
    harness.answers(b"0 0:1.5 1:1", f"v{V2}", 3.0)
    assert harness.service.predict(MODEL, body).rerouted_from is None
    assert harness.service.describe(MODEL)["version"] == V2
    assert harness.registry.reads == {"live": 1, V1: 1, V2: 1}


def test_rollout_when_the_serving_variant_is_the_same_version_is_502(harness: Harness) -> None:
    harness.fails("ValidationError")
    harness.describes((f"v{V1}", 1.0))
    with pytest.raises(EndpointFailureError, match="rejected the request"):
        harness.service.predict(MODEL, BODY)


def test_rollout_without_a_serving_variant_is_503(harness: Harness) -> None:
    harness.fails("ValidationError")
    harness.describes(("AllTraffic", 1.0))
    with pytest.raises(EndpointUnavailableError, match="not ready"):
        harness.service.predict(MODEL, BODY)


def test_the_control_plane_client_is_only_built_for_a_rollout() -> None:
    built: list[str] = []

    def control() -> Any:
        built.append("sagemaker")
        return clients()[1]

    runtime, _ = clients()
    service = PredictionService(
        FakeRegistry(),  # type: ignore[arg-type]
        runtime,
        control,
        max_records=10,
        live_cache_seconds=5,
    )
    with Stubber(runtime) as stub:
        data = b'{"predictions": [{"score": 1}]}'
        stub.add_response(
            "invoke_endpoint",
            {
                "Body": StreamingBody(io.BytesIO(data), len(data)),
                "InvokedProductionVariant": f"v{V1}",
            },
        )
        service.predict(MODEL, BODY)
    assert built == []
