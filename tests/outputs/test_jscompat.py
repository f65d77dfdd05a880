"""JS-exact JSON: numbers, JSON.stringify, JSON.parse and the coercions ampx relies on."""

from __future__ import annotations

import math

import pytest

from airflow_amplify.outputs.jscompat import (
    UNDEFINED,
    js_json_parse,
    js_json_stringify,
    js_number_to_string,
    js_parse_int,
    semver_coerce,
)

# --- serialization ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text"),
    [(1.0, "1"), (1.5, "1.5"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (1.5e-7, "1.5e-7"),
     (0.000001, "0.000001"), (-0.0, "0"), (123456789012345680000.0, "123456789012345680000"), (math.nan, "null")],
)  # fmt: skip
def test_numbers_are_written_as_javascript_writes_them(number, text):
    assert js_number_to_string(number) == text


def test_stringify_matches_json_stringify_indent_2():
    value = {"b": 1.0, "10": "x", "2": [], "a": {"u": UNDEFINED, "e": {}}, "s": 'q"\\\n\x01é\ud800'}
    assert js_json_stringify(value) == (
        '{\n  "2": [],\n  "10": "x",\n  "b": 1,\n  "a": {\n    "e": {}\n  },\n  "s": "q\\"\\\\\\n\\u0001é\\ud800"\n}'
    )
    assert js_json_stringify([UNDEFINED, 1]) == "[\n  null,\n  1\n]"


def test_json_parse_rejects_nan_and_makes_every_number_a_double():
    assert js_json_parse('{"a": 2}') == {"a": 2.0}
    with pytest.raises(ValueError):
        js_json_parse("NaN")


def test_parse_int_and_semver_coerce_follow_javascript():
    assert js_parse_int(" 12px") == 12 and js_parse_int("0x1F") == 31 and math.isnan(js_parse_int("x"))
    assert semver_coerce("1.4") == (1, 4, 0) and semver_coerce(1.5) == (1, 5, 0)
    assert semver_coerce("v2") == (2, 0, 0) and semver_coerce(True) is None and semver_coerce("x") is None
