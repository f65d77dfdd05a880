"""AmplifyStackTrigger: serialization, and its async run() to completion against the local world."""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta

from airflow_amplify.testing.world.client import PRODUCTION_ACCOUNT_ID
from airflow_amplify.triggers.cloudformation import AmplifyStackTrigger

TEMPLATE = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {"region": {"Value": "us-east-1"}},
}


def _after_polls(world, polls: int, action, **filters) -> threading.Thread:
    """Run ``action`` in a thread once the world has answered ``polls`` DescribeStacks calls."""

    def wait_then_act():
        for _ in range(600):
            if world.count("DescribeStacks", **filters) >= polls:
                action()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=wait_then_act)
    thread.start()
    return thread


def _run(trigger: AmplifyStackTrigger, timeout: float = 30) -> list[dict]:
    """Run the trigger's async run() to its first event, as the triggerer does."""

    async def first_event():
        async for event in trigger.run():
            return event.payload
        return None

    return asyncio.run(asyncio.wait_for(first_event(), timeout))


def _roundtrip(trigger: AmplifyStackTrigger) -> AmplifyStackTrigger:
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)  # what the triggerer stores
    module, name = classpath.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**kwargs)


def test_serialization_round_trip():
    trigger = AmplifyStackTrigger(
        stack_name="amplify-d1abc-main-branch-0123456789",
        changed_since="2026-01-01T00:00:00+00:00",
        missing_deadline="2026-01-01T00:10:00+00:00",
        waiter_delay=7,
        waiter_max_attempts=11,
        aws_conn_id="aws_production",
        region_name="eu-west-1",
        botocore_config={"retries": {"mode": "standard"}},
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_amplify.triggers.cloudformation.AmplifyStackTrigger"
    assert kwargs == {
        "stack_name": "amplify-d1abc-main-branch-0123456789",
        "changed_since": "2026-01-01T00:00:00+00:00",
        "missing_deadline": "2026-01-01T00:10:00+00:00",
        "waiter_delay": 7,
        "waiter_max_attempts": 11,
        "aws_conn_id": "aws_production",
        "region_name": "eu-west-1",
        "botocore_config": {"retries": {"mode": "standard"}},
        "events": None,
    }
    assert _roundtrip(trigger).serialize() == (classpath, kwargs)
    hook = trigger.hook()
    assert hook.client_type == "cloudformation"
    assert hook.aws_conn_id == "aws_production"
    assert hook.region_name == "eu-west-1"


def test_settles_through_in_progress_states(amplify_world, aws_connections):
    amplify_world.client("cloudformation").create_stack(StackName="s1", TemplateBody=json.dumps(TEMPLATE))
    amplify_world.script_stack(
        "s1", ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"]
    )
    trigger = _roundtrip(
        AmplifyStackTrigger(
            stack_name="s1", waiter_delay=0.05, waiter_max_attempts=20, aws_conn_id="aws_staging"
        )
    )
    assert _run(trigger) == {"status": "success", "stack_name": "s1"}
    assert amplify_world.count("DescribeStacks") >= 3


def test_rollback_gives_an_error_event(amplify_world, aws_connections):
    amplify_world.client("cloudformation").create_stack(StackName="s2", TemplateBody=json.dumps(TEMPLATE))
    amplify_world.script_stack(
        "s2",
        [
            "CREATE_IN_PROGRESS",
            "UPDATE_IN_PROGRESS",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "UPDATE_ROLLBACK_COMPLETE",
        ],
    )
    trigger = AmplifyStackTrigger(
        stack_name="s2", waiter_delay=0.05, waiter_max_attempts=20, aws_conn_id="aws_staging"
    )
    event = _run(trigger)
    assert event["status"] == "error"
    assert event["stack_name"] == "s2"
    assert "UPDATE_ROLLBACK_COMPLETE" in event["message"]


def test_waits_past_the_previous_deploy_until_this_one(amplify_world, aws_connections):
    cfn = amplify_world.client("cloudformation", account_id=PRODUCTION_ACCOUNT_ID)
    cfn.create_stack(StackName="s3", TemplateBody=json.dumps(TEMPLATE))
    changed_since = datetime.now(UTC) + timedelta(milliseconds=50)
    template = {**TEMPLATE, "Resources": {**TEMPLATE["Resources"], "More": {"Type": "AWS::SNS::Topic"}}}
    timer = _after_polls(
        amplify_world,
        2,
        lambda: cfn.update_stack(StackName="s3", TemplateBody=json.dumps(template)),
        account_id=PRODUCTION_ACCOUNT_ID,
    )
    try:
        trigger = AmplifyStackTrigger(
            stack_name="s3",
            changed_since=changed_since.isoformat(),
            waiter_delay=0.1,
            waiter_max_attempts=100,
            aws_conn_id="aws_production",
        )
        assert _run(trigger) == {"status": "success", "stack_name": "s3"}
    finally:
        timer.join()
    stacks = amplify_world.requests(operation="DescribeStacks", account_id=PRODUCTION_ACCOUNT_ID)
    assert len(stacks) >= 3, "the old CREATE_COMPLETE did not end the wait"
    assert not [r for r in stacks if r["status"] != 200]


def test_missing_stack_after_the_deadline(amplify_world, aws_connections):
    deadline = datetime.now(UTC) + timedelta(seconds=0.3)
    trigger = AmplifyStackTrigger(
        stack_name="never-created",
        missing_deadline=deadline.isoformat(),
        waiter_delay=0.05,
        waiter_max_attempts=1000,
        aws_conn_id="aws_staging",
    )
    event = _run(trigger)
    assert event["status"] == "error"
    assert event["reason"] == "stack_missing"
    assert datetime.now(UTC) >= deadline


def test_stack_created_within_the_grace_period(amplify_world, aws_connections):
    cfn = amplify_world.client("cloudformation")
    timer = _after_polls(
        amplify_world, 2, lambda: cfn.create_stack(StackName="s4", TemplateBody=json.dumps(TEMPLATE))
    )
    try:
        trigger = AmplifyStackTrigger(
            stack_name="s4",
            missing_deadline=(datetime.now(UTC) + timedelta(seconds=20)).isoformat(),
            waiter_delay=0.1,
            waiter_max_attempts=100,
            aws_conn_id="aws_staging",
        )
        assert _run(trigger) == {"status": "success", "stack_name": "s4"}
    finally:
        timer.join()


def test_attempts_run_out_while_only_the_old_deploy_shows(amplify_world, aws_connections):
    amplify_world.client("cloudformation").create_stack(StackName="s5", TemplateBody=json.dumps(TEMPLATE))
    trigger = AmplifyStackTrigger(
        stack_name="s5",
        changed_since=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        waiter_delay=0.01,
        waiter_max_attempts=3,
        aws_conn_id="aws_staging",
    )
    event = _run(trigger)
    assert event["status"] == "error"
    assert event["reason"] == "no_new_deploy"
    assert amplify_world.count("DescribeStacks") == 3


def test_throttling_is_retried(amplify_world, aws_connections):
    amplify_world.client("cloudformation").create_stack(StackName="s6", TemplateBody=json.dumps(TEMPLATE))
    amplify_world.inject_fault("429", service="cloudformation", operations=["DescribeStacks"], count=2)
    trigger = AmplifyStackTrigger(
        stack_name="s6",
        waiter_delay=0.05,
        waiter_max_attempts=5,
        aws_conn_id="aws_staging",
        botocore_config={"retries": {"max_attempts": 1, "mode": "standard"}},
    )
    assert _run(trigger) == {"status": "success", "stack_name": "s6"}
