"""layers/build_layer.py: what a built layer ships (without the pip install, which needs
an index: the layers' own modules, compiled to bytecode Lambda can load read-only)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_layer", REPO / "layers" / "build_layer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _layer_source(root: Path) -> Path:
    source = root / "source"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    (source / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (source / "pkg" / "__pycache__" / "stale.pyc").write_bytes(b"stale")
    (source / "single.py").write_text("X = 2\n")
    (source / "Makefile").write_text("build-Layer:\n")
    return source


@pytest.mark.skipif(sys.version_info[:2] != (3, 12), reason="builds for Lambda's Python 3.12")
def test_a_layer_ships_its_modules_with_unchecked_bytecode(tmp_path: Path) -> None:
    builder = _builder()
    builder.build(_layer_source(tmp_path), tmp_path / "artifacts")

    python = tmp_path / "artifacts" / "python"
    shipped = sorted(p.relative_to(python).as_posix() for p in python.rglob("*") if p.is_file())
    tag = sys.implementation.cache_tag
    assert shipped == [
        f"__pycache__/single.{tag}.pyc",
        "pkg/__init__.py",
        f"pkg/__pycache__/__init__.{tag}.pyc",
        "single.py",
    ]
    header = (python / "pkg" / "__pycache__" / f"__init__.{tag}.pyc").read_bytes()[:8]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    # PEP 552 flags: hash-based (bit 0) without checking the source (bit 1 clear).
    assert int.from_bytes(header[4:8], "little") == 0b01


def test_the_builder_refuses_another_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = _builder()
    monkeypatch.setattr(builder, "RUNTIME", (3, 99))
    with pytest.raises(SystemExit, match=r"Python 3\.99"):
        builder.build(_layer_source(tmp_path), tmp_path / "artifacts")


def test_pips_console_scripts_are_not_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = _builder()
    target = tmp_path / "python"

    def pip_install(command: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        (target / "bin").mkdir(parents=True)
        (target / "bin" / "jp.py").write_text("#!/usr/bin/python\n")
        (target / "jmespath").mkdir()
        (target / "jmespath" / "__init__.py").write_text("")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(builder.subprocess, "run", pip_install)
    builder.install_requirements(tmp_path / "requirements.txt", target)
    assert sorted(p.name for p in target.iterdir()) == ["jmespath"]
