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
    # The JSON list follows any log lines Airflow printed (on 3.0 they go to stdout too).
    listed = next(line for line in reversed(result.stdout.splitlines()) if line.startswith('[{"'))
    providers = {p["package_name"]: p for p in json.loads(listed)}
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


def _expected_form() -> dict:
    form = airflow_amplify.WEBHOOK_CONNECTION_FORM
    return {
        "hidden_fields": form["hidden-fields"],
        "relabeling": form["relabeling"],
        "placeholders": form["placeholders"],
    }


def test_webhook_connection_form_is_the_same_in_the_provider_info_and_the_hook():
    from airflow_amplify.hooks.amplify import AmplifyWebhookHook

    (connection_type,) = airflow_amplify.get_provider_info()["connection-types"]
    assert connection_type["ui-field-behaviour"] is airflow_amplify.WEBHOOK_CONNECTION_FORM
    assert connection_type["hook-name"] == AmplifyWebhookHook.hook_name
    assert AmplifyWebhookHook.get_ui_field_behaviour() == _expected_form()
    assert _expected_form()["relabeling"] == {"password": "Webhook URL"}
    assert {"host", "login", "schema", "port", "extra"} <= set(_expected_form()["hidden_fields"])
    assert _expected_form()["placeholders"]["password"].startswith("https://webhooks.amplify.")


def test_airflow_shows_the_webhook_connection_form(tmp_path):
    """What the connection UI gets: from the provider info without importing the hook on Airflow 3.2+,
    from the hook on older Airflow (which Airflow 3.0 and 3.1 read only where wtforms is installed)."""
    code = (
        "import importlib.util, json, sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "pm = ProvidersManager()\n"
        "pm.initialize_providers_hooks()\n"
        "lazy = getattr(pm, '_field_behaviours', {}).get('amplify_webhook')\n"
        "hook_imported = 'airflow_amplify.hooks.amplify' in sys.modules\n"
        "form = pm.field_behaviours.get('amplify_webhook')\n"
        "hook = pm.hooks.get('amplify_webhook')\n"
        "print(json.dumps({'lazy': lazy, 'hook_imported': hook_imported, 'form': form,"
        " 'hook_name': hook.hook_name if hook else None,"
        " 'wtforms': importlib.util.find_spec('wtforms') is not None}))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    import airflow
    from packaging.version import Version

    reads_provider_info = Version(airflow.__version__).release >= (3, 2)
    assert seen["hook_name"] == "Amplify incoming webhook"
    if reads_provider_info:
        assert seen["lazy"] == _expected_form() and not seen["hook_imported"]
    else:
        assert seen["lazy"] is None
    expected = _expected_form() if reads_provider_info or seen["wtforms"] else None
    assert seen["form"] == expected
