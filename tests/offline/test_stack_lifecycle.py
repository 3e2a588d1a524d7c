"""Starting, stopping and restarting the offline stack; the state directory; the CLI."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sagepipe_local import cli
from sagepipe_local.stack import (
    DEFAULT_TEMPLATE,
    SWITCH_INTERVAL_SECONDS,
    LocalStack,
    StackInfo,
)
from sagepipe_local.template_loader import TemplateError

pytestmark = pytest.mark.offline

StackFactory = Callable[..., LocalStack]


def wait_for[T](probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def records(stack: LocalStack) -> list[str]:
    listing = stack.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix="records/")
    return [item["Key"] for item in listing.get("Contents", [])]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_state_dir_restores_objects_without_starting_anything(
    offline_stack_factory: StackFactory, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    first = offline_stack_factory(state_dir=state_dir)
    s3 = first.client("s3")
    s3.put_object(
        Bucket=first.bucket,
        Key="incoming/kept/data.csv",
        Body=b"a,b\n1,2\n",
        ContentType="text/csv",
        Metadata={"owner": "me"},
    )
    wait_for(lambda: records(first))
    first.stop()
    assert (state_dir / "s3" / "manifest.json").is_file()

    second = offline_stack_factory(state_dir=state_dir)
    s3 = second.client("s3")
    head = s3.head_object(Bucket=second.bucket, Key="incoming/kept/data.csv")
    assert head["ContentType"] == "text/csv"
    assert head["Metadata"] == {"owner": "me"}
    body = s3.get_object(Bucket=second.bucket, Key="incoming/kept/data.csv")["Body"].read()
    assert body == b"a,b\n1,2\n"
    assert len(records(second)) == 1  # the record written by the first stack, restored

    # Notifications work again, and only for the new upload.
    s3.put_object(Bucket=second.bucket, Key="incoming/kept/new.csv", Body=b"x")
    wait_for(lambda: len(records(second)) == 2)
    assert second.runtime is not None
    log = second.runtime.log_path("sagepipe-RecorderFunction").read_text()
    assert log.count("START RequestId") == 1


def test_state_is_saved_periodically(offline_stack_factory: StackFactory, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    stack = offline_stack_factory(state_dir=state_dir, save_interval=0.2)
    stack.client("s3").put_object(Bucket=stack.bucket, Key="notes/a.txt", Body=b"hello")
    manifest = state_dir / "s3" / "manifest.json"

    def saved() -> bool:
        if not manifest.is_file():
            return False
        document = json.loads(manifest.read_text())
        return "notes/a.txt" in document["buckets"].get(stack.bucket, {})

    wait_for(saved)


def test_stop_frees_ports_ends_workers_and_allows_a_restart(
    offline_stack_factory: StackFactory,
) -> None:
    before = sys.getswitchinterval()
    stack = offline_stack_factory(parameter_overrides={"Flavor": "chocolate", "BucketName": "mine"})
    info = stack.info
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
    response = stack.client("lambda").invoke(
        FunctionName=info.functions["EchoFunction"], Payload=b"{}"
    )
    answer = json.loads(response["Payload"].read())
    # The other branch of every condition.
    assert info.bucket == "mine"
    assert "ChocolateTopicArn" in info.outputs
    assert answer["env"]["FLAVOR_TEXT"] == "fancy"
    assert answer["env"]["BOTH"] == "no"
    assert answer["env"]["OPTIONAL"] == "present"
    assert answer["env"]["SCOOPS"] == "2"

    stack.stop()
    assert not stack.running
    assert sys.getswitchinterval() == pytest.approx(before)
    assert port_is_free(info.port)
    assert port_is_free(info.api_port)
    with pytest.raises(ProcessLookupError):
        os.kill(answer["pid"], 0)

    again = offline_stack_factory(port=info.port, api_port=info.api_port)
    assert again.info.port == info.port
    assert again.client("s3").list_buckets()["Buckets"][0]["Name"] == "sagepipe-databucket"


def test_one_stack_per_process(offline_stack_factory: StackFactory, tmp_path: Path) -> None:
    running = offline_stack_factory()
    with pytest.raises(RuntimeError, match="already running"):
        LocalStack(port=0, api_port=0, work_dir=tmp_path / "other").start()
    assert running.client("s3").list_buckets()["Buckets"]


def test_a_failed_start_cleans_up(offline_stack_factory: StackFactory) -> None:
    with pytest.raises(TemplateError, match="not declared"):
        offline_stack_factory(parameter_overrides={"NoSuchParameter": "1"})
    assert offline_stack_factory().running


def test_local_up_runs_until_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not DEFAULT_TEMPLATE.is_file():
        pytest.skip("template.yaml does not exist yet")
    real_describe = cli.describe
    seen: dict[str, Any] = {}

    def describe_then_terminate(info: StackInfo) -> str:
        seen["info"] = info
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return real_describe(info)

    monkeypatch.setattr(cli, "describe", describe_then_terminate)
    args = argparse.Namespace(
        command="local", local_command="up", port=0, api_port=0, state_dir=tmp_path / "state"
    )
    assert cli.run_local_command(args) == 0
    out = capsys.readouterr().out
    info: StackInfo = seen["info"]
    assert info.endpoint_url in out
    assert info.api_url in out
    assert f"s3://{info.bucket}/" in out
    assert "offline stack stopped" in out
    assert port_is_free(info.port)
    assert (tmp_path / "state" / "s3" / "manifest.json").is_file()
