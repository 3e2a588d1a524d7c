"""`sagepipe preprocess FILE --out DIR`: the pipeline's preprocessing on a local file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sagepipe.errors import ConfigError, InputDataError
from sagepipe.pipeline_config import PipelineConfig, PipelineDefaults, resolve_pipeline_config
from sagepipe.preprocess import PreparedRun, PreprocessSettings, preprocess_file

EXIT_USAGE = 2


def run_preprocess_command(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, args.target)
        if not args.file.is_file():
            raise InputDataError(f"{args.file} is not a file")
        run = preprocess_file(
            args.file,
            source_name=str(args.file),
            model=args.model,
            config=config,
            settings=PreprocessSettings(),
            out_dir=args.out,
        )
    except (InputDataError, ConfigError) as error:
        sys.stderr.write(f"sagepipe preprocess: {error}\n")
        return EXIT_USAGE
    sys.stdout.write(describe_run(run, args.out))
    return 0


def load_config(path: Path | None, target: str | None) -> PipelineConfig:
    """pipeline.json (optional) over the defaults, with `target` (--target) over both."""
    if path is None and target is None:
        raise ConfigError("give --target COLUMN, or --config with a pipeline.json naming it")
    raw: bytes | None = None
    if path is not None:
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise ConfigError(f"cannot read {path}: {error.strerror}") from error
    if raw is not None and target is not None:
        raw = _with_target(raw, target)
    source = str(path) if path is not None else "--target"
    return resolve_pipeline_config(raw, PipelineDefaults(target=target), source=source)


def _with_target(raw: bytes, target: str) -> bytes:
    """The file's JSON object with its target replaced; unchanged when it is not one
    (resolve_pipeline_config then reports what is wrong with it)."""
    try:
        settings = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw
    if not isinstance(settings, dict):
        return raw
    settings["target"] = target
    return json.dumps(settings).encode()


def describe_run(run: PreparedRun, out_dir: Path) -> str:
    rows = run.rows
    contract = run.contract
    lines = [
        f"rows: {rows['input']} read, {rows['dropped_missing_target']} without a target "
        f"dropped; {rows['train']} train, {rows['validation']} validation, "
        f"{rows['test']} test",
        f"features: {len(contract.features)} from {len(contract.columns)} columns "
        f"({contract.algorithm}, {contract.content_type})",
    ]
    lines.extend(f"dropped {column.name!r}: {column.reason}" for column in contract.dropped)
    lines.extend(f"wrote {out_dir / path}" for path in run.files.values())
    seconds = run.profile["timings_seconds"]["total"]
    lines.append(f"took {seconds:.2f} s")
    return "".join(f"{line}\n" for line in lines)
