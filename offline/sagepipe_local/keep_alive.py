"""HTTP/1.1 persistent connections for the offline stack's werkzeug servers.

werkzeug's development server answers every request with "Connection: close": its
handler does not know where an unread request body ends, so after each response it reads
whatever the client sends next and closes. Every AWS call of every function then opens
a TCP connection and costs the server a new thread: on the 2-core machine the bench ran
on, a small S3 GetObject took 7.3 ms that way and 3.6 ms on a kept connection, a
SageMaker Describe call 5.3 and 2.2 ms.

`KeepAliveRequestHandler` frames the request body itself (Content-Length bytes, or the
chunks of a chunked body), skips what the application left unread, and keeps the
connection for the client's next request.
"""

from __future__ import annotations

import contextlib
import io
import logging
import select
import socket
import struct
import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from werkzeug.serving import WSGIRequestHandler

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

LOG = logging.getLogger(__name__)

# An idle kept connection's server thread ends after this long (clients reconnect).
IDLE_CONNECTION_SECONDS: Final = 60.0
SHUT_DOWN_SECONDS: Final = 5.0
CLIENT_CLOSE_SECONDS: Final = 0.05
_SKIP_CHUNK_BYTES: Final = 1 << 16
_RESET_ON_CLOSE: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s
_DROPPED: Final = (ConnectionError, socket.timeout)


class RequestBody(io.RawIOBase):
    """A request's body: `length` bytes of the stream, or (None) all of it, as for a
    dechunked body. `skip_rest` reads what the application left unread."""

    def __init__(self, stream: Any, length: int | None) -> None:
        super().__init__()
        self._stream = stream
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left == 0:
            return 0
        view = memoryview(buffer).cast("B")
        if self._left is not None:
            view = view[: self._left]
        if not view:
            return 0
        count = int(self._stream.readinto(view) or 0)
        if self._left is not None:
            if count == 0:
                raise ConnectionError(f"the request body ended {self._left} bytes early")
            self._left -= count
        return count

    def skip_rest(self) -> None:
        while self.read(_SKIP_CHUNK_BYTES):
            pass


class OpenConnections:
    """The connections a server's handlers are serving, to be ended with the server."""

    def __init__(self) -> None:
        self._sockets: set[socket.socket] = set()
        self._changed = threading.Condition()

    def add(self, connection: socket.socket) -> None:
        with self._changed:
            self._sockets.add(connection)

    def discard(self, connection: socket.socket) -> None:
        with self._changed:
            self._sockets.discard(connection)
            self._changed.notify_all()

    def shut_down(self, timeout: float = SHUT_DOWN_SECONDS) -> None:
        """Ends every kept connection and waits (up to `timeout`) for their handlers.

        Each is reset, not closed: a server that closes first leaves its port in
        TIME_WAIT for a minute, and the stopped stack's port is to be free at once.
        """
        with self._changed:
            sockets = list(self._sockets)
        for connection in sockets:
            try:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
                connection.shutdown(socket.SHUT_RD)  # the handler's read returns at once
            except OSError:
                pass  # its handler has just closed it
        with self._changed:
            self._changed.wait_for(lambda: not self._sockets, timeout)


_OPEN_CONNECTIONS: weakref.WeakKeyDictionary[Any, OpenConnections] = weakref.WeakKeyDictionary()
_OPEN_CONNECTIONS_LOCK = threading.Lock()


def open_connections(server: Any) -> OpenConnections:
    """The connections `server`'s keep-alive handlers are serving."""
    with _OPEN_CONNECTIONS_LOCK:
        connections = _OPEN_CONNECTIONS.get(server)
        if connections is None:
            connections = _OPEN_CONNECTIONS[server] = OpenConnections()
        return connections


class KeepAliveRequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    # The status line, the headers and the body are separate writes: without this, the
    # second waits for the client's delayed ACK (40 ms on Linux).
    disable_nagle_algorithm = True
    timeout = IDLE_CONNECTION_SECONDS

    def handle(self) -> None:
        connections = open_connections(self.server)
        connections.add(self.connection)
        try:
            super().handle()
            self._await_client_close()
        finally:
            # Closed here, not after this returns, so that a stopped server's port is free
            # once its connections are discarded.
            with contextlib.suppress(OSError):
                self.finish()
            with contextlib.suppress(OSError):  # also when flushing the last reply failed
                self.connection.close()
            connections.discard(self.connection)

    def _await_client_close(self) -> None:
        """Once the last response (which said Connection: close) is out, let the client
        close first, as it will: the side that closes first holds the port in TIME_WAIT
        for a minute."""
        try:
            readable, _, _ = select.select([self.connection], [], [], CLIENT_CLOSE_SECONDS)
            if readable:
                self.connection.recv(1)
        except OSError:
            pass  # reset, or already shut down by the server's stop

    def run_wsgi(self) -> None:
        # An "Expect: 100-continue" is already answered: http.server does it for HTTP/1.1.
        self.environ = environ = self.make_environ()
        body = _framed_body(environ, self.rfile)
        environ["wsgi.input"] = body
        response = _Response(self)
        try:
            chunks: Iterable[bytes] = self.server.app(environ, response.start_response)
            try:
                for chunk in chunks:
                    response.write(chunk)
                response.finish()
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            body.skip_rest()
        except _DROPPED:
            self.close_connection = True
        except Exception:
            LOG.exception("%s %s failed", self.command, self.path)
            self.close_connection = True
            if not response.started:
                response.internal_server_error()


def _framed_body(environ: WSGIEnvironment, stream: Any) -> RequestBody:
    if environ.get("wsgi.input_terminated"):
        # Chunked: werkzeug's make_environ already reads it through its dechunker.
        return RequestBody(environ["wsgi.input"], None)
    try:
        length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        length = 0
    return RequestBody(stream, length)


class _Response:
    """start_response and the writes of one response, sized or chunked."""

    def __init__(self, handler: KeepAliveRequestHandler) -> None:
        self._handler = handler
        self._status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self._chunked = False
        self.started = False

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        if exc_info:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._status is not None:
            raise AssertionError("start_response was called twice")
        self._status, self._headers = status, list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        if not self.started:
            self._send_head()
        if not data or self._handler.command == "HEAD":
            return
        wfile = self._handler.wfile
        if self._chunked:
            wfile.write(f"{len(data):x}\r\n".encode("ascii"))
            wfile.write(data)
            wfile.write(b"\r\n")
        else:
            wfile.write(data)

    def finish(self) -> None:
        if not self.started:
            self._send_head()
        if self._chunked:
            self._handler.wfile.write(b"0\r\n\r\n")
        self._handler.wfile.flush()

    def internal_server_error(self) -> None:
        self._status = "500 INTERNAL SERVER ERROR"
        message = b"Internal Server Error"
        self._headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(message)))]
        self.write(message)
        self.finish()

    def _send_head(self) -> None:
        if self._status is None:
            raise AssertionError("the application wrote before start_response")
        code_text, _, reason = self._status.partition(" ")
        code = int(code_text)
        handler = self._handler
        handler.send_response(code, reason)
        names = set()
        for name, value in self._headers:
            handler.send_header(name, value)
            names.add(name.lower())
        if "server" not in names:
            handler.send_header("Server", handler.version_string())
        if "date" not in names:
            handler.send_header("Date", handler.date_time_string())
        bodiless = handler.command == "HEAD" or 100 <= code < 200 or code in {204, 304}
        if "content-length" not in names and not bodiless:
            self._chunked = True
            handler.send_header("Transfer-Encoding", "chunked")
        if handler.close_connection:
            handler.send_header("Connection", "close")
        handler.end_headers()
        self.started = True
