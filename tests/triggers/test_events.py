"""Event-driven waits: AmplifyJobTrigger and AmplifyStackTrigger on status events from SQS, against the world."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import secrets

import pytest

from airflow_amplify.operators.events import AmplifyEventsSetupOperator
from airflow_amplify.triggers import _events
from airflow_amplify.triggers.amplify import AmplifyJobTrigger
from airflow_amplify.triggers.cloudformation import AmplifyStackTrigger


@pytest.fixture(autouse=True)
def _fresh_registry():
    _events.reset()
    yield
    _events.reset()


@pytest.fixture
def made_consumers(monkeypatch):
    """Every consumer the waits get (their own call counts, whatever the transport resends)."""
    made = []
    real = _events.consumer_for

    def recording(*args, **kwargs):
        consumer = real(*args, **kwargs)
        if consumer is not None and consumer not in made:
            made.append(consumer)
        return consumer

    monkeypatch.setattr(_events, "consumer_for", recording)
    return made


def setup_events(triggerers=("t1",), conn="aws_staging"):
    return AmplifyEventsSetupOperator(task_id="setup", aws_conn_id=conn, triggerers=list(triggerers)).execute(
        {}
    )


def events_for(result, name="t1", safety=600.0):
    return {"queue_url": result["queues"][name], "safety_poll_interval": safety}


def job_trigger(app, job_id, events, **kw):
    params = dict(
        app_id=app["app_id"], branch_name="main", job_id=job_id, aws_conn_id="aws_staging",
        poll_interval=0.2, max_poll_interval=0.5, events=events,
    )  # fmt: skip
    return AmplifyJobTrigger(**{**params, **kw})


def start(world, app, branch="main", build=1.0):
    world.script_next_job(
        app["app_id"], branch, created_seconds=0, pending_seconds=0, provision_seconds=0.1,
        build_seconds=build, deploy_seconds=0.2,
    )  # fmt: skip
    amplify = world.client("amplify")
    return amplify.start_job(appId=app["app_id"], branchName=branch, jobType="RELEASE")["jobSummary"]["jobId"]


async def first(trigger, timeout=30):
    async def run():
        async for event in trigger.run():
            return event.payload

    return await asyncio.wait_for(run(), timeout)


def rebuild(trigger):
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


def test_event_mode_waits_with_one_getjob_at_the_start_and_one_to_confirm(
    amplify_world, aws_connections, staging_app
):
    events = events_for(setup_events())
    job_id = start(amplify_world, staging_app, build=60)
    amplify_world.clear_requests()
    trigger = rebuild(job_trigger(staging_app, job_id, events))  # the event setting survives serialization
    assert trigger.events == events

    async def scenario():
        task = asyncio.ensure_future(first(trigger))
        while amplify_world.count("GetJob") < 1:  # the wait has read the job once, and registered
            await asyncio.sleep(0.1)
        amplify_world.settings(time_speed=100)  # the build ends in about a second now
        return await task

    payload = asyncio.run(scenario())
    assert payload["status"] == "success" and payload["job_id"] == job_id
    # One read at the start, one to confirm the SUCCEED event; none for the events in between.
    assert amplify_world.count("GetJob") == 2
    assert amplify_world.count("ReceiveMessage") >= 1


def test_the_connection_extra_turns_event_mode_on(amplify_world, aws_connections, staging_app, monkeypatch):
    result = setup_events(["host-a"])
    conn = amplify_world.aws_connection()
    conn["extra"]["amplify_events"] = result["connection_extra"]["amplify_events"]
    monkeypatch.setenv("AIRFLOW_CONN_AWS_EVENTS", json.dumps(conn))
    monkeypatch.setenv(_events.TRIGGERER_ENV, "host-a")
    job_id = start(amplify_world, staging_app, build=2.0)
    amplify_world.clear_requests()
    payload = asyncio.run(
        first(job_trigger(staging_app, job_id, None, aws_conn_id="aws_events", poll_interval=0.05))
    )
    assert payload["status"] == "success"
    assert amplify_world.count("GetJob") <= 4  # polling every 0.05-0.5 s would make dozens
    assert amplify_world.count("ReceiveMessage") >= 1
    queue = amplify_world.client("sqs").get_queue_attributes(
        QueueUrl=result["queues"]["host-a"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert queue["Attributes"]["ApproximateNumberOfMessages"] == "0"  # read (and deleted) by this triggerer


def test_failed_job_event_ends_the_wait_as_a_failure(amplify_world, aws_connections, staging_app):
    events = events_for(setup_events())
    amplify_world.script_next_job(staging_app["app_id"], "main", outcome="FAILED", status_reason="exit 2",
                                  created_seconds=0, pending_seconds=0, build_seconds=0.5)  # fmt: skip
    job_id = amplify_world.client("amplify").start_job(
        appId=staging_app["app_id"], branchName="main", jobType="RELEASE"
    )["jobSummary"]["jobId"]
    payload = asyncio.run(first(job_trigger(staging_app, job_id, events)))
    assert payload["status"] == "failed" and "exit 2" in payload["message"]


def test_duplicate_out_of_order_and_foreign_events_neither_fire_early_nor_lose_the_wait(
    amplify_world, aws_connections, staging_app
):
    events = events_for(setup_events())
    job_id = start(amplify_world, staging_app, build=60)
    sqs = amplify_world.client("sqs")

    def send(job, status, times=1):
        body = {"source": "aws.amplify", "detail-type": "Amplify Deployment Status Change",
                "detail": {"appId": staging_app["app_id"], "branchName": "main", "jobId": job, "jobStatus": status}}  # fmt: skip
        for _ in range(times):
            sqs.send_message(QueueUrl=events["queue_url"], MessageBody=json.dumps(body))

    async def scenario():
        task = asyncio.ensure_future(first(job_trigger(staging_app, job_id, events)))
        await asyncio.sleep(0.5)
        send(job_id, "SUCCEED", times=3)  # too early (out of order) and duplicated: GetJob says RUNNING
        send("999", "SUCCEED", times=2)  # a job nobody waits on
        sqs.send_message(QueueUrl=events["queue_url"], MessageBody="not json")
        await asyncio.sleep(1.0)
        assert not task.done()  # confirmed with GetJob: not finished, still waiting
        amplify_world.settings(time_speed=100)  # the build ends in about a second now
        payload = await task
        (consumer,) = _events.consumers()
        return payload, consumer.stats

    payload, stats = asyncio.run(scenario())
    assert payload["status"] == "success"
    ended = next(j for j in amplify_world.jobs(app_id=staging_app["app_id"]) if j["job_id"] == job_id)
    assert ended["status"] == "SUCCEED"
    assert stats["unmatched"] >= 3  # the foreign job's events and the malformed message
    left = sqs.get_queue_attributes(
        QueueUrl=events["queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert (
        left["Attributes"]["ApproximateNumberOfMessages"] == "0"
    )  # its own queue: everything read is deleted
    assert amplify_world.count("GetJob") <= 12  # three rechecks after the early event, not a poll loop


def test_two_triggerers_on_one_account_each_see_every_event(amplify_world, aws_connections, staging_app):
    result = setup_events(["t1", "t2"])
    first_job = start(amplify_world, staging_app, "main", build=1.0)
    second_job = start(amplify_world, staging_app, "feature/x", build=1.5)

    async def triggerer(name, branch, job):
        trigger = job_trigger(staging_app, job, events_for(result, name), branch_name=branch)
        payload = await first(trigger)
        await asyncio.sleep(0.5)
        (consumer,) = [c for c in _events.consumers() if c.queue_url == result["queues"][name]]
        return payload, consumer.stats

    async def both():
        return await asyncio.gather(
            triggerer("t1", "main", first_job), triggerer("t2", "feature/x", second_job)
        )

    (one, one_stats), (two, two_stats) = asyncio.run(both())
    assert one["status"] == two["status"] == "success"
    # Each queue got both jobs' events: what t1 consumed for nobody was not lost to t2's wait.
    assert one_stats["unmatched"] >= 1 and two_stats["unmatched"] >= 1
    assert one_stats["matched"] >= 1 and two_stats["matched"] >= 1


def test_a_triggerer_restarted_while_deferred_finishes_from_the_events_its_queue_kept(
    amplify_world, aws_connections, staging_app
):
    events = events_for(setup_events())
    job_id = start(amplify_world, staging_app, build=1.0)
    trigger = job_trigger(staging_app, job_id, events)

    async def until_stopped():
        task = asyncio.ensure_future(first(trigger))
        await asyncio.sleep(0.3)
        task.cancel()  # the triggerer stops; the job goes on
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(until_stopped())
    asyncio.run(asyncio.sleep(2.0))  # the job ends while no triggerer runs: its events wait in the queue
    amplify_world.clear_requests()
    payload = asyncio.run(first(rebuild(trigger)))  # a new triggerer process, from the serialized trigger
    assert payload["status"] == "success"
    assert amplify_world.count("GetJob") == 1  # the first read already shows it finished


def test_a_deleted_queue_falls_back_to_polling_and_says_so_once(
    amplify_world, aws_connections, staging_app, caplog, made_consumers
):
    events = events_for(setup_events())
    amplify_world.client("sqs").delete_queue(QueueUrl=events["queue_url"])
    jobs = [
        start(amplify_world, staging_app, "main", 0.5),
        start(amplify_world, staging_app, "feature/x", 0.5),
    ]
    caplog.set_level(logging.WARNING, logger=_events.__name__)

    async def both():
        triggers = [job_trigger(staging_app, jobs[0], events), job_trigger(staging_app, jobs[1], events,
                    branch_name="feature/x")]  # fmt: skip
        return await asyncio.gather(*(first(t) for t in triggers))

    payloads = asyncio.run(both())
    assert [p["status"] for p in payloads] == ["success", "success"]
    warnings = [r for r in caplog.records if "cannot read queue" in r.getMessage()]
    assert len(warnings) == 1 and "QueueDoesNotExist" in warnings[0].getMessage()
    (consumer,) = made_consumers  # the second wait did not try the queue again
    assert consumer.stats["receives"] == 1 and "QueueDoesNotExist" in consumer.failed


def test_an_unreadable_queue_access_denied_falls_back_to_polling(
    amplify_world, aws_connections, staging_app, made_consumers
):
    events = events_for(setup_events())
    amplify_world.inject_fault("403", service="sqs", operations=["ReceiveMessage"])
    job_id = start(amplify_world, staging_app, build=0.5)
    payload = asyncio.run(first(job_trigger(staging_app, job_id, events)))
    assert payload["status"] == "success"
    (consumer,) = made_consumers
    assert consumer.stats["receives"] == 1 and consumer.failed  # given up at once, not retried in a loop


def test_lost_events_are_covered_by_the_safety_poll(amplify_world, aws_connections, staging_app):
    events = events_for(setup_events(), safety=2.0)
    amplify_world.inject_fault("drop", service="event-delivery")
    job_id = start(amplify_world, staging_app, build=0.5)
    amplify_world.clear_requests()
    payload = asyncio.run(first(job_trigger(staging_app, job_id, events)))
    assert payload["status"] == "success"
    assert amplify_world.count("GetJob") == 2  # the start, then the safety poll
    assert amplify_world.events()["dropped"] >= 3


def test_event_mode_keeps_the_running_limit(amplify_world, aws_connections, staging_app):
    events = events_for(setup_events())
    job_id = start(amplify_world, staging_app, build=30)
    payload = asyncio.run(first(job_trigger(staging_app, job_id, events, running_timeout=1.0)))
    assert payload["status"] == "timeout"


def test_stack_trigger_waits_for_the_stack_status_event(amplify_world, aws_connections):
    events = events_for(setup_events())
    cfn = amplify_world.client("cloudformation")
    template = {"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}
    cfn.create_stack(StackName="amplify-d1-main-branch-1", TemplateBody=json.dumps(template))
    amplify_world.script_stack(
        "amplify-d1-main-branch-1",
        ["UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"],
        step_seconds=0.7,
    )
    amplify_world.clear_requests()
    trigger = rebuild(AmplifyStackTrigger(stack_name="amplify-d1-main-branch-1", waiter_delay=1,
                                          aws_conn_id="aws_staging", events=events))  # fmt: skip
    payload = asyncio.run(first(trigger))
    assert payload == {"status": "success", "stack_name": "amplify-d1-main-branch-1"}
    assert amplify_world.count("DescribeStacks") <= 3  # polling every second would make about three or more


def test_bad_event_settings_are_refused_with_the_reason():
    for bad, message in [
        ("https://sqs", "must be a dict"),
        ({"queue_url": "https://q\n"}, "without whitespace"),
        ({"queue_url": "sqs://q"}, "http"),
        ({"queue_url": "https://q", "safety_poll_interval": float("nan")}, "safety_poll_interval"),
        ({"queue_url": "https://q", "safety_poll_interval": True}, "safety_poll_interval"),
        ({"queue_url": "https://q", "poll": 1}, "unknown keys"),
    ]:
        with pytest.raises(ValueError, match=message):
            _events.events_config(bad)
    assert _events.events_config(False) is None and _events.events_config(None) is None


def test_no_secret_reaches_the_logs_events_or_results_of_the_event_paths(
    amplify_world, staging_app, monkeypatch, caplog, capsys
):
    """The secret scan over the new paths: setup, consumer, fallback warning, trigger events."""
    from tests.reliability.test_secrets import secret_forms

    secret_key, token = secrets.token_urlsafe(30), secrets.token_urlsafe(60)
    conn = amplify_world.aws_connection()
    conn["password"] = secret_key
    conn["extra"]["aws_session_token"] = token
    monkeypatch.setenv("AIRFLOW_CONN_AWS_STAGING", json.dumps(conn))
    caplog.set_level(logging.INFO)
    result = setup_events(["t1"])
    events = events_for(result)
    job_id = start(amplify_world, staging_app, build=0.5)
    good = asyncio.run(first(job_trigger(staging_app, job_id, events)))
    amplify_world.inject_fault("403", service="sqs", operations=["ReceiveMessage"])
    _events.reset()
    job_id = start(amplify_world, staging_app, build=0.5)
    fallback = asyncio.run(first(job_trigger(staging_app, job_id, events)))
    seen = "\n".join([caplog.text, capsys.readouterr().out, json.dumps([result, good, fallback]),
                      json.dumps(amplify_world.requests())])  # fmt: skip
    assert "cannot read queue" in seen
    for value in (secret_key, token):
        leaked = [form for form in secret_forms(value) if form in seen]
        assert not leaked
    assert os.environ.get("AWS_SESSION_TOKEN") is None
