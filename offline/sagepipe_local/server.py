"""The AWS endpoint: one threaded werkzeug server, one WSGI dispatcher.

Both servers keep HTTP/1.1 connections open between requests (`keep_alive`).

Requests an extra application claims (the SageMaker emulator) go to it; everything else
goes to moto's server application, which picks the service from the request's signature.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sagepipe_local.keep_alive import KeepAliveRequestHandler, open_connections

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

LOG = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


class ClaimingApp(Protocol):
    """A WSGI application that serves only the requests it `handles`."""

    def handles(self, environ: Any) -> bool: ...

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]: ...


class QuietRequestHandlerMixin(WSGIRequestHandler):
    """Request lines at debug level in our logger instead of werkzeug's stderr handler."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        LOG.debug("%s %s -> %s", self.command, getattr(self, "path", "?"), code)

    def log(self, type: str, message: str, *args: Any) -> None:
        level = logging.WARNING if type == "error" else logging.DEBUG
        LOG.log(level, message, *args)


class _LocalRequestHandler(KeepAliveRequestHandler, QuietRequestHandlerMixin, MotoRequestHandler):
    pass


class Dispatcher:
    def __init__(self) -> None:
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._apps: list[ClaimingApp] = []
        self._lock = threading.Lock()

    def add(self, app: ClaimingApp) -> None:
        with self._lock:
            self._apps.append(app)

    def remove(self, app: ClaimingApp) -> None:
        with self._lock:
            if app in self._apps:
                self._apps.remove(app)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            apps = list(self._apps)
        for app in apps:
            if app.handles(environ):
                return app(environ, start_response)
        result: Iterable[bytes] = self._moto(environ, start_response)
        return result


class BackgroundServer:
    """A threaded werkzeug server on a loopback port, served from a daemon thread."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        port: int,
        name: str,
        request_handler: type[WSGIRequestHandler] | None = None,
    ) -> None:
        self._name = name
        self._server: BaseWSGIServer = make_server(
            LOOPBACK,
            port,
            app,
            threaded=True,
            request_handler=request_handler or _QuietHandler,
        )
        self._thread = threading.Thread(target=self._serve, name=f"{name}-server", daemon=True)

    def _serve(self) -> None:
        # A short poll keeps stop() quick; the cost is an idle wake-up every 0.1 s.
        self._server.serve_forever(poll_interval=0.1)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        LOG.debug("%s listening on %s", self._name, self.url)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        open_connections(self._server).shut_down()
        # serve_forever closes the socket when it returns; this covers "never started".
        self._server.server_close()


class _QuietHandler(KeepAliveRequestHandler, QuietRequestHandlerMixin):
    pass


class AwsEndpoint(BackgroundServer):
    """moto + claiming applications on one port (default 4566)."""

    def __init__(self, port: int) -> None:
        self.dispatcher = Dispatcher()
        super().__init__(
            self.dispatcher,
            port=port,
            name="aws-endpoint",
            request_handler=_LocalRequestHandler,
        )
