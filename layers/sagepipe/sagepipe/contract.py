"""The feature contract (schema.json): how raw columns become model features.

Written by preprocessing, read by the prediction API. It is plain JSON so that the
prediction function can load it without pandas.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FORMAT_VERSION = 1
OTHER_CATEGORY = "__other__"

ColumnKind = Literal["numeric", "categorical"]
MissingPolicy = Literal["native", "impute"]
ContentType = Literal["text/libsvm", "text/csv"]


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of a prediction request."""

    name: str
    kind: ColumnKind
    fill: float | None = None  # numeric: training median, used when missing == "impute"
    categories: tuple[str, ...] = ()  # categorical: kept categories, most frequent first

    def feature_names(self) -> list[str]:
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}={c}" for c in (*self.categories, OTHER_CATEGORY)]


@dataclass(frozen=True)
class DroppedColumn:
    name: str
    reason: str


@dataclass(frozen=True)
class FeatureContract:
    model: str
    target: str
    algorithm: str
    columns: tuple[ColumnSpec, ...]
    missing: MissingPolicy
    content_type: ContentType
    dropped: tuple[DroppedColumn, ...] = ()
    features: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        expected = tuple(name for column in self.columns for name in column.feature_names())
        if not self.features:
            object.__setattr__(self, "features", expected)
        elif self.features != expected:
            raise ValueError("contract features do not match its columns")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["format_version"] = FORMAT_VERSION
        data["columns"] = [_column_to_dict(column) for column in self.columns]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureContract:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported contract format {data.get('format_version')!r}")
        return cls(
            model=data["model"],
            target=data["target"],
            algorithm=data["algorithm"],
            columns=tuple(
                ColumnSpec(
                    name=c["name"],
                    kind=c["kind"],
                    fill=c.get("fill"),
                    categories=tuple(c.get("categories", ())),
                )
                for c in data["columns"]
            ),
            missing=data["missing"],
            content_type=data["content_type"],
            dropped=tuple(DroppedColumn(d["name"], d["reason"]) for d in data.get("dropped", [])),
            features=tuple(data["features"]),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> FeatureContract:
        return cls.from_dict(json.loads(text))


def _column_to_dict(column: ColumnSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"name": column.name, "kind": column.kind}
    if column.kind == "numeric":
        data["fill"] = column.fill
    else:
        data["categories"] = list(column.categories)
    return data
