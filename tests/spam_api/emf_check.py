"""The API's metric lines as tests read them: each checked against AWS's EMF specification.

``check_line`` validates a line against the specification's JSON schema
(``tests/fixtures/emf/emf-schema.json``, copied from AWS's documentation) and against the
rules the schema cannot state, then reads it back with ``metrics_format.parse_emf_line``,
the reader ``trainer monitor`` uses. ``total`` sums one metric over lines, by dimension.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from pathlib import Path

from chalicelib.metrics_format import EmfLine, parse_emf_line
from jsonschema import Draft7Validator

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "emf" / "emf-schema.json"
#: The specification: an EMF document has the limits of a CloudWatch Logs event, 256 KB.
MAX_EVENT_BYTES = 256 * 1024
#: The specification: at most 100 metric definitions per directive, 100 values per metric.
MAX_DEFINITIONS = 100
MAX_VALUES = 100


@functools.cache
def _validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def check_line(line: str) -> EmfLine:
    """``line`` as the specification requires it, read back; AssertionError says what broke."""
    assert len(line.encode("utf-8")) <= MAX_EVENT_BYTES, len(line)
    document = json.loads(line)  # one JSON object, nothing before or after it on the line
    assert isinstance(document, dict), line
    errors = [error.message for error in _validator().iter_errors(document)]
    assert not errors, (errors, line)
    for directive in document["_aws"]["CloudWatchMetrics"]:
        assert len(directive["Metrics"]) <= MAX_DEFINITIONS, line
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:  # a dimension target: a string member of the root
                assert isinstance(document.get(name), str), (name, line)
        for definition in directive["Metrics"]:  # a metric target: a number or <= 100 numbers
            value = document[definition["Name"]]
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= MAX_VALUES, (definition["Name"], line)
            for v in values:
                assert isinstance(v, int | float) and not isinstance(v, bool), (v, line)
                assert math.isfinite(v), (v, line)
    parsed = parse_emf_line(line)
    assert parsed is not None, line
    return parsed


def emf_lines(text: str) -> list[str]:
    """The lines of ``text`` (a captured stdout, a log) that claim to be EMF."""
    return [line for line in text.splitlines() if line.startswith("{") and '"_aws"' in line]


def read_lines(text: str) -> list[EmfLine]:
    """Every EMF line of ``text``, each checked against the specification."""
    return [check_line(line) for line in emf_lines(text)]


def total(lines: Iterable[EmfLine], metric: str, **dimensions: str) -> float:
    """The sum of ``metric``'s values over the lines whose dimensions include ``dimensions``."""
    return sum(
        sum(line.values[metric])
        for line in lines
        if metric in line.values
        and all(line.dimensions.get(name) == value for name, value in dimensions.items())
    )
