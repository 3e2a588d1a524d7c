"""template.yaml against docs/design.md, and the SAM translation free of dependency cycles.

`sam validate --lint` does not report circular dependencies of a SAM template (cfn-lint
1.58 skips them after the transform), so the cycle check translates the template with
aws-sam-translator and walks Ref / GetAtt / Sub / DependsOn edges itself.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from .conftest import REPO, load_template

FUNCTIONS: dict[str, tuple[str, bool, set[str]]] = {
    # logical id: (dir, pandas layer, own environment)
    "StartRunFunction": (
        "start_run",
        False,
        {"STATE_MACHINE_ARN", "POLL_SECONDS", "PROCESSING_THRESHOLD_MB"},
    ),
    "PreprocessFunction": (
        "preprocess",
        True,
        {
            "DEFAULT_TARGET",
            "DEFAULT_ALGORITHM",
            "DEFAULT_MAX_RMSE",
            "TEST_FRACTION",
            "VALIDATION_FRACTION",
            "SEED",
            "MAX_CATEGORIES",
            "MIN_ROWS",
        },
    ),
    "StartProcessingFunction": (
        "start_processing",
        False,
        {
            "DEFAULT_TARGET",
            "DEFAULT_ALGORITHM",
            "DEFAULT_MAX_RMSE",
            "TEST_FRACTION",
            "VALIDATION_FRACTION",
            "SEED",
            "MAX_CATEGORIES",
            "MIN_ROWS",
            "SAGEMAKER_ROLE_ARN",
            "PROCESSING_INSTANCE_TYPE",
            "PROCESSING_MAX_RUNTIME_SECONDS",
        },
    ),
    "CollectProcessingFunction": ("collect_processing", False, set()),
    "StartTrainingFunction": (
        "start_training",
        False,
        {
            "SAGEMAKER_ROLE_ARN",
            "TRAINING_INSTANCE_TYPE",
            "TRAINING_MAX_RUNTIME_SECONDS",
            "USE_SPOT_TRAINING",
        },
    ),
    "JobStatusFunction": ("job_status", False, {"STATUS_WAIT_SECONDS"}),
    "StartTransformFunction": (
        "start_transform",
        False,
        {"SAGEMAKER_ROLE_ARN", "TRANSFORM_INSTANCE_TYPE"},
    ),
    "EvaluateFunction": ("evaluate", True, set()),
    "DeployFunction": ("deploy", False, {"ENDPOINT_INSTANCE_TYPE", "ENDPOINT_INSTANCE_COUNT"}),
    "RecordLiveFunction": ("record_live", False, set()),
    "NotifyFunction": ("notify", False, {"TOPIC_ARN"}),
    "PredictFunction": ("predict", False, {"MAX_RECORDS", "LIVE_CACHE_SECONDS"}),
}
GLOBAL_ENVIRONMENT = {
    "DATA_BUCKET",
    "RESOURCE_PREFIX",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
PARAMETER_DEFAULTS = {
    "ResourcePrefix": "sagepipe",
    "DataBucketName": "",
    "DefaultTarget": "",
    "DefaultAlgorithm": "xgboost",
    "DefaultMaxRmse": "",
    "TestFraction": "0.2",
    "ValidationFraction": "0.1",
    "Seed": "42",
    "MaxCategories": "20",
    "MinRows": "20",
    "ProcessingThresholdMB": "1900",
    "ProcessingInstanceType": "auto",
    "TrainingInstanceType": "ml.m5.large",
    "TrainingMaxRuntimeSeconds": "3600",
    "UseSpotTraining": "false",
    "TransformInstanceType": "ml.m5.large",
    "EndpointInstanceType": "ml.m5.large",
    "EndpointInstanceCount": "1",
    "StatusWaitSeconds": "60",
    "PollSeconds": "10",
    "NotificationEmail": "",
}
OUTPUTS = {
    "DataBucketName",
    "PredictionApiUrl",
    "StateMachineArn",
    "NotificationTopicArn",
    "ApiKeyId",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_functions_layers_and_environment_follow_the_design(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.12"
    assert globals_["Architectures"] == ["arm64"]
    assert globals_["Handler"] == "app.lambda_handler"
    assert globals_["Tracing"] == "Active"
    assert globals_["Layers"] == [{"Ref": "SagepipeLayer"}]
    assert set(globals_["Environment"]["Variables"]) == GLOBAL_ENVIRONMENT

    functions = {
        name for name, body in resources.items() if body["Type"] == "AWS::Serverless::Function"
    }
    assert functions == set(FUNCTIONS)
    for name, (directory, pandas, environment) in FUNCTIONS.items():
        properties = resources[name]["Properties"]
        assert properties["CodeUri"] == f"functions/{directory}/", name
        layers = properties.get("Layers", [])
        assert layers == ([{"Ref": "DataFrameLayer"}] if pandas else []), name
        assert set(properties.get("Environment", {}).get("Variables", {})) == environment, name

    preprocess = resources["PreprocessFunction"]["Properties"]
    # The measured capacity (bench/lambda_capacity.py) at this memory backs the default
    # ProcessingThresholdMB; change them together.
    assert preprocess["MemorySize"] == 10240
    assert preprocess["Timeout"] == 900

    for layer, uri in (
        ("SagepipeLayer", "layers/sagepipe"),
        ("DataFrameLayer", "layers/dataframe"),
    ):
        body = resources[layer]
        assert body["Properties"]["ContentUri"] == uri
        assert body["Properties"]["CompatibleArchitectures"] == ["arm64"]
        assert body["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
        makefile = (REPO / uri / "Makefile").read_text()
        assert f"build-{layer}:" in makefile


def test_parameters_and_outputs_follow_the_design(template: dict[str, Any]) -> None:
    defaults = {name: str(body["Default"]) for name, body in template["Parameters"].items()}
    assert defaults == PARAMETER_DEFAULTS
    assert set(template["Outputs"]) == OUTPUTS


def test_only_the_bucket_policy_and_outputs_reference_the_bucket_resource(
    template: dict[str, Any],
) -> None:
    allowed = {"DataBucket", "DataBucketPolicy"}
    scanned = {**template["Resources"], "Globals": template["Globals"]}
    for name, body in scanned.items():
        if name in allowed:
            continue
        text = repr(body)
        if name == "StartRunFunction":  # its S3 event source names the bucket, as SAM requires
            text = repr({**body, "Properties": {**body["Properties"], "Events": None}})
        assert not re.search(r"'Ref': 'DataBucket'|\['DataBucket',|DataBucket\.", text), name


def _translated(template: dict[str, Any]) -> dict[str, Any]:
    samtranslator = pytest.importorskip("samtranslator.translator.transform")

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    document = copy.deepcopy(template)
    for body in document["Resources"].values():
        properties = body.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://bucket/{properties[key]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # pseudo parameters need a region
        translated: dict[str, Any] = samtranslator.transform(document, {}, NoManagedPolicies())
    return translated


def _references(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else str(value).split(".")[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
                if not isinstance(value, str):
                    _references(value[1], found)
            else:
                _references(value, found)
    elif isinstance(node, list):
        for item in node:
            _references(item, found)


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for successor in sorted(graph[node]):
            cycle = visit(successor)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_translated_template_has_no_circular_dependency(template: dict[str, Any]) -> None:
    resources = _translated(template)["Resources"]
    graph: dict[str, set[str]] = {}
    for name, body in resources.items():
        found: set[str] = set()
        _references(body.get("Properties", {}), found)
        depends = body.get("DependsOn", [])
        found.update([depends] if isinstance(depends, str) else depends)
        graph[name] = found & set(resources)
    assert _find_cycle(graph) is None
    # The S3 trigger really is wired: notification on the bucket, permission before it.
    bucket = resources["DataBucket"]
    assert "StartRunFunctionDataUploadedPermission" in bucket["DependsOn"]
    (notification,) = bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "incoming/"}]


def test_prediction_api_requires_an_api_key(template: dict[str, Any]) -> None:
    resources = _translated(template)["Resources"]
    body = resources["PredictionApi"]["Properties"]["Body"]
    methods = {
        (path, method): spec
        for path, item in body["paths"].items()
        for method, spec in item.items()
    }
    assert set(methods) == {("/predict/{model}", "post"), ("/models/{model}", "get")}
    for spec in methods.values():
        assert spec["security"] == [{"api_key": []}]
    assert "PredictionApiUsagePlan" in resources
    assert "PredictionApiApiKey" in resources


def test_a_run_that_cannot_start_is_reported_to_the_topic(template: dict[str, Any]) -> None:
    resources = _translated(template)["Resources"]
    (invoke_config,) = [
        body["Properties"]
        for body in resources.values()
        if body["Type"] == "AWS::Lambda::EventInvokeConfig"
    ]
    assert invoke_config["FunctionName"] == {"Ref": "StartRunFunction"}
    assert invoke_config["MaximumRetryAttempts"] == 2
    destination = invoke_config["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Ref": "NotificationTopic"}
    # SAM grants the function's role sns:Publish on that topic.
    role = resources["StartRunFunctionRole"]["Properties"]
    statements = [
        statement
        for policy in role.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert any(
        "sns:publish" in str(statement["Action"]).lower()
        and statement["Resource"] == {"Ref": "NotificationTopic"}
        for statement in statements
    ), statements
