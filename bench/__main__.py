"""`make bench`: each figure beside its baseline, measured in the same run.

Sections: preprocessing vs the seed recipe; the prediction path vs the pandas approach
and import cost vs pandas; end to end offline vs plain compute; the preprocess Lambda's
capacity (bench/lambda_capacity.py). Pass section names to
run only some: `python -m bench preprocess predict e2e`.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.flights import SEED_ROWS, write_csv
from bench.harness import directory_bytes, measure, row

DATA_DIR = Path(__file__).parent / ".data"
log = logging.getLogger("bench")


def bench_preprocess() -> None:
    source = write_csv(DATA_DIR / f"flights-{SEED_ROWS}.csv")
    log.info(
        "preprocessing: %s (%.1f MB, %d rows); median of 3 runs each, fresh interpreters",
        source.name,
        source.stat().st_size / 1e6,
        SEED_ROWS,
    )
    results = {}
    for name in ("recipe", "pipeline"):
        runs = []
        for _ in range(3):
            with tempfile.TemporaryDirectory() as out:
                measured = measure([name, str(source), out])
                runs.append((measured.seconds, measured.peak_rss_mb, directory_bytes(Path(out))))
        runs.sort()
        results[name] = runs[1]
    (ours_s, ours_mb, ours_bytes), (base_s, base_mb, base_bytes) = (
        results["pipeline"],
        results["recipe"],
    )
    log.info(row("wall time (goal >= 10x)", ours_s, base_s, "s", "lower"))
    log.info(row("peak RSS (goal ratio >= 1)", ours_mb, base_mb, "MB", "lower"))
    log.info(row("output (goal >= 4x)", ours_bytes / 1e6, base_bytes / 1e6, "MB", "lower"))


def bench_predict() -> None:
    from bench.predict_path import run

    run(log, row)


def bench_capacity() -> None:
    from bench.lambda_capacity import bench_capacity as run

    run()


def bench_end_to_end() -> None:
    from bench.end_to_end import run

    run(log, row)


def bench_cost() -> None:
    from bench.run_cost import run

    run(log, row)


SECTIONS: dict[str, Callable[[], None]] = {
    "preprocess": bench_preprocess,
    "predict": bench_predict,
    "e2e": bench_end_to_end,
    "capacity": bench_capacity,
    "cost": bench_cost,
}


def main(argv: list[str]) -> int:
    # Only the figures: the offline stack and the emulator log at INFO too.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    log.setLevel(logging.INFO)
    names = argv or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        log.error("unknown sections %s; choose from %s", unknown, list(SECTIONS))
        return 2
    log.info("machine: %s cores; python %s", os.cpu_count(), sys.version.split()[0])
    for name in names:
        SECTIONS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
