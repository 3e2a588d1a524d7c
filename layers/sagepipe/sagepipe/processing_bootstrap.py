"""Entrypoint of the processing job: install the pinned requirements, then run the job.

    python3 -m sagepipe.processing_bootstrap --requirements <file> --target <dir>
        --exit-message <file> -- <arguments of sagepipe.processing_job>

The standard library only: it runs on the image's own Python before anything is
installed. When every pinned requirement is already importable at its pinned version
(the offline emulator, which runs the venv's Python; or an image that has them), nothing
is installed. Otherwise `pip install --target` puts exactly the pins into a directory
that goes first on the job's import path, leaving the image's own packages alone; pip
needs outbound internet access (PyPI), which processing jobs outside a VPC have.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("sagepipe.processing_bootstrap")

JOB_MODULE = "sagepipe.processing_job"
PIP_TAIL_LINES = 15
EXIT_MESSAGE_LIMIT = 1024
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>\S+)$")


class BootstrapError(Exception):
    """The job's requirements could not be read or installed."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: str


def read_pins(path: Path) -> list[Pin]:
    """`name[extras]==version` lines; comments and blank lines are skipped."""
    pins = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        if match is None:
            raise BootstrapError(f"{path} line {number}: {line!r} is not name==version")
        pins.append(Pin(match.group("name"), match.group("version")))
    return pins


def unmet_pins(pins: Sequence[Pin]) -> list[str]:
    """The pins not importable at their version, as `name==version (found: x)`."""
    unmet = []
    for pin in pins:
        try:
            found = importlib.metadata.version(pin.name)
        except importlib.metadata.PackageNotFoundError:
            found = None
        if found != pin.version:
            unmet.append(f"{pin.name}=={pin.version} (found: {found or 'none'})")
    return unmet


def install(requirements: Path, target: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
        "--only-binary=:all:",
        "--target",
        str(target),
        "--requirement",
        str(requirements),
    ]
    log.info("installing the job's requirements: %s", " ".join(command))
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    sys.stdout.write(completed.stdout)
    sys.stderr.write(completed.stderr)
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-PIP_TAIL_LINES:])
        raise BootstrapError(
            f"pip exited with {completed.returncode} installing {requirements.name} (the job "
            f"needs outbound internet access to PyPI): {tail}"
        )


def job_environment(target: Path | None) -> dict[str, str]:
    environment = dict(os.environ)
    if target is not None:
        paths = [str(target), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
        environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


def write_exit_message(path: Path, message: str) -> None:
    """SageMaker keeps the first KiB of this file as the job's ExitMessage."""
    head = message.encode("utf-8")[:EXIT_MESSAGE_LIMIT].decode("utf-8", "ignore")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head, encoding="utf-8")


def parse_arguments(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    arguments = list(argv)
    job_arguments: list[str] = []
    if "--" in arguments:
        split = arguments.index("--")
        arguments, job_arguments = arguments[:split], arguments[split + 1 :]
    parser = argparse.ArgumentParser(prog="python -m sagepipe.processing_bootstrap")
    parser.add_argument("--requirements", type=Path, required=True)
    parser.add_argument("--target", type=Path, required=True)
    parser.add_argument("--exit-message", type=Path, required=True)
    return parser.parse_args(arguments), job_arguments


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    options, job_arguments = parse_arguments(argv)
    target: Path | None = None
    try:
        unmet = unmet_pins(read_pins(options.requirements))
        if unmet:
            log.info("not importable at the pinned versions: %s", ", ".join(unmet))
            install(options.requirements, options.target)
            target = options.target
        else:
            log.info("every pinned requirement is importable: nothing to install")
    except (BootstrapError, OSError) as error:
        log.error("%s", error)
        write_exit_message(options.exit_message, f"ClientError: {error}")
        return 1
    command = [sys.executable, "-m", JOB_MODULE, *job_arguments]
    log.info("running %s", " ".join(command))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, job_environment(target))
    return 0  # not reached: execve replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
