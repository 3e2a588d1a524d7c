"""`sagepipe preprocess FILE --out DIR [--target T] [--config pipeline.json]`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagepipe.cli import main
from sagepipe.contract import FeatureContract


def write_data(tmp_path: Path) -> Path:
    lines = ["price,rooms,city,other"] + [
        f"{100 + row},{row % 5},{'abc'[row % 3]},{row % 7}" for row in range(40)
    ]
    path = tmp_path / "houses.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_writes_channels_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data(tmp_path)
    out = tmp_path / "out"
    code = main(["preprocess", str(data), "--target", "price", "--out", str(out)])
    assert code == 0
    contract = FeatureContract.from_json((out / "schema.json").read_text())
    assert contract.model == "local"
    assert contract.target == "price"
    assert (out / "data" / "train" / "train.libsvm").is_file()
    stdout = capsys.readouterr().out
    assert "40 read, 0 without a target dropped; 28 train, 4 validation, 8 test" in stdout
    assert f"wrote {out / 'data/test/labels.csv'}" in stdout


def test_target_option_overrides_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_data(tmp_path)
    config = tmp_path / "pipeline.json"
    config.write_text(
        json.dumps({"target": "rooms", "algorithm": "linear-learner", "drop_columns": ["other"]})
    )
    out = tmp_path / "out"
    arguments = ["preprocess", str(data), "--config", str(config), "--target", "price"]
    code = main([*arguments, "--out", str(out), "--model", "houses"])
    assert code == 0
    contract = FeatureContract.from_json((out / "schema.json").read_text())
    assert (contract.model, contract.target, contract.algorithm) == (
        "houses",
        "price",
        "linear-learner",
    )
    assert contract.column_names == ("rooms", "city")
    assert "dropped 'other': listed in drop_columns" in capsys.readouterr().out


def test_config_file_alone_names_the_target(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    config = tmp_path / "pipeline.json"
    config.write_text(json.dumps({"target": "price"}))
    out = tmp_path / "out"
    assert main(["preprocess", str(data), "--config", str(config), "--out", str(out)]) == 0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--target", "colour"], "target: column 'colour' is not in"),
        ([], "give --target COLUMN"),
        (["--config", "missing.json"], "cannot read missing.json"),
    ],
)
def test_errors_go_to_stderr_with_exit_code_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    data = write_data(tmp_path)
    code = main(["preprocess", str(data), "--out", str(tmp_path / "out"), *extra])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("sagepipe preprocess: ")
    assert expected in captured.err


def test_bad_data_is_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "empty.csv"
    data.write_bytes(b"")
    code = main(["preprocess", str(data), "--target", "y", "--out", str(tmp_path / "out")])
    assert code == 2
    assert f"{data} is empty (0 bytes)" in capsys.readouterr().err


def test_missing_data_file_is_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "nowhere.csv"
    code = main(["preprocess", str(data), "--target", "y", "--out", str(tmp_path / "out")])
    assert code == 2
    assert f"{data} is not a file" in capsys.readouterr().err
