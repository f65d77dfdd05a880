"""Parameter checks shared by the operators and sensors (no Airflow or botocore imports)."""

from __future__ import annotations

from datetime import timedelta


def to_seconds(value: float | timedelta | None, param: str) -> float | None:
    """A duration given as seconds or a timedelta, as seconds; None stays None.

    :param value: the value the user gave.
    :param param: the parameter's name, for the message.
    :raises ValueError: for zero, negative or non-numeric values, naming the parameter and the value.
    """
    if value is None:
        return None
    try:
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0:
        raise ValueError(f"{param}={value!r} is not valid; use a positive number of seconds or a timedelta.")
    return seconds
