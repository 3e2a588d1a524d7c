"""Entry points the harness runs in fresh interpreters: `python -m bench.contenders NAME ...`.

Each prints one JSON line with what it measured itself.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _recipe(source: str, out: str) -> dict[str, float]:
    from bench.seed_recipe import run_seed_recipe

    started = time.perf_counter()
    run_seed_recipe(Path(source), Path(out))
    return {"seconds": time.perf_counter() - started}


def _pipeline(source: str, out: str) -> dict[str, float]:
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


CONTENDERS = {"recipe": _recipe, "pipeline": _pipeline}


def main(argv: list[str]) -> int:
    name, *args = argv
    result = CONTENDERS[name](*args)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
