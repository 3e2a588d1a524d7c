"""CreateModel / CreateEndpointConfig and their Describe and Delete: plain registry records."""

from __future__ import annotations

from typing import Any

from sagepipe_local.sagemaker.context import EmulatorContext
from sagepipe_local.sagemaker.errors import validation_exception
from sagepipe_local.sagemaker.protocol import Operation
from sagepipe_local.sagemaker.state import EndpointConfigRecord, ModelRecord, now

_MODEL_FIELDS = (
    "PrimaryContainer",
    "Containers",
    "InferenceExecutionConfig",
    "ExecutionRoleArn",
    "VpcConfig",
)
_ENDPOINT_CONFIG_FIELDS = (
    "DataCaptureConfig",
    "KmsKeyId",
    "AsyncInferenceConfig",
    "ExplainerConfig",
    "ShadowProductionVariants",
    "ExecutionRoleArn",
    "VpcConfig",
)


class ModelService:
    def __init__(self, context: EmulatorContext) -> None:
        self._context = context

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateModel": self.create_model,
            "DescribeModel": self.describe_model,
            "DeleteModel": self.delete_model,
            "CreateEndpointConfig": self.create_endpoint_config,
            "DescribeEndpointConfig": self.describe_endpoint_config,
            "DeleteEndpointConfig": self.delete_endpoint_config,
        }

    def model_arn(self, name: str) -> str:
        return self._context.arns.arn("model", name)

    def endpoint_config_arn(self, name: str) -> str:
        return self._context.arns.arn("endpoint-config", name)

    def create_model(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["ModelName"]
        if not request.get("PrimaryContainer") and not request.get("Containers"):
            raise validation_exception("Either PrimaryContainer or Containers must be specified.")
        registry = self._context.registry
        arn = self.model_arn(name)
        with registry.lock:
            if name in registry.models:
                raise validation_exception(f'Cannot create already existing model "{arn}".')
            registry.models[name] = ModelRecord(name=name, arn=arn, request=request, created=now())
            registry.save()
        return {"ModelArn": arn}

    def describe_model(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["ModelName"]
        registry = self._context.registry
        with registry.lock:
            model = registry.models.get(name)
            if model is None:
                raise validation_exception(f'Could not find model "{self.model_arn(name)}".')
            description = {k: model.request[k] for k in _MODEL_FIELDS if k in model.request}
            description.update(
                ModelName=model.name,
                ModelArn=model.arn,
                CreationTime=model.created,
                EnableNetworkIsolation=bool(model.request.get("EnableNetworkIsolation", False)),
            )
            return description

    def delete_model(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["ModelName"]
        registry = self._context.registry
        with registry.lock:
            if registry.models.pop(name, None) is None:
                raise validation_exception(f'Could not find model "{self.model_arn(name)}".')
            registry.save()
        return {}

    def create_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["EndpointConfigName"]
        variants = request["ProductionVariants"]
        if not variants:
            raise validation_exception("ProductionVariants must contain at least one variant.")
        variant_names = [variant["VariantName"] for variant in variants]
        if len(set(variant_names)) != len(variant_names):
            raise validation_exception(f"Variant names must be unique: {variant_names}")
        registry = self._context.registry
        arn = self.endpoint_config_arn(name)
        with registry.lock:
            if name in registry.endpoint_configs:
                raise validation_exception(
                    f'Cannot create already existing endpoint configuration "{arn}".'
                )
            for variant in variants:
                model_name = variant.get("ModelName")
                if model_name is None or model_name not in registry.models:
                    raise validation_exception(
                        f'Could not find model "{self.model_arn(str(model_name))}".'
                    )
            registry.endpoint_configs[name] = EndpointConfigRecord(
                name=name, arn=arn, request=request, created=now()
            )
            registry.save()
        return {"EndpointConfigArn": arn}

    def describe_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["EndpointConfigName"]
        registry = self._context.registry
        with registry.lock:
            config = registry.endpoint_configs.get(name)
            if config is None:
                raise validation_exception(
                    f'Could not find endpoint configuration "{self.endpoint_config_arn(name)}".'
                )
            description = {
                k: config.request[k] for k in _ENDPOINT_CONFIG_FIELDS if k in config.request
            }
            description.update(
                EndpointConfigName=config.name,
                EndpointConfigArn=config.arn,
                ProductionVariants=[
                    {"InitialVariantWeight": 1.0, **variant} for variant in config.variants
                ],
                CreationTime=config.created,
            )
            return description

    def delete_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["EndpointConfigName"]
        registry = self._context.registry
        arn = self.endpoint_config_arn(name)
        with registry.lock:
            if name not in registry.endpoint_configs:
                raise validation_exception(f'Could not find endpoint configuration "{arn}".')
            users = sorted(
                endpoint.name
                for endpoint in registry.endpoints.values()
                if name in (endpoint.config_name, endpoint.pending_config_name)
            )
            if users:
                raise validation_exception(
                    f'Cannot delete endpoint configuration "{arn}": it is in use by '
                    f"endpoint(s) {', '.join(users)}."
                )
            del registry.endpoint_configs[name]
            registry.save()
        return {}
