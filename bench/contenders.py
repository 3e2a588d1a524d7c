"""Entry points the harness runs in fresh interpreters: `python -m bench.contenders NAME ...`.

Each prints one JSON line with what it measured itself, and its own peak RSS.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench.harness import own_peak_rss_mb


def _recipe(source: str, out: str) -> dict[str, float]:
    from bench.seed_recipe import run_seed_recipe

    started = time.perf_counter()
    run_seed_recipe(Path(source), Path(out))
    return {"seconds": time.perf_counter() - started}


def _pipeline(source: str, out: str) -> dict[str, float]:
    """`sagepipe preprocess FILE --target ARR_DELAY --out DIR`: what the pipeline writes."""
    from bench.flights import TARGET
    from sagepipe.cli import main as sagepipe

    started = time.perf_counter()
    status = sagepipe(
        ["preprocess", source, "--target", TARGET, "--out", out, "--model", "flights"]
    )
    if status != 0:
        raise RuntimeError(f"sagepipe preprocess exited with {status}")
    return {"seconds": time.perf_counter() - started}


def _lambda_preprocess(source: str, out: str) -> dict[str, float]:
    """preprocess_file as the preprocess Lambda runs it: its imports, and no pyarrow.

    The Lambda layers ship pandas and numpy but not pyarrow, so pandas keeps text in
    Python objects there; the venv has pyarrow. Blocking the import here measures the
    memory the Lambda would see, not the venv's.
    """
    sys.modules["pyarrow"] = None  # type: ignore[assignment]
    import boto3  # noqa: F401 - the handler's imports count towards its memory
    from aws_lambda_powertools import Logger  # noqa: F401

    from bench.flights import TARGET
    from sagepipe.pipeline_config import PipelineConfig
    from sagepipe.preprocess import PreprocessSettings, preprocess_file

    started = time.perf_counter()
    preprocess_file(
        Path(source),
        source_name=source,
        model="flights",
        config=PipelineConfig(target=TARGET),
        settings=PreprocessSettings(),
        out_dir=Path(out),
    )
    return {"seconds": time.perf_counter() - started}


CONTENDERS = {"recipe": _recipe, "pipeline": _pipeline, "lambda_preprocess": _lambda_preprocess}


def main(argv: list[str]) -> int:
    name, *args = argv
    result = {**CONTENDERS[name](*args), "peak_rss_mb": own_peak_rss_mb()}
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
