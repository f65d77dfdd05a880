"""AmplifyHook, through real botocore against the world."""

from __future__ import annotations

import pytest

from airflow_amplify import statuses
from airflow_amplify.hooks.amplify import AmplifyHook
from airflow_amplify.jobs import JobWatch
from airflow_amplify.validation import validate_amplify_value, validate_webhook_url


@pytest.fixture
def hook(aws_connections):
    return AmplifyHook(aws_conn_id="aws_staging")


def test_list_jobs_is_newest_first_by_numeric_id_across_pages(amplify_world, hook, staging_app):
    amplify = amplify_world.client("amplify")
    for _ in range(12):
        amplify.start_job(appId=staging_app["app_id"], branchName="main", jobType="RELEASE")
    ids = [j["jobId"] for j in hook.list_jobs(staging_app["app_id"], "main")]
    assert ids == [str(i) for i in range(12, 0, -1)]  # "10" sorts after "9" by number, not by text


def test_active_job_and_expected_duration(amplify_world, hook, staging_app):
    app_id = staging_app["app_id"]
    assert hook.get_active_job(app_id, "main") is None and hook.expected_duration(app_id, "main") is None
    amplify_world.script_next_job(
        app_id, "main", provision_seconds=0.1, build_seconds=0.4, deploy_seconds=0.2
    )
    first = hook.start_job(app_id, "main")
    assert hook.get_active_job(app_id, "main")["jobId"] == first["jobId"]
    outcome = JobWatch(app_id, "main", first["jobId"], poll_interval=0.1, max_poll_interval=0.2).wait(hook)
    assert outcome.status == "success" and hook.get_active_job(app_id, "main") is None
    assert hook.expected_duration(app_id, "main") == pytest.approx(0.6, abs=0.01)


def test_fetch_log_tail(amplify_world, hook, staging_app):
    app_id = staging_app["app_id"]
    amplify_world.script_next_job(app_id, "main", outcome="FAILED", log_lines=120, status_reason="boom")
    job = hook.start_job(app_id, "main")
    outcome = JobWatch(app_id, "main", job["jobId"], poll_interval=0.1).wait(hook)
    tail = hook.fetch_log_tail(outcome.job["steps"][0]["logUrl"], lines=10)
    assert len(tail) == 10 and tail[-2].endswith("!!! boom")


def test_status_model():
    assert statuses.job_is_terminal("SUCCEED") and statuses.job_is_terminal("CANCELLED")
    for status in ("CREATED", "PENDING", "PROVISIONING", "RUNNING", "CANCELLING", "SOMETHING_NEW"):
        assert not statuses.job_is_terminal(status) and statuses.job_is_active(status)
    assert statuses.job_phase("PENDING") == "queued" and statuses.job_phase("SOMETHING_NEW") == "queued"
    assert statuses.job_phase("PROVISIONING") == "running"


@pytest.mark.parametrize(
    ("param", "value", "shape", "fragment"),
    [
        ("app_id", "", "AppId", "app_id is required"),
        ("app_id", "D1ABC", "AppId", "does not match d[a-z0-9]+"),
        ("branch_name", "x" * 256, "BranchName", "must be 1 to 255 characters long; it has 256"),
        ("job_type", "NIGHTLY", "JobType", "expected one of RELEASE, RETRY, MANUAL, WEB_HOOK"),
        ("job_id", "12a", "JobId", "does not match [0-9]+"),
        ("app_id", 42, "AppId", "must be a string"),
    ],
)
def test_validation_names_parameter_value_and_rule(param, value, shape, fragment):
    with pytest.raises(ValueError) as excinfo:
        validate_amplify_value(param, value, shape)
    assert fragment in str(excinfo.value) and param in str(excinfo.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://webhooks.amplify.us-east-1.amazonaws.com/prod/webhooks?id=abc&token=t",
        "https://webhooks.amplify.cn-north-1.amazonaws.com.cn/prod/webhooks?id=abc&token=t",
        "https://webhooks.amplify.ap-southeast-2.amazonaws.com/prod/webhooks?id=abc&token=t",
    ],
)
def test_amplify_webhook_hosts_are_accepted(url):
    assert validate_webhook_url(url) == "abc"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/prod/webhooks?id=abc&token=secret",
        "http://webhooks.amplify.us-east-1.amazonaws.com/prod/webhooks?id=abc&token=secret",
        "https://webhooks.amplify.us-east-1.amazonaws.com.evil.io/prod/webhooks?id=abc&token=secret",
        "https://webhooks.amplify.us-east-1.amazonaws.com/prod/webhooks?id=abc",
    ],
)
def test_other_webhook_urls_are_refused_without_echoing_the_token(url):
    with pytest.raises(ValueError) as excinfo:
        validate_webhook_url(url)
    assert "secret" not in str(excinfo.value)


# --- StartJob is not idempotent: a lost answer must not start a second build -------------------


def test_start_job_whose_answer_was_lost_adopts_the_started_job_instead_of_resending(
    amplify_world, hook, staging_app
):
    """The connection drops after Amplify took StartJob: ListJobs finds the job; no second StartJob."""
    app_id = staging_app["app_id"]
    amplify_world.inject_fault("drop_after", service="amplify", operations=["StartJob"], count=1)
    summary = hook.start_job(app_id, "main", commit_id="abc123", sleep=lambda s: None)
    assert summary["jobId"] == "1" and summary["commitId"] == "abc123"
    assert amplify_world.count("StartJob") == 1
    assert [j["job_id"] for j in amplify_world.jobs(app_id=app_id)] == ["1"]


@pytest.mark.parametrize("kind", ["429", "503", "drop"])
def test_start_job_refused_or_lost_before_amplify_took_it_is_sent_again_once(
    amplify_world, hook, staging_app, kind
):
    app_id = staging_app["app_id"]
    amplify_world.client("amplify").start_job(appId=app_id, branchName="main", jobType="RELEASE")  # job 1
    amplify_world.inject_fault(kind, service="amplify", operations=["StartJob"], count=2)
    summary = hook.start_job(app_id, "main", sleep=lambda s: None)
    assert summary["jobId"] == "2"  # job 1 existed before: it is not taken for ours
    assert amplify_world.count("StartJob") == 1 + 3 and len(amplify_world.jobs(app_id=app_id)) == 2


def test_start_job_gives_up_after_its_attempts_with_the_last_error(amplify_world, hook, staging_app):
    from botocore.exceptions import ClientError

    amplify_world.inject_fault("503", service="amplify", operations=["StartJob"])
    with pytest.raises(ClientError, match="DependentServiceFailureException"):
        hook.start_job(staging_app["app_id"], "main", attempts=3, sleep=lambda s: None)
    assert amplify_world.count("StartJob") == 3 and amplify_world.jobs() == []
