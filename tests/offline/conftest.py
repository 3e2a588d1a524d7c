"""Fixtures that run the offline stack on free loopback ports.

- `local_stack`: the product's template.yaml deployed offline, shared by a test module.
- `mini_stack`: tests/offline/fixtures/template.yaml (trivial handlers), shared by a module.
- `offline_stack_factory`: start stacks with any template/state dir inside one test.

One stack runs per process at a time (moto is process-wide), so a module uses either a
module-scoped stack or the factory, not both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sagepipe_local.stack import DEFAULT_TEMPLATE, LocalStack

FIXTURES = Path(__file__).parent / "fixtures"
MINI_TEMPLATE = FIXTURES / "template.yaml"

StackFactory = Callable[..., LocalStack]


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The product's template on free ports; function logs under the test's temp dir."""
    if not DEFAULT_TEMPLATE.is_file():
        pytest.skip(f"{DEFAULT_TEMPLATE} does not exist yet")
    work_dir = tmp_path_factory.mktemp("local-stack")
    with LocalStack(port=0, api_port=0, work_dir=work_dir) as stack:
        yield stack


@pytest.fixture(scope="module")
def mini_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    work_dir = tmp_path_factory.mktemp("mini-stack")
    with LocalStack(
        port=0,
        api_port=0,
        template=MINI_TEMPLATE,
        parameter_overrides={"Greeting": "hi"},
        work_dir=work_dir,
    ) as stack:
        yield stack


@pytest.fixture
def offline_stack_factory(tmp_path: Path) -> Iterator[StackFactory]:
    """`start(**LocalStack kwargs)` on free ports; every stack started is stopped after."""
    started: list[LocalStack] = []

    def start(**kwargs: Any) -> LocalStack:
        options: dict[str, Any] = {
            "port": 0,
            "api_port": 0,
            "template": MINI_TEMPLATE,
            "work_dir": tmp_path / f"work-{len(started)}",
        }
        options.update(kwargs)
        stack = LocalStack(**options)
        started.append(stack)
        stack.start()
        return stack

    yield start
    for stack in reversed(started):
        stack.stop()
