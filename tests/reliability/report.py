"""Figures of the reliability suite: each case records what it did, ``python -m tests.reliability.report``
prints the totals per Airflow line (the README's "Reliability" section quotes them).

Cases write one JSON file each under ``.reliability-report/`` at the repository root, so the figures
survive separate pytest processes (the two Airflow lines run side by side). ``make test`` empties the
folder before the suites start.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

REPORT_DIR = Path(__file__).resolve().parents[2] / ".reliability-report"

#: The figures a case may record; each is summed over the cases of an Airflow line.
FIGURES = (
    "dag_runs",  # example DAG runs (or task runs of an example DAG) under the case's conditions
    "faults_injected",  # faults the world injected (from its fault rules' counters)
    "builds_started",  # logical builds started (StartJob + webhook POSTs that started a job)
    "builds_started_twice",  # logical builds started more than once: 0 expected
    "left_running",  # jobs still PENDING/RUNNING, processes still alive after the case: 0 expected
    "secrets_scanned",  # secret values looked for
    "places_scanned",  # logs, XComs, rendered fields, request-log entries looked at
    "secrets_found",  # occurrences of a secret value: 0 expected
    "bad_inputs",  # bad inputs tried
    "bad_inputs_rejected_without_change",  # of those, rejected with the expected message and no change
)


def airflow_line() -> str:
    from airflow import __version__

    return ".".join(__version__.split(".")[:2])


def record(case: str, *, outcome: str = "ok", **figures: int) -> Path:
    """Record ``figures`` (names from :data:`FIGURES`) of one case of the suite on this Airflow line."""
    unknown = set(figures) - set(FIGURES)
    if unknown:
        raise ValueError(f"unknown figures {sorted(unknown)}; known: {FIGURES}")
    REPORT_DIR.mkdir(exist_ok=True)
    line = airflow_line()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", case)
    path = REPORT_DIR / f"airflow-{line}--{name}.json"
    path.write_text(json.dumps({"case": case, "airflow": line, "outcome": outcome, **figures}, indent=1))
    return path


def totals(report_dir: Path = REPORT_DIR) -> dict[str, dict[str, int]]:
    """The figures summed per Airflow line, plus ``cases``."""
    result: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(("cases", *FIGURES), 0))
    for path in sorted(report_dir.glob("airflow-*.json")):
        data = json.loads(path.read_text())
        line = result[data["airflow"]]
        line["cases"] += 1
        for name in FIGURES:
            line[name] += int(data.get(name, 0))
    return dict(result)


def main() -> int:
    result = totals()
    if not result:
        print(f"no reliability figures in {REPORT_DIR}")
        return 0
    lines = sorted(result)
    print("Reliability suite figures".ljust(40) + "".join(f"Airflow {line}".rjust(14) for line in lines))
    for name in ("cases", *FIGURES):
        print(name.ljust(40) + "".join(str(result[line][name]).rjust(14) for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
