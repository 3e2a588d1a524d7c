"""The offline servers keep HTTP/1.1 connections: one connection serves request after
request, whatever each application read of its request body."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from sagepipe_local.server import BackgroundServer


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """/read/N reads N bytes of the body (all: -1); /stream answers without a length;
    /fail raises. Every answer names the client's port, which tells connections apart."""
    path = environ["PATH_INFO"]
    if path == "/fail":
        raise RuntimeError("the application failed")
    read = b""
    if path.startswith("/read/"):
        read = environ["wsgi.input"].read(int(path.removeprefix("/read/")))
    body = json.dumps({"port": environ["REMOTE_PORT"], "read": read.decode()}).encode()
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "application/json")])
        return iter([body[:5], body[5:]])
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    running = BackgroundServer(_app, port=0, name="keep-alive-test")
    running.start()
    yield running
    running.stop()


def _answer(connection: http.client.HTTPConnection) -> tuple[int, dict[str, Any]]:
    response = connection.getresponse()
    body = response.read()
    return response.status, json.loads(body) if body else {}


def test_one_connection_serves_requests_whatever_the_application_read(
    server: BackgroundServer,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    ports = set()
    for path, body in (
        ("/read/0", b"a body nobody reads"),
        ("/read/4", b"part of this one"),
        ("/read/-1", b"all of this"),
        ("/stream", None),
    ):
        connection.request("POST" if body else "GET", path, body=body)
        status, answer = _answer(connection)
        assert status == 200
        ports.add(answer["port"])
        if path == "/read/4":
            assert answer["read"] == "part"
        if path == "/read/-1":
            assert answer["read"] == "all of this"
    connection.request("POST", "/read/-1", body=iter([b"chunked ", b"body"]), encode_chunked=True)
    assert _answer(connection) == (200, {"port": ports.pop(), "read": "chunked body"})
    assert not ports  # every request came on the one connection
    connection.close()


def test_head_answers_have_no_body(server: BackgroundServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("HEAD", "/read/0")
    response = connection.getresponse()
    assert response.status == 200
    assert response.read() == b""
    connection.request("GET", "/read/0")
    assert _answer(connection)[0] == 200
    connection.close()


def test_expect_100_continue_is_answered_before_the_body_is_sent(
    server: BackgroundServer,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(
            b"PUT /read/-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert raw.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        raw.sendall(b"hello")
        reply = b""
        while b'"read": "hello"' not in reply:
            chunk = raw.recv(4096)
            assert chunk, reply
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 OK"), reply  # and no second 100


def test_a_failing_application_gets_a_500_and_the_connection_closes(
    server: BackgroundServer,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/fail")
    response = connection.getresponse()
    assert response.status == 500
    assert response.getheader("Connection") == "close"
    response.read()
    connection.close()
    # The server itself goes on serving.
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/read/0")
    assert _answer(connection)[0] == 200
    connection.close()


def test_stop_ends_kept_connections_and_frees_the_port() -> None:
    running = BackgroundServer(_app, port=0, name="keep-alive-stop")
    running.start()
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    connection.request("GET", "/read/0")
    assert _answer(connection)[0] == 200  # the connection stays open, idle

    running.stop()

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", running.port))  # no SO_REUSEADDR: nothing holds the port
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        connection.request("GET", "/read/0")
        connection.getresponse()
    connection.close()
