"""Timestamps as the AWS APIs give them (datetimes, ISO 8601 strings, epoch seconds), made comparable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def to_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime (naive values are UTC), or None for None and ``""``.

    :param value: a datetime, an ISO 8601 string (``Z`` allowed), or epoch seconds.
    :raises ValueError: a string that is not ISO 8601.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    elif not isinstance(value, datetime):
        return datetime.fromtimestamp(float(value), UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def to_iso(value: Any) -> str | None:
    """ISO 8601 with offset, or None. :param value: what :func:`to_datetime` takes."""
    moment = to_datetime(value)
    return moment.isoformat() if moment else None


def to_epoch(value: Any) -> float | None:
    """Epoch seconds, or None. :param value: what :func:`to_datetime` takes."""
    moment = to_datetime(value)
    return moment.timestamp() if moment else None
