"""``python -m bench`` (what ``make bench`` runs): measure, print one table, save it.

Exit status: 0 when every figure was measured (whatever it shows), 1 when something could
not be measured, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import replace
from pathlib import Path

from bench.runner import STEPS, publish, run
from bench.settings import BenchSettings


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the table to stdout (progress goes to stderr)."""
    sections = sorted({section for section, _name, _step in STEPS}, key=int)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        metavar="N[,N]",
        help=f"run only these sections ({', '.join(sections)}); training (7) always runs "
        "first when another section needs its model",
    )
    parser.add_argument("--quick", action="store_true", help="small samples: a smoke run")
    parser.add_argument("--rebuild", action="store_true", help="rebuild cached layers")
    parser.add_argument("--results-dir", type=Path, help="where latest.md/json go")
    parser.add_argument("--no-spamassassin", action="store_true", help="skip the SMS+email run")
    args = parser.parse_args(argv)

    settings = BenchSettings()
    if args.quick:
        settings = settings.quick()
    settings = replace(
        settings,
        rebuild=args.rebuild,
        with_spamassassin=not args.no_spamassassin,
        results_dir=args.results_dir or settings.results_dir,
    )
    only = None
    if args.only:
        only = {part.strip() for part in args.only.split(",") if part.strip()}
        unknown = only - set(sections)
        if unknown:
            parser.error(f"unknown section(s) {sorted(unknown)}; choose from {sections}")
        only.add("7")  # everything else serves or inspects the model it publishes
    # SIGTERM (a CI timeout, `timeout`) unwinds like Ctrl-C, so the moto and chalice
    # servers the run started are stopped instead of being left listening.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    outcome = run(settings, only=only, quick=args.quick)
    print(publish(outcome, settings))
    if outcome.failures:
        print("\nNot measured:", file=sys.stderr)
        for failure in outcome.failures:
            print(f"  - {failure.splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
