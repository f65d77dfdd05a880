"""The example DAGs end to end (``airflow dags test``) while 10% of the Amplify, CloudFormation and STS
calls fail (throttled 429, 500, 503, dropped connection, in equal parts) and 5% answer late.

Each run must succeed, start each logical build exactly once (the world's request log and jobs), and
leave no job running and no process (ampx, git) alive.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from .harness import (
    DAGS,
    FAULT_SERVICES,
    MARKER_VAR,
    build_ledger,
    dags_test,
    fault_counts,
    faults_injected,
    inject_fault_mix,
    left_running,
    new_marker,
    release_env,
    task_states,
)
from .report import record

pytestmark = pytest.mark.slow

RELEASE_DAG = "amplify_cross_account_release"
CMS_DAG = "amplify_nightly_cms_rebuild"


def test_release_dag_under_ten_percent_faults_deploys_and_builds_each_stage_once(
    amplify_world, tmp_path, airflow_db
):
    """Both stages deploy and build the same commit; one StartJob answer is lost on the way back
    (the build had started): the operator finds that build instead of starting another."""
    from airflow_amplify.testing import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID
    from tests.fakes.git import make_remote

    started = time.monotonic()
    remote = make_remote(tmp_path / "git")
    staging = amplify_world.seed_app("shop", ("main",), account_id=STAGING_ACCOUNT_ID)
    production = amplify_world.seed_app("shop", ("main",), account_id=PRODUCTION_ACCOUNT_ID)
    marker = new_marker()
    env = release_env(
        amplify_world,
        tmp_path,
        staging,
        production,
        remote,
        **{MARKER_VAR: marker, "AIRFLOW_AMPLIFY_EXAMPLE_POLL_INTERVAL": "0.5"},
    )
    # Staging's StartJob is taken by Amplify, but its answer is lost (the connection drops).
    amplify_world.inject_fault("drop_after", service="amplify", operations=["StartJob"], count=1)
    inject_fault_mix(amplify_world, seed=11)

    code, output = dags_test(RELEASE_DAG, env, tmp_path / "release.log")
    injected, by_kind = faults_injected(amplify_world), fault_counts(amplify_world)
    amplify_world.clear_faults()  # the checks below talk to the world too
    assert code == 0, output[-6000:]

    states = task_states(RELEASE_DAG)
    not_success = {t: s for t, (s, _) in states.items() if s != "success"}
    assert not_success in ({}, {"approve_production": "skipped"}), states
    assert sum(by_kind[kind] for kind in ("429", "500", "503", "drop")) > 0, by_kind
    assert by_kind["drop_after"] == 1 and "had started job 1" in output, by_kind
    ledger = build_ledger(amplify_world)
    leftovers = left_running(amplify_world, marker)
    assert ledger["builds_started"] == 2 and ledger["builds_started_twice"] == 0, ledger
    head = remote.commits["c4"]
    assert sorted((j["account_id"], j["status"], j["commit_id"]) for j in ledger["jobs"]) == [
        (STAGING_ACCOUNT_ID, "SUCCEED", head),
        (PRODUCTION_ACCOUNT_ID, "SUCCEED", head),
    ]
    assert leftovers["count"] == 0, leftovers
    record(
        "release_dag_10pct_faults",
        dag_runs=1,
        faults_injected=injected,
        builds_started=ledger["builds_started"],
        builds_started_twice=ledger["builds_started_twice"],
        left_running=leftovers["count"],
    )
    print(
        f"release under faults: {by_kind} in {_calls(amplify_world)} calls, {time.monotonic() - started:.1f} s"
    )


def test_cms_dag_under_ten_percent_faults_and_a_lost_webhook_answer_rebuilds_each_site_once(
    amplify_world, tmp_path, airflow_db
):
    """Two sites by StartJob, one by its webhook, whose POST starts the build but never gets an answer
    (the connection drops after the world handled it): the operator finds the job, never posts again."""
    started = time.monotonic()
    blog = amplify_world.seed_app("blog", ("main",))
    shop = amplify_world.seed_app("shop", ("main",))
    docs = amplify_world.seed_app("docs", ("main",), webhooks=True)
    sites = [
        {"name": "blog", "app_id": blog["app_id"], "branch_name": "main", "aws_conn_id": "aws_staging"},
        {"name": "shop", "app_id": shop["app_id"], "branch_name": "main", "aws_conn_id": "aws_staging"},
        {"name": "docs", "webhook_conn_id": "docs_webhook", "aws_conn_id": "aws_staging",
         "allow_custom_webhook_host": True},
    ]  # fmt: skip
    marker = new_marker()
    env = {
        **os.environ,
        "NO_PROXY": "127.0.0.1,localhost",
        MARKER_VAR: marker,
        "AIRFLOW_CONN_AWS_STAGING": json.dumps(amplify_world.aws_connection()),
        "AIRFLOW_CONN_DOCS_WEBHOOK": json.dumps(
            {"conn_type": "amplify_webhook", "password": docs["webhooks"]["main"]["url"]}
        ),
        "AIRFLOW_VAR_AMPLIFY_CMS_SITES": json.dumps(sites),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW_AMPLIFY_EXAMPLE_RETRY_DELAY": "0.5",
        "AIRFLOW_AMPLIFY_EXAMPLE_RETRIES": "2",
        "AIRFLOW_AMPLIFY_EXAMPLE_POLL_INTERVAL": "0.5",
    }
    lost_answer = amplify_world.inject_fault(
        "drop_after", service="amplify-webhooks", operations=["startbuild"], count=1
    )
    assert lost_answer["injected"] == 0
    inject_fault_mix(amplify_world, seed=12)

    code, output = dags_test(CMS_DAG, env, tmp_path / "cms.log")
    injected, by_kind = faults_injected(amplify_world), fault_counts(amplify_world)
    amplify_world.clear_faults()
    assert code == 0, output[-6000:]

    assert "rebuilt: blog (job 1), shop (job 1), docs (job 1)" in output, output[-6000:]
    assert "failed: -" in output
    assert by_kind.get("drop_after") == 1 and injected > 1, by_kind
    assert "did not get an answer" in output  # the operator knew the POST's fate was unknown
    states = task_states(CMS_DAG)
    assert {s for s, _ in states.values()} == {"success"}, states
    ledger = build_ledger(amplify_world)
    leftovers = left_running(amplify_world, marker)
    (post,) = ledger["webhook_posts"]  # posted once: the lost answer was followed by ListJobs, not a new POST
    assert post["fault"] == "drop_after" and post["job_id"] == "1"
    assert ledger["builds_started"] == 3 and ledger["builds_started_twice"] == 0, ledger
    assert sorted(j["app_id"] for j in ledger["jobs"] if j["status"] == "SUCCEED") == sorted(
        a["app_id"] for a in (blog, shop, docs)
    )
    assert leftovers["count"] == 0, leftovers
    record(
        "cms_dag_10pct_faults_webhook_answer_lost",
        dag_runs=1,
        faults_injected=injected,
        builds_started=ledger["builds_started"],
        builds_started_twice=ledger["builds_started_twice"],
        left_running=leftovers["count"],
    )
    print(f"cms under faults: {by_kind} in {_calls(amplify_world)} calls, {time.monotonic() - started:.1f} s")


def _calls(world) -> dict[str, int]:
    """Calls per faulted service in the request log (for the log line: how many calls the rates apply to)."""
    return {service: len(world.requests(service=service)) for service in FAULT_SERVICES}
