"""A local API Gateway (REST API, Lambda proxy integration) for the template's Api events.

Each request is matched against the routes (`{name}` and `{name+}` path parameters, ANY),
turned into the REST (v1) proxy event and sent to the route's function through the local
Lambda API. The function's {statusCode, headers, multiValueHeaders, body,
isBase64Encoded} becomes the HTTP response. As on AWS: no route -> 403 "Missing
Authentication Token"; a function error or a malformed answer -> 502 "Internal server
error". API keys and usage plans are not enforced offline.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from sagepipe_local import local_aws
from sagepipe_local.deployer import ApiRoute
from sagepipe_local.lambda_invoke import invoke_in_process
from sagepipe_local.server import BackgroundServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

LOG = logging.getLogger(__name__)

# (function name, event) -> (payload, X-Amz-Function-Error or None)
Invoker = Callable[[str, dict[str, Any]], tuple[bytes, str | None]]

_PARAMETER = re.compile(r"\{([A-Za-z0-9_.-]+)(\+?)\}")


@dataclass(frozen=True)
class RouteMatch:
    route: ApiRoute
    parameters: dict[str, str]
    path: str  # the request path without a stage prefix


@dataclass(frozen=True)
class _Route:
    route: ApiRoute
    pattern: re.Pattern[str]
    specificity: tuple[int, int]


def _compile(route: ApiRoute) -> _Route:
    regex = ""
    position = 0
    literal = 0
    greedy = 0
    for match in _PARAMETER.finditer(route.path):
        text = route.path[position : match.start()]
        regex += re.escape(text)
        literal += len(text)
        if match.group(2):
            regex += "(.+)"
            greedy += 1
        else:
            regex += "([^/]+)"
        position = match.end()
    tail = route.path[position:]
    regex += re.escape(tail)
    literal += len(tail)
    pattern = re.compile("^" + regex.rstrip("/") + "/?$")
    return _Route(route=route, pattern=pattern, specificity=(-greedy, literal))


def lambda_invoker(endpoint_url: str, region: str) -> Invoker:
    """Invoke the function as API Gateway's integration does: in process when moto knows
    it (`lambda_invoke`), else through the local Lambda API, which answers its error."""
    client = local_aws.lambda_client(endpoint_url, region)

    def invoke(function_name: str, event: dict[str, Any]) -> tuple[bytes, str | None]:
        body = json.dumps(event).encode()
        invocation = invoke_in_process(function_name, body, region=region)
        if invocation is not None:
            return invocation.payload, invocation.function_error
        response = client.invoke(FunctionName=function_name, Payload=body)
        payload: bytes = response["Payload"].read()
        error = response.get("FunctionError")
        return payload, str(error) if error else None

    return invoke


class ApiGateway:
    def __init__(
        self,
        routes: Sequence[ApiRoute],
        invoker: Invoker,
        *,
        api_ids: dict[str, str],
        account_id: str = local_aws.ACCOUNT_ID,
    ) -> None:
        compiled = [_compile(route) for route in routes]
        self._routes = sorted(compiled, key=lambda r: r.specificity, reverse=True)
        self._stages = {route.stage for route in routes}
        self._invoker = invoker
        self._api_ids = api_ids
        self._account_id = account_id

    # -- matching -----------------------------------------------------------------------

    def match(self, method: str, path: str) -> RouteMatch | None:
        found = self._match(method, path)
        if found is None:
            # The deployed URL carries the stage (…/prod/predict/x): accept it too.
            stage, _, rest = path.lstrip("/").partition("/")
            if stage in self._stages:
                found = self._match(method, "/" + rest, stage)
        return found

    def _match(self, method: str, path: str, stage: str | None = None) -> RouteMatch | None:
        fallback: RouteMatch | None = None
        for compiled in self._routes:
            route = compiled.route
            if stage is not None and route.stage != stage:
                continue
            found = compiled.pattern.match(path)
            if found is None:
                continue
            matched = RouteMatch(route, self._parameters(route.path, found), path)
            if route.method == method.upper():
                return matched
            if route.method == "ANY" and fallback is None:
                fallback = matched
        return fallback

    @staticmethod
    def _parameters(template: str, found: re.Match[str]) -> dict[str, str]:
        names = [match.group(1) for match in _PARAMETER.finditer(template)]
        return dict(zip(names, found.groups(), strict=True))

    # -- WSGI ---------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        matched = self.match(request.method, request.path)
        if matched is None:
            return _error(
                403, "Missing Authentication Token", "MissingAuthenticationTokenException"
            )
        route = matched.route
        event = self.event(request, matched)
        try:
            payload, function_error = self._invoker(route.function_name, event)
        except (ClientError, BotoCoreError) as error:
            LOG.warning(
                "%s %s: invoking %s failed: %s",
                request.method,
                request.path,
                route.function_name,
                error,
            )
            return _error(500, "Internal server error", "InternalServerErrorException")
        if function_error is not None:
            LOG.warning(
                "%s %s: %s raised %s",
                request.method,
                request.path,
                route.function_name,
                payload[:500].decode("utf-8", "replace"),
            )
            return _error(502, "Internal server error", "InternalServerErrorException")
        try:
            return _proxy_response(payload)
        except ValueError as error:
            LOG.warning("%s: malformed Lambda proxy response: %s", route.function_name, error)
            return _error(502, "Internal server error", "InternalServerErrorException")

    def event(self, request: Request, matched: RouteMatch) -> dict[str, Any]:
        route = matched.route
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query = {key: values[-1] for key, values in request.args.lists()}
        multi_query = {key: list(values) for key, values in request.args.lists()}
        raw_body = request.get_data()
        body: str | None = None
        is_base64 = False
        if raw_body:
            try:
                body = raw_body.decode("utf-8")
            except UnicodeDecodeError:
                body = base64.b64encode(raw_body).decode("ascii")
                is_base64 = True
        now = time.time()
        api_id = self._api_ids.get(route.api_logical_id, "local")
        request_id = str(uuid.uuid4())
        identity: dict[str, Any] = {
            "accessKey": None,
            "accountId": None,
            "apiKey": request.headers.get("x-api-key") if route.api_key_required else None,
            "caller": None,
            "cognitoAuthenticationProvider": None,
            "cognitoAuthenticationType": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "principalOrgId": None,
            "sourceIp": request.remote_addr or "127.0.0.1",
            "user": None,
            "userAgent": request.headers.get("User-Agent"),
            "userArn": None,
        }
        return {
            "resource": route.path,
            "path": matched.path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": matched.parameters or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": self._account_id,
                "apiId": api_id,
                "domainName": request.host,
                "domainPrefix": request.host.split(".")[0],
                "extendedRequestId": request_id,
                "httpMethod": request.method,
                "identity": identity,
                "path": f"/{route.stage}{matched.path}",
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "requestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000),
                "resourceId": api_id[:6],
                "resourcePath": route.path,
                "stage": route.stage,
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }


def _error(status: int, message: str, error_type: str) -> Response:
    response = Response(
        json.dumps({"message": message}), status=status, content_type="application/json"
    )
    response.headers["x-amzn-ErrorType"] = error_type
    return response


def _proxy_response(payload: bytes) -> Response:
    try:
        answer = json.loads(payload)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from error
    if not isinstance(answer, dict):
        raise ValueError(f"expected an object, got {type(answer).__name__}")
    status = answer.get("statusCode", 200)
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool):
        raise ValueError(f"statusCode {status!r} is not an integer")
    headers = Headers()
    for name, value in (answer.get("headers") or {}).items():
        headers[str(name)] = str(value)
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            raise ValueError(f"multiValueHeaders[{name!r}] is not a list")
        if name in headers:
            del headers[name]
        for value in values:
            headers.add(str(name), str(value))
    body = answer.get("body")
    data: bytes
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise ValueError("body must be a string")
    elif answer.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise ValueError(f"body is not base64: {error}") from error
    else:
        data = body.encode("utf-8")
    if "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    return Response(data, status=status, headers=headers)


class ApiServer(BackgroundServer):
    def __init__(self, gateway: ApiGateway, port: int) -> None:
        super().__init__(gateway, port=port, name="api-gateway")
