"""Built-in algorithms, recognised from the image URI's repository and tag."""

from __future__ import annotations

import re

from sagepipe_local.sagemaker.algorithms.base import Algorithm, UserError
from sagepipe_local.sagemaker.algorithms.linear_learner import LinearLearnerAlgorithm
from sagepipe_local.sagemaker.algorithms.xgboost_algorithm import XGBoostAlgorithm

XGBOOST_VERSIONS = frozenset(
    {"0.90-1", "0.90-2", "1.0-1", "1.2-1", "1.2-2", "1.3-1", "1.5-1", "1.7-1", "3.0-5"}
)
LINEAR_LEARNER_TAGS = frozenset({"1", "latest"})
_IMAGE = re.compile(r"^(?:[^/]+/)*(?P<repository>[^/:@]+)(?::(?P<tag>[^/@]+))?(?:@.+)?$")


class UnsupportedImageError(UserError):
    """The image is not a built-in algorithm the emulator can run."""


def resolve_algorithm(image: str) -> Algorithm:
    match = _IMAGE.match(image.strip())
    if match is None:
        raise UnsupportedImageError(f"Cannot parse the image URI {image!r}")
    repository, tag = match.group("repository"), match.group("tag") or "latest"
    if repository == "sagemaker-xgboost":
        if tag not in XGBOOST_VERSIONS:
            raise UnsupportedImageError(
                f"The offline emulator does not know sagemaker-xgboost version {tag!r}; "
                f"known versions: {', '.join(sorted(XGBOOST_VERSIONS))}"
            )
        return XGBoostAlgorithm(tag)
    if repository == "linear-learner":
        if tag not in LINEAR_LEARNER_TAGS:
            raise UnsupportedImageError(f"The offline emulator does not know linear-learner:{tag}")
        return LinearLearnerAlgorithm()
    raise UnsupportedImageError(
        f"The offline emulator runs only the built-in sagemaker-xgboost and linear-learner "
        f"images, not {image!r}"
    )
