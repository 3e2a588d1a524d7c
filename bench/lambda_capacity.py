"""`make bench` section "capacity": the largest input the preprocess Lambda handles.

Measures preprocess_file as the Lambda runs it (contender `lambda_preprocess`: a fresh
interpreter, the handler's imports, no pyarrow) on generated flight-delay CSVs of
growing size, fits wall time and peak RSS per input MiB, and derives for each Lambda
memory setting M the largest input that keeps

- peak RSS <= 80 % of M,
- time <= 50 % of Lambda's 900 s, with the measured compute time scaled for a Lambda
  core (assumed 2x slower than this machine's; below 1,769 MB a Lambda gets a fraction
  of a vCPU, and this code is mostly single-threaded, so more vCPUs do not help) plus
  the S3 download and upload at an assumed 50 MB/s,
- input + output <= the 10,240 MB of ephemeral storage (the template's setting).

It prints the figures, the template's Preprocess MemorySize and ProcessingThresholdMB
default beside what the measurement supports, and the memory model the processing
job's instance sizing uses (sagepipe.processing) beside the fit.
"""

from __future__ import annotations

import gzip
import logging
import math
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.flights import SEED_ROWS, write_csv
from bench.harness import directory_bytes, measure
from sagepipe import processing

log = logging.getLogger("bench")

DATA_DIR = Path(__file__).parent / ".data"
TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
MIB = 1024 * 1024

ROW_COUNTS = (SEED_ROWS, 2 * SEED_ROWS, 4 * SEED_ROWS)
RUNS_PER_SIZE = 2  # the faster time and the larger peak of the two
LAMBDA_LIMIT_SECONDS = 900.0
TIME_SHARE = 0.5
MEMORY_SHARE = processing.MEMORY_HEADROOM  # 0.8
FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at this memory size
LAMBDA_CORE_SLOWDOWN = 2.0  # assumption: a Lambda (arm64) core vs this machine's
S3_MIB_PER_SECOND = 50.0  # assumption: one function's S3 throughput, each way
EPHEMERAL_MB = 10240
MEMORY_SETTINGS_MB = (1769, 3008, 10240)
CHOSEN_MEMORY_MB = 10240
THRESHOLD_STEP_MB = 100


@dataclass(frozen=True)
class Sample:
    rows: int
    input_mib: float
    seconds: float
    peak_rss_mib: float
    output_mib: float


@dataclass(frozen=True)
class LinearFit:
    intercept: float
    slope: float

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x

    def solve(self, y: float) -> float:
        """The x where the fit reaches y (infinite when it never grows to y)."""
        if self.slope <= 0:
            return math.inf if self.intercept < y else 0.0
        return (y - self.intercept) / self.slope


def fit(xs: Sequence[float], ys: Sequence[float]) -> LinearFit:
    """Least squares line through the points."""
    count = len(xs)
    mean_x = sum(xs) / count
    mean_y = sum(ys) / count
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return LinearFit(intercept=mean_y - slope * mean_x, slope=slope)


@dataclass(frozen=True)
class Capacity:
    memory_mb: int
    max_input_mib: float
    bound: str  # what limits it: memory, time or storage
    lambda_seconds: float  # estimated Lambda run time at that input
    peak_mib: float


def lambda_seconds(
    input_mib: float, memory_mb: int, time_fit: LinearFit, output_ratio: float
) -> float:
    cpu_share = min(1.0, memory_mb / FULL_VCPU_MB)
    compute = time_fit.at(input_mib) * LAMBDA_CORE_SLOWDOWN / cpu_share
    transfer = input_mib * (1 + output_ratio) / S3_MIB_PER_SECOND
    return compute + transfer


def capacity(
    memory_mb: int, time_fit: LinearFit, memory_fit: LinearFit, output_ratio: float
) -> Capacity:
    by_memory = memory_fit.solve(MEMORY_SHARE * memory_mb)
    cpu_share = min(1.0, memory_mb / FULL_VCPU_MB)
    # compute(x) + transfer(x) = budget, both linear in x
    budget = TIME_SHARE * LAMBDA_LIMIT_SECONDS
    per_mib = (
        time_fit.slope * LAMBDA_CORE_SLOWDOWN / cpu_share + (1 + output_ratio) / S3_MIB_PER_SECOND
    )
    by_time = (budget - time_fit.intercept * LAMBDA_CORE_SLOWDOWN / cpu_share) / per_mib
    by_storage = EPHEMERAL_MB / (1 + output_ratio)
    limits = {"memory": by_memory, "time": by_time, "storage": by_storage}
    bound = min(limits, key=lambda name: limits[name])
    largest = max(0.0, limits[bound])
    return Capacity(
        memory_mb=memory_mb,
        max_input_mib=largest,
        bound=bound,
        lambda_seconds=lambda_seconds(largest, memory_mb, time_fit, output_ratio),
        peak_mib=memory_fit.at(largest),
    )


def threshold_for(found: Capacity) -> int:
    """The capacity rounded down to a round number of MiB."""
    return int(found.max_input_mib // THRESHOLD_STEP_MB * THRESHOLD_STEP_MB)


def _sample(source: Path, rows: int) -> Sample:
    best_seconds = math.inf
    peak = 0.0
    output = 0
    for _ in range(RUNS_PER_SIZE):
        with tempfile.TemporaryDirectory() as out:
            measured = measure(["lambda_preprocess", str(source), out])
            output = directory_bytes(Path(out))
        best_seconds = min(best_seconds, measured.seconds)
        peak = max(peak, measured.peak_rss_mb)
    return Sample(
        rows=rows,
        input_mib=source.stat().st_size / MIB,
        seconds=best_seconds,
        peak_rss_mib=peak,
        output_mib=output / MIB,
    )


def _gzipped(source: Path) -> Path:
    target = source.with_suffix(".csv.gz")
    if not target.exists():
        partial = target.with_suffix(".partial")
        with source.open("rb") as plain, gzip.open(partial, "wb", compresslevel=6) as packed:
            shutil.copyfileobj(plain, packed, 16 * MIB)
        partial.rename(target)
    return target


def _template_values() -> tuple[int | None, float | None]:
    """Preprocess MemorySize and the ProcessingThresholdMB default, read from the text."""
    text = TEMPLATE.read_text(encoding="utf-8")
    memory = re.search(r"PreprocessFunction:.*?MemorySize:\s*(\d+)", text, re.DOTALL)
    threshold = re.search(r"ProcessingThresholdMB:.*?Default:\s*\"?([0-9.]+)\"?", text, re.DOTALL)
    return (
        int(memory.group(1)) if memory else None,
        float(threshold.group(1)) if threshold else None,
    )


def bench_capacity() -> None:
    sources = [(rows, write_csv(DATA_DIR / f"flights-{rows}.csv", rows)) for rows in ROW_COUNTS]
    log.info(
        "preprocess Lambda capacity: flight CSVs of %s rows, %d fresh interpreters each",
        ", ".join(f"{rows:,}" for rows, _ in sources),
        RUNS_PER_SIZE,
    )
    samples = [_sample(source, rows) for rows, source in sources]
    for sample in samples:
        log.info(
            "  %10s rows %8.1f MiB: %7.2f s, peak RSS %7.0f MiB (%.2f x input), output %6.1f MiB",
            f"{sample.rows:,}",
            sample.input_mib,
            sample.seconds,
            sample.peak_rss_mib,
            sample.peak_rss_mib / sample.input_mib,
            sample.output_mib,
        )
    inputs = [sample.input_mib for sample in samples]
    time_fit = fit(inputs, [sample.seconds for sample in samples])
    memory_fit = fit(inputs, [sample.peak_rss_mib for sample in samples])
    output_ratio = sum(sample.output_mib for sample in samples) / sum(inputs)
    log.info(
        "  fit: time %.2f s + %.1f ms/MiB; peak RSS %.0f MiB + %.2f MiB/MiB; output %.2f x input",
        time_fit.intercept,
        time_fit.slope * 1000,
        memory_fit.intercept,
        memory_fit.slope,
        output_ratio,
    )

    packed = _gzipped(sources[0][1])
    gz = _sample(packed, sources[0][0])
    gz_mib = packed.stat().st_size / MIB
    log.info(
        "  gzip: %.1f MiB -> %.1f MiB (%.1fx; assumed %dx): %.2f s, peak RSS %.0f MiB "
        "(the fit at its text size: %.0f MiB)",
        samples[0].input_mib,
        gz_mib,
        samples[0].input_mib / gz_mib,
        processing.GZIP_EXPANSION,
        gz.seconds,
        gz.peak_rss_mib,
        memory_fit.at(samples[0].input_mib),
    )

    log.info(
        "  limits: peak <= %.0f%% of memory, time <= %.0f%% of %.0f s (compute x%.1f per "
        "Lambda core, S3 at %.0f MiB/s), input + output <= %d MB of /tmp",
        MEMORY_SHARE * 100,
        TIME_SHARE * 100,
        LAMBDA_LIMIT_SECONDS,
        LAMBDA_CORE_SLOWDOWN,
        S3_MIB_PER_SECOND,
        EPHEMERAL_MB,
    )
    results = {m: capacity(m, time_fit, memory_fit, output_ratio) for m in MEMORY_SETTINGS_MB}
    for found in results.values():
        log.info(
            "  MemorySize %5d MB: largest input %6.0f MiB (%s binds; ~%.0f s, peak ~%.0f MiB) "
            "-> threshold %d",
            found.memory_mb,
            found.max_input_mib,
            found.bound,
            found.lambda_seconds,
            found.peak_mib,
            threshold_for(found),
        )
    chosen = results[CHOSEN_MEMORY_MB]
    memory, threshold = _template_values()
    verdict = (
        "ok"
        if memory == CHOSEN_MEMORY_MB
        and threshold is not None
        and threshold <= threshold_for(chosen)
        else "UPDATE template.yaml"
    )
    log.info(
        "  template: Preprocess MemorySize %s, ProcessingThresholdMB default %s; measured "
        "supports %d / %d: %s",
        memory,
        threshold,
        CHOSEN_MEMORY_MB,
        threshold_for(chosen),
        verdict,
    )
    assumed_base = processing.PEAK_MEMORY_BASE_BYTES / MIB
    assumed_slope = processing.PEAK_MEMORY_PER_INPUT_BYTE
    covered = all(
        assumed_base + assumed_slope * sample.input_mib >= sample.peak_rss_mib for sample in samples
    )
    log.info(
        "  processing job sizing assumes peak = %.0f MiB + %.2f x input: %s",
        assumed_base,
        assumed_slope,
        "covers every sample"
        if covered
        else "BELOW a measurement: raise it in sagepipe.processing",
    )
