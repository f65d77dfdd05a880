"""JavaScript semantics the ampx CLI relies on, re-implemented for byte-identical output.

The CLI builds ``amplify_outputs.json`` with ``JSON.parse``, lodash's ``mergeWith``, ``semver.coerce``
and ``JSON.stringify(value, null, 2)``. Python's ``json`` module differs in small ways that show in
the bytes: number formatting (``1.0`` vs ``1``, ``1e+21``), the order of integer-like object keys
(JavaScript enumerates them first, ascending), ``undefined`` members, and lone surrogates.
Nothing here imports Airflow or botocore.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any


class _Undefined:
    """JavaScript's ``undefined``: a member that exists for ordering but is never serialized."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Any = _Undefined()

_MAX_ARRAY_INDEX = 2**32 - 2
_MAX_SAFE_INTEGER = 2**53 - 1


# --- JSON.parse ----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Unexpected token {name[0]} in JSON")


def js_json_parse(text: str) -> Any:
    """Parse JSON as ``JSON.parse`` does: every number becomes a double, NaN/Infinity are errors.

    :param text: the JSON text.
    """
    return json.loads(text, parse_int=float, parse_float=float, parse_constant=_reject_constant)


# --- JSON.stringify ------------------------------------------------------------------------------


def is_array_index(key: str) -> bool:
    """Return True for keys JavaScript orders first in objects (canonical integers 0 .. 2**32-2)."""
    if not key or not key.isdigit() or not key.isascii():
        return False
    if len(key) > 1 and key[0] == "0":
        return False
    return int(key) <= _MAX_ARRAY_INDEX


def js_keys(obj: dict[str, Any]) -> list[str]:
    """Own enumerable keys in JavaScript order: array indices ascending, then insertion order."""
    keys = list(obj)
    indices = sorted((k for k in keys if is_array_index(k)), key=int)
    if not indices:
        return keys
    return indices + [k for k in keys if not is_array_index(k)]


def js_number_to_string(value: float | int) -> str:
    """Format a number as ``Number.prototype.toString`` does (the form JSON.stringify writes)."""
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers here")
    if isinstance(value, int) and abs(value) <= _MAX_SAFE_INTEGER:
        return str(value)
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return "null"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction.rstrip("0")) if fraction != "0" else whole
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        exp = n - 1
        exp_text = f"e{'+' if exp >= 0 else '-'}{abs(exp)}"
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + exp_text
    return sign + text


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\ud800-\udfff]')


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _ESCAPES:
        return _ESCAPES[char]
    return f"\\u{ord(char):04x}"


def _quote(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is None:
        return f'"{text}"'
    # Paired surrogates (from JSON escapes) stay one character; lone ones are escaped like V8 does.
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def _omitted(value: Any) -> bool:
    return value is UNDEFINED or callable(value)


def js_json_stringify(value: Any, indent: int = 2) -> str:
    """Serialize like ``JSON.stringify(value, null, indent)``.

    :param value: dicts, lists, strings, numbers, booleans, None and :data:`UNDEFINED`.
    :param indent: spaces per level.
    """
    parts: list[str] = []
    _write(value, parts, "", " " * indent)
    return "".join(parts)


def _write(value: Any, out: list[str], current: str, step: str) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, int | float):
        out.append(js_number_to_string(value))
    elif isinstance(value, dict):
        members = [(k, value[k]) for k in js_keys(value) if not _omitted(value[k])]
        if not members:
            out.append("{}")
            return
        inner = current + step
        out.append("{\n")
        for i, (key, member) in enumerate(members):
            out.append(f"{inner}{_quote(key)}: ")
            _write(member, out, inner, step)
            out.append(",\n" if i < len(members) - 1 else "\n")
        out.append(current + "}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = current + step
        out.append("[\n")
        for i, item in enumerate(value):
            out.append(inner)
            _write(None if _omitted(item) else item, out, inner, step)
            out.append(",\n" if i < len(value) - 1 else "\n")
        out.append(current + "]")
    else:
        raise TypeError(f"cannot serialize {type(value).__name__} as JSON")


# --- truthiness, parseInt, split -----------------------------------------------------------------


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness: '' 0 NaN null undefined false are falsy; objects and arrays are truthy."""
    if value is None or value is UNDEFINED or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, int | float):
        return not (value == 0 or (isinstance(value, float) and math.isnan(value)))
    if isinstance(value, str):
        return value != ""
    return True


_PARSE_INT = re.compile(r"^[\s\ufeff\xa0]*([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)?")


def js_parse_int(text: str) -> float:
    """``Number.parseInt(text)`` without a radix (decimal, or hex with a 0x prefix); NaN if no digits."""
    match = _PARSE_INT.match(text)
    if not match or not match.group(2):
        return math.nan
    digits = match.group(2)
    number = int(digits, 16) if digits[:2].lower() == "0x" else int(digits)
    return float(-number if match.group(1) == "-" else number)


# --- semver (coerce and compare, as semver 7 does) ----------------------------------------------

_COERCE = re.compile(r"(^|[^\d])(\d{1,16})(?:\.(\d{1,16}))?(?:\.(\d{1,16}))?(?:$|[^\d])")


def semver_coerce(value: Any) -> tuple[int, int, int] | None:
    """``semver.coerce``: the first ``X[.Y[.Z]]`` run in a string (or number), else None.

    :param value: the candidate version.
    """
    if isinstance(value, bool) or value is None or value is UNDEFINED:
        return None
    if isinstance(value, int | float):
        value = js_number_to_string(value)
    if not isinstance(value, str):
        return None
    match = _COERCE.search(value)
    if not match:
        return None
    parts = tuple(int(match.group(i) or 0) for i in (2, 3, 4))
    if any(p > _MAX_SAFE_INTEGER for p in parts):
        return None
    return parts  # type: ignore[return-value]


# --- lodash.mergewith -----------------------------------------------------------------------------

Customizer = Callable[[Any, Any, str], Any]


def _source_items(source: Any) -> list[tuple[str, Any]]:
    if isinstance(source, dict):
        return [(k, source[k]) for k in js_keys(source)]
    if isinstance(source, list | str):
        return [(str(i), item) for i, item in enumerate(source)]
    return []


def _get(target: Any, key: str) -> Any:
    if isinstance(target, dict):
        return target.get(key, UNDEFINED)
    index = int(key) if is_array_index(key) else -1
    return target[index] if 0 <= index < len(target) else UNDEFINED


def _assign(target: Any, key: str, value: Any) -> None:
    if isinstance(target, dict):
        if value is not UNDEFINED or key not in target:
            target[key] = value
        return
    if not is_array_index(key):
        return  # a named property on an array: JSON.stringify never shows it
    index = int(key)
    if value is UNDEFINED and index < len(target):
        return
    while len(target) < index:
        target.append(UNDEFINED)  # a hole: JSON.stringify writes null
    if index == len(target):
        target.append(value)
    else:
        target[index] = value


def _array_like_length(value: Any) -> int | None:
    if not isinstance(value, dict):
        return None
    length = value.get("length")
    if isinstance(length, bool) or not isinstance(length, int | float):
        return None
    if length < 0 or length > _MAX_SAFE_INTEGER or length != int(length):
        return None
    return int(length)


def lodash_merge_with(target: Any, source: Any, customizer: Customizer) -> Any:
    """Merge ``source`` into ``target`` in place, as ``lodash.mergewith`` 4.6 does; return ``target``.

    :param target: the dict (or list) being accumulated into.
    :param source: the part merged in.
    :param customizer: ``(existing, incoming, key) -> value``; :data:`UNDEFINED` means the default merge.
    """
    if target is source:
        return target
    for key, incoming in _source_items(source):
        existing = _get(target, key)
        if isinstance(incoming, dict | list):
            new_value = customizer(existing, incoming, key)
            common = new_value is UNDEFINED
            if common:
                if isinstance(incoming, list):
                    if isinstance(existing, list):
                        new_value = existing
                    elif (length := _array_like_length(existing)) is not None:
                        new_value = [existing.get(str(i), UNDEFINED) for i in range(length)]
                    else:
                        new_value = []
                else:
                    new_value = existing if isinstance(existing, dict | list) else {}
                lodash_merge_with(new_value, incoming, customizer)
            _assign(target, key, new_value)
        else:
            new_value = customizer(existing, incoming, key)
            if new_value is UNDEFINED:
                new_value = incoming
            _assign(target, key, new_value)
    return target
