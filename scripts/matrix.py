#!/usr/bin/env python3
"""The Airflow version matrix: the lines and Pythons this provider is tested on, their lock files, the smoke tier.

One place for the facts: each line's Airflow release, its era (the day after that release reached PyPI:
Airflow's own dependencies are resolved as of then, as a user installing that release with its
constraints gets them), the Pythons it is tested on, and the packages this provider needs newer than
an old line's era (resolved as of ``LOCKED_ON``).

Usage (``make lock``, ``make smoke``, ``make smoke-all`` call it):

    scripts/matrix.py lock [LINE ...]         re-resolve requirements/lock-airflow-LINE.txt (default: every line)
    scripts/matrix.py combos [--ci]           the smoke combinations: all, or the ones ``make test`` runs today
    scripts/matrix.py python VERSION          the interpreter used for a Python version
    scripts/matrix.py smoke [--jobs N] [--ci | COMBO ...]
                                              the smoke tier on combinations such as 3.0-py3.12
"""

from __future__ import annotations

import argparse
import datetime
import glob
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UV = REPO / ".tools" / "bin" / "uv"
SMOKE_DIR = REPO / ".smoke"


@dataclass(frozen=True)
class Line:
    airflow: str
    era: str
    pythons: tuple[str, ...]
    full_suite: bool = False


LINES: dict[str, Line] = {
    # Airflow 2.11 and 3.0 declare Python < 3.13.
    "2.11": Line("2.11.2", "2026-03-15", ("3.11", "3.12"), full_suite=True),
    "3.0": Line("3.0.6", "2025-08-30", ("3.11", "3.12")),
    "3.1": Line("3.1.8", "2026-03-12", ("3.11", "3.12", "3.13")),
    "3.2": Line("3.2.2", "2026-05-30", ("3.11", "3.12", "3.13")),
    "3.3": Line("3.3.2", "2026-09-18", ("3.11", "3.12", "3.13"), full_suite=True),
}
# The full suite runs on this Python (the .venv and .venv-airflow2 virtualenvs of the Makefile).
FULL_SUITE_PYTHON = "3.11"
# What every lock resolves as of this date rather than its line's era: what this provider declares
# (the amazon provider and the common providers it needs, boto3/botocore/aiobotocore/s3transfer, moto,
# the pinned ruff) and what the amazon provider or moto need newer than an old era.
LOCKED_ON = "2026-12-02"
NEWER = (
    "apache-airflow-providers-amazon",
    "apache-airflow-providers-common-compat",
    "apache-airflow-providers-common-sql",
    "boto3",
    "botocore",
    "aiobotocore",
    "s3transfer",
    "moto",
    "py-partiql-parser",
    "asgiref",
    "redshift-connector",
    "sagemaker-studio",
    "ruff",
)
# The smoke combinations every `make test` runs: the lines the full suite never runs, each on a Python
# the full suite never uses (Airflow 3.0 on 3.12 as MWAA runs it), and one more of the others,
# rotating by the day, so each combination runs at least once in any eight days.
CI_FIXED = ("3.0-py3.12", "3.1-py3.13", "3.2-py3.12")


def lock_path(line: str) -> Path:
    return REPO / "requirements" / f"lock-airflow-{line}.txt"


def combos() -> list[str]:
    """Every smoke combination: each line on each of its Pythons, less the full suite's."""
    return [
        f"{name}-py{py}"
        for name, line in LINES.items()
        for py in line.pythons
        if not (line.full_suite and py == FULL_SUITE_PYTHON)
    ]


def ci_combos(day: datetime.date | None = None) -> list[str]:
    """The fixed combinations plus one of the others, rotating by the day of the year."""
    day = day or datetime.date.today()
    rest = [c for c in combos() if c not in CI_FIXED]
    return [*CI_FIXED, rest[day.toordinal() % len(rest)]]


def split(combo: str) -> tuple[str, str]:
    name, _, py = combo.partition("-py")
    if name not in LINES or py not in LINES[name].pythons:
        sys.exit(f"unknown combination {combo!r}; expected one of: {', '.join(combos())}")
    return name, py


def find_python(version: str) -> str:
    """The interpreter for ``version``: $PY311-style variable, a pyenv install, or pythonX.Y on PATH."""
    override = os.environ.get("PY" + version.replace(".", ""))
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    installs = sorted(
        glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts[-3].split(".")],
    )
    candidates = (
        [override] if override else [sys.executable, *reversed(installs), shutil.which(f"python{version}")]
    )
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)"],
                capture_output=True,
                text=True,
            )
        except OSError:
            continue
        found, _, executable = probe.stdout.strip().partition(" ")
        if probe.returncode == 0 and found == version:
            return executable
    sys.exit(
        f"Python {version} not found: install it (`pyenv install {version}`, or your system's "
        f"python{version} package) or point PY{version.replace('.', '')} at its interpreter."
    )


def lock(names: list[str]) -> None:
    for name in names or list(LINES):
        line = LINES[name]
        cmd = [
            str(UV), "pip", "compile", "--quiet", "--universal", "--python-version", "3.11",
            "--custom-compile-command",
            f"make lock  # scripts/matrix.py: uv pip compile --universal --python-version 3.11 "
            f"--exclude-newer {line.era} (Airflow {line.airflow}'s era) --exclude-newer-package ...={LOCKED_ON}",
            "--exclude-newer", f"{line.era}T00:00:00Z",
            *[arg for pkg in NEWER for arg in ("--exclude-newer-package", f"{pkg}={LOCKED_ON}T00:00:00Z")],
            "pyproject.toml", "--extra", "testing", "--extra", "dev",
            f"requirements/airflow-{name}.in", "-o", str(lock_path(name).relative_to(REPO)),
        ]  # fmt: skip
        print(f"locking Airflow {line.airflow} (era {line.era}) -> {lock_path(name).relative_to(REPO)}")
        subprocess.run(cmd, cwd=REPO, check=True)


def built_wheel() -> Path:
    wheels = sorted((REPO / "dist").glob("airflow_provider_amplify-*-py3-none-any.whl"))
    if len(wheels) != 1:
        sys.exit(f"expected one built wheel in dist/ (make dist), found {len(wheels)}")
    return wheels[0]


def smoke_one(combo: str, wheel: Path) -> tuple[str, bool, float, float]:
    """A fresh virtualenv from the line's lock, the built wheel without dependencies, then tests/smoke.

    :param combo: the combination, e.g. ``3.0-py3.12``.
    :param wheel: the built wheel to install.
    """
    name, py = split(combo)
    venv = SMOKE_DIR / f"venv-{combo}"
    python = venv / "bin" / "python"
    shutil.rmtree(venv, ignore_errors=True)
    log_path = SMOKE_DIR / f"{combo}.log"
    install = [
        [str(UV), "venv", "--quiet", "--python", find_python(py), str(venv)],
        [str(UV), "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python),
         "-r", str(lock_path(name))],
        [str(UV), "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python),
         "--no-deps", str(wheel)],
    ]  # fmt: skip
    # -P and PYTHONSAFEPATH: no Python here (pytest, airflow, the demo's children) puts the checkout's
    # directory on sys.path, so airflow_amplify is the installed wheel's.
    tests = [str(python), "-P", "-m", "pytest", "-p", "no:cacheprovider", "-q", "-ra", "--durations=8"]
    tests += ["tests/smoke", "tests/test_provider.py"]
    env = {**os.environ, "PYTHONSAFEPATH": "1", "AIRFLOW_AMPLIFY_SMOKE_COMBO": combo}
    started = time.monotonic()
    ok = True
    with log_path.open("w") as log:
        for cmd in install:
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            if subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT).returncode:
                ok = False
                break
        installed = time.monotonic()
        if ok:
            log.write(f"$ {' '.join(tests)}\n")
            log.flush()
            ok = (
                subprocess.run(tests, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT).returncode == 0
            )
    done = time.monotonic()
    if ok:
        shutil.rmtree(venv, ignore_errors=True)  # kept only when it failed, to look into
    return combo, ok, installed - started, done - installed


def smoke(selected: list[str], jobs: int) -> int:
    SMOKE_DIR.mkdir(exist_ok=True)
    # A copy, so a `make dist` while the tier runs does not pull the wheel from under its installs.
    wheel = Path(shutil.copy2(built_wheel(), SMOKE_DIR))
    for combo in selected:
        split(combo)
        find_python(split(combo)[1])
    print(
        f"== smoke tier: {wheel.name} on {', '.join(selected)} ({jobs} at a time; logs in .smoke/)",
        flush=True,
    )
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda c: smoke_one(c, wheel), selected))
    lines = [f"{'combination':<14} {'Airflow':<8} {'result':<7} {'install':>8} {'tests':>8}"]
    for combo, ok, install, tests in results:
        name, _ = split(combo)
        lines.append(
            f"{combo:<14} {LINES[name].airflow:<8} {'pass' if ok else 'FAIL':<7} {install:7.0f}s {tests:7.0f}s"
        )
    lines.append(
        f"smoke tier: {sum(r[1] for r in results)} of {len(results)} passed in {time.monotonic() - started:.0f} s"
    )
    (SMOKE_DIR / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    for combo, ok, *_ in results:
        if not ok:
            print(f"-- {combo} failed; the end of .smoke/{combo}.log:")
            print("".join((SMOKE_DIR / f"{combo}.log").read_text().splitlines(keepends=True)[-40:]))
    return 0 if all(r[1] for r in results) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("lock")
    p.add_argument("lines", nargs="*", choices=[[], *LINES], metavar="LINE")
    p = sub.add_parser("combos")
    p.add_argument("--ci", action="store_true")
    p = sub.add_parser("python")
    p.add_argument("version")
    p = sub.add_parser("smoke")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--ci", action="store_true")
    p.add_argument("combos", nargs="*")
    args = parser.parse_args()
    if args.command == "lock":
        lock(args.lines)
    elif args.command == "combos":
        print(" ".join(ci_combos() if args.ci else combos()))
    elif args.command == "python":
        print(find_python(args.version))
    elif args.command == "smoke":
        selected = args.combos or (ci_combos() if args.ci else combos())
        return smoke(selected, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
