"""The smoke tier: the built wheel on one Airflow line and Python, installed from that line's lock.

``make smoke`` (``scripts/matrix.py smoke``) runs this module and ``tests/test_provider.py`` in a
fresh virtualenv per combination; the full suite does not collect it (``norecursedirs``). Each test
says what the installed line does, also where it lacks a feature: the approval step
(human-in-the-loop) before Airflow 3.1, the task state store before 3.3.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import airflow
import pytest
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
AIRFLOW = Version(airflow.__version__).release
HAS_HITL = AIRFLOW >= (3, 1)
HAS_TASK_STATE_STORE = AIRFLOW >= (3, 3)
EXAMPLE_DAGS = ["amplify_cross_account_release", "amplify_nightly_cms_rebuild", "amplify_smoke_build"]
#: Every example DAG file's DAG (the preview DAG runs in tests/test_dags.py, not in the demo).
PARSED_DAGS = sorted([*EXAMPLE_DAGS, "amplify_preview_branches"])


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _dagbag(folder: Path):
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(folder))


def test_the_provider_is_the_built_wheel_not_the_checkout():
    import airflow_amplify

    assert Path(airflow_amplify.__file__).resolve().parent != REPO / "airflow_amplify"
    assert Path(sys.prefix).resolve() in Path(airflow_amplify.__file__).resolve().parents
    direct_url = importlib.metadata.distribution("airflow-provider-amplify").read_text("direct_url.json")
    assert direct_url is not None and json.loads(direct_url)["url"].endswith("-py3-none-any.whl")


def test_example_dags_parse_with_this_package_deprecations_as_errors():
    # A deprecation attributed to this package's modules or to the example DAG files (Airflow names
    # their modules unusual_prefix_<hash>_<file>) raises, so the file does not import; Airflow's own
    # warnings stay warnings.
    code = (
        "import json, warnings\n"
        "OWN = r'(airflow_amplify(\\..*)?|unusual_prefix_[0-9a-f]+_amplify_\\w+)$'\n"
        "for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):\n"
        "    warnings.filterwarnings('error', category=category, module=OWN)\n"
        "caught = []\n"
        "for module in ('airflow_amplify.operators.amplify', 'unusual_prefix_0af3_amplify_smoke_build'):\n"
        "    try:\n"
        "        warnings.warn_explicit('probe', DeprecationWarning, 'probe.py', 1, module=module)\n"
        "    except DeprecationWarning:\n"
        "        caught.append(module)\n"
        "try:\n    from airflow.dag_processing.dagbag import DagBag\n"
        "except ImportError:\n    from airflow.models.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()},"
        " 'dags': sorted(bag.dag_ids), 'caught': caught}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert len(result["caught"]) == 2, "the filter turns this package's deprecations into errors"
    assert result["errors"] == {}
    assert result["dags"] == PARSED_DAGS


def test_release_dag_asks_for_approval_only_where_airflow_has_human_in_the_loop():
    bag = _dagbag(DAGS / "amplify_cross_account_release.py")
    assert bag.import_errors == {}
    dag = bag.dags["amplify_cross_account_release"]  # no database needed
    assert ("approve_production" in dag.task_ids) is HAS_HITL
    check = dag.get_task("approval_check").python_callable
    asked = {"require_approval": True, "stages": ["staging", "production"]}
    assert check({"require_approval": False, "stages": ["staging", "production"]}) is False
    if HAS_HITL:
        assert check(asked) is True
    else:  # Airflow 2.11 and 3.0: a clear failure instead of a silent release without approval
        with pytest.raises(
            Exception, match=r"require_approval=true, but this Airflow has no human-in-the-loop"
        ):
            check(asked)


def test_a_retried_build_reattaches_through_the_store_this_line_has(amplify_world, tmp_path, airflow_db):
    """The smoke DAG's build task loses its wait (a non-transient 403) while the build goes on; the
    retry finds the job through the task state store (Airflow 3.3+) or the Variable fallback."""
    app = amplify_world.seed_app("demo-site", ("main",))
    amplify_world.script_next_job(app["app_id"], "main", build_seconds=15)
    env = {
        **os.environ,
        "AIRFLOW_CONN_AWS_STAGING": json.dumps(amplify_world.aws_connection()),
        "AIRFLOW_VAR_AMPLIFY_SMOKE_APP_ID": app["app_id"],
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    }
    log = tmp_path / "dags-test.log"
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "dags", "test", "amplify_smoke_build"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    fault = None
    while process.poll() is None and time.monotonic() - started < 240:
        if fault is None and amplify_world.requests(operation="StartJob"):
            fault = amplify_world.inject_fault("403", service="amplify", operations=["GetJob"], count=1)
        time.sleep(0.1)
    process.wait(timeout=60)
    output = log.read_text()
    assert process.returncode == 0, output[-6000:]
    assert fault is not None and amplify_world.faults()[0]["injected"] == 1
    db = sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db")
    ((state, tries),) = db.execute(
        "SELECT state, try_number FROM task_instance WHERE dag_id = 'amplify_smoke_build' "
        "AND task_id = 'start_build' ORDER BY start_date DESC LIMIT 1"
    ).fetchall()
    assert (state, tries) == ("success", 2), output[-6000:]
    assert amplify_world.count("StartJob") == 1  # the retry started no second build
    if HAS_TASK_STATE_STORE:
        assert re.search(r"Reconnecting to existing job|Job already completed successfully", output)
    else:
        assert re.search(r"Re-attaching to job 1 started by an earlier try|Job 1 of an earlier try", output)
        # the Variable is gone once the task succeeded
        assert db.execute("SELECT count(*) FROM variable WHERE key LIKE 'airflow_amplify.%'").fetchone() == (
            0,
        )


@pytest.mark.timeout(900)  # three airflow dags test runs: slow on a loaded 2-core machine
def test_the_demo_runs_the_three_example_dags_against_the_local_world(tmp_path):
    env = {
        **os.environ,
        "DEMO_DIR": str(tmp_path / "demo"),
        "DEMO_DAGS": ",".join(EXAMPLE_DAGS),
        # The smoke tier tests Airflow lines: the real ampx (Node, the same on every line) runs in the
        # demo and the ladder tests on the newest line; here the stand-in keeps each combination short.
        "DEMO_AMPX": "stand-in",
        "PYTHONSAFEPATH": "1",  # the DAG runs import airflow_amplify from the wheel, never the checkout
    }
    result = subprocess.run(
        [sys.executable, str(REPO / "demo" / "run_demo.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "DEMO OK" in output, output[-6000:]
    for dag_id in EXAMPLE_DAGS:
        assert f"{dag_id}: airflow dags test exited 0" in output
