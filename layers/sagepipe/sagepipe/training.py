"""CreateTrainingJob requests for the built-in algorithms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sagepipe.errors import ConfigError
from sagepipe.pipeline_config import HyperparameterValue, PipelineConfig

XGBOOST_VERSION = "1.7-1"

# Registry accounts of the built-in images (sagemaker-python-sdk image_uri_config);
# the framework images (XGBoost, scikit-learn) share theirs.
FRAMEWORK_IMAGE_ACCOUNTS = {
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
    "eu-west-1": "141502667606",
    "eu-central-1": "492215442770",
    "ap-northeast-1": "354813040037",
    "ap-southeast-2": "783357654285",
}
XGBOOST_ACCOUNTS = FRAMEWORK_IMAGE_ACCOUNTS
LINEAR_LEARNER_ACCOUNTS = {
    "us-east-1": "382416733822",
    "us-east-2": "404615174143",
    "us-west-1": "632365934929",
    "us-west-2": "174872318107",
    "eu-west-1": "438346466558",
    "eu-central-1": "664544806723",
    "ap-northeast-1": "351501993468",
    "ap-southeast-2": "712309505854",
}

XGBOOST_DEFAULTS: dict[str, HyperparameterValue] = {
    "max_depth": 5,
    "eta": 0.2,
    "gamma": 4,
    "min_child_weight": 6,
    "subsample": 0.8,
    "objective": "reg:squarederror",
    "early_stopping_rounds": 10,
    "num_round": 200,
}
LINEAR_LEARNER_DEFAULTS: dict[str, HyperparameterValue] = {
    "predictor_type": "regressor",
}


def image_uri(algorithm: str, region: str) -> str:
    if algorithm == "xgboost":
        accounts, repository = XGBOOST_ACCOUNTS, f"sagemaker-xgboost:{XGBOOST_VERSION}"
    else:
        accounts, repository = LINEAR_LEARNER_ACCOUNTS, "linear-learner:1"
    account = accounts.get(region)
    if account is None:
        raise ConfigError(
            f"no built-in {algorithm} image is known for region {region}; "
            f"supported regions: {', '.join(sorted(accounts))}"
        )
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}"


def hyperparameters(config: PipelineConfig, feature_count: int) -> dict[str, str]:
    """Algorithm defaults overlaid with the user's, as the strings SageMaker expects."""
    if config.algorithm == "xgboost":
        merged = {**XGBOOST_DEFAULTS, **config.hyperparameters}
    else:
        merged = {**LINEAR_LEARNER_DEFAULTS, "feature_dim": feature_count}
        merged.update(config.hyperparameters)
    return {name: _as_hyperparameter_string(value) for name, value in merged.items()}


def _as_hyperparameter_string(value: HyperparameterValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class TrainingJobSpec:
    job_name: str
    algorithm: str
    region: str
    role_arn: str
    content_type: str
    train_uri: str
    validation_uri: str | None
    output_uri: str
    hyperparameters: dict[str, str]
    instance_type: str
    max_runtime_seconds: int
    use_spot: bool
    checkpoint_uri: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


def create_training_job_request(spec: TrainingJobSpec) -> dict[str, Any]:
    channels = [_channel("train", spec.train_uri, spec.content_type)]
    if spec.validation_uri:
        channels.append(_channel("validation", spec.validation_uri, spec.content_type))
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": spec.max_runtime_seconds}
    request: dict[str, Any] = {
        "TrainingJobName": spec.job_name,
        "AlgorithmSpecification": {
            "TrainingImage": image_uri(spec.algorithm, spec.region),
            "TrainingInputMode": "File",
        },
        "RoleArn": spec.role_arn,
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": spec.output_uri},
        "ResourceConfig": {
            "InstanceType": spec.instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        },
        "HyperParameters": spec.hyperparameters,
        "StoppingCondition": stopping,
        "Tags": [{"Key": key, "Value": value} for key, value in spec.tags],
    }
    if spec.use_spot:
        request["EnableManagedSpotTraining"] = True
        # Spot capacity may take a while to arrive: allow twice the run time in total.
        stopping["MaxWaitTimeInSeconds"] = spec.max_runtime_seconds * 2
        if spec.checkpoint_uri:
            request["CheckpointConfig"] = {"S3Uri": spec.checkpoint_uri}
    return request


def _channel(name: str, uri: str, content_type: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "ContentType": content_type,
        "CompressionType": "None",
    }
