#!/usr/bin/env python3
"""Check the built distributions in a directory (``make dist``): what the wheel ships, and nothing else.

The wheel holds the ``airflow_amplify`` package (its waiter JSON, ``py.typed`` and the local world
``airflow_amplify/testing/`` included), its metadata with the licence and the provider entry point,
and no checkout-only paths (tests, demo, example DAGs, benchmarks, the sample app, docs, scripts).
The sdist holds the licence, the changelog and the package.

Usage: scripts/check_dist.py DIST_DIR
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

CHECKOUT_ONLY = ("tests/", "demo/", "dags/", "benchmarks/", "sample-app/", "docs/", "scripts/", "examples/")
WHEEL_MUST_HAVE = (
    "airflow_amplify/__init__.py",
    "airflow_amplify/py.typed",
    "airflow_amplify/outputs/mapping.py",
    "airflow_amplify/ampx/project.py",
    "airflow_amplify/waiters/cloudformation.json",
    "airflow_amplify/testing/__init__.py",
    "airflow_amplify/testing/pytest_plugin.py",
    "airflow_amplify/testing/world/server.py",
)


def check_wheel(path: Path) -> list[str]:
    names = zipfile.ZipFile(path).namelist()
    dist_info = next((n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")), "")
    problems = [
        f"{path.name}: ships {n}" for n in names if not n.startswith(("airflow_amplify/", dist_info + "/"))
    ]
    problems += [f"{path.name}: ships {n} (checkout-only)" for n in names if n.startswith(CHECKOUT_ONLY)]
    problems += [f"{path.name}: lacks {n}" for n in WHEEL_MUST_HAVE if n not in names]
    if f"{dist_info}/licenses/LICENSE" not in names:
        problems.append(f"{path.name}: lacks {dist_info}/licenses/LICENSE")
    entry_points = zipfile.ZipFile(path).read(f"{dist_info}/entry_points.txt").decode()
    if (
        "[apache_airflow_provider]" not in entry_points
        or "airflow_amplify:get_provider_info" not in entry_points
    ):
        problems.append(f"{path.name}: no apache_airflow_provider entry point")
    print(f"{path.name}: {len(names)} files, all under airflow_amplify/ or {dist_info}/")
    return problems


def check_sdist(path: Path) -> list[str]:
    with tarfile.open(path) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    problems = [
        f"{path.name}: lacks {n}"
        for n in ("LICENSE", "CHANGELOG.md", "README.md", "setup.cfg")
        if n not in names
    ]
    problems += [
        f"{path.name}: ships {n}"
        for n in names
        if n.startswith(("node_modules/", ".venv", "sample-app/node_modules/"))
    ]
    print(f"{path.name}: {len(names)} files")
    return problems


def main() -> int:
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"expected one wheel and one sdist in {dist}, found {len(wheels)} and {len(sdists)}")
        return 1
    problems = check_wheel(wheels[0]) + check_sdist(sdists[0])
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
