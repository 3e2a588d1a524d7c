"""The processing job's entrypoint and work, run locally as SageMaker would run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sagepipe import processing_bootstrap, processing_job
from sagepipe.pipeline_config import PipelineConfig
from sagepipe.preprocess import PreprocessSettings, prepared_record, preprocess_file, run_file_uris
from sagepipe.processing import ProcessingJobDescription
from sagepipe.processing_bootstrap import BootstrapError, Pin, read_pins, unmet_pins

ROOT = "s3://sagepipe-data/runs/housing/housing-20261120093000-1a2b3c4d/"
CONFIG = {"target": "price", "drop_columns": ["id"]}


def _csv(rows: int = 60) -> str:
    lines = ["id,rooms,city,price"]
    lines += [
        f"h{i},{i % 7 + 1},{'abc'[i % 3]},{(i % 7 + 1) * 10 + (i % 3) * 5}.5" for i in range(rows)
    ]
    return "\n".join(lines) + "\n"


def _job(tmp_path: Path, text: str) -> tuple[Path, Path, Path]:
    data = tmp_path / "input" / "data"
    data.mkdir(parents=True)
    (data / "data.csv").write_text(text)
    description = ProcessingJobDescription(
        model="housing",
        source_name="s3://sagepipe-data/incoming/housing/data.csv",
        data_file="data.csv",
        run_root_uri=ROOT,
        config=PipelineConfig.model_validate(CONFIG).model_dump(),
        max_categories=20,
        min_rows=20,
    )
    job = tmp_path / "input" / "job" / "job.json"
    job.parent.mkdir(parents=True)
    job.write_text(description.to_json())
    return job, data, tmp_path / "output" / "run"


def _paths(job: Path, data: Path, output: Path) -> list[str]:
    return ["--job", str(job), "--data", str(data), "--output", str(output)]


def test_the_job_writes_what_the_lambda_path_writes(tmp_path: Path) -> None:
    job, data, output = _job(tmp_path, _csv())

    code = processing_job.main(_paths(job, data, output))

    assert code == 0
    lambda_out = tmp_path / "lambda"
    config = PipelineConfig.model_validate(CONFIG)
    result = preprocess_file(
        data / "data.csv",
        source_name="s3://sagepipe-data/incoming/housing/data.csv",
        model="housing",
        config=config,
        settings=PreprocessSettings(max_categories=20, min_rows=20),
        out_dir=lambda_out,
    )
    expected = prepared_record(config, result, run_file_uris(ROOT, result))
    written = json.loads((output / "prepared.json").read_text())
    assert written == expected.to_dict()
    for relative in result.files.values():
        if relative != "profile.json":  # it records timings
            assert (output / relative).read_bytes() == (lambda_out / relative).read_bytes()
    assert written["train_uri"] == f"{ROOT}data/train/train.libsvm"


def test_bad_data_exits_1_with_the_reason_as_exit_message(tmp_path: Path) -> None:
    job, data, output = _job(tmp_path, "a,b\n1,2\n")
    message = tmp_path / "opt-ml" / "output" / "message"

    code = processing_job.main([*_paths(job, data, output), "--exit-message", str(message)])

    assert code == 1
    assert message.read_text().startswith("ConfigError: target: column 'price' is not in")
    assert not (output / "prepared.json").exists()


def test_a_missing_input_file_is_an_input_error(tmp_path: Path) -> None:
    job, data, output = _job(tmp_path, _csv())
    (data / "data.csv").unlink()
    message = tmp_path / "message"

    code = processing_job.main([*_paths(job, data, output), "--exit-message", str(message)])

    assert code == 1
    assert message.read_text().startswith("InputDataError:")


def test_read_pins(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# c\n\naws-lambda-powertools[tracer]==3.37.0  # tracing\nnumpy==2.5.5\n"
    )
    assert read_pins(requirements) == [
        Pin("aws-lambda-powertools", "3.37.0"),
        Pin("numpy", "2.5.5"),
    ]
    requirements.write_text("numpy>=2\n")
    with pytest.raises(BootstrapError, match="line 1"):
        read_pins(requirements)


def test_unmet_pins_name_what_differs() -> None:
    import numpy

    assert unmet_pins([Pin("numpy", numpy.__version__)]) == []
    assert unmet_pins([Pin("numpy", "0.0.1"), Pin("surely-not-installed-x", "1")]) == [
        f"numpy==0.0.1 (found: {numpy.__version__})",
        "surely-not-installed-x==1 (found: none)",
    ]


class _ExecError(Exception):
    """Stands in for os.execve, which would replace the test process."""


def _capture_exec(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        seen.update(path=path, argv=argv, env=env)
        raise _ExecError

    monkeypatch.setattr(processing_bootstrap.os, "execve", execve)
    return seen


def _arguments(tmp_path: Path, requirements: Path) -> list[str]:
    return [
        "--requirements",
        str(requirements),
        "--target",
        str(tmp_path / "deps"),
        "--exit-message",
        str(tmp_path / "message"),
        "--",
        "--job",
        "job.json",
    ]


def test_bootstrap_runs_the_job_without_installing_what_is_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _capture_exec(monkeypatch)
    monkeypatch.setattr(processing_bootstrap, "install", pytest.fail)
    requirements = Path(processing_bootstrap.__file__).with_name("processing_requirements.txt")

    with pytest.raises(_ExecError):
        processing_bootstrap.main(_arguments(tmp_path, requirements))

    assert seen["argv"] == [sys.executable, "-m", "sagepipe.processing_job", "--job", "job.json"]
    assert not (tmp_path / "deps").exists()


def test_bootstrap_installs_unmet_pins_into_the_target_first_on_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _capture_exec(monkeypatch)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==0.0.1\n")
    commands: list[list[str]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, "installed\n", "")

    monkeypatch.setattr(processing_bootstrap.subprocess, "run", run)
    monkeypatch.setenv("PYTHONPATH", "/opt/ml/processing/input/code")

    with pytest.raises(_ExecError):
        processing_bootstrap.main(_arguments(tmp_path, requirements))

    (command,) = commands
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == str(tmp_path / "deps")
    assert "--only-binary=:all:" in command
    assert seen["env"]["PYTHONPATH"].split(":") == [
        str(tmp_path / "deps"),
        "/opt/ml/processing/input/code",
    ]


def test_bootstrap_reports_a_failed_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _capture_exec(monkeypatch)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==0.0.1\n")

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "ERROR: network is unreachable\n")

    monkeypatch.setattr(processing_bootstrap.subprocess, "run", run)

    assert processing_bootstrap.main(_arguments(tmp_path, requirements)) == 1
    message = (tmp_path / "message").read_text()
    assert message.startswith("ClientError: pip exited with 1")
    assert "outbound internet" in message
    assert "network is unreachable" in message


def test_exit_message_keeps_the_first_kib_of_utf8(tmp_path: Path) -> None:
    path = tmp_path / "message"
    processing_bootstrap.write_exit_message(path, "é" * 1000)
    text = path.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 1024
    assert text == "é" * 512
