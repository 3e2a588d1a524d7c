"""The processing job's work: the preprocess Lambda's preprocessing, on local files.

    python -m sagepipe.processing_job --job <job.json> --data <dir> --output <dir>
        [--exit-message <file>]

Reads the input file named in job.json from --data, writes the channels, schema.json,
profile.json and prepared.json (the Prepared record the preprocess Lambda would have
returned, with the URIs the files get once SageMaker copies --output to the run's
prefix) under --output. No AWS calls and nothing Lambda-specific: SageMaker moves the
files. A data or configuration problem exits 1 with "<ErrorClass>: <message>" in the
exit message file (DescribeProcessingJob's ExitMessage).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import sagepipe
from sagepipe.errors import InputDataError, PipelineError
from sagepipe.pipeline_config import PipelineConfig
from sagepipe.preprocess import PreprocessSettings, prepared_record, preprocess_file, run_file_uris
from sagepipe.processing import PREPARED_FILE_NAME, ProcessingJobDescription
from sagepipe.processing_bootstrap import write_exit_message
from sagepipe.run_state import Prepared

log = logging.getLogger("sagepipe.processing_job")


def run_job(description: ProcessingJobDescription, data_dir: Path, output_dir: Path) -> Prepared:
    source = data_dir / description.data_file
    if not source.is_file():
        raise InputDataError(f"{description.source_name}: the job's input file is missing")
    config = PipelineConfig.model_validate(description.config)
    started = time.perf_counter()
    result = preprocess_file(
        source,
        source_name=description.source_name,
        model=description.model,
        config=config,
        settings=PreprocessSettings(
            max_categories=description.max_categories, min_rows=description.min_rows
        ),
        out_dir=output_dir,
    )
    prepared = prepared_record(config, result, run_file_uris(description.run_root_uri, result))
    (output_dir / PREPARED_FILE_NAME).write_text(
        json.dumps(prepared.to_dict(), indent=2), encoding="utf-8"
    )
    log.info(
        "preprocessed %s: %s rows, %d features in %.1f s",
        description.source_name,
        result.rows,
        prepared.feature_count,
        time.perf_counter() - started,
    )
    return prepared


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sagepipe.processing_job")
    parser.add_argument("--job", type=Path, required=True, help="job.json")
    parser.add_argument("--data", type=Path, required=True, help="directory with the input")
    parser.add_argument("--output", type=Path, required=True, help="directory for the run files")
    parser.add_argument("--exit-message", type=Path, default=None)
    return parser.parse_args(list(argv))


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    options = _parse(argv)
    log.info("sagepipe from %s", Path(sagepipe.__file__).parent)
    try:
        description = ProcessingJobDescription.from_json(options.job.read_text(encoding="utf-8"))
        run_job(description, options.data, options.output)
    except PipelineError as error:
        message = f"{type(error).__name__}: {error}"
        log.error("%s", message)
        if options.exit_message is not None:
            write_exit_message(options.exit_message, message)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
