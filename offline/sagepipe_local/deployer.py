"""Deploy a SAM template to the local endpoint through the AWS APIs (boto3).

Generic: everything comes from the template. Resources that need no local counterpart
(IAM, log groups, API keys, usage plans, bucket policies, subscriptions, the API itself)
are skipped with a debug line; their `Ref`/`GetAtt` still resolve where a value is known.
Bucket notifications are installed separately (`install_notifications`) so a snapshot
can be restored in between without starting runs.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from botocore.exceptions import ClientError

from sagepipe_local import local_aws
from sagepipe_local.intrinsics import NO_VALUE, Resolver, ResourceHandle, UnresolvableError
from sagepipe_local.template_loader import TemplateError, load_template

LOG = logging.getLogger(__name__)

STACK_ROLE_NAME: Final = "sagepipe-local-execution-role"
_TRUST_POLICY: Final = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "Service": ["lambda.amazonaws.com", "states.amazonaws.com"],
                },
                "Action": "sts:AssumeRole",
            }
        ],
    }
)

FUNCTION_TYPE: Final = "AWS::Serverless::Function"
LAYER_TYPE: Final = "AWS::Serverless::LayerVersion"
STATE_MACHINE_TYPE: Final = "AWS::Serverless::StateMachine"
API_TYPES: Final = frozenset({"AWS::Serverless::Api", "AWS::ApiGateway::RestApi"})
BUCKET_TYPE: Final = "AWS::S3::Bucket"
TOPIC_TYPE: Final = "AWS::SNS::Topic"
ROLE_TYPE: Final = "AWS::IAM::Role"
IMPLICIT_API: Final = "ServerlessRestApi"

_GLOBALS_SECTIONS: Final = {
    "Function": FUNCTION_TYPE,
    "Api": "AWS::Serverless::Api",
    "StateMachine": STATE_MACHINE_TYPE,
    "LayerVersion": LAYER_TYPE,
}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")
_ZIP_EXCLUDED_DIRS: Final = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache"})


@dataclass(frozen=True)
class DeployedLayer:
    logical_id: str
    arn: str
    content_dir: Path
    import_dir: Path  # what Lambda would put on sys.path (/opt/python)


@dataclass(frozen=True)
class DeployedFunction:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    layer_arns: tuple[str, ...]
    environment: Mapping[str, str]
    timeout: int
    memory_size: int


@dataclass(frozen=True)
class ApiRoute:
    api_logical_id: str
    path: str  # resource path as written in the template, e.g. /predict/{model}
    method: str  # upper case, or ANY
    function_name: str
    stage: str
    api_key_required: bool


@dataclass(frozen=True)
class BucketNotification:
    bucket: str
    function_arn: str
    events: tuple[str, ...]
    filter_rules: tuple[tuple[str, str], ...]  # (prefix|suffix, value)
    notification_id: str


@dataclass
class Deployment:
    stack_name: str
    parameters: dict[str, Any]
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> name
    topics: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    layers: dict[str, DeployedLayer] = field(default_factory=dict)
    functions: dict[str, DeployedFunction] = field(default_factory=dict)
    state_machines: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    apis: dict[str, str] = field(default_factory=dict)  # logical id -> local API id
    routes: list[ApiRoute] = field(default_factory=list)
    notifications: list[BucketNotification] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> type


def zip_directory(directory: Path) -> bytes:
    """The directory's files as a zip (what `sam build` would upload, minus the build)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory)
            if not path.is_file() or _ZIP_EXCLUDED_DIRS.intersection(relative.parts):
                continue
            archive.write(path, relative.as_posix())
    return buffer.getvalue()


def _short_hash(*parts: str, length: int = 10) -> str:
    return hashlib.sha256("/".join(parts).encode("utf-8")).hexdigest()[:length]


def _parameter_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _environment_text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return _parameter_text(value)
    raise TemplateError(f"{where}: environment values must be scalars, got {value!r}")


def _merge_globals(global_props: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    """SAM rules: maps merge (resource wins), lists concatenate (globals first)."""
    merged: dict[str, Any] = copy.deepcopy(dict(global_props))
    for key, value in props.items():
        existing = merged.get(key)
        if isinstance(existing, dict) and isinstance(value, dict) and not _is_intrinsic(value):
            merged[key] = _merge_globals(existing, value)
        elif isinstance(existing, list) and isinstance(value, list):
            merged[key] = existing + copy.deepcopy(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _is_intrinsic(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and any(k == "Ref" or k.startswith("Fn::") for k in value)


class TemplateDeployer:
    def __init__(
        self,
        template_path: Path,
        *,
        endpoint_url: str,
        region: str = local_aws.DEFAULT_REGION,
        account_id: str = local_aws.ACCOUNT_ID,
        stack_name: str = "sagepipe",
        parameter_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self._template_path = template_path.resolve()
        self._template_dir = self._template_path.parent
        self._template = load_template(self._template_path)
        self._endpoint_url = endpoint_url
        self._region = region
        self._account_id = account_id
        self._stack_name = stack_name
        self._handles: dict[str, ResourceHandle] = {}
        self._planned = False
        self._resources = self._effective_resources()
        self._parameters = self._parameter_values(dict(parameter_overrides or {}))
        self._resolver = Resolver(
            parameters=self._parameters,
            pseudo_parameters=self._pseudo_parameters(),
            conditions=self._template.get("Conditions") or {},
            mappings=self._template.get("Mappings") or {},
            resources=self._handles,
        )
        self._role_arn = f"arn:aws:iam::{account_id}:role/{STACK_ROLE_NAME}"

    @staticmethod
    def declared_parameters_of(template_path: Path) -> frozenset[str]:
        return frozenset(load_template(template_path).get("Parameters") or {})

    # -- template reading ---------------------------------------------------------------

    def _effective_resources(self) -> dict[str, dict[str, Any]]:
        resources = self._template.get("Resources")
        if not isinstance(resources, dict) or not resources:
            raise TemplateError(f"{self._template_path}: no Resources")
        global_sections = self._template.get("Globals") or {}
        effective: dict[str, dict[str, Any]] = {}
        for logical_id, resource in resources.items():
            if not isinstance(resource, dict) or "Type" not in resource:
                raise TemplateError(f"resource {logical_id}: needs a Type")
            resource_copy = copy.deepcopy(resource)
            for section, resource_type in _GLOBALS_SECTIONS.items():
                if resource_copy["Type"] == resource_type and section in global_sections:
                    resource_copy["Properties"] = _merge_globals(
                        global_sections[section], resource_copy.get("Properties") or {}
                    )
            resource_copy.setdefault("Properties", {})
            effective[logical_id] = resource_copy
        return effective

    def _parameter_values(self, overrides: dict[str, str]) -> dict[str, Any]:
        declared: dict[str, Any] = self._template.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"parameter overrides not declared in the template: {unknown}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in overrides:
                text = overrides[name]
            elif "Default" in spec:
                text = _parameter_text(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no Default and no override")
            allowed = spec.get("AllowedValues")
            if allowed and text not in [_parameter_text(v) for v in allowed]:
                raise TemplateError(f"parameter {name}={text!r} is not one of {allowed}")
            pattern = spec.get("AllowedPattern")
            if pattern and re.fullmatch(str(pattern), text) is None:
                raise TemplateError(f"parameter {name}={text!r} does not match {pattern}")
            parameter_type = str(spec.get("Type", "String"))
            if parameter_type == "CommaDelimitedList" or parameter_type.startswith("List<"):
                values[name] = [item.strip() for item in text.split(",")] if text else []
            else:
                values[name] = text
        return values

    def _pseudo_parameters(self) -> dict[str, Any]:
        stack_id = _short_hash(self._stack_name, length=12)
        return {
            "AWS::Region": self._region,
            "AWS::AccountId": self._account_id,
            "AWS::StackName": self._stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self._region}:{self._account_id}:"
                f"stack/{self._stack_name}/{stack_id}"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }

    def _enabled(self, resource: Mapping[str, Any]) -> bool:
        condition = resource.get("Condition")
        return condition is None or self._resolver.condition(str(condition))

    def _name_property(self, props: Mapping[str, Any], key: str) -> str | None:
        if key not in props:
            return None
        value = self._resolver.resolve(props[key])
        if value is NO_VALUE or value == "":
            return None
        return str(value)

    def _generated_name(self, logical_id: str, max_length: int) -> str:
        return f"{self._stack_name}-{logical_id}"[:max_length]

    # -- physical ids (before anything is created, so references can be circular) -------

    def plan(self) -> dict[str, ResourceHandle]:
        """What `Ref`/`GetAtt` answer for each enabled resource (nothing is created)."""
        if not self._planned:
            self._compute_handles()
            self._planned = True
        return dict(self._handles)

    def resource_properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's properties with Globals merged, intrinsics not yet resolved."""
        return copy.deepcopy(self._resources[logical_id]["Properties"])

    def _compute_handles(self) -> None:
        pending = [lid for lid, res in self._resources.items() if self._enabled(res)]
        uses_implicit_api = False
        while pending:
            still_pending: list[str] = []
            for logical_id in pending:
                try:
                    handle = self._handle_for(logical_id, self._resources[logical_id])
                except UnresolvableError:
                    still_pending.append(logical_id)
                    continue
                if handle is not None:
                    self._handles[logical_id] = handle
                uses_implicit_api = uses_implicit_api or self._has_implicit_api_event(logical_id)
            if len(still_pending) == len(pending):
                # Nothing progressed: this raises the first blocked resource's error.
                self._handle_for(still_pending[0], self._resources[still_pending[0]])
                raise TemplateError(f"cannot resolve the names of {still_pending}")
            pending = still_pending
        if uses_implicit_api and IMPLICIT_API not in self._handles:
            self._handles[IMPLICIT_API] = self._api_handle(IMPLICIT_API)

    def _has_implicit_api_event(self, logical_id: str) -> bool:
        resource = self._resources[logical_id]
        if resource["Type"] != FUNCTION_TYPE:
            return False
        events = resource["Properties"].get("Events") or {}
        return any(
            event.get("Type") == "Api" and "RestApiId" not in (event.get("Properties") or {})
            for event in events.values()
        )

    def _api_handle(self, logical_id: str) -> ResourceHandle:
        api_id = _short_hash(self._stack_name, logical_id)
        return ResourceHandle(ref=api_id, attributes={"RootResourceId": _short_hash(api_id)})

    def _handle_for(self, logical_id: str, resource: Mapping[str, Any]) -> ResourceHandle | None:
        resource_type = resource["Type"]
        props = resource["Properties"]
        region, account = self._region, self._account_id
        if resource_type == BUCKET_TYPE:
            name = self._name_property(props, "BucketName") or self._generated_name(
                logical_id.lower(), 63
            )
            return ResourceHandle(
                ref=name,
                attributes={
                    "Arn": f"arn:aws:s3:::{name}",
                    "DomainName": f"{name}.s3.amazonaws.com",
                    "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
                },
            )
        if resource_type == TOPIC_TYPE:
            name = self._name_property(props, "TopicName") or self._generated_name(logical_id, 256)
            arn = f"arn:aws:sns:{region}:{account}:{name}"
            return ResourceHandle(ref=arn, attributes={"TopicArn": arn, "TopicName": name})
        if resource_type == FUNCTION_TYPE:
            name = self._name_property(props, "FunctionName") or self._generated_name(
                logical_id, 64
            )
            arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
            if "Role" not in props:
                # SAM's implicit execution role; offline every function uses the stack role.
                self._handles.setdefault(
                    f"{logical_id}Role",
                    ResourceHandle(ref=STACK_ROLE_NAME, attributes={"Arn": self._role_arn}),
                )
            return ResourceHandle(ref=name, attributes={"Arn": arn})
        if resource_type == LAYER_TYPE:
            name = self._name_property(props, "LayerName") or logical_id
            # moto was reset, so the first published version is 1; checked after publishing.
            return ResourceHandle(ref=f"arn:aws:lambda:{region}:{account}:layer:{name}:1")
        if resource_type == STATE_MACHINE_TYPE:
            name = self._name_property(props, "Name") or self._generated_name(logical_id, 80)
            arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
            return ResourceHandle(ref=arn, attributes={"Arn": arn, "Name": name})
        if resource_type == ROLE_TYPE:
            name = self._name_property(props, "RoleName") or self._generated_name(logical_id, 64)
            path = self._name_property(props, "Path") or "/"
            return ResourceHandle(
                ref=name,
                attributes={
                    "Arn": f"arn:aws:iam::{account}:role{path}{name}",
                    "RoleId": "AROA" + _short_hash(name, length=17).upper(),
                },
            )
        if resource_type in API_TYPES:
            return self._api_handle(logical_id)
        return None

    # -- deploy -------------------------------------------------------------------------

    def deploy(self) -> Deployment:
        """Create every supported resource except bucket notifications."""
        self.plan()
        deployment = Deployment(stack_name=self._stack_name, parameters=dict(self._parameters))
        self._create_stack_role()
        creators = {
            LAYER_TYPE: self._create_layer,
            BUCKET_TYPE: self._create_bucket,
            TOPIC_TYPE: self._create_topic,
            FUNCTION_TYPE: self._create_function,
            STATE_MACHINE_TYPE: self._create_state_machine,
        }
        enabled = {lid: res for lid, res in self._resources.items() if self._enabled(res)}
        for resource_type, create in creators.items():
            for logical_id, resource in enabled.items():
                if resource["Type"] == resource_type:
                    create(logical_id, resource["Properties"], deployment)
        for logical_id, resource in enabled.items():
            if resource["Type"] in API_TYPES:
                deployment.apis[logical_id] = str(self._handles[logical_id].ref)
            elif resource["Type"] not in creators:
                deployment.skipped[logical_id] = resource["Type"]
                LOG.debug("skipping %s (%s): not needed offline", logical_id, resource["Type"])
        if IMPLICIT_API in self._handles and IMPLICIT_API not in deployment.apis:
            deployment.apis[IMPLICIT_API] = str(self._handles[IMPLICIT_API].ref)
        deployment.outputs = self._outputs()
        return deployment

    def install_notifications(self, deployment: Deployment) -> None:
        s3 = local_aws.s3_client(self._endpoint_url, self._region)
        by_bucket: dict[str, list[BucketNotification]] = {}
        for notification in deployment.notifications:
            by_bucket.setdefault(notification.bucket, []).append(notification)
        for bucket, notifications in by_bucket.items():
            configurations: list[Any] = []
            for notification in notifications:
                configuration: dict[str, Any] = {
                    "Id": notification.notification_id,
                    "LambdaFunctionArn": notification.function_arn,
                    "Events": list(notification.events),
                }
                if notification.filter_rules:
                    configuration["Filter"] = {
                        "Key": {
                            "FilterRules": [
                                {"Name": name, "Value": value}
                                for name, value in notification.filter_rules
                            ]
                        }
                    }
                configurations.append(configuration)
            s3.put_bucket_notification_configuration(
                Bucket=bucket,
                NotificationConfiguration={"LambdaFunctionConfigurations": configurations},
            )
            LOG.debug("bucket %s notifies %d function(s)", bucket, len(configurations))

    def _create_stack_role(self) -> None:
        iam = local_aws.iam_client(self._endpoint_url, self._region)
        try:
            iam.create_role(RoleName=STACK_ROLE_NAME, AssumeRolePolicyDocument=_TRUST_POLICY)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "EntityAlreadyExists":
                raise

    def _local_path(self, value: Any, where: str) -> Path:
        if not isinstance(value, str):
            raise TemplateError(f"{where}: only local paths are supported offline, got {value!r}")
        path = (self._template_dir / value).resolve()
        if not path.exists():
            raise TemplateError(f"{where}: {path} does not exist")
        return path

    def _create_layer(self, logical_id: str, props: dict[str, Any], deployment: Deployment) -> None:
        content_dir = self._local_path(props.get("ContentUri"), f"{logical_id}.ContentUri")
        lambda_api = local_aws.lambda_client(self._endpoint_url, self._region)
        expected_arn = str(self._handles[logical_id].ref)
        request: dict[str, Any] = {
            "LayerName": expected_arn.split(":")[-2],
            "Content": {"ZipFile": zip_directory(content_dir)},
        }
        runtimes = self._resolver.resolve(props.get("CompatibleRuntimes", []))
        if runtimes:
            request["CompatibleRuntimes"] = runtimes
        response = lambda_api.publish_layer_version(**request)
        arn = str(response["LayerVersionArn"])
        if arn != expected_arn:
            # References were computed with the predicted ARN; fix the handle for later ones.
            LOG.debug("layer %s published as %s, not %s", logical_id, arn, expected_arn)
            self._handles[logical_id] = ResourceHandle(ref=arn)
        python_dir = content_dir / "python"
        deployment.layers[logical_id] = DeployedLayer(
            logical_id=logical_id,
            arn=arn,
            content_dir=content_dir,
            import_dir=python_dir if python_dir.is_dir() else content_dir,
        )

    def _create_bucket(
        self, logical_id: str, props: dict[str, Any], deployment: Deployment
    ) -> None:
        s3 = local_aws.s3_client(self._endpoint_url, self._region)
        name = str(self._handles[logical_id].ref)
        if self._region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(
                Bucket=name,
                CreateBucketConfiguration={"LocationConstraint": self._region},  # type: ignore[typeddict-item]
            )
        versioning = self._resolver.resolve(props.get("VersioningConfiguration") or {})
        status = versioning.get("Status") if isinstance(versioning, dict) else None
        if status in {"Enabled", "Suspended"}:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
        notification = props.get("NotificationConfiguration") or {}
        for index, raw_config in enumerate(notification.get("LambdaConfigurations") or []):
            config = self._resolver.resolve(raw_config)
            deployment.notifications.append(
                BucketNotification(
                    bucket=name,
                    function_arn=str(config["Function"]),
                    events=(str(config["Event"]),),
                    filter_rules=self._filter_rules(config.get("Filter")),
                    notification_id=f"{logical_id}Lambda{index}",
                )
            )
        deployment.buckets[logical_id] = name

    def _create_topic(self, logical_id: str, props: dict[str, Any], deployment: Deployment) -> None:
        sns = local_aws.sns_client(self._endpoint_url, self._region)
        name = str(self._handles[logical_id].attributes["TopicName"])
        deployment.topics[logical_id] = sns.create_topic(Name=name)["TopicArn"]
        if props.get("Subscription"):
            LOG.debug("topic %s: subscriptions are not created offline", logical_id)

    def _create_function(
        self, logical_id: str, props: dict[str, Any], deployment: Deployment
    ) -> None:
        where = logical_id
        if props.get("PackageType", "Zip") != "Zip" or "InlineCode" in props:
            raise TemplateError(f"{where}: only CodeUri functions are supported offline")
        code_dir = self._local_path(
            self._resolver.resolve(props.get("CodeUri")), f"{where}.CodeUri"
        )
        handler = str(self._resolver.resolve(props.get("Handler")))
        runtime = str(self._resolver.resolve(props.get("Runtime")))
        timeout = int(self._resolver.resolve(props.get("Timeout", 3)))
        memory_size = int(self._resolver.resolve(props.get("MemorySize", 128)))
        variables = self._resolver.resolve((props.get("Environment") or {}).get("Variables") or {})
        environment = {
            key: _environment_text(value, f"{where}.Environment.{key}")
            for key, value in variables.items()
        }
        layer_arns = tuple(str(arn) for arn in self._resolver.resolve(props.get("Layers") or []))
        name = str(self._handles[logical_id].ref)
        request: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": runtime,
            "Role": self._role_arn,
            "Handler": handler,
            "Code": {"ZipFile": zip_directory(code_dir)},
            "Timeout": timeout,
            "MemorySize": memory_size,
            "Environment": {"Variables": environment},
        }
        if layer_arns:
            request["Layers"] = list(layer_arns)
        architectures = self._resolver.resolve(props.get("Architectures") or [])
        if architectures:
            request["Architectures"] = architectures
        description = self._resolver.resolve(props.get("Description", ""))
        if description:
            request["Description"] = str(description)
        arn = str(
            local_aws.lambda_client(self._endpoint_url, self._region).create_function(**request)[
                "FunctionArn"
            ]
        )
        invoke_config = self._resolver.resolve(props.get("EventInvokeConfig"))
        if invoke_config:
            self._event_invoke_config(name, invoke_config, f"{where}.EventInvokeConfig")
        deployment.functions[logical_id] = DeployedFunction(
            logical_id=logical_id,
            name=name,
            arn=arn,
            code_dir=code_dir,
            handler=handler,
            layer_arns=layer_arns,
            environment=environment,
            timeout=timeout,
            memory_size=memory_size,
        )
        for event_id, event in (props.get("Events") or {}).items():
            self._function_event(logical_id, event_id, event, deployment)

    def _event_invoke_config(self, name: str, config: Mapping[str, Any], where: str) -> None:
        """Retries and the failure destination of event (asynchronous) invocations."""
        request: dict[str, Any] = {"FunctionName": name}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in config:
                request[key] = int(config[key])
        destinations = dict(config.get("DestinationConfig") or {})
        if set(destinations) - {"OnFailure"}:
            raise TemplateError(f"{where}: only an OnFailure destination is supported offline")
        on_failure = destinations.get("OnFailure")
        if on_failure:
            if on_failure.get("Type") != "SNS" or not on_failure.get("Destination"):
                raise TemplateError(f"{where}: offline, OnFailure must name an SNS topic")
            request["DestinationConfig"] = {
                "OnFailure": {"Destination": str(on_failure["Destination"])}
            }
        local_aws.lambda_client(self._endpoint_url, self._region).put_function_event_invoke_config(
            **request
        )

    def _function_event(
        self, logical_id: str, event_id: str, event: Mapping[str, Any], deployment: Deployment
    ) -> None:
        function = deployment.functions[logical_id]
        event_type = event.get("Type")
        event_props = event.get("Properties") or {}
        if event_type == "S3":
            bucket = self._resolver.resolve(event_props.get("Bucket"))
            events = self._resolver.resolve(event_props.get("Events"))
            deployment.notifications.append(
                BucketNotification(
                    bucket=str(bucket),
                    function_arn=function.arn,
                    events=(events,) if isinstance(events, str) else tuple(events),
                    filter_rules=self._filter_rules(
                        self._resolver.resolve(event_props.get("Filter"))
                    ),
                    notification_id=f"{logical_id}{event_id}",
                )
            )
        elif event_type == "Api":
            api_ref = event_props.get("RestApiId")
            api_logical_id = IMPLICIT_API
            if isinstance(api_ref, dict) and "Ref" in api_ref:
                api_logical_id = str(api_ref["Ref"])
            elif api_ref is not None:
                raise TemplateError(f"{logical_id}.{event_id}: RestApiId must be a !Ref")
            stage, api_key_required = self._api_settings(api_logical_id)
            auth = event_props.get("Auth") or {}
            if "ApiKeyRequired" in auth:
                api_key_required = bool(self._resolver.resolve(auth["ApiKeyRequired"]))
            deployment.routes.append(
                ApiRoute(
                    api_logical_id=api_logical_id,
                    path=str(self._resolver.resolve(event_props.get("Path"))),
                    method=str(self._resolver.resolve(event_props.get("Method"))).upper(),
                    function_name=function.name,
                    stage=stage,
                    api_key_required=api_key_required,
                )
            )
        else:
            LOG.debug("%s.%s: %s events are not emulated offline", logical_id, event_id, event_type)

    def _api_settings(self, api_logical_id: str) -> tuple[str, bool]:
        if api_logical_id == IMPLICIT_API:
            return "Prod", False
        resource = self._resources.get(api_logical_id)
        if resource is None:
            raise TemplateError(f"Api event refers to unknown API {api_logical_id}")
        props = resource["Properties"]
        stage = self._resolver.resolve(props.get("StageName", "prod"))
        auth = props.get("Auth") or {}
        return str(stage), bool(self._resolver.resolve(auth.get("ApiKeyRequired", False)))

    @staticmethod
    def _filter_rules(filter_spec: Any) -> tuple[tuple[str, str], ...]:
        if not filter_spec:
            return ()
        rules = filter_spec.get("S3Key", {}).get("Rules", [])
        return tuple((str(rule["Name"]).lower(), str(rule["Value"])) for rule in rules)

    def _create_state_machine(
        self, logical_id: str, props: dict[str, Any], deployment: Deployment
    ) -> None:
        definition = self._state_machine_definition(logical_id, props)
        handle = self._handles[logical_id]
        sfn = local_aws.sfn_client(self._endpoint_url, self._region)
        response = sfn.create_state_machine(
            name=str(handle.attributes["Name"]),
            definition=json.dumps(definition),
            roleArn=self._role_arn,
            type=str(self._resolver.resolve(props.get("Type", "STANDARD"))),  # type: ignore[arg-type]
        )
        deployment.state_machines[logical_id] = response["stateMachineArn"]

    def _state_machine_definition(self, logical_id: str, props: Mapping[str, Any]) -> Any:
        if "Definition" in props:
            definition = self._resolver.resolve(props["Definition"])
        else:
            path = self._local_path(props.get("DefinitionUri"), f"{logical_id}.DefinitionUri")
            text = path.read_text(encoding="utf-8")
            definition = (
                yaml.safe_load(text) if path.suffix in {".yaml", ".yml"} else json.loads(text)
            )
        substitutions = {
            key: str(self._resolver.resolve(value))
            for key, value in (props.get("DefinitionSubstitutions") or {}).items()
        }
        unknown: set[str] = set()

        def substitute(value: Any) -> Any:
            if isinstance(value, str):
                for name in _PLACEHOLDER.findall(value):
                    if name not in substitutions:
                        unknown.add(name)
                return _PLACEHOLDER.sub(
                    lambda match: substitutions.get(match.group(1), match.group(0)), value
                )
            if isinstance(value, dict):
                return {key: substitute(item) for key, item in value.items()}
            if isinstance(value, list):
                return [substitute(item) for item in value]
            return value

        definition = substitute(definition)
        if unknown:
            LOG.warning("%s: definition placeholders without substitution: %s", logical_id, unknown)
        return definition

    def _outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for name, output in (self._template.get("Outputs") or {}).items():
            if not self._enabled(output):
                continue
            try:
                outputs[name] = self._resolver.resolve(output.get("Value"))
            except UnresolvableError as error:
                LOG.debug("output %s is not available offline: %s", name, error)
        return outputs
