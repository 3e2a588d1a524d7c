"""A container's replies: log records wait for a batch, but never behind a later message."""

from __future__ import annotations

import io
import json
import threading
import time

from sagepipe_local.sagemaker.container_worker import _Replies


def _messages(stream: io.BytesIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class _CountedWrites(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes += 1
        return super().write(data)


def test_waiting_log_records_go_ahead_of_the_next_message_in_one_write() -> None:
    stream = _CountedWrites()
    replies = _Replies(stream)
    replies.send_log({"type": "log", "text": "[0]"})
    replies.send_log({"type": "log", "text": "[1]"})
    assert stream.getvalue() == b""  # no forwarding thread: the records wait
    replies.send({"type": "done"})
    assert [m.get("text", m["type"]) for m in _messages(stream)] == ["[0]", "[1]", "done"]
    assert stream.writes == 1


def test_the_forwarding_thread_sends_a_batch_without_another_message() -> None:
    stream = io.BytesIO()
    replies = _Replies(stream)
    threading.Thread(target=replies.forward_logs, daemon=True).start()
    replies.send_log({"type": "log", "text": "[0]"})
    deadline = time.monotonic() + 30
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _messages(stream) == [{"type": "log", "text": "[0]"}]
    replies.send({"type": "done"})  # nothing left waiting to go ahead of it
    assert [m["type"] for m in _messages(stream)] == ["log", "done"]
