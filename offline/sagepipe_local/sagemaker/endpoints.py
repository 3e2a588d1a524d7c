"""Endpoints: Create/Update/Delete/Describe/List, and InvokeEndpoint on the live fleet.

Loading happens in the background. While an update loads the new config, the old fleet
keeps answering; the swap is one assignment under the registry lock. A failed update
leaves the old fleet serving, status InService, with FailureReason set (SageMaker's
rollback). Invocations take the current fleet under the lock and predict outside it.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Literal

from sagepipe_local.sagemaker.algorithms.base import PayloadError
from sagepipe_local.sagemaker.context import EmulatorContext
from sagepipe_local.sagemaker.errors import (
    ApiError,
    model_error,
    model_not_ready,
    service_unavailable,
    validation_error,
    validation_exception,
)
from sagepipe_local.sagemaker.fleet import (
    Fleet,
    RetryPolicy,
    desired_variant_summary,
    load_fleet,
)
from sagepipe_local.sagemaker.inference import encode_predictions
from sagepipe_local.sagemaker.model_loading import ModelLoadError
from sagepipe_local.sagemaker.protocol import Invocation, InvocationResult, Operation
from sagepipe_local.sagemaker.state import EndpointRecord, now

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 6_291_456
DeployMode = Literal["create", "update", "restore"]
# API calls retry an unreachable S3 briefly. After a restart S3 may be served by the same
# process, still starting and still restoring its objects: wait longer, even for 404s.
_LOAD_RETRY = {
    "create": RetryPolicy(patience_seconds=5.0, retry_missing=False),
    "update": RetryPolicy(patience_seconds=5.0, retry_missing=False),
    "restore": RetryPolicy(patience_seconds=120.0, retry_missing=True),
}


class EndpointService:
    def __init__(self, context: EmulatorContext) -> None:
        self._context = context
        self._fleets: dict[str, Fleet] = {}  # guarded by the registry lock
        # Unique across endpoints, so a loader of a deleted endpoint can never match a
        # new endpoint of the same name.
        self._generations = itertools.count(1)

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateEndpoint": self.create_endpoint,
            "DescribeEndpoint": self.describe_endpoint,
            "UpdateEndpoint": self.update_endpoint,
            "DeleteEndpoint": self.delete_endpoint,
            "ListEndpoints": self.list_endpoints,
        }

    def _arn(self, name: str) -> str:
        return self._context.arns.arn("endpoint", name)

    def _config_arn(self, name: str) -> str:
        return self._context.arns.arn("endpoint-config", name)

    # Control plane

    def create_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        name, config_name = request["EndpointName"], request["EndpointConfigName"]
        registry = self._context.registry
        arn = self._arn(name)
        with registry.lock:
            if name in registry.endpoints:
                raise validation_exception(f'Cannot create already existing endpoint "{arn}".')
            if config_name not in registry.endpoint_configs:
                raise validation_exception(
                    f'Could not find endpoint configuration "{self._config_arn(config_name)}".'
                )
            created = now()
            record = EndpointRecord(
                name=name,
                arn=arn,
                status="Creating",
                created=created,
                last_modified=created,
                config_name=config_name,
                deployment_config=request.get("DeploymentConfig"),
                generation=next(self._generations),
            )
            registry.endpoints[name] = record
            registry.save()
            self._start_deploy(name, record.generation, config_name, "create")
        return {"EndpointArn": arn}

    def update_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        name, config_name = request["EndpointName"], request["EndpointConfigName"]
        registry = self._context.registry
        arn = self._arn(name)
        with registry.lock:
            record = registry.endpoints.get(name)
            if record is None:
                raise validation_exception(f'Could not find endpoint "{arn}".')
            if record.status != "InService":
                raise validation_exception(
                    f'Cannot update in-progress endpoint "{arn}".'
                    if record.status in ("Creating", "Updating", "SystemUpdating")
                    else f'Cannot update endpoint "{arn}" in status {record.status}.'
                )
            if config_name not in registry.endpoint_configs:
                raise validation_exception(
                    f'Could not find endpoint configuration "{self._config_arn(config_name)}".'
                )
            record.status = "Updating"
            record.pending_config_name = config_name
            record.pending_started = now()
            record.last_modified = record.pending_started
            record.failure_reason = None
            record.generation = next(self._generations)
            if request.get("DeploymentConfig"):
                record.deployment_config = request["DeploymentConfig"]
            registry.save()
            self._start_deploy(name, record.generation, config_name, "update")
        return {"EndpointArn": arn}

    def delete_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["EndpointName"]
        registry = self._context.registry
        with registry.lock:
            if registry.endpoints.pop(name, None) is None:
                raise validation_exception(f'Could not find endpoint "{self._arn(name)}".')
            self._fleets.pop(name, None)
            registry.save()
        logger.info("endpoint %s deleted", name)
        return {}

    def describe_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["EndpointName"]
        registry = self._context.registry
        with registry.lock:
            record = registry.endpoints.get(name)
            if record is None:
                raise validation_exception(f'Could not find endpoint "{self._arn(name)}".')
            fleet = self._fleets.get(name)
            description: dict[str, Any] = {
                "EndpointName": record.name,
                "EndpointArn": record.arn,
                "EndpointConfigName": record.config_name,
                "EndpointStatus": record.status,
                "CreationTime": record.created,
                "LastModifiedTime": record.last_modified,
            }
            if fleet is not None:
                description["ProductionVariants"] = [v.summary() for v in fleet.variants]
            else:
                config = registry.endpoint_configs.get(record.config_name)
                if config is not None and record.status in ("Creating", "SystemUpdating"):
                    description["ProductionVariants"] = [
                        desired_variant_summary(v) for v in config.variants
                    ]
            if record.failure_reason:
                description["FailureReason"] = record.failure_reason
            if record.deployment_config:
                description["LastDeploymentConfig"] = record.deployment_config
            pending = record.pending_config_name
            if record.status == "Updating" and pending is not None:
                pending_config = registry.endpoint_configs.get(pending)
                description["PendingDeploymentSummary"] = {
                    "EndpointConfigName": pending,
                    "ProductionVariants": [
                        desired_variant_summary(v)
                        for v in (pending_config.variants if pending_config else [])
                    ],
                    "StartTime": record.pending_started,
                }
            return description

    def list_endpoints(self, request: dict[str, Any]) -> dict[str, Any]:
        registry = self._context.registry
        with registry.lock:
            records = list(registry.endpoints.values())
        contains = request.get("NameContains")
        status = request.get("StatusEquals")
        records = [
            r
            for r in records
            if (contains is None or contains in r.name) and (status is None or r.status == status)
        ]
        sort_keys = {
            "Name": lambda r: r.name,
            "Status": lambda r: r.status,
            "CreationTime": lambda r: r.created,
        }
        records.sort(
            key=sort_keys.get(request.get("SortBy", "CreationTime"), sort_keys["CreationTime"]),
            reverse=request.get("SortOrder", "Descending") == "Descending",
        )
        start = int(request.get("NextToken") or 0)
        size = int(request.get("MaxResults") or 10)
        page = records[start : start + size]
        result: dict[str, Any] = {
            "Endpoints": [
                {
                    "EndpointName": r.name,
                    "EndpointArn": r.arn,
                    "CreationTime": r.created,
                    "LastModifiedTime": r.last_modified,
                    "EndpointStatus": r.status,
                }
                for r in page
            ]
        }
        if start + size < len(records):
            result["NextToken"] = str(start + size)
        return result

    # Background deployment

    def restore(self) -> None:
        """After a restart: reload what served before; resume creations."""
        registry = self._context.registry
        with registry.lock:
            for record in registry.endpoints.values():
                if record.status in ("InService", "Updating", "SystemUpdating"):
                    if record.pending_config_name is not None:
                        record.failure_reason = (
                            f"The update to {record.pending_config_name} was interrupted by an "
                            "emulator restart"
                        )
                    record.pending_config_name = None
                    record.status = "SystemUpdating"
                    record.generation = next(self._generations)
                    self._start_deploy(
                        record.name, record.generation, record.config_name, "restore"
                    )
                elif record.status == "Creating":
                    record.generation = next(self._generations)
                    self._start_deploy(
                        record.name, record.generation, record.config_name, "restore"
                    )
            registry.save()

    def _start_deploy(self, name: str, generation: int, config_name: str, mode: DeployMode) -> None:
        """Load `config_name` in the background; call with the registry lock held."""
        self._context.background.start(
            f"sagemaker-endpoint-{mode}-{name}",
            lambda: self._deploy(name, generation, config_name, mode),
        )

    def _deploy(self, name: str, generation: int, config_name: str, mode: DeployMode) -> None:
        if self._context.pause():
            return
        try:
            fleet = load_fleet(self._context, config_name, _LOAD_RETRY[mode])
        except ModelLoadError as error:
            self._deploy_failed(name, generation, mode, str(error))
            return
        except Exception as error:  # a crashed loader must not leave the endpoint Creating
            logger.exception("endpoint %s: loading %s crashed", name, config_name)
            reason = f"InternalServerError: emulator error: {type(error).__name__}: {error}"
            self._deploy_failed(name, generation, mode, reason)
            return
        registry = self._context.registry
        with registry.lock:
            record = registry.endpoints.get(name)
            if record is None or record.generation != generation:
                logger.info(
                    "endpoint %s changed while %s loaded: result dropped", name, config_name
                )
                return
            self._fleets[name] = fleet
            record.config_name = config_name
            record.pending_config_name = None
            record.status = "InService"
            record.last_modified = now()
            registry.save()
        logger.info("endpoint %s InService on %s", name, config_name)

    def _deploy_failed(self, name: str, generation: int, mode: DeployMode, reason: str) -> None:
        registry = self._context.registry
        with registry.lock:
            record = registry.endpoints.get(name)
            if record is None or record.generation != generation:
                return
            record.failure_reason = reason[:1024]
            record.last_modified = now()
            record.pending_config_name = None
            if mode == "update" and name in self._fleets:
                record.status = "InService"  # rolled back: the old fleet never stopped serving
            else:
                record.status = "Failed"
                self._fleets.pop(name, None)
            registry.save()
        logger.warning("endpoint %s %s failed: %s", name, mode, reason)

    # Runtime

    def invoke(self, invocation: Invocation) -> InvocationResult:
        context = self._context
        name = invocation.endpoint_name
        if context.background.shutting_down.is_set():
            raise service_unavailable("The offline SageMaker emulator is shutting down.")
        if len(invocation.body) > MAX_PAYLOAD_BYTES:
            raise validation_error(
                f"Request body of {len(invocation.body)} bytes exceeds the maximum of "
                f"{MAX_PAYLOAD_BYTES} bytes."
            )
        with context.registry.lock:
            record = context.registry.endpoints.get(name)
            fleet = self._fleets.get(name)
            status = record.status if record is not None else None
        account = context.arns.account_id
        if record is None:
            raise validation_error(f"Endpoint {name} of account {account} not found.")
        if fleet is None:
            if status == "SystemUpdating":
                raise model_not_ready(
                    f"Endpoint {name} is reloading its models after an emulator restart."
                )
            raise validation_error(
                f"Endpoint {name} of account {account} is not in service (status {status})."
            )
        if invocation.target_variant is not None:
            variant = fleet.variant(invocation.target_variant)
            if variant is None:
                raise validation_error(
                    f"Variant {invocation.target_variant} not found for endpoint {name}; it "
                    f"serves {', '.join(v.name for v in fleet.variants)}."
                )
        else:
            variant = fleet.pick()
        accept = invocation.accept
        if not invocation.body:
            # The built-in servers answer an empty payload with 204 and no content.
            return InvocationResult(b"", accept or variant.predictor.output_types[0], variant.name)
        try:
            predictions = variant.predictor.predict(
                invocation.body, invocation.content_type or "text/csv"
            )
            body, content_type = encode_predictions(
                predictions, accept, variant.predictor.output_types
            )
        except PayloadError as error:
            raise self._model_error(name, error) from error
        return InvocationResult(body, content_type, variant.name)

    def _model_error(self, endpoint_name: str, error: PayloadError) -> ApiError:
        region = self._context.region
        kind = "client" if error.status < 500 else "server"
        log_group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
        return model_error(
            f'Received {kind} error ({error.status}) from primary with message "{error.message}". '
            f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logEventViewer:group={log_group} in account {self._context.arns.account_id} "
            "for more information.",
            original_status=error.status,
            original_message=error.message,
            log_stream_arn=self._context.arns.endpoint_log_stream_arn(endpoint_name),
        )
