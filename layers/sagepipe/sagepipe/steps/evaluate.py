"""Score the transform output against the held-out labels and decide on deployment."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from sagepipe.aws_errors import OBJECT_MISSING_CODES, error_code, raise_if_transient
from sagepipe.errors import InputDataError
from sagepipe.evaluation import compute_metrics, gate, parse_numbers
from sagepipe.layout import RunLayout, s3_uri, split_s3_uri
from sagepipe.observability import logger
from sagepipe.run_state import Evaluation, Prepared, RunInput, TransformRef
from sagepipe.transform import transform_output_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def evaluate(
    run: RunInput, prepared: Prepared, transform: TransformRef, s3: S3Client
) -> Evaluation:
    bucket, features_key = split_s3_uri(prepared.test_features_uri)
    _, output_prefix = split_s3_uri(transform.output_uri)
    output_key = transform_output_key(output_prefix, features_key)
    predictions = parse_numbers(_read(s3, bucket, output_key), s3_uri(bucket, output_key))
    labels_bucket, labels_key = split_s3_uri(prepared.test_labels_uri)
    labels = parse_numbers(_read(s3, labels_bucket, labels_key), prepared.test_labels_uri)
    metrics = compute_metrics(predictions, labels, prepared.train_target_mean)
    max_rmse = prepared.config.get("max_rmse")
    decision = gate(metrics, None if max_rmse is None else float(max_rmse))
    layout = RunLayout(run.model, run.run_id)
    result = {**metrics.to_dict(), "deploy": decision.deploy, "reason": decision.reason}
    s3.put_object(
        Bucket=run.bucket,
        Key=layout.metrics_key,
        Body=json.dumps(result, indent=2).encode(),
        ContentType="application/json",
    )
    logger.info("evaluated", extra={"metrics": metrics.to_dict(), "deploy": decision.deploy})
    return Evaluation(
        metrics=metrics.to_dict(),
        deploy=decision.deploy,
        reason=decision.reason,
        metrics_uri=s3_uri(run.bucket, layout.metrics_key),
    )


def _read(s3: S3Client, bucket: str, key: str) -> str:
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error_code(error) in OBJECT_MISSING_CODES:
            raise InputDataError(
                f"{s3_uri(bucket, key)} does not exist: the batch transform wrote no output"
            ) from error
        raise_if_transient(error)
        raise
    return body.decode()
