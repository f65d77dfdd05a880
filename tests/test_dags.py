"""The example DAGs: they import cleanly without network or connections, and run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parent.parent / "dags"


def test_dags_import_without_errors_connections_or_network(monkeypatch):
    for key in [k for k in os.environ if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]:
        monkeypatch.delenv(key)
    code = (
        "import json, time, socket\n"
        "def refuse(*a, **k): raise RuntimeError('network used while parsing')\n"
        "socket.socket.connect = refuse\n"
        "try:\n    from airflow.dag_processing.dagbag import DagBag\n"
        "except ImportError:\n    from airflow.models.dagbag import DagBag\n"
        "t = time.perf_counter()\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()},"
        " 'dags': sorted(bag.dag_ids), 'seconds': time.perf_counter() - t}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert "amplify_smoke_build" in result["dags"]
    assert result["seconds"] < 10


def test_smoke_dag_runs_deferrable_end_to_end_with_airflow_dags_test(
    amplify_world, staging_app, tmp_path, airflow_db
):
    amplify_world.script_next_job(staging_app["app_id"], "main", build_seconds=1.0)
    env = {
        **os.environ,
        "AIRFLOW_CONN_AWS_STAGING": json.dumps(amplify_world.aws_connection()),
        "AIRFLOW_VAR_AMPLIFY_SMOKE_APP_ID": staging_app["app_id"],
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "amplify_smoke_build"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    # The build was waited for by the trigger (aiobotocore), not by the worker (boto3).
    polls = amplify_world.requests(operation="GetJob")
    assert any(p["client"].startswith("aiobotocore") for p in polls), {p["client"] for p in polls}
    (job,) = amplify_world.jobs(app_id=staging_app["app_id"])
    assert job["status"] == "SUCCEED" and amplify_world.count("StartJob") == 1
    assert time.monotonic() - started < 120
    if "marking run" in output.lower():
        assert "successful" in output.lower()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_cms_rebuild_one_site_fails_the_others_succeed_and_a_busy_one_is_attached(
    amplify_world, tmp_path, airflow_db
):
    blog = amplify_world.seed_app("blog", ("main",))
    shop = amplify_world.seed_app("shop", ("main",))
    docs = amplify_world.seed_app("docs", ("main",), webhooks=True)
    news = amplify_world.seed_app("news", ("main",))
    # shop fails on every try; news is already building when the DAG starts
    for _ in range(2):
        amplify_world.script_next_job(shop["app_id"], "main", outcome="FAILED", status_reason="CMS API down")
    amplify_world.script_next_job(news["app_id"], "main", pending_seconds=0, build_seconds=45)
    amplify_world.client("amplify").start_job(appId=news["app_id"], branchName="main", jobType="RELEASE")
    sites = [
        {"name": "news", "app_id": news["app_id"], "branch_name": "main", "aws_conn_id": "aws_staging"},
        {"name": "blog", "app_id": blog["app_id"], "branch_name": "main", "aws_conn_id": "aws_staging"},
        {"name": "shop", "app_id": shop["app_id"], "branch_name": "main", "aws_conn_id": "aws_staging"},
        {"name": "docs", "webhook_conn_id": "docs_webhook", "aws_conn_id": "aws_staging",
         "allow_custom_webhook_host": True},
    ]  # fmt: skip
    env = {
        **os.environ,
        "AIRFLOW_CONN_AWS_STAGING": json.dumps(amplify_world.aws_connection()),
        "AIRFLOW_CONN_DOCS_WEBHOOK": json.dumps(
            {"conn_type": "amplify_webhook", "password": docs["webhooks"]["main"]["url"]}
        ),
        "AIRFLOW_VAR_AMPLIFY_CMS_SITES": json.dumps(sites),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW_AMPLIFY_EXAMPLE_RETRY_DELAY": "0.5",
        "AIRFLOW_AMPLIFY_EXAMPLE_RETRIES": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "amplify_nightly_cms_rebuild"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert "rebuilt: blog (job 1), docs (job 1)" in output, output[-5000:]
    assert "attached: news (job 1)" in output
    assert "failed: shop" in output
    starts = amplify_world.requests(operation="StartJob")
    # news: only the start that made it busy; shop: one per try; blog: one
    assert sorted(r["app_id"] for r in starts) == sorted(
        [news["app_id"], blog["app_id"], shop["app_id"], shop["app_id"]]
    )
    assert {j["app_id"] for j in amplify_world.jobs() if j["status"] == "SUCCEED"} == {
        blog["app_id"],
        docs["app_id"],
        news["app_id"],
    }
