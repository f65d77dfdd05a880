"""The phases a run of ampx reported done, parsed from its output (for the deploy's result)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from airflow_amplify.ampx.errors import strip_ansi

_PHASE = re.compile(r"✔\s+(?P<phase>.+?)(?:\s+in\s+(?P<seconds>\d+(?:\.\d+)?)\s+seconds)?\s*$")


def parse_ampx_phases(output: str | Iterable[str]) -> list[dict[str, Any]]:
    """The phases a run of ampx reported done, in order: ``[{"phase", "seconds"}]``.

    ampx prints ``✔ Backend synthesized in 2.38 seconds``, ``✔ Built and published assets`` (no
    time), ``✔ Deployment completed in 0.82 seconds``; ``seconds`` is None where it gives no time.
    """
    lines = output.splitlines() if isinstance(output, str) else list(output)
    phases = []
    for line in lines:
        match = _PHASE.search(strip_ansi(line))
        if match:
            seconds = match.group("seconds")
            phases.append({"phase": match.group("phase"), "seconds": float(seconds) if seconds else None})
    return phases


__all__ = ["parse_ampx_phases"]
