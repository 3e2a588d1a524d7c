"""Each offline execution runs its own copy of the state machine's parsed program."""

from __future__ import annotations

import enum
import re
from pathlib import Path
from types import FunctionType
from typing import Any

from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from sagepipe_local.moto_hooks import program_copier

DEFINITION = Path(__file__).resolve().parents[2] / "statemachine" / "pipeline.asl.json"
SOME_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:f"


# Immutable values, and singletons that pickle and deepcopy both keep shared.
_SHARED_BY_DESIGN = (str, int, float, bool, type(None), bytes, enum.Enum, type, FunctionType)


def _objects(root: Any) -> list[Any]:
    """Every object reachable through instance attributes, lists and dicts."""
    seen: dict[int, Any] = {}
    pending = [root]
    while pending:
        item = pending.pop()
        if id(item) in seen or isinstance(item, _SHARED_BY_DESIGN):
            continue
        seen[id(item)] = item
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set):
            pending.extend(item)
        elif hasattr(item, "__dict__"):
            pending.extend(vars(item).values())
    return list(seen.values())


def test_copies_of_the_pipeline_share_no_mutable_object() -> None:
    definition = re.sub(r"\$\{\w+\}", SOME_FUNCTION, DEFINITION.read_text())
    program, _ = AmazonStateLanguageParser.parse(definition)
    copy_program = program_copier(program)

    first, second = copy_program(), copy_program()

    mutable = [o for o in _objects(first) if isinstance(o, dict | list) or hasattr(o, "__dict__")]
    in_second = {id(o) for o in _objects(second)}
    shared = [o for o in mutable if id(o) in in_second]
    assert mutable and not shared
    assert type(first) is type(program)


def test_a_program_that_does_not_pickle_is_deep_copied() -> None:
    program = {"states": [{"next": "B"}], "hook": lambda: None}
    copy_program = program_copier(program)

    copied = copy_program()

    assert copied["states"] == program["states"]
    assert copied["states"] is not program["states"]
