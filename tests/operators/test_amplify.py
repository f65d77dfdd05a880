"""AmplifyStartJobOperator and AmplifyWebhookBuildOperator against the local world, through real botocore."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred, redact

from airflow_amplify.hooks.amplify import AmplifyJobFailedError, AmplifyWebhookError
from airflow_amplify.operators.amplify import AmplifyStartJobOperator, AmplifyWebhookBuildOperator

FAST = {"waiter_delay": 0.1, "waiter_max_delay": 0.3}


def start_op(app, **kw):
    params = {
        "task_id": "build",
        "app_id": app["app_id"],
        "branch_name": "main",
        "aws_conn_id": "aws_staging",
    }
    return AmplifyStartJobOperator(**{**params, **FAST, "deferrable": False, **kw})


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def run_trigger(trigger):
    async def first_event():
        async for event in trigger.run():
            return event

    return asyncio.run(first_event())


def test_start_job_blocking_returns_the_summary_and_a_console_link(
    amplify_world, aws_connections, staging_app, task_context
):
    context = task_context()
    result = start_op(staging_app, commit_id="abc123", commit_message="Release 1").execute(context)
    assert result["status"] == "SUCCEED" and result["job_id"] == "1" and result["job_type"] == "RELEASE"
    assert result["commit_id"] == "abc123" and result["app_id"] == staging_app["app_id"]
    assert result["start_time"] < result["end_time"]
    assert result["console_url"] == (
        f"https://us-east-1.console.aws.amazon.com/amplify/apps/{staging_app['app_id']}/branches/main/deployments/1"
    )
    link = context["ti"].xcoms["amplify_job"]
    assert link["app_id"] == staging_app["app_id"] and link["job_id"] == "1"
    json.dumps(result)  # an XCom value
    assert amplify_world.count("StartJob") == 1


def test_status_changes_and_steps_are_logged(
    amplify_world, aws_connections, staging_app, task_context, task_logs
):
    start_op(staging_app).execute(task_context())
    text = task_logs()
    for fragment in (
        "is PROVISIONING",
        "is RUNNING",
        "step BUILD SUCCEED",
        "step DEPLOY SUCCEED",
        "is SUCCEED",
    ):
        assert fragment in text


def test_failed_job_error_names_step_reason_and_log_tail(
    amplify_world, aws_connections, staging_app, task_context
):
    amplify_world.script_next_job(
        staging_app["app_id"],
        "main",
        outcome="FAILED",
        fail_step="BUILD",
        status_reason="npm ERR! build exited 1",
    )
    with pytest.raises(AmplifyJobFailedError) as excinfo:
        start_op(staging_app).execute(task_context())
    message = str(excinfo.value)
    assert (
        "job 1" in message and "FAILED" in message and "step BUILD FAILED: npm ERR! build exited 1" in message
    )
    tail = message.split("Last 50 lines of the BUILD log:\n", 1)[1].splitlines()
    assert len(tail) == 50 and tail[-2].endswith("!!! npm ERR! build exited 1")


def in_background(action):
    """Run ``action`` in a thread (the operator itself must run in the main thread: Airflow 2's guard)."""
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


def test_cancelled_job_is_a_failure(amplify_world, aws_connections, staging_app, task_context):
    amplify_world.script_next_job(staging_app["app_id"], "main", build_seconds=3)
    amplify = amplify_world.client("amplify")

    def cancel_from_outside():
        wait_until(lambda: [j for j in amplify_world.jobs() if j["status"] == "RUNNING"])
        amplify.stop_job(appId=staging_app["app_id"], branchName="main", jobId="1")

    canceller = in_background(cancel_from_outside)
    with pytest.raises(AmplifyJobFailedError, match="CANCELLED"):
        start_op(staging_app).execute(task_context())
    canceller.join(5)


def test_on_kill_stops_the_job(amplify_world, aws_connections, staging_app, task_context):
    amplify_world.script_next_job(staging_app["app_id"], "main", build_seconds=30)
    op = start_op(staging_app)

    def kill_when_started():
        wait_until(lambda: op._job_ref)
        op.on_kill()

    killer = in_background(kill_when_started)
    with pytest.raises(AmplifyJobFailedError, match="CANCELLED"):
        op.execute(task_context())
    killer.join(5)
    assert amplify_world.count("StopJob") == 1
    assert amplify_world.jobs()[0]["status"] == "CANCELLED"


def test_job_queued_at_the_account_limit_then_runs(
    amplify_world, aws_connections, staging_app, task_context, task_logs
):
    amplify_world.settings(concurrency_limit=1)
    other = amplify_world.seed_app("other", ("main",))
    amplify_world.script_next_job(
        other["app_id"], "main", build_seconds=4.0
    )  # long enough for our first poll to see PENDING, even on a busy machine
    amplify_world.client("amplify").start_job(appId=other["app_id"], branchName="main", jobType="RELEASE")
    result = start_op(staging_app).execute(task_context())
    assert result["status"] == "SUCCEED"
    assert "is PENDING" in task_logs() and "is RUNNING" in task_logs()


def test_branch_name_with_a_slash(amplify_world, aws_connections, staging_app, task_context):
    result = start_op(staging_app, branch_name="feature/x").execute(task_context())
    assert result["branch_name"] == "feature/x" and result["status"] == "SUCCEED"
    assert result["console_url"].endswith("/branches/feature%2Fx/deployments/1")


def test_production_account_through_the_assume_role_connection(
    amplify_world, aws_connections, production_app, task_context
):
    result = start_op(production_app, aws_conn_id="aws_production").execute(task_context())
    assert result["status"] == "SUCCEED"
    (start,) = amplify_world.requests(operation="StartJob")
    assert start["account_id"] == "222222222222"
    assert amplify_world.count("AssumeRole") >= 1


def test_without_waiting_returns_the_started_job(amplify_world, aws_connections, staging_app, task_context):
    result = start_op(staging_app, wait_for_completion=False).execute(task_context())
    assert result["status"] in ("PENDING", "PROVISIONING") and amplify_world.count("GetJob") == 1


def test_retry_job_type_retries_the_given_job(amplify_world, aws_connections, staging_app, task_context):
    start_op(staging_app, commit_id="c0ffee").execute(task_context())
    result = start_op(staging_app, job_type="RETRY", job_id="1").execute(task_context(task_id="again"))
    assert result["job_type"] == "RETRY" and result["commit_id"] == "c0ffee" and result["job_id"] == "2"


# --- a branch that is busy -------------------------------------------------------------------


@pytest.fixture
def busy_branch(amplify_world, staging_app):
    amplify_world.script_next_job(staging_app["app_id"], "main", pending_seconds=0, build_seconds=3.0)
    amplify_world.client("amplify").start_job(
        appId=staging_app["app_id"], branchName="main", jobType="RELEASE"
    )
    return staging_app


def test_if_busy_attach_adopts_the_active_job(amplify_world, aws_connections, busy_branch, task_context):
    result = start_op(busy_branch, if_busy="attach").execute(task_context())
    assert result["job_id"] == "1" and result["status"] == "SUCCEED"
    assert amplify_world.count("StartJob") == 1  # only the one that made the branch busy


def test_if_busy_stop_cancels_it_and_starts_ours(amplify_world, aws_connections, busy_branch, task_context):
    result = start_op(busy_branch, if_busy="stop").execute(task_context())
    assert result["job_id"] == "2" and result["status"] == "SUCCEED"
    assert amplify_world.jobs(job_id="1")[0]["status"] == "CANCELLED"


def test_if_busy_wait_starts_ours_after_it(amplify_world, aws_connections, busy_branch, task_context):
    result = start_op(busy_branch, if_busy="wait").execute(task_context())
    first = amplify_world.jobs(job_id="1")[0]
    assert first["status"] == "SUCCEED" and result["job_id"] == "2"
    start_requests = amplify_world.requests(operation="StartJob")
    assert start_requests[-1]["time"] >= first["end_time"]


def test_if_busy_fail_refuses(amplify_world, aws_connections, busy_branch, task_context):
    with pytest.raises(Exception, match="already has an active job 1"):
        start_op(busy_branch, if_busy="fail").execute(task_context())
    assert amplify_world.count("StartJob") == 1


def test_if_busy_wait_deferrable_does_not_hold_the_worker(
    amplify_world, aws_connections, staging_app, task_context
):
    """Deferrable: ours is started at once (Amplify queues it behind the active job) and the task defers,
    while the other job is still running: the worker waited for nothing."""
    amplify_world.script_next_job(staging_app["app_id"], "main", pending_seconds=0, build_seconds=8.0)
    amplify_world.client("amplify").start_job(
        appId=staging_app["app_id"], branchName="main", jobType="RELEASE"
    )
    context = task_context()
    op = start_op(staging_app, if_busy="wait", deferrable=True)
    with pytest.raises(TaskDeferred) as excinfo:
        op.execute(context)
    assert amplify_world.jobs(job_id="1")[0]["status"] in ("PENDING", "PROVISIONING", "RUNNING")
    assert amplify_world.count("StartJob") == 2
    event = run_trigger(excinfo.value.trigger)
    result = op.execute_complete(context, event.payload)
    assert result["job_id"] == "2" and result["status"] == "SUCCEED"
    assert amplify_world.jobs(job_id="1")[0]["status"] == "SUCCEED"


def test_if_busy_wait_blocking_is_bounded_by_queued_timeout(
    amplify_world, aws_connections, staging_app, task_context
):
    amplify_world.script_next_job(staging_app["app_id"], "main", pending_seconds=0, build_seconds=20.0)
    amplify_world.client("amplify").start_job(
        appId=staging_app["app_id"], branchName="main", jobType="RELEASE"
    )
    with pytest.raises(AmplifyJobFailedError, match=r"stayed busy with job 1 .*queued_timeout") as err:
        start_op(staging_app, if_busy="wait", queued_timeout=1).execute(task_context())
    assert "our job was not started" in str(err.value)
    assert amplify_world.count("StartJob") == 1  # only the one that made the branch busy
    assert amplify_world.jobs(job_id="1")[0]["status"] in ("PENDING", "PROVISIONING", "RUNNING")


def test_retry_of_a_job_that_does_not_exist_is_refused_before_start_job(
    amplify_world, aws_connections, staging_app, task_context
):
    with pytest.raises(ValueError, match=r"job_id='42': branch 'main' of app .* has no such job to retry"):
        start_op(staging_app, job_type="RETRY", job_id="42").execute(task_context())
    assert amplify_world.count("StartJob") == 0


def test_a_job_id_with_a_job_type_that_takes_none_is_refused(
    amplify_world, aws_connections, staging_app, task_context
):
    with pytest.raises(
        ValueError, match=r"job_id='1' with job_type='RELEASE': only job_type='RETRY' takes a job id"
    ):
        start_op(staging_app, job_id="1").execute(task_context())
    assert amplify_world.count("StartJob") == 0


def test_a_commit_id_that_rendered_none_is_refused(amplify_world, aws_connections, staging_app, task_context):
    """The documented ``commit_id="{{ ti.xcom_pull(task_ids='deploy')['commit_id'] }}"`` renders "None"
    when the deploy returned no commit: refused, no job started with commit "None"."""
    op = start_op(staging_app, commit_id="{{ deploy['commit_id'] }}")
    op.render_template_fields({"deploy": {"commit_id": None}})
    assert op.commit_id == "None"
    with pytest.raises(
        ValueError, match=r"commit_id='None' looks like a template that rendered a missing value"
    ):
        op.execute(task_context())
    assert amplify_world.count("StartJob") == 0


# --- deferrable ------------------------------------------------------------------------------


def test_deferrable_defers_to_the_trigger_and_completes(
    amplify_world, aws_connections, staging_app, task_context
):
    context = task_context()
    op = start_op(staging_app, deferrable=True)
    with pytest.raises(TaskDeferred) as excinfo:
        op.execute(context)
    trigger = excinfo.value.trigger
    assert excinfo.value.method_name == "execute_complete"
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_amplify.triggers.amplify.AmplifyJobTrigger"
    json.dumps(kwargs)
    event = run_trigger(trigger)
    result = op.execute_complete(context, event.payload)
    assert result["status"] == "SUCCEED" and result["job_id"] == "1"


def test_deferrable_failure_carries_the_log_tail(amplify_world, aws_connections, staging_app, task_context):
    amplify_world.script_next_job(
        staging_app["app_id"], "main", outcome="FAILED", fail_step="DEPLOY", status_reason="bad"
    )
    context = task_context()
    op = start_op(staging_app, deferrable=True)
    with pytest.raises(TaskDeferred) as excinfo:
        op.execute(context)
    event = run_trigger(excinfo.value.trigger)
    assert event.payload["status"] == "failed"
    with pytest.raises(
        AmplifyJobFailedError, match=r"(?s)step DEPLOY FAILED: bad.*Last 50 lines of the DEPLOY log"
    ):
        op.execute_complete(context, event.payload)


# --- faults and retries ----------------------------------------------------------------------


def test_twenty_percent_throttling_and_errors_on_polls_still_complete(
    amplify_world, aws_connections, staging_app, task_context
):
    amplify_world.inject_fault("429", service="amplify", operations=["GetJob", "ListJobs"], rate=0.1, seed=3)
    amplify_world.inject_fault("500", service="amplify", operations=["GetJob", "ListJobs"], rate=0.1, seed=4)
    result = start_op(staging_app).execute(task_context())
    assert result["status"] == "SUCCEED"
    faulted = [r for r in amplify_world.requests(service="amplify") if r.get("fault")]
    assert faulted, "the faults were injected"
    assert amplify_world.count("StartJob") == 1


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"app_id": ""}, "app_id is required"),
        ({"app_id": "NOT-AN-APP"}, "app_id='NOT-AN-APP' does not match"),
        ({"app_id": "d" + "1" * 30}, "must be 1 to 20 characters"),
        ({"branch_name": "nope"}, "branch_name='nope': not found in account 123456789012"),
        ({"job_type": "RETRY"}, "job_type='RETRY' needs job_id"),
        ({"job_type": "DEPLOY"}, "job_type='DEPLOY' is not valid; expected one of RELEASE"),
        ({"job_id": "abc", "job_type": "RETRY"}, "job_id='abc' does not match"),
        ({"if_busy": "queue"}, "if_busy='queue' is not valid"),
        ({"waiter_delay": 60, "waiter_max_delay": 10}, "waiter_delay (60) must not exceed"),
        ({"running_timeout": -1}, "running_timeout=-1 is not valid"),
        ({"aws_conn_id": "no_such_connection"}, "no_such_connection"),
    ],
)
def test_bad_input_fails_clearly_before_any_change(
    amplify_world, aws_connections, staging_app, task_context, overrides, fragment
):
    with pytest.raises(Exception, match=None) as excinfo:
        start_op(staging_app, **overrides).execute(task_context())
    assert fragment in str(excinfo.value)
    assert amplify_world.count("StartJob") == 0 and amplify_world.jobs() == []


# --- webhooks --------------------------------------------------------------------------------


@pytest.fixture
def webhook_connection(monkeypatch, staging_app):
    url = staging_app["webhooks"]["main"]["url"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_SITE_WEBHOOK", json.dumps({"conn_type": "amplify_webhook", "password": url})
    )
    return url


def webhook_op(**kw):
    params = {"task_id": "webhook_build", "aws_conn_id": "aws_staging", "allow_custom_webhook_host": True}
    return AmplifyWebhookBuildOperator(**{**params, **FAST, "deferrable": False, **kw})


def test_webhook_build_finds_its_job_and_keeps_the_token_secret(
    amplify_world, aws_connections, staging_app, webhook_connection, task_context, task_logs
):
    context = task_context()
    op = webhook_op(webhook_conn_id="site_webhook")
    result = op.execute(context)
    assert result["job_type"] == "WEB_HOOK" and result["status"] == "SUCCEED" and result["job_id"] == "1"
    assert result["branch_name"] == "main" and result["app_id"] == staging_app["app_id"]
    token = webhook_connection.rsplit("token=", 1)[1]
    logged = task_logs()
    assert "The webhook started job 1" in logged and token not in logged
    assert token not in json.dumps(result) and token not in json.dumps(context["ti"].xcoms)
    assert all(token not in str(getattr(op, f)) for f in op.template_fields)
    assert token not in redact(f"url={webhook_connection}")  # registered with the secrets masker
    assert len(amplify_world.requests(service="amplify-webhooks")) == 1


def test_webhook_resolved_by_id_through_get_webhook(
    amplify_world, aws_connections, staging_app, task_context
):
    hook = staging_app["webhooks"]["feature/x"]
    result = webhook_op(app_id=staging_app["app_id"], webhook_id=hook["id"]).execute(task_context())
    assert result["branch_name"] == "feature/x" and result["status"] == "SUCCEED"
    assert amplify_world.count("GetWebhook") >= 1


def test_webhook_host_must_be_amplify_unless_allowed(
    amplify_world, aws_connections, staging_app, webhook_connection, task_context
):
    with pytest.raises(
        ValueError, match=r"host '127\.0\.0\.1'.*webhooks\.amplify\.<region>\.amazonaws\.com"
    ) as exc:
        webhook_op(webhook_conn_id="site_webhook", allow_custom_webhook_host=False).execute(task_context())
    assert "token" not in str(exc.value)
    assert amplify_world.requests(service="amplify-webhooks") == []


def test_webhook_trigger_merged_into_a_pending_job(
    amplify_world, aws_connections, staging_app, webhook_connection, task_context
):
    app_id = staging_app["app_id"]
    amplify = amplify_world.client("amplify")
    amplify_world.script_next_job(app_id, "main", pending_seconds=0, build_seconds=1.5)
    amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")
    amplify_world.script_next_job(app_id, "main", pending_seconds=0)
    time.sleep(0.1)
    amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")  # job 2 waits PENDING
    result = webhook_op(webhook_conn_id="site_webhook", merge_grace_period=0.3).execute(task_context())
    assert result["job_id"] == "2" and result["status"] == "SUCCEED"
    assert len(amplify_world.jobs()) == 2


def test_webhook_post_without_answer_is_checked_not_repeated(
    amplify_world, aws_connections, staging_app, webhook_connection, task_context
):
    amplify_world.inject_fault("drop_after", service="amplify-webhooks", operations=["startbuild"])
    result = webhook_op(webhook_conn_id="site_webhook").execute(task_context())
    assert result["job_id"] == "1" and result["status"] == "SUCCEED"
    assert len(amplify_world.requests(service="amplify-webhooks")) == 1


def test_webhook_post_lost_before_it_arrived_fails_without_reposting(
    amplify_world, aws_connections, staging_app, webhook_connection, task_context
):
    amplify_world.inject_fault("drop", service="amplify-webhooks", operations=["startbuild"])
    with pytest.raises(AmplifyWebhookError, match="was not posted again"):
        webhook_op(webhook_conn_id="site_webhook", find_job_timeout=0.5).execute(task_context())
    assert len(amplify_world.requests(service="amplify-webhooks")) == 1 and amplify_world.jobs() == []


def test_webhook_wrong_token_is_a_clear_error(
    amplify_world, aws_connections, staging_app, monkeypatch, task_context
):
    url = staging_app["webhooks"]["main"]["url"].rsplit("token=", 1)[0] + "token=wrong"
    monkeypatch.setenv(
        "AIRFLOW_CONN_BAD_WEBHOOK", json.dumps({"conn_type": "amplify_webhook", "password": url})
    )
    with pytest.raises(AmplifyWebhookError, match="HTTP 403"):
        webhook_op(webhook_conn_id="bad_webhook").execute(task_context())
    assert amplify_world.jobs() == []


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({}, "Give either webhook_conn_id"),
        ({"webhook_conn_id": "missing_conn"}, "webhook_conn_id='missing_conn'"),
        ({"app_id": "bad id", "webhook_id": "x"}, "app_id='bad id' does not match"),
        ({"app_id": "d0000000000000", "webhook_id": "0" * 32}, "was not found in account 123456789012"),
    ],
)
def test_webhook_bad_input(amplify_world, aws_connections, staging_app, task_context, kw, fragment):
    with pytest.raises(Exception) as excinfo:
        webhook_op(**kw).execute(task_context())
    assert fragment in str(excinfo.value)
    assert amplify_world.requests(service="amplify-webhooks") == [] and amplify_world.jobs() == []


def test_webhook_if_busy_attach_adopts_the_running_build_without_posting(
    amplify_world, aws_connections, busy_branch, webhook_connection, task_context
):
    result = webhook_op(webhook_conn_id="site_webhook", if_busy="attach").execute(task_context())
    assert result["job_id"] == "1" and result["action"] == "attached" and result["status"] == "SUCCEED"
    assert amplify_world.requests(service="amplify-webhooks") == []


def test_xcom_says_how_the_task_came_by_its_job(amplify_world, aws_connections, staging_app, task_context):
    context = task_context()
    assert start_op(staging_app).execute(context)["action"] == "started"
    deferred = start_op(staging_app, deferrable=True)
    deferred_context = task_context(task_id="deferred")
    with pytest.raises(TaskDeferred) as excinfo:
        deferred.execute(deferred_context)
    assert excinfo.value.kwargs == {"action": "started"}
    retry = start_op(staging_app).execute(deferred_context)
    assert retry["action"] == "reattached" and retry["job_id"] == "2"
