"""FeatureContract: features derived from columns, JSON round trip, design's shape."""

from __future__ import annotations

import json

import pytest

from sagepipe.contract import (
    FORMAT_VERSION,
    OTHER_CATEGORY,
    ColumnSpec,
    DroppedColumn,
    FeatureContract,
)


def _contract(**overrides: object) -> FeatureContract:
    values: dict[str, object] = {
        "model": "housing",
        "target": "price",
        "algorithm": "xgboost",
        "columns": (
            ColumnSpec(name="rooms", kind="numeric", fill=5.0),
            ColumnSpec(name="city", kind="categorical", categories=("a", "b")),
        ),
        "missing": "native",
        "content_type": "text/libsvm",
        "dropped": (DroppedColumn("id", "identifier-like: 1000 distinct values in 1000 rows"),),
    }
    values.update(overrides)
    return FeatureContract(**values)  # type: ignore[arg-type]


def test_feature_names_of_columns() -> None:
    assert ColumnSpec("rooms", "numeric", fill=1.0).feature_names() == ["rooms"]
    city = ColumnSpec("city", "categorical", categories=("a", "b"))
    assert city.feature_names() == ["city=a", "city=b", f"city={OTHER_CATEGORY}"]
    assert ColumnSpec("c", "categorical").feature_names() == ["c=__other__"]


def test_features_are_derived_from_columns() -> None:
    contract = _contract()
    assert contract.features == ("rooms", "city=a", "city=b", "city=__other__")
    assert contract.column_names == ("rooms", "city")


def test_explicit_features_must_match_columns() -> None:
    _contract(features=("rooms", "city=a", "city=b", "city=__other__"))
    with pytest.raises(ValueError, match="do not match"):
        _contract(features=("city=a", "rooms"))


def test_to_dict_has_the_design_shape() -> None:
    data = json.loads(_contract().to_json())
    assert data == {
        "format_version": FORMAT_VERSION,
        "model": "housing",
        "target": "price",
        "algorithm": "xgboost",
        "columns": [
            {"name": "rooms", "kind": "numeric", "fill": 5.0},
            {"name": "city", "kind": "categorical", "categories": ["a", "b"]},
        ],
        "dropped": [{"name": "id", "reason": "identifier-like: 1000 distinct values in 1000 rows"}],
        "features": ["rooms", "city=a", "city=b", "city=__other__"],
        "missing": "native",
        "content_type": "text/libsvm",
    }


@pytest.mark.parametrize(
    ("algorithm", "missing", "content_type"),
    [("xgboost", "native", "text/libsvm"), ("linear-learner", "impute", "text/csv")],
)
def test_json_round_trip(algorithm: str, missing: str, content_type: str) -> None:
    contract = _contract(algorithm=algorithm, missing=missing, content_type=content_type)
    assert FeatureContract.from_json(contract.to_json()) == contract
    assert FeatureContract.from_json(contract.to_json().encode()) == contract
    assert FeatureContract.from_dict(contract.to_dict()) == contract


def test_round_trip_of_a_numeric_column_without_fill() -> None:
    contract = _contract(columns=(ColumnSpec("x", "numeric"),), dropped=())
    again = FeatureContract.from_json(contract.to_json())
    assert again == contract
    assert again.columns[0].fill is None


def test_from_dict_without_dropped() -> None:
    data = _contract().to_dict()
    del data["dropped"]
    assert FeatureContract.from_dict(data).dropped == ()


@pytest.mark.parametrize("version", [None, 0, 2, "1"])
def test_unsupported_format_version(version: object) -> None:
    data = _contract().to_dict()
    if version is None:
        del data["format_version"]
    else:
        data["format_version"] = version
    with pytest.raises(ValueError, match="unsupported contract format"):
        FeatureContract.from_dict(data)


def test_from_dict_rejects_features_that_disagree_with_columns() -> None:
    data = _contract().to_dict()
    data["features"] = ["rooms"]
    with pytest.raises(ValueError, match="do not match"):
        FeatureContract.from_dict(data)
