"""Receive the pipeline's SNS notifications over HTTP, as a subscribed user would.

The offline stack's SNS (moto) posts each message to an HTTP subscription when the
Notify function publishes it, so waiting for a run's outcome costs no polling.
"""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class NotificationReceiver:
    """An HTTP endpoint on a loopback port that queues each notification's message."""

    def __init__(self) -> None:
        messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self._messages = messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                envelope = json.loads(self.rfile.read(length) or b"{}")
                if envelope.get("Type") == "Notification":
                    messages.put(json.loads(envelope["Message"]))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="notifications", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/"

    def __enter__(self) -> NotificationReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def next_message(self, timeout: float) -> dict[str, Any]:
        """The next notification's message (raises queue.Empty after `timeout` s)."""
        return self._messages.get(timeout=timeout)
