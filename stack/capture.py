"""The capture rates a person gives ``demo`` and ``deploy``: one pair of options for both.

``--capture-rate`` and ``--capture-uncertain-rate`` are checked as the API reads
``CAPTURE_RATE`` and ``CAPTURE_UNCERTAIN_RATE`` (``chalicelib.settings``), and handed to it
as environment variables: ``chalice local``'s (the ``local`` stage sets none, so they are
not overridden) or a deployed stage's. Giving either option sets the pair, the other at 0.
"""

from __future__ import annotations

import argparse
import decimal
from collections.abc import Callable

from chalicelib.settings import SettingsError, load_settings

__all__ = ["CAPTURE_VARIABLES", "add_capture_options", "capture_environment", "share_text"]

#: The variables the two options set.
CAPTURE_VARIABLES = ("CAPTURE_RATE", "CAPTURE_UNCERTAIN_RATE")


def _share(variable: str) -> Callable[[str], float]:
    """argparse's type for one rate: what the API would accept for ``variable``."""

    def parse(raw: str) -> float:
        try:
            settings = load_settings({variable: raw})
        except SettingsError as exc:  # "CAPTURE_RATE must be ...": argparse names the option
            raise argparse.ArgumentTypeError("must " + str(exc).split(" must ", 1)[1]) from None
        return float(getattr(settings, variable.lower()))

    return parse


def add_capture_options(parser: argparse.ArgumentParser, *, kept: str) -> None:
    """The two options; ``kept`` says how long what they set lasts."""
    parser.add_argument(
        "--capture-rate",
        type=_share("CAPTURE_RATE"),
        help=f"keep this share of the scored messages for labelling, drawn at random ({kept}; "
        "0 turns capture off)",
    )
    parser.add_argument(
        "--capture-uncertain-rate",
        type=_share("CAPTURE_UNCERTAIN_RATE"),
        help="of the messages not drawn, keep this share of those near the threshold (either "
        "option sets both rates, one not given is 0)",
    )


def share_text(share: float) -> str:
    """A rate as the function's environment (and the stack) holds it: plain decimals.

    >>> share_text(0.0), share_text(1.0), share_text(0.01), share_text(1e-05)
    ('0', '1', '0.01', '0.00001')
    """
    text = format(decimal.Decimal(repr(share)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def capture_environment(rate: float | None, uncertain_rate: float | None) -> dict[str, str]:
    """``CAPTURE_*`` for the options given: none given, nothing (the environment decides).

    >>> capture_environment(None, None), capture_environment(0.1, None)
    ({}, {'CAPTURE_RATE': '0.1', 'CAPTURE_UNCERTAIN_RATE': '0'})
    """
    if rate is None and uncertain_rate is None:
        return {}
    rates = (rate or 0.0, uncertain_rate or 0.0)
    return dict(zip(CAPTURE_VARIABLES, map(share_text, rates), strict=True))
