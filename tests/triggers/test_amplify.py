"""AmplifyJobTrigger: async polling through aiobotocore against the world, serialization, resumption."""

from __future__ import annotations

import asyncio
import importlib

import pytest

from airflow_amplify.triggers.amplify import AmplifyJobTrigger


def make_trigger(app, job_id="1", **kw):
    params = dict(
        app_id=app["app_id"],
        branch_name="main",
        job_id=job_id,
        aws_conn_id="aws_staging",
        poll_interval=0.1,
        max_poll_interval=0.3,
    )
    return AmplifyJobTrigger(**{**params, **kw})


def first_event(trigger, timeout=30):
    async def run():
        async for event in trigger.run():
            return event

    return asyncio.run(asyncio.wait_for(run(), timeout))


def start(amplify_world, app, branch="main", **script):
    if script:
        amplify_world.script_next_job(app["app_id"], branch, **script)
    amplify = amplify_world.client("amplify", account_id=app["account_id"])
    return amplify.start_job(appId=app["app_id"], branchName=branch, jobType="RELEASE")["jobSummary"]


def rebuild(trigger):
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


def test_success_event(amplify_world, aws_connections, staging_app):
    start(amplify_world, staging_app)
    event = first_event(make_trigger(staging_app))
    assert event.payload["status"] == "success" and event.payload["job_id"] == "1"
    assert event.payload["app_id"] == staging_app["app_id"]


def test_failed_and_cancelled_jobs_end_the_wait_as_failures(amplify_world, aws_connections, staging_app):
    start(amplify_world, staging_app, outcome="FAILED", status_reason="exit 2")
    event = first_event(make_trigger(staging_app))
    assert event.payload["status"] == "failed" and "step BUILD FAILED: exit 2" in event.payload["message"]
    start(amplify_world, staging_app, build_seconds=5)
    amplify_world.client("amplify").stop_job(appId=staging_app["app_id"], branchName="main", jobId="2")
    event = first_event(make_trigger(staging_app, job_id="2"))
    assert event.payload["status"] == "failed" and "CANCELLED" in event.payload["message"]


def test_unknown_status_created_is_not_a_failure(amplify_world, aws_connections, staging_app, task_logs):
    # long enough for the first poll to see CREATED on a loaded machine
    start(amplify_world, staging_app, created_seconds=3.0)
    event = first_event(make_trigger(staging_app))
    assert event.payload["status"] == "success"
    assert "is CREATED" in task_logs()


def test_serialized_trigger_rebuilt_in_a_new_process_resumes(amplify_world, aws_connections, staging_app):
    start(amplify_world, staging_app, build_seconds=1.0)
    trigger = make_trigger(staging_app, queued_timeout=60, running_timeout=60, expected_duration=1.0)

    async def interrupted():
        async def consume():
            async for _ in trigger.run():
                return

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(consume(), 0.5)  # the triggerer died mid-wait

    asyncio.run(interrupted())
    resumed = rebuild(trigger)
    assert resumed.serialize() == trigger.serialize()
    assert first_event(resumed).payload["status"] == "success"


def test_throttling_and_server_errors_do_not_end_the_wait(amplify_world, aws_connections, staging_app):
    start(amplify_world, staging_app, build_seconds=1.0)
    amplify_world.inject_fault("429", service="amplify", operations=["GetJob"], rate=0.2, seed=11)
    amplify_world.inject_fault("503", service="amplify", operations=["GetJob"], rate=0.2, seed=12)
    amplify_world.inject_fault("drop", service="amplify", operations=["GetJob"], rate=0.1, seed=13)
    assert first_event(make_trigger(staging_app)).payload["status"] == "success"
    assert any(r.get("fault") for r in amplify_world.requests(operation="GetJob"))


def test_queued_and_running_time_have_separate_limits(amplify_world, aws_connections, staging_app):
    amplify_world.settings(concurrency_limit=1)
    other = amplify_world.seed_app("other", ("main",))
    start(amplify_world, other, build_seconds=5)
    start(amplify_world, staging_app)  # waits PENDING at the account limit
    event = first_event(make_trigger(staging_app, queued_timeout=0.5, running_timeout=60))
    assert event.payload["status"] == "timeout" and "stayed queued (PENDING)" in event.payload["message"]
    amplify_world.settings(concurrency_limit=5)
    start(amplify_world, staging_app, "feature/x", build_seconds=5)
    event = first_event(
        make_trigger(staging_app, branch_name="feature/x", queued_timeout=60, running_timeout=0.5)
    )
    assert event.payload["status"] == "timeout" and "ran (RUNNING) for more than" in event.payload["message"]


def test_missing_job_is_an_error_event(amplify_world, aws_connections, staging_app):
    event = first_event(make_trigger(staging_app, job_id="99"))
    assert event.payload["status"] == "error" and "NotFoundException" in event.payload["message"]


def test_on_kill_stops_the_job(amplify_world, aws_connections, staging_app):
    start(amplify_world, staging_app, build_seconds=10)
    asyncio.run(make_trigger(staging_app).on_kill())
    assert amplify_world.jobs()[0]["status"] in ("CANCELLING", "CANCELLED")
    start(amplify_world, staging_app, "feature/x", build_seconds=10)
    asyncio.run(make_trigger(staging_app, branch_name="feature/x", stop_on_kill=False).on_kill())
    assert amplify_world.count("StopJob") == 1


def test_a_build_of_known_duration_costs_few_polls(amplify_world, aws_connections, staging_app):
    """With the branch's usual duration known, the trigger sleeps until near the end instead of polling."""
    start(
        amplify_world,
        staging_app,
        pending_seconds=0,
        provision_seconds=0.2,
        build_seconds=2.4,
        deploy_seconds=0.4,
    )
    trigger = make_trigger(staging_app, poll_interval=0.2, max_poll_interval=1.0, expected_duration=2.8)
    assert first_event(trigger).payload["status"] == "success"
    with_hint = amplify_world.count("GetJob")
    amplify_world.clear_requests()
    start(
        amplify_world,
        staging_app,
        pending_seconds=0,
        provision_seconds=0.2,
        build_seconds=2.4,
        deploy_seconds=0.4,
    )
    assert (
        first_event(make_trigger(staging_app, job_id="2", poll_interval=0.2, max_poll_interval=1.0)).payload[
            "status"
        ]
        == "success"
    )
    without_hint = amplify_world.count("GetJob")
    assert with_hint <= 5 and with_hint < without_hint
