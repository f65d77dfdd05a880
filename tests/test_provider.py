"""Provider registration: entry point, provider info, and what Airflow's CLI shows."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import subprocess
import sys

import airflow_amplify


def test_entry_point_points_at_get_provider_info():
    (entry_point,) = [
        ep
        for ep in importlib.metadata.entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_amplify")
    ]
    assert entry_point.load() is airflow_amplify.get_provider_info


def test_package_name_matches_the_distribution():
    info = airflow_amplify.get_provider_info()
    dist = importlib.metadata.distribution(info["package-name"])
    assert dist.metadata["Name"] == "airflow-provider-amplify"
    assert info["versions"][0] == dist.version == airflow_amplify.__version__


def test_every_listed_module_and_class_imports():
    info = airflow_amplify.get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for dotted in [c["hook-class-name"] for c in info["connection-types"]] + info["extra-links"]:
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name), dotted


def test_provider_info_import_is_light():
    code = "import sys, airflow_amplify; airflow_amplify.get_provider_info(); print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", "import json;" + code], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out))
    assert not {m for m in loaded if m.split(".")[0] in {"airflow", "boto3", "botocore", "moto"}}


def test_airflow_providers_list_shows_the_provider(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    start = result.stdout.index("[")
    providers = {p["package_name"]: p for p in json.loads(result.stdout[start:])}
    assert providers["airflow-provider-amplify"]["version"] == airflow_amplify.__version__


def test_provider_info_lists_every_public_module():
    from pathlib import Path

    package = Path(airflow_amplify.__file__).parent
    info = airflow_amplify.get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        listed = {m for entry in info[kind] for m in entry["python-modules"]}
        present = {
            f"airflow_amplify.{kind}.{p.stem}"
            for p in (package / kind).glob("*.py")
            if not p.stem.startswith("_")
        }
        assert listed == present, kind
    links = {p.stem for p in (package / "links").glob("*.py") if not p.stem.startswith("_")}
    assert {link.split(".")[2] for link in info["extra-links"]} == links
