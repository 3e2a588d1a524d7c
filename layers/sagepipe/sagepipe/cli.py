"""The `sagepipe` command.

Arguments are declared here; each subcommand's implementation is imported only when it
runs, so `sagepipe --help` stays fast and the offline stack is never imported on Lambda.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sagepipe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    prep = commands.add_parser(
        "preprocess", help="run the pipeline's preprocessing on a local CSV file"
    )
    prep.add_argument("file", type=Path)
    prep.add_argument("--target", help="column to predict (overrides --config)")
    prep.add_argument("--out", type=Path, required=True, help="output directory")
    prep.add_argument("--config", type=Path, help="a pipeline.json")
    prep.add_argument("--model", default="local", help="model name recorded in the schema")

    local = commands.add_parser("local", help="the offline stack")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser("up", help="start the offline stack in the foreground")
    up.add_argument("--port", type=int, default=4566, help="AWS API port (S3, SFN, ...)")
    up.add_argument("--api-port", type=int, default=3000, help="prediction API port")
    up.add_argument("--state-dir", type=Path, help="keep objects and models here")

    demo = commands.add_parser("demo", help="run the whole pipeline offline on sample data")
    demo.add_argument("--port", type=int, default=4566)
    demo.add_argument("--api-port", type=int, default=3000)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "preprocess":
        from sagepipe.preprocess_cli import run_preprocess_command

        return run_preprocess_command(args)
    if args.command == "local":
        from sagepipe_local.cli import run_local_command

        return run_local_command(args)
    from sagepipe_local.demo import run_demo

    return run_demo(args)


if __name__ == "__main__":
    sys.exit(main())
