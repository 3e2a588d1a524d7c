"""SageMakerEmulator: the WSGI app for the SageMaker and SageMaker Runtime APIs."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sagepipe_local.sagemaker import protocol
from sagepipe_local.sagemaker.containers import ContainerPool
from sagepipe_local.sagemaker.context import EmulatorContext
from sagepipe_local.sagemaker.endpoints import EndpointService
from sagepipe_local.sagemaker.errors import ApiError, internal_failure, unknown_operation
from sagepipe_local.sagemaker.jobs import JobManager, job_kinds
from sagepipe_local.sagemaker.models import ModelService
from sagepipe_local.sagemaker.naming import ArnFactory
from sagepipe_local.sagemaker.s3 import ObjectStore, S3Store
from sagepipe_local.sagemaker.state import Registry
from sagepipe_local.sagemaker.validation import validate_request

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
DEFAULT_PHASE_DELAY_SECONDS = 0.2
_SHUTDOWN_JOIN_SECONDS = 10.0


class SageMakerEmulator:
    """Trains, transforms and serves for real, behind SageMaker's wire protocols.

    `handles(environ)` tells a dispatcher which requests are ours: JSON 1.1 requests with
    `X-Amz-Target: SageMaker.*` and `POST /endpoints/<name>/invocations`.
    """

    def __init__(
        self,
        s3_endpoint_url: str,
        region: str = "us-east-1",
        state_dir: Path | None = None,
        work_dir: Path | None = None,
        *,
        phase_delay_seconds: float = DEFAULT_PHASE_DELAY_SECONDS,
        s3: ObjectStore | None = None,
    ) -> None:
        """`s3`: how the emulator itself reaches S3 (staging jobs' inputs and outputs,
        loading endpoints' models); boto3 at `s3_endpoint_url` by default. Containers
        always use `s3_endpoint_url`."""
        self._owned_work_dir = work_dir is None
        resolved_work_dir = (
            Path(tempfile.mkdtemp(prefix="sagemaker-emulator-")) if work_dir is None else work_dir
        )
        resolved_work_dir.mkdir(parents=True, exist_ok=True)
        registry = Registry(state_dir)
        self._context = EmulatorContext(
            region=region,
            arns=ArnFactory(region),
            s3=S3Store(s3_endpoint_url, region) if s3 is None else s3,
            registry=registry,
            work_dir=resolved_work_dir,
            phase_delay_seconds=phase_delay_seconds,
        )
        self._containers = ContainerPool(s3_endpoint_url, region, resolved_work_dir)
        self._jobs = JobManager(self._context, job_kinds(), self._containers)
        self._endpoints = EndpointService(self._context)
        self._operations: dict[str, protocol.Operation] = {
            **self._jobs.operations(),
            **ModelService(self._context).operations(),
            **self._endpoints.operations(),
        }
        if registry.load():
            logger.info("SageMaker state reloaded from %s", state_dir)
            self._jobs.recover_after_restart()
            self._endpoints.restore()

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self._operations)

    def handles(self, environ: dict[str, Any]) -> bool:
        return (
            protocol.sagemaker_operation(environ) is not None
            or protocol.invocation_endpoint(environ) is not None
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        endpoint_name = protocol.invocation_endpoint(environ)
        if endpoint_name is not None:
            response = self._invoke(request, endpoint_name)
        else:
            operation = protocol.sagemaker_operation(environ)
            if operation is None:
                response = Response("not a SageMaker request", status=404)
            else:
                response = self._control_plane(request, operation)
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def shutdown(self) -> None:
        """Stop background work; running jobs end as Failed. Safe to call twice."""
        self._context.background.stop(_SHUTDOWN_JOIN_SECONDS)
        self._containers.shutdown()
        if self._owned_work_dir:
            shutil.rmtree(self._context.work_dir, ignore_errors=True)

    def _control_plane(self, request: Request, operation: str) -> Response:
        try:
            handler = self._operations.get(operation)
            if handler is None:
                raise unknown_operation(operation)
            params = protocol.parse_json_body(request)
            validate_request(operation, params)
            return protocol.json_response(handler(params))
        except ApiError as error:
            logger.info("SageMaker %s -> %s: %s", operation, error.code, error.message)
            return protocol.json_error_response(error)
        except Exception:  # a bug must still answer the client with a well-formed error
            logger.exception("SageMaker %s failed", operation)
            return protocol.json_error_response(
                ApiError("InternalFailure", f"emulator error in {operation}", status=500)
            )

    def _invoke(self, request: Request, endpoint_name: str) -> Response:
        try:
            invocation = protocol.parse_invocation(request, endpoint_name)
            return protocol.invocation_response(self._endpoints.invoke(invocation))
        except ApiError as error:
            logger.info("InvokeEndpoint %s -> %s: %s", endpoint_name, error.code, error.message)
            return protocol.rest_error_response(error)
        except Exception:  # a bug must still answer the client with a well-formed error
            logger.exception("InvokeEndpoint %s failed", endpoint_name)
            return protocol.rest_error_response(internal_failure("emulator error"))
