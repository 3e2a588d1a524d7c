"""The processing job's code bundle and the requirements it installs."""

from __future__ import annotations

import json
from pathlib import Path

from sagepipe.processing_bootstrap import read_pins
from sagepipe.processing_bundle import CodeBundle, package_dir

REPO = Path(__file__).resolve().parents[2]
LAYER_REQUIREMENTS = (
    REPO / "layers" / "sagepipe" / "requirements.txt",
    REPO / "layers" / "dataframe" / "requirements.txt",
)


def test_bundle_is_the_package_source(tmp_path: Path) -> None:
    bundle = CodeBundle.of_package()

    assert "sagepipe/processing_job.py" in bundle.files
    assert "sagepipe/processing_bootstrap.py" in bundle.files
    assert "sagepipe/steps/prepare.py" in bundle.files
    assert "sagepipe/processing_requirements.txt" in bundle.files
    assert all(not name.endswith(".pyc") and "__pycache__" not in name for name in bundle.files)
    source = (package_dir() / "preprocess.py").read_bytes()
    assert bundle.files["sagepipe/preprocess.py"] == source


def test_digest_follows_the_content(tmp_path: Path) -> None:
    package = tmp_path / "sagepipe"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text('"""x"""\n')
    (package / "__pycache__" / "junk.py").write_text("ignored")
    (package / "notes.md").write_text("ignored")
    first = CodeBundle.of_package(package)
    assert list(first.files) == ["sagepipe/__init__.py"]
    assert CodeBundle.of_package(package).digest == first.digest

    (package / "__init__.py").write_text('"""y"""\n')
    changed = CodeBundle.of_package(package)

    assert changed.digest != first.digest
    manifest = json.loads(changed.manifest())
    assert manifest["digest"] == changed.digest
    assert set(manifest["files"]) == {"sagepipe/__init__.py"}


def test_processing_requirements_are_the_layer_pins() -> None:
    """The job installs exactly what the preprocess function's two layers pin.

    If this fails, copy the pins of layers/sagepipe/requirements.txt and
    layers/dataframe/requirements.txt into sagepipe/processing_requirements.txt.
    """
    bundled = read_pins(package_dir() / "processing_requirements.txt")
    layers = [pin for path in LAYER_REQUIREMENTS for pin in read_pins(path)]
    assert sorted(bundled, key=str) == sorted(layers, key=str)
