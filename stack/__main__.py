"""``python -m stack <command>``: the local demo, and deploy/destroy on AWS.

Each subcommand lives in its own module that exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``; this file only maps names to
modules, so a new command is one line in ``SUBCOMMANDS`` plus its module,
and a command's heavy imports load only when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Subcommand name -> module implementing it (HELP, add_arguments, run).
SUBCOMMANDS: dict[str, str] = {
    "demo": "stack.local.demo",
    "deploy": "stack.aws.deploy",
    "destroy": "stack.aws.destroy",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per entry of ``SUBCOMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="python -m stack",
        description="Run the spam classifier stack: locally (demo) or on AWS.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the process exit code."""
    args = build_parser().parse_args(argv)
    return int(args._run(args))


if __name__ == "__main__":
    sys.exit(main())
