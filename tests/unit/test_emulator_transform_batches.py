"""How the emulated batch transform cuts an object into MultiRecord mini-batches."""

from __future__ import annotations

import pytest

from sagepipe_local.sagemaker.jobs.base import JobFailedError
from sagepipe_local.sagemaker.jobs.transform import _batches, _line_batches
from sagepipe_local.sagemaker.s3 import S3Location

LOCATION = S3Location.parse("s3://bucket/test/features.libsvm")
LARGE = 1024 * 1024


def _record_by_record(data: bytes, max_payload: int) -> list[bytes]:
    return _batches([line for line in data.splitlines() if line.strip()], max_payload, LOCATION)


@pytest.mark.parametrize(
    "data",
    [
        b"1 1:2\n0 2:3.5\n",
        b"1 1:2\n\n0 2:3.5\n",  # a blank line
        b"\n1 1:2\n0 2:3.5\n",  # a blank first line
        b"1 1:2\n \t\n0 2:3.5\n",  # a line of whitespace
        b"1 1:2\n0 2:3.5",  # no line break at the end
        b"1 1:2\r\n0 2:3.5\r\n",  # CRLF line breaks
        b"1 1:2\r0 2:3.5\r",  # CR line breaks
        b"1 1:2\n0 2:3.5\n\n\n",  # blank lines at the end
        b"",
        b"\n",
    ],
)
def test_the_batches_are_the_non_blank_lines_whatever_the_line_breaks(data: bytes) -> None:
    assert _line_batches(data, LARGE, LOCATION) == _record_by_record(data, LARGE)


def test_an_object_that_fits_in_one_payload_is_one_batch_as_it_is() -> None:
    data = b"".join(f"{n} 1:{n}.5 3:1\n".encode() for n in range(1_000))
    [batch] = _line_batches(data, LARGE, LOCATION)
    assert batch is data


def test_a_larger_object_is_cut_at_line_ends_within_the_payload_limit() -> None:
    data = b"".join(f"{n % 7} 1:{n}\n".encode() for n in range(200))
    batches = _line_batches(data, 100, LOCATION)
    assert len(batches) > 1
    assert all(len(batch) <= 100 and batch.endswith(b"\n") for batch in batches)
    assert b"".join(batches) == data


def test_a_record_larger_than_the_payload_limit_fails_the_job() -> None:
    with pytest.raises(JobFailedError, match="larger than MaxPayloadInMB"):
        _line_batches(b"1 1:2 2:3 3:4 4:5\n", 8, LOCATION)
