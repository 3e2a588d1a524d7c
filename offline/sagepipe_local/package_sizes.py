"""Unzipped size of every Lambda function in a `sam build` output, layers included.

Lambda refuses a function whose unzipped code plus all its layers exceeds 250 MB, and
only at deploy time. This reads the built template (`<build dir>/template.yaml`), adds
each function's code directory to the layers it uses (Globals layers first, as SAM
merges them), prints a table and exits 1 when a function is over the limit:

    python -m sagepipe_local.package_sizes .aws-sam/build
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
MIB = 1024 * 1024
FUNCTION_TYPES = frozenset({"AWS::Serverless::Function", "AWS::Lambda::Function"})
LAYER_TYPES = frozenset({"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"})


class BuildError(Exception):
    """The build directory or its template is not what `sam build` writes."""


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags (`!Ref X` -> {"Ref": "X"})."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise BuildError(f"unsupported YAML node {node!r}")
    return {"Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}": value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class LayerSize:
    name: str
    size: int | None  # None: a layer outside the build (an ARN), size unknown


@dataclass(frozen=True)
class FunctionSize:
    name: str
    code: int
    layers: tuple[LayerSize, ...]

    @property
    def total(self) -> int:
        return self.code + sum(layer.size or 0 for layer in self.layers)

    @property
    def over_limit(self) -> bool:
        return self.total > LAMBDA_UNZIPPED_LIMIT

    @property
    def complete(self) -> bool:
        return all(layer.size is not None for layer in self.layers)


def directory_size(path: Path) -> int:
    """Sum of the sizes of the regular files under `path` (what Lambda unzips)."""
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        raise BuildError(f"{path} does not exist: run `sam build` first")
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def load_template(build_dir: Path) -> dict[str, Any]:
    template_path = build_dir / "template.yaml"
    if not template_path.is_file():
        raise BuildError(f"{template_path} not found: run `sam build` first")
    loaded = yaml.load(template_path.read_text(encoding="utf-8"), Loader=_TemplateLoader)
    if not isinstance(loaded, dict) or not isinstance(loaded.get("Resources"), dict):
        raise BuildError(f"{template_path} has no Resources")
    return loaded


def _code_location(properties: dict[str, Any], resource_type: str) -> Any:
    if resource_type == "AWS::Serverless::Function":
        return properties.get("CodeUri")
    if resource_type == "AWS::Serverless::LayerVersion":
        return properties.get("ContentUri")
    if resource_type == "AWS::Lambda::LayerVersion":
        return properties.get("Content")
    return properties.get("Code")


def _local_path(build_dir: Path, name: str, location: Any) -> Path:
    if not isinstance(location, str) or location.startswith("s3://"):
        raise BuildError(f"{name}: code location {location!r} is not a local build directory")
    return build_dir / location


def _layer_refs(template: dict[str, Any], properties: dict[str, Any]) -> list[Any]:
    global_layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    return [*global_layers, *properties.get("Layers", [])]


def measure(build_dir: Path) -> list[FunctionSize]:
    template = load_template(build_dir)
    resources: dict[str, Any] = template["Resources"]
    layer_sizes: dict[str, int] = {}
    for name, resource in resources.items():
        resource_type = resource.get("Type")
        if resource_type in LAYER_TYPES:
            location = _code_location(resource.get("Properties", {}), resource_type)
            layer_sizes[name] = directory_size(_local_path(build_dir, name, location))

    functions: list[FunctionSize] = []
    for name, resource in sorted(resources.items()):
        resource_type = resource.get("Type")
        if resource_type not in FUNCTION_TYPES:
            continue
        properties = resource.get("Properties", {})
        location = _code_location(properties, resource_type)
        code = directory_size(_local_path(build_dir, name, location))
        layers: list[LayerSize] = []
        for ref in _layer_refs(template, properties):
            if isinstance(ref, dict) and ref.get("Ref") in layer_sizes:
                layers.append(LayerSize(ref["Ref"], layer_sizes[ref["Ref"]]))
            else:
                layers.append(LayerSize(str(ref), None))
        functions.append(FunctionSize(name, code, tuple(layers)))
    if not functions:
        raise BuildError(f"no functions in {build_dir / 'template.yaml'}")
    return functions


def _mib(size: int) -> str:
    return f"{size / MIB:.1f}"


def write_table(functions: Sequence[FunctionSize], out: TextIO) -> None:
    headers = ("function", "code MiB", "layers MiB", "total MiB", "limit", "layers")
    rows = []
    for function in functions:
        layer_total = sum(layer.size or 0 for layer in function.layers)
        names = ", ".join(
            layer.name if layer.size is not None else f"{layer.name} (size unknown)"
            for layer in function.layers
        )
        status = "OVER" if function.over_limit else "ok"
        rows.append(
            (
                function.name,
                _mib(function.code),
                _mib(layer_total),
                _mib(function.total),
                status,
                names or "-",
            )
        )
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    numeric = {1, 2, 3}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    out.write(line(headers) + "\n")
    out.write(line(["-" * width for width in widths]) + "\n")
    for row in rows:
        out.write(line(row) + "\n")
    out.write(f"Lambda limit: {_mib(LAMBDA_UNZIPPED_LIMIT)} MiB unzipped, code plus layers.\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sagepipe_local.package_sizes",
        description="Unzipped size of each function in a sam build directory, layers included.",
    )
    parser.add_argument("build_dir", type=Path, nargs="?", default=Path(".aws-sam/build"))
    args = parser.parse_args(argv)
    try:
        functions = measure(args.build_dir)
    except BuildError as error:
        sys.stderr.write(f"package_sizes: {error}\n")
        return 2
    write_table(functions, sys.stdout)
    over = [function.name for function in functions if function.over_limit]
    if over:
        sys.stderr.write(f"package_sizes: over the 250 MiB limit: {', '.join(over)}\n")
        return 1
    unknown = [function.name for function in functions if not function.complete]
    if unknown:
        sys.stderr.write(
            f"package_sizes: layers outside this build were not counted for: {', '.join(unknown)}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
