"""The offline stack: AWS endpoint + SageMaker emulator + deployed template + local API."""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from botocore.exceptions import BotoCoreError, ClientError

from sagepipe_local import local_aws
from sagepipe_local.api_gateway import ApiGateway, ApiServer, lambda_invoker
from sagepipe_local.deployer import ApiRoute, Deployment, TemplateDeployer
from sagepipe_local.lambda_runtime import LambdaRuntime
from sagepipe_local.moto_hooks import MotoHooks, reset_moto
from sagepipe_local.moto_s3 import MotoS3Store
from sagepipe_local.sagemaker import SageMakerEmulator
from sagepipe_local.sagemaker.app import DEFAULT_PHASE_DELAY_SECONDS
from sagepipe_local.server import LOOPBACK, AwsEndpoint
from sagepipe_local.snapshot import PeriodicSaver, S3Snapshot

LOG = logging.getLogger(__name__)

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE: Final = REPO_ROOT / "template.yaml"
# Applied only to parameters the template declares; callers' overrides win.
OFFLINE_PARAMETER_DEFAULTS: Final = {"DataBucketName": "sagepipe-data", "PollSeconds": "1"}
SAVE_INTERVAL_SECONDS: Final = 10.0
# The stack's process is many threads that mostly wait on sockets and pipes (servers,
# interpreters, relays): with Python's 5 ms switch interval, a request thread that wakes
# while another holds the GIL can wait 5 ms for it. In three pairs of 12-run samples a
# warm run took 5-15 ms less at 1 ms.
SWITCH_INTERVAL_SECONDS: Final = 0.001


class _ActiveStack:
    """moto's backends and our patches are process-wide: one running stack per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: object | None = None

    def claim(self, owner: object) -> None:
        with self._lock:
            if self._owner is not None:
                raise RuntimeError("an offline stack is already running in this process")
            self._owner = owner

    def release(self, owner: object) -> None:
        with self._lock:
            if self._owner is owner:
                self._owner = None


_ACTIVE = _ActiveStack()


@dataclass(frozen=True)
class StackInfo:
    endpoint_url: str
    api_url: str  # no trailing slash: f"{api_url}/predict/x"
    region: str
    account_id: str
    port: int
    api_port: int
    bucket: str | None  # the data bucket: output DataBucketName, else the first bucket
    state_machine_arn: str | None  # output StateMachineArn, else the first state machine
    outputs: Mapping[str, Any]
    buckets: Mapping[str, str]  # logical id -> name
    functions: Mapping[str, str]  # logical id -> function name
    state_machines: Mapping[str, str]  # logical id -> ARN
    routes: tuple[ApiRoute, ...]
    upload_prefixes: tuple[str, ...]  # key prefixes that trigger a function in `bucket`
    log_dir: Path
    work_dir: Path
    state_dir: Path | None
    environment: Mapping[str, str] = field(default_factory=dict)  # for a client shell


class LocalStack:
    """The offline stack.

    Either `with LocalStack(port=0, api_port=0) as stack: ...` (started on enter, stopped
    on exit) or `info = stack.start(...)` ... `stack.stop()`. Arguments given to `start`
    override those given to the constructor. Port 0 picks a free port.
    """

    def __init__(
        self,
        *,
        port: int = 4566,
        api_port: int = 3000,
        state_dir: Path | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        template: Path = DEFAULT_TEMPLATE,
        work_dir: Path | None = None,
        echo_function_logs: bool = False,
        save_interval: float = SAVE_INTERVAL_SECONDS,
        stack_name: str = "sagepipe",
        sagemaker_phase_seconds: float = DEFAULT_PHASE_DELAY_SECONDS,
    ) -> None:
        """`sagemaker_phase_seconds`: how long emulated jobs and endpoints stay in each
        status, so callers really see them move."""
        self._port = port
        self._api_port = api_port
        self._state_dir = state_dir
        self._parameter_overrides = dict(parameter_overrides or {})
        self._template = template
        self._requested_work_dir = work_dir
        self._echo_function_logs = echo_function_logs
        self._save_interval = save_interval
        self._stack_name = stack_name
        self._sagemaker_phase_seconds = sagemaker_phase_seconds
        self._cleanup = contextlib.ExitStack()
        self._info: StackInfo | None = None
        self.deployment: Deployment | None = None
        self.runtime: LambdaRuntime | None = None

    def __enter__(self) -> Self:
        if self._info is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what is where ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._info is not None

    @property
    def info(self) -> StackInfo:
        if self._info is None:
            raise RuntimeError("the offline stack is not running")
        return self._info

    @property
    def endpoint_url(self) -> str:
        return self.info.endpoint_url

    @property
    def api_url(self) -> str:
        return self.info.api_url

    @property
    def bucket(self) -> str:
        if self.info.bucket is None:
            raise RuntimeError("the template has no bucket")
        return self.info.bucket

    @property
    def state_machine_arn(self) -> str:
        if self.info.state_machine_arn is None:
            raise RuntimeError("the template has no state machine")
        return self.info.state_machine_arn

    def client(self, service_name: str) -> Any:
        """A boto3 client for the local endpoint (dummy credentials, the stack's region)."""
        return local_aws.client(service_name, self.endpoint_url, self.info.region)

    # -- lifecycle ----------------------------------------------------------------------

    def start(
        self,
        port: int | None = None,
        api_port: int | None = None,
        state_dir: Path | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        template: Path | None = None,
    ) -> StackInfo:
        """Start everything and return what is where. Stops what it started on failure."""
        if self._info is not None:
            raise RuntimeError("this offline stack is already running")
        _ACTIVE.claim(self)
        self._cleanup.callback(_ACTIVE.release, self)
        overrides = {**self._parameter_overrides, **(parameter_overrides or {})}
        try:
            self._info = self._start(
                self._port if port is None else port,
                self._api_port if api_port is None else api_port,
                self._state_dir if state_dir is None else state_dir,
                overrides,
                self._template if template is None else template,
            )
        except BaseException:
            self.stop()
            raise
        return self._info

    def stop(self) -> None:
        """Stop workers, threads and servers (idempotent); the ports are free afterwards."""
        self._info = None
        self._cleanup.close()

    def _start(
        self,
        port: int,
        api_port: int,
        state_dir: Path | None,
        parameter_overrides: Mapping[str, str] | None,
        template: Path,
    ) -> StackInfo:
        cleanup = self._cleanup
        region = local_aws.DEFAULT_REGION
        work_dir = self._work_dir()
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)

        reset_moto()
        cleanup.callback(reset_moto)
        cleanup.callback(sys.setswitchinterval, sys.getswitchinterval())
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        endpoint = AwsEndpoint(port)
        endpoint_url = endpoint.url
        runtime = LambdaRuntime(
            endpoint_url=endpoint_url,
            work_dir=work_dir,
            region=region,
            echo_logs=self._echo_function_logs,
        )
        self.runtime = runtime
        hooks = MotoHooks(runtime, work_dir=work_dir)
        # Stopped in reverse: workers first, then the endpoint, then moto's patches.
        cleanup.callback(local_aws.forget_endpoint, endpoint_url)
        cleanup.callback(hooks.uninstall)
        cleanup.callback(endpoint.stop)
        cleanup.callback(runtime.shutdown)
        hooks.install(endpoint.port)
        endpoint.start()

        deployer = TemplateDeployer(
            template,
            endpoint_url=endpoint_url,
            region=region,
            stack_name=self._stack_name,
            parameter_overrides=self._parameters(template, parameter_overrides),
        )
        deployment = deployer.deploy()
        self.deployment = deployment
        cleanup.callback(self._stop_executions, endpoint_url, region)
        for function in deployment.functions.values():
            hooks.register_function(function.name, function.code_dir)
        for layer in deployment.layers.values():
            hooks.register_layer(layer.arn, layer.import_dir)

        snapshot: S3Snapshot | None = None
        if state_dir is not None:
            snapshot = S3Snapshot(state_dir, endpoint_url, region)
            snapshot.restore()
        # After the restore: the emulator reloads its endpoints' model artifacts from S3.
        self._start_emulator(endpoint, state_dir, work_dir, region)
        deployer.install_notifications(deployment)

        gateway = ApiGateway(
            deployment.routes,
            lambda_invoker(endpoint_url, region),
            api_ids=deployment.apis,
        )
        api_server = ApiServer(gateway, api_port)
        cleanup.callback(api_server.stop)
        api_server.start()

        if snapshot is not None:
            saver = PeriodicSaver(snapshot, self._save_interval)
            cleanup.callback(_final_save, snapshot)
            cleanup.callback(saver.stop)
            saver.start()

        api_url = api_server.url
        outputs = self._local_outputs(deployment, api_url)
        bucket = _named_or_first(outputs, "DataBucketName", deployment.buckets)
        return StackInfo(
            endpoint_url=endpoint_url,
            api_url=api_url,
            region=region,
            account_id=local_aws.ACCOUNT_ID,
            port=endpoint.port,
            api_port=api_server.port,
            bucket=bucket,
            state_machine_arn=_named_or_first(
                outputs, "StateMachineArn", deployment.state_machines
            ),
            outputs=outputs,
            buckets=dict(deployment.buckets),
            functions={lid: fn.name for lid, fn in deployment.functions.items()},
            state_machines=dict(deployment.state_machines),
            routes=tuple(deployment.routes),
            upload_prefixes=tuple(
                value
                for notification in deployment.notifications
                if notification.bucket == bucket
                for name, value in notification.filter_rules
                if name == "prefix"
            ),
            log_dir=runtime.log_dir,
            work_dir=work_dir,
            state_dir=state_dir,
            environment={
                "AWS_ENDPOINT_URL": endpoint_url,
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                **local_aws.DUMMY_CREDENTIALS,
            },
        )

    def _work_dir(self) -> Path:
        if self._requested_work_dir is not None:
            self._requested_work_dir.mkdir(parents=True, exist_ok=True)
            return self._requested_work_dir
        temporary = Path(tempfile.mkdtemp(prefix="sagepipe-local-"))
        self._cleanup.callback(shutil.rmtree, temporary, ignore_errors=True)
        return temporary

    def _start_emulator(
        self, endpoint: AwsEndpoint, state_dir: Path | None, work_dir: Path, region: str
    ) -> None:
        emulator = SageMakerEmulator(
            s3_endpoint_url=endpoint.url,
            region=region,
            state_dir=None if state_dir is None else state_dir / "sagemaker",
            work_dir=work_dir / "sagemaker",
            phase_delay_seconds=self._sagemaker_phase_seconds,
            s3=MotoS3Store(local_aws.ACCOUNT_ID),
        )
        self._cleanup.callback(emulator.shutdown)
        endpoint.dispatcher.add(emulator)
        self._cleanup.callback(endpoint.dispatcher.remove, emulator)

    @staticmethod
    def _parameters(template: Path, overrides: Mapping[str, str] | None) -> dict[str, str]:
        declared = TemplateDeployer.declared_parameters_of(template)
        parameters = {k: v for k, v in OFFLINE_PARAMETER_DEFAULTS.items() if k in declared}
        parameters.update(overrides or {})
        return parameters

    @staticmethod
    def _local_outputs(deployment: Deployment, api_url: str) -> dict[str, Any]:
        """Outputs as deployed, with the API's execute-api URL replaced by the local one."""
        outputs = dict(deployment.outputs)
        for name, value in outputs.items():
            if not isinstance(value, str):
                continue
            for api_id in deployment.apis.values():
                prefix = f"https://{api_id}.execute-api."
                if value.startswith(prefix):
                    # https://<id>.execute-api.<region>.amazonaws.com/<stage>/<path>
                    _, _, rest = value[len("https://") :].partition("/")
                    outputs[name] = f"{api_url}/{rest}"
        return outputs

    @staticmethod
    def _stop_executions(endpoint_url: str, region: str) -> None:
        """Stop running executions so no state machine thread calls a stopped endpoint."""
        sfn = local_aws.sfn_client(endpoint_url, region)
        try:
            for machine in sfn.list_state_machines().get("stateMachines", []):
                executions = sfn.list_executions(
                    stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
                ).get("executions", [])
                for execution in executions:
                    sfn.stop_execution(
                        executionArn=execution["executionArn"],
                        error="OfflineStackStopped",
                        cause="the offline stack was stopped",
                    )
        except (ClientError, BotoCoreError) as error:
            LOG.warning("could not stop running executions: %s", error)


def _final_save(snapshot: S3Snapshot) -> None:
    try:
        snapshot.save()
    except (ClientError, BotoCoreError, OSError):
        LOG.exception("snapshot: final save failed")


def _named_or_first(outputs: Mapping[str, Any], name: str, values: Mapping[str, str]) -> str | None:
    if isinstance(outputs.get(name), str):
        return str(outputs[name])
    return next(iter(values.values()), None)


__all__ = ["LOOPBACK", "LocalStack", "StackInfo"]
