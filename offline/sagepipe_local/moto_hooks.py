"""What the offline stack changes inside moto (process-wide), and how it undoes it.

- moto's config: Step Functions executes definitions (the same switch as
  POST /moto-api/config);
- `LambdaFunction.invoke`, the one method behind direct Invoke, Step Functions Lambda
  tasks and S3 notifications, runs the real handler through `LambdaRuntime`;
- StartExecution without a name gets a generated one (moto's interpreter uses None);
- S3 -> Lambda notifications are delivered asynchronously, as on AWS, so a slow handler
  never holds up the PutObject that triggered it (moto calls them in the request thread);
- the S3 event gets the record fields AWS sends and moto leaves out (versionId,
  sequencer, userIdentity, requestParameters, responseElements);
- four costs moto pays again and again are paid once: its server lists the moto package
  directory on every request (`list_of_moto_modules`); its Step Functions interpreter
  parses the definition with ANTLR for every execution (~90 ms for the pipeline; each
  execution now gets its own copy of one parsed program, unpickled in ~1.6 ms), builds
  a new boto3 Lambda client, with a new connection, for every Lambda task (~5 ms), and
  compiles a JSONPath (a new PLY parser, ~0.3 ms) every time a state reads or writes a
  path;
- the interpreter's Lambda tasks invoke in process (`lambda_invoke`), not over HTTP to
  the stack's own endpoint (~5 ms a task).
"""

from __future__ import annotations

import copy
import functools
import io
import itertools
import json
import logging
import os
import pickle
import secrets
import shutil
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from sagepipe_local.lambda_invoke import invoke_in_process
from sagepipe_local.lambda_runtime import FunctionConfig, LambdaRuntime

LOG = logging.getLogger(__name__)

# Lambda's use_docker stays True: False swaps in a backend that never calls invoke.
_MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}}


def reset_moto() -> None:
    """Forget every resource in every moto backend (what POST /moto-api/reset does)."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def _header(headers: Any, name: str) -> str | None:
    """A request header from moto's headers (a werkzeug Headers or a plain dict)."""
    if not headers:
        return None
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value)
    return None


class MotoHooks:
    def __init__(self, runtime: LambdaRuntime, *, work_dir: Path) -> None:
        self._runtime = runtime
        self._work_dir = work_dir
        self._code_dirs: dict[str, Path] = {}
        self._layer_dirs: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._restore: list[Callable[[], None]] = []
        self._sequence = itertools.count()
        self._warned_layers: set[str] = set()

    def register_function(self, function_name: str, code_dir: Path) -> None:
        """Run this function from its source directory instead of its uploaded zip."""
        with self._lock:
            self._code_dirs[function_name] = code_dir

    def register_layer(self, layer_version_arn: str, import_dir: Path) -> None:
        with self._lock:
            self._layer_dirs[layer_version_arn] = import_dir

    # -- install / uninstall -------------------------------------------------------------

    def install(self, port: int) -> None:
        from moto import backends
        from moto.awslambda import models as lambda_models
        from moto.core.config import default_user_config
        from moto.moto_api._internal.models import moto_api_backend
        from moto.s3 import notifications
        from moto.stepfunctions.parser import models as parser_models
        from moto.stepfunctions.parser.asl.component.common.path import result_path
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
            lambda_eval_utils,
        )
        from moto.stepfunctions.parser.asl.utils import json_path
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        previous_config = {key: copy.deepcopy(default_user_config[key]) for key in _MOTO_CONFIG}  # type: ignore[literal-required]
        moto_api_backend.set_config(copy.deepcopy(_MOTO_CONFIG))
        self._restore.append(lambda: moto_api_backend.set_config(previous_config))

        # moto's Step Functions interpreter calls Lambda at http://localhost:$MOTO_PORT.
        previous_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(port)
        self._restore.append(lambda: _restore_env("MOTO_PORT", previous_port))

        self._patch(
            parser_models.StepFunctionsParserBackend,
            "start_execution",
            _start_execution(parser_models.StepFunctionsParserBackend.start_execution),
        )
        self._patch(lambda_models.LambdaFunction, "invoke", self._invoke_method())
        modules = tuple(backends.list_of_moto_modules())
        self._patch(backends, "list_of_moto_modules", lambda: modules)
        self._patch(
            ExecutionWorker,
            "_get_evaluation_entrypoint",
            _parsed_once(ExecutionWorker._get_evaluation_entrypoint),
        )
        self._patch(
            lambda_eval_utils,
            "boto_client_for",
            _one_client_per_service(vars(lambda_eval_utils)["boto_client_for"]),
        )
        for module in (json_path, result_path):
            self._patch(module, "parse", functools.lru_cache(maxsize=1024)(module.parse))
        self._patch(notifications, "_invoke_awslambda", self._notify_function)
        self._patch(
            notifications, "_get_s3_event", self._s3_event_builder(notifications._get_s3_event)
        )

    def uninstall(self) -> None:
        while self._restore:
            self._restore.pop()()

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        original = owner.__dict__[name]
        setattr(owner, name, replacement)
        self._restore.append(lambda: setattr(owner, name, original))

    # -- Lambda ---------------------------------------------------------------------------

    def _invoke_method(self) -> Callable[..., bytes]:
        hooks = self

        def invoke(function: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
            config = hooks.config_for(function)
            payload = body if body else "{}"
            invocation_type = _header(request_headers, "x-amz-invocation-type") or "RequestResponse"
            if invocation_type == "Event":
                hooks._runtime.invoke_async(config, payload)
                return b""
            if invocation_type == "DryRun":
                return b""
            result = hooks._runtime.invoke(config, payload)
            if result.function_error is not None:
                response_headers["x-amz-function-error"] = result.function_error
            return result.payload

        return invoke

    def config_for(self, function: Any) -> FunctionConfig:
        """The runtime configuration of one of moto's LambdaFunction objects."""
        name = str(function.function_name)
        layer_arns = [str(layer["Arn"]) for layer in function.layers or []]
        with self._lock:
            code_dir = self._code_dirs.get(name)
            import_dirs = []
            for arn in layer_arns:
                if arn in self._layer_dirs:
                    import_dirs.append(self._layer_dirs[arn])
                elif arn not in self._warned_layers:
                    self._warned_layers.add(arn)
                    LOG.warning("%s: layer %s has no local directory; ignored", name, arn)
        if code_dir is None:
            code_dir = self._extract_code(name, str(function.code_sha_256), function.code_bytes)
        invoke_configs = function.event_invoke_config
        invoke_config: dict[str, Any] = invoke_configs[0].config if invoke_configs else {}
        on_failure = (invoke_config.get("DestinationConfig") or {}).get("OnFailure") or {}
        return FunctionConfig(
            name=name,
            arn=str(function.function_arn),
            handler=str(function.handler),
            timeout=int(function.timeout),
            memory_size=int(function.memory_size),
            environment={str(k): str(v) for k, v in (function.environment_vars or {}).items()},
            code_dir=code_dir,
            import_dirs=tuple(import_dirs),
            version=str(function.version),
            runtime=str(function.run_time),
            async_retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
            on_failure_topic=on_failure.get("Destination") or None,
        )

    def _extract_code(self, name: str, code_sha: str, code: bytes) -> Path:
        """Functions created through the API (not the template) run from their zip."""
        safe_sha = "".join(ch for ch in code_sha if ch.isalnum())[:16]
        target = self._work_dir / "code" / f"{name}-{safe_sha}"
        with self._lock:
            if not target.is_dir():
                staging = target.with_name(target.name + ".partial")
                shutil.rmtree(staging, ignore_errors=True)
                staging.mkdir(parents=True)
                with zipfile.ZipFile(io.BytesIO(code)) as archive:
                    archive.extractall(staging)
                staging.rename(target)
        return target

    # -- S3 notifications ---------------------------------------------------------------

    def _notify_function(
        self, account_id: str, event_body: Any, fn_arn: str, region_name: str
    ) -> None:
        from moto.awslambda.exceptions import UnknownFunctionException
        from moto.awslambda.utils import get_backend

        try:
            function = get_backend(account_id, region_name).get_function(fn_arn)
        except UnknownFunctionException:
            LOG.warning("S3 notification for unknown function %s dropped", fn_arn)
            return
        self._runtime.invoke_async(self.config_for(function), json.dumps(event_body))

    def _s3_event_builder(self, original: Callable[..., Any]) -> Callable[..., Any]:
        hooks = self

        def build(event_name: Any, bucket: Any, key: Any, notification_id: str) -> Any:
            event = original(event_name, bucket, key, notification_id)
            for record in event.get("Records", []):
                hooks._complete_record(record, key)
            return event

        return build

    def _complete_record(self, record: dict[str, Any], key: Any) -> None:
        principal = {"principalId": "AWS:AIDAOFFLINESAGEPIPE"}
        record.setdefault("userIdentity", principal)
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault(
            "responseElements",
            {"x-amz-request-id": secrets.token_hex(8).upper(), "x-amz-id-2": secrets.token_hex(32)},
        )
        s3 = record.get("s3", {})
        s3.get("bucket", {}).setdefault("ownerIdentity", principal)
        obj = s3.get("object", {})
        name = getattr(key, "name", None)
        if isinstance(name, str):
            # AWS form: URL-encoded with "+" for spaces, but "/" kept (moto encodes it too).
            obj["key"] = quote_plus(name, safe="/")
        version_id = getattr(key, "version_id", None)
        if version_id and version_id != "null":
            obj.setdefault("versionId", str(version_id))
        # Increasing per key, like AWS's sequencer: time in ns plus a tiebreaker.
        obj.setdefault("sequencer", f"{time.time_ns():016X}{next(self._sequence) % 256:02X}")


def _start_execution(original: Callable[..., Any]) -> Callable[..., Any]:
    """StartExecution without a name gets a generated one, as on AWS (moto's interpreter
    would name it None, so a second unnamed execution "already exists")."""

    def start_execution(
        backend: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return original(backend, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    return start_execution


def _parsed_once(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """An execution's program: its own copy of the one parsed for its definition, so
    nothing an execution's program holds can reach another execution."""
    copies: dict[str, Callable[[], Any]] = {}
    lock = threading.Lock()

    def entrypoint(worker: Any) -> Any:
        definition = worker._evaluation_details.state_machine_details.definition
        with lock:
            copy_program = copies.get(definition)
        if copy_program is None:
            copy_program = program_copier(parse(worker))
            with lock:
                copies[definition] = copy_program
        return copy_program()

    return entrypoint


def program_copier(program: Any) -> Callable[[], Any]:
    """Fresh copies of a parsed program: unpickled from one pickle (1.6 ms for the
    pipeline's; copy.deepcopy took 10.5 ms, at every StartExecution), or deep-copied if
    the program does not pickle."""
    try:
        pickled = pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return lambda: copy.deepcopy(program)
    return lambda: pickle.loads(pickled)


def _one_client_per_service(create: Callable[..., Any]) -> Callable[..., Any]:
    """moto's client factory ignores the state's credentials (it signs with fixed test
    keys), so one client per region and service is the same client, kept alive. The
    Lambda client invokes in process."""
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            client = clients.get((region, service))
            if client is None:
                client = create(region=region, service=service, state_credentials=state_credentials)
                if service == "lambda":
                    client = InProcessLambdaClient(client, region)
                clients[(region, service)] = client
        return client

    return client_for


class InProcessLambdaClient:
    """The interpreter's Lambda client: a RequestResponse Invoke of a known function runs
    in process; anything else goes to the wrapped boto3 client, over HTTP."""

    _IN_PROCESS_PARAMETERS = frozenset({"FunctionName", "Payload", "Qualifier", "InvocationType"})

    def __init__(self, client: Any, region: str) -> None:
        self._client = client
        self._region = region

    def invoke(self, **parameters: Any) -> dict[str, Any]:
        if (
            parameters.keys() <= self._IN_PROCESS_PARAMETERS
            and parameters.get("InvocationType", "RequestResponse") == "RequestResponse"
        ):
            payload = parameters.get("Payload") or b"{}"
            invocation = invoke_in_process(
                str(parameters["FunctionName"]),
                payload if isinstance(payload, bytes) else str(payload).encode("utf-8"),
                region=self._region,
                qualifier=parameters.get("Qualifier"),
            )
            if invocation is not None:
                response: dict[str, Any] = {
                    "StatusCode": 200,
                    "ExecutedVersion": invocation.executed_version,
                    "Payload": io.BytesIO(invocation.payload),
                }
                if invocation.function_error is not None:
                    response["FunctionError"] = invocation.function_error
                return response
        result: dict[str, Any] = self._client.invoke(**parameters)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
