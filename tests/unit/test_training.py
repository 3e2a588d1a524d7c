"""CreateTrainingJob requests: images per region, hyperparameters, channels, spot."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sagepipe.errors import ConfigError
from sagepipe.pipeline_config import PipelineConfig
from sagepipe.training import (
    LINEAR_LEARNER_ACCOUNTS,
    XGBOOST_ACCOUNTS,
    TrainingJobSpec,
    create_training_job_request,
    hyperparameters,
    image_uri,
)

XGBOOST_IMAGES = {
    "us-east-1": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "us-east-2": "257758044811.dkr.ecr.us-east-2.amazonaws.com/sagemaker-xgboost:1.7-1",
    "us-west-1": "746614075791.dkr.ecr.us-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "us-west-2": "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1",
    "eu-west-1": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "eu-central-1": "492215442770.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "ap-northeast-1": "354813040037.dkr.ecr.ap-northeast-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "ap-southeast-2": "783357654285.dkr.ecr.ap-southeast-2.amazonaws.com/sagemaker-xgboost:1.7-1",
}
LINEAR_LEARNER_IMAGES = {
    "us-east-1": "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
    "us-east-2": "404615174143.dkr.ecr.us-east-2.amazonaws.com/linear-learner:1",
    "us-west-1": "632365934929.dkr.ecr.us-west-1.amazonaws.com/linear-learner:1",
    "us-west-2": "174872318107.dkr.ecr.us-west-2.amazonaws.com/linear-learner:1",
    "eu-west-1": "438346466558.dkr.ecr.eu-west-1.amazonaws.com/linear-learner:1",
    "eu-central-1": "664544806723.dkr.ecr.eu-central-1.amazonaws.com/linear-learner:1",
    "ap-northeast-1": "351501993468.dkr.ecr.ap-northeast-1.amazonaws.com/linear-learner:1",
    "ap-southeast-2": "712309505854.dkr.ecr.ap-southeast-2.amazonaws.com/linear-learner:1",
}
XGBOOST_DEFAULT_STRINGS = {
    "max_depth": "5",
    "eta": "0.2",
    "gamma": "4",
    "min_child_weight": "6",
    "subsample": "0.8",
    "objective": "reg:squarederror",
    "early_stopping_rounds": "10",
    "num_round": "200",
}
ROOT = "s3://bucket/runs/housing/housing-20261120093000-1a2b3c4d/"


def _config(**values: Any) -> PipelineConfig:
    return PipelineConfig.model_validate({"target": "price", **values})


def _spec(**overrides: Any) -> TrainingJobSpec:
    spec = TrainingJobSpec(
        job_name="housing-20261120093000-1a2b3c4d-tr",
        algorithm="xgboost",
        region="us-east-1",
        role_arn="arn:aws:iam::123456789012:role/sagemaker",
        content_type="text/libsvm",
        train_uri=f"{ROOT}data/train/train.csv",
        validation_uri=f"{ROOT}data/validation/validation.csv",
        output_uri=f"{ROOT}training/",
        hyperparameters=dict(XGBOOST_DEFAULT_STRINGS),
        instance_type="ml.m5.large",
        max_runtime_seconds=3600,
        use_spot=False,
        checkpoint_uri=f"{ROOT}checkpoints/",
        tags=(("sagepipe:model", "housing"),),
    )
    return replace(spec, **overrides)


@pytest.mark.parametrize(("region", "image"), sorted(XGBOOST_IMAGES.items()))
def test_xgboost_image_per_region(region: str, image: str) -> None:
    assert image_uri("xgboost", region) == image


@pytest.mark.parametrize(("region", "image"), sorted(LINEAR_LEARNER_IMAGES.items()))
def test_linear_learner_image_per_region(region: str, image: str) -> None:
    assert image_uri("linear-learner", region) == image


def test_both_algorithms_cover_the_same_regions() -> None:
    assert set(XGBOOST_ACCOUNTS) == set(LINEAR_LEARNER_ACCOUNTS) == set(XGBOOST_IMAGES)


@pytest.mark.parametrize("algorithm", ["xgboost", "linear-learner"])
def test_unknown_region_is_a_config_error(algorithm: str) -> None:
    with pytest.raises(ConfigError, match="region mars-north-1") as raised:
        image_uri(algorithm, "mars-north-1")
    assert "us-east-1" in str(raised.value)


def test_xgboost_default_hyperparameters_exactly() -> None:
    assert hyperparameters(_config(), feature_count=12) == XGBOOST_DEFAULT_STRINGS


def test_xgboost_user_overrides_are_merged_as_strings() -> None:
    config = _config(hyperparameters={"eta": 0.05, "num_round": 500, "verbosity": True})
    params = hyperparameters(config, feature_count=12)
    assert params == {
        **XGBOOST_DEFAULT_STRINGS,
        "eta": "0.05",
        "num_round": "500",
        "verbosity": "true",
    }
    assert all(isinstance(value, str) for value in params.values())


def test_linear_learner_hyperparameters() -> None:
    params = hyperparameters(_config(algorithm="linear-learner"), feature_count=12)
    assert params == {"predictor_type": "regressor", "feature_dim": "12"}


def test_linear_learner_user_overrides_are_merged_as_strings() -> None:
    config = _config(
        algorithm="linear-learner",
        hyperparameters={"epochs": 20, "use_bias": False, "learning_rate": 0.01},
    )
    params = hyperparameters(config, feature_count=3)
    assert params == {
        "predictor_type": "regressor",
        "feature_dim": "3",
        "epochs": "20",
        "use_bias": "false",
        "learning_rate": "0.01",
    }


def test_training_request_shape() -> None:
    request = create_training_job_request(_spec())
    assert request["TrainingJobName"] == "housing-20261120093000-1a2b3c4d-tr"
    assert request["AlgorithmSpecification"] == {
        "TrainingImage": XGBOOST_IMAGES["us-east-1"],
        "TrainingInputMode": "File",
    }
    assert request["RoleArn"] == "arn:aws:iam::123456789012:role/sagemaker"
    assert request["OutputDataConfig"] == {"S3OutputPath": f"{ROOT}training/"}
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    assert request["HyperParameters"] == XGBOOST_DEFAULT_STRINGS
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert request["Tags"] == [{"Key": "sagepipe:model", "Value": "housing"}]
    assert "EnableManagedSpotTraining" not in request
    assert "CheckpointConfig" not in request


def test_training_channels_carry_the_content_type() -> None:
    channels = create_training_job_request(_spec())["InputDataConfig"]
    assert [c["ChannelName"] for c in channels] == ["train", "validation"]
    train, validation = channels
    assert train == {
        "ChannelName": "train",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"{ROOT}data/train/train.csv",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "ContentType": "text/libsvm",
        "CompressionType": "None",
    }
    assert validation["DataSource"]["S3DataSource"]["S3Uri"] == (
        f"{ROOT}data/validation/validation.csv"
    )
    assert validation["ContentType"] == "text/libsvm"


def test_no_validation_channel_without_a_validation_split() -> None:
    channels = create_training_job_request(_spec(validation_uri=None))["InputDataConfig"]
    assert [c["ChannelName"] for c in channels] == ["train"]


def test_linear_learner_request_uses_csv_and_its_image() -> None:
    request = create_training_job_request(
        _spec(algorithm="linear-learner", content_type="text/csv", region="eu-west-1")
    )
    assert request["AlgorithmSpecification"]["TrainingImage"] == LINEAR_LEARNER_IMAGES["eu-west-1"]
    assert {c["ContentType"] for c in request["InputDataConfig"]} == {"text/csv"}


def test_spot_training_settings() -> None:
    request = create_training_job_request(_spec(use_spot=True, max_runtime_seconds=1800))
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 1800,
        "MaxWaitTimeInSeconds": 3600,
    }
    assert request["CheckpointConfig"] == {"S3Uri": f"{ROOT}checkpoints/"}


def test_spot_training_without_checkpoint_uri() -> None:
    request = create_training_job_request(_spec(use_spot=True, checkpoint_uri=None))
    assert request["EnableManagedSpotTraining"] is True
    assert "CheckpointConfig" not in request
