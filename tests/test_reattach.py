"""Re-attach across retries and Airflow versions (airflow_amplify/reattach.py), once for both job operators.

Each test runs with AmplifyStartJobOperator and with AmplifyWebhookBuildOperator: a retry finds the
job an earlier try started (through the job store) and never starts a second build.
"""

from __future__ import annotations

import json

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_amplify.hooks.amplify import AmplifyJobFailedError
from tests.operators.test_amplify import run_trigger, start_op, webhook_op


@pytest.fixture(params=["start_job", "webhook"])
def job_op(request, monkeypatch, amplify_world, aws_connections, staging_app):
    """A factory of the job operator under test, and a count of the builds it started."""
    if request.param == "start_job":
        return (lambda **kw: start_op(staging_app, **kw)), (lambda: amplify_world.count("StartJob"))
    url = staging_app["webhooks"]["main"]["url"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_SITE_WEBHOOK", json.dumps({"conn_type": "amplify_webhook", "password": url})
    )
    return (
        (lambda **kw: webhook_op(webhook_conn_id="site_webhook", **kw)),
        (lambda: len(amplify_world.requests(service="amplify-webhooks"))),
    )


def test_retry_after_a_crash_mid_wait_reattaches(amplify_world, staging_app, job_op, task_context):
    """The first try dies mid-wait (its thread is abandoned); the second finds the job and starts none."""
    make, builds = job_op
    amplify_world.script_next_job(staging_app["app_id"], "main", build_seconds=1.5)
    store_context = task_context()
    with pytest.raises(TaskDeferred):  # the first try started the job, then its worker "died"
        make(deferrable=True).execute(store_context)
    retry_context = dict(store_context)
    retry_context["ti"].try_number = 2
    result = make().execute(retry_context)
    assert result["job_id"] == "1" and result["status"] == "SUCCEED"
    assert builds() == 1


def test_a_retry_resumed_with_an_earlier_tries_event_starts_afresh_and_reattaches(
    amplify_world, staging_app, job_op, task_context
):
    """Airflow 3.0 resumes a retry straight into execute_complete with the failed try's trigger event
    (apache/airflow#56704): the retry runs its own try instead of failing on the stale event."""
    make, builds = job_op
    amplify_world.script_next_job(staging_app["app_id"], "main", build_seconds=1.5)
    context = task_context()
    with pytest.raises(TaskDeferred) as first:
        make(deferrable=True).execute(context)
    assert first.value.trigger.deferred_on_try == 1
    stale_event = {
        "status": "error",
        "job_id": "1",
        "message": "the first try's wait failed",
        "deferred_on_try": 1,
    }
    context["ti"].try_number = 2
    retry = make(deferrable=True)
    with pytest.raises(TaskDeferred) as again:
        retry.execute_complete(context, stale_event)  # Airflow 3.0 passes only the event
    assert again.value.trigger.job_id == "1" and again.value.trigger.deferred_on_try == 2
    event = run_trigger(again.value.trigger)
    assert event.payload["deferred_on_try"] == 2
    result = retry.execute_complete(context, event.payload)
    assert result["job_id"] == "1" and result["status"] == "SUCCEED" and result["action"] == "reattached"
    assert builds() == 1


def test_retry_after_success_returns_the_finished_job(job_op, task_context):
    make, builds = job_op
    context = task_context()
    with pytest.raises(TaskDeferred) as excinfo:
        make(deferrable=True).execute(context)
    run_trigger(excinfo.value.trigger)  # the job finished while nobody was looking
    result = make().execute(context)
    assert result["job_id"] == "1" and result["status"] == "SUCCEED"
    assert builds() == 1


def test_retry_after_a_failed_job_starts_a_new_one(amplify_world, staging_app, job_op, task_context):
    make, builds = job_op
    amplify_world.script_next_job(staging_app["app_id"], "main", outcome="FAILED")
    context = task_context()
    with pytest.raises(AmplifyJobFailedError):
        make().execute(context)
    assert make().execute(context)["job_id"] == "2"
    assert builds() == 2
