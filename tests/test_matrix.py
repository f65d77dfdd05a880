"""The version matrix (scripts/matrix.py): lock files, declared ranges and classifiers agree with it."""

from __future__ import annotations

import configparser
import datetime
import importlib.util
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("scripts_matrix", REPO / "scripts" / "matrix.py")
matrix = sys.modules.setdefault("scripts_matrix", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(matrix)


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return cfg


def _install_requires() -> dict[str, Requirement]:
    lines = _setup_cfg()["options"]["install_requires"].splitlines()
    reqs = [Requirement(line) for line in lines if line.strip() and not line.strip().startswith("#")]
    return {r.name: r for r in reqs}


def _locked(line: str, package: str) -> Version:
    text = matrix.lock_path(line).read_text()
    return Version(re.search(rf"^{re.escape(package)}==(\S+)", text, re.M).group(1))


def test_every_line_has_a_lock_of_its_airflow_release_and_era():
    for name, line in matrix.LINES.items():
        assert _locked(name, "apache-airflow") == Version(line.airflow), name
        text = matrix.lock_path(name).read_text()
        assert f"--exclude-newer {line.era}" in text.splitlines()[1], name  # the header says how
        assert f"apache-airflow=={line.airflow}" in (REPO / "requirements" / f"airflow-{name}.in").read_text()


def test_declared_ranges_are_the_tested_ones():
    requires = _install_requires()
    airflow = [Version(line.airflow) for line in matrix.LINES.values()]
    assert all(v in requires["apache-airflow"].specifier for v in airflow)
    assert (
        Version(f"{max(airflow).major}.{max(airflow).minor + 1}") not in requires["apache-airflow"].specifier
    )
    amazon = sorted(_locked(name, "apache-airflow-providers-amazon") for name in matrix.LINES)
    spec = requires["apache-airflow-providers-amazon"].specifier
    assert all(v in spec for v in amazon)
    assert str(amazon[0]) in {s.version for s in spec if s.operator == ">="}  # the floor is tested
    assert Version(f"{amazon[-1].major}.{amazon[-1].minor + 1}") not in spec  # nothing newer is claimed


def test_python_classifiers_are_the_tested_pythons():
    classifiers = _setup_cfg()["metadata"]["classifiers"].splitlines()
    declared = {c.rsplit(" :: ", 1)[1] for c in classifiers if re.search(r"Python :: 3\.\d+$", c)}
    assert declared == {py for line in matrix.LINES.values() for py in line.pythons}


def test_the_full_suite_lines_lock_a_celery_deployment():
    for name, line in matrix.LINES.items():
        if line.full_suite:
            for package in ("apache-airflow-providers-celery", "apache-airflow-providers-postgres"):
                assert _locked(name, package), (name, package)
            for package in ("psycopg2-binary", "asyncpg", "redis"):
                assert _locked(name, package), (name, package)
            assert _locked(name, "celery") < Version("5.7"), name


def test_ci_covers_every_line_each_run_and_every_combination_within_a_rotation():
    every = set(matrix.combos())
    assert len(every) == 11 and not {"2.11-py3.11", "3.3-py3.11"} & every  # the full suite's
    rotating = len(every) - len(matrix.CI_FIXED)
    day = datetime.date(2026, 1, 1)
    seen = set()
    for offset in range(rotating):
        today = matrix.ci_combos(day + datetime.timedelta(days=offset))
        assert set(matrix.CI_FIXED) <= set(today) and len(today) == len(matrix.CI_FIXED) + 1
        assert {c.split("-py")[0] for c in today} >= {"3.0", "3.1", "3.2"}
        seen |= set(today)
    assert seen == every
