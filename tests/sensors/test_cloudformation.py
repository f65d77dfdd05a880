"""AmplifyBackendStackSensor against the local world: poke and deferrable modes, inputs, link, XCom."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_amplify.ampx.project import amplify_branch_stack_name
from airflow_amplify.hooks.cloudformation import (
    AmplifyStackNotFoundError,
    StackRollbackError,
)
from airflow_amplify.links.cloudformation import AmplifyStackLink
from airflow_amplify.sensors.cloudformation import AmplifyBackendStackSensor
from airflow_amplify.testing.world.client import PRODUCTION_ACCOUNT_ID
from airflow_amplify.triggers.cloudformation import AmplifyStackTrigger

TEMPLATE = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {"awsAppsyncRegion": {"Value": "us-east-1"}, "topicArn": {"Value": {"Ref": "Topic"}}},
}
UPDATED = {**TEMPLATE, "Resources": {**TEMPLATE["Resources"], "More": {"Type": "AWS::SNS::Topic"}}}


class TaskInstanceStandIn:
    """The parts of Airflow's task instance the sensor touches: start_date and xcom_push."""

    def __init__(self, start_date: datetime):
        self.start_date = start_date
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[key] = value


def _context(dag_run_start: datetime | None = None, data_interval_start=None, ti_start=None) -> dict:
    now = datetime.now(UTC)
    ti = TaskInstanceStandIn(ti_start or now)
    return {
        "ti": ti,
        "task_instance": ti,
        "dag_run": SimpleNamespace(
            start_date=dag_run_start if dag_run_start is not None else now - timedelta(minutes=1)
        ),
        "data_interval_start": data_interval_start,
    }


def _sensor(**kwargs) -> AmplifyBackendStackSensor:
    kwargs.setdefault("aws_conn_id", "aws_staging")
    kwargs.setdefault("poke_interval", 0.1)
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("deferrable", False)
    return AmplifyBackendStackSensor(task_id="wait_for_backend", **kwargs)


def _after_polls(world, polls: int, action, **filters) -> threading.Thread:
    def wait_then_act():
        for _ in range(600):
            if world.count("DescribeStacks", **filters) >= polls:
                action()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=wait_then_act)
    thread.start()
    return thread


# --- bad input: before any AWS call --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (
            {"stack_name": "s1", "app_id": "d1abc", "branch_name": "main"},
            r"either stack_name or app_id.*'s1'",
        ),
        ({}, r"Pass stack_name, or app_id with branch_name"),
        ({"stack_name": "1-not-a-stack"}, r"stack_name='1-not-a-stack' is not a CloudFormation stack name"),
        ({"stack_name": "under_score"}, r"stack_name='under_score'"),
        ({"stack_name": "a" * 129}, r"at most 128"),
        ({"app_id": "App-1", "branch_name": "main"}, r"app_id='App-1' is not an Amplify app id"),
        ({"app_id": "d1abc"}, r"branch_name=None is not a branch name"),
        ({"branch_name": "main"}, r"app_id=None is not an Amplify app id"),
        ({"stack_name": "s1", "changed_since": "yesterday-ish"}, r"changed_since='yesterday-ish'"),
    ],
)
def test_bad_input_fails_before_any_aws_call(amplify_world, aws_connections, kwargs, pattern):
    with pytest.raises(AirflowFailException, match=pattern):
        _sensor(aws_conn_id="aws_production", **kwargs).execute(_context())
    assert amplify_world.requests() == []


# --- poke mode ----------------------------------------------------------------------------------


def test_returns_summary_and_persists_link_for_a_branch_stack(amplify_world, aws_connections):
    name = amplify_branch_stack_name("d1abcdefgh1234", "feature/x")
    stack_id = amplify_world.client("cloudformation").create_stack(
        StackName=name, TemplateBody=json.dumps(TEMPLATE)
    )["StackId"]
    context = _context()
    result = _sensor(app_id="d1abcdefgh1234", branch_name="feature/x").execute(context)
    assert result["stack_id"] == stack_id
    assert result["stack_name"] == name
    assert result["stack_status"] == "CREATE_COMPLETE"
    assert datetime.fromisoformat(result["last_updated_time"]) <= datetime.now(UTC)
    assert result["outputs"]["awsAppsyncRegion"] == "us-east-1"
    assert json.loads(json.dumps(result)) == result
    link = context["ti"].xcoms[AmplifyStackLink.key]
    assert link["stack_id"] == stack_id and link["region_name"] == "us-east-1"
    url = AmplifyStackLink().format_link(**link)
    assert url.startswith(
        "https://console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/stackinfo?stackId="
    )
    assert "arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack%2F" + name in url


def test_waits_past_the_previous_deploy_then_returns_the_update(amplify_world, aws_connections):
    cfn = amplify_world.client("cloudformation")
    cfn.create_stack(StackName="amplify-s", TemplateBody=json.dumps(TEMPLATE))
    run_started = datetime.now(UTC) + timedelta(milliseconds=20)
    time.sleep(0.05)
    thread = _after_polls(
        amplify_world, 2, lambda: cfn.update_stack(StackName="amplify-s", TemplateBody=json.dumps(UPDATED))
    )
    try:
        result = _sensor(stack_name="amplify-s").execute(_context(dag_run_start=run_started))
    finally:
        thread.join()
    assert result["stack_status"] == "UPDATE_COMPLETE"
    assert datetime.fromisoformat(result["last_updated_time"]) >= run_started
    assert amplify_world.count("DescribeStacks") >= 3


def test_changed_since_none_accepts_an_old_stack(amplify_world, aws_connections):
    amplify_world.client("cloudformation").create_stack(StackName="old", TemplateBody=json.dumps(TEMPLATE))
    context = _context(dag_run_start=datetime.now(UTC) + timedelta(hours=1))
    assert _sensor(stack_name="old", changed_since=None).execute(context)["stack_status"] == "CREATE_COMPLETE"


def test_default_changed_since_is_the_dag_run_start_not_the_data_interval_start(
    amplify_world, aws_connections
):
    """A daily run's data interval starts a day before the run: a stack changed in between is stale."""
    amplify_world.client("cloudformation").create_stack(StackName="stale", TemplateBody=json.dumps(TEMPLATE))
    now = datetime.now(UTC)
    sensor = _sensor(stack_name="stale", timeout=0.5)
    context = _context(dag_run_start=now + timedelta(seconds=5), data_interval_start=now - timedelta(days=1))
    assert sensor.resolve_changed_since(context) == now + timedelta(seconds=5)
    with pytest.raises(Exception, match="timed out"):
        sensor.execute(context)
    di = _sensor(stack_name="stale", changed_since="data_interval_start")
    assert di.resolve_changed_since(context) == now - timedelta(days=1)
    assert di.execute(context)["stack_status"] == "CREATE_COMPLETE"


def test_named_anchor_falls_back_when_unknown():
    now = datetime.now(UTC)
    sensor = _sensor(stack_name="s", changed_since="data_interval_start")
    context = _context(dag_run_start=now - timedelta(minutes=3), data_interval_start=None)
    assert sensor.resolve_changed_since(context) == now - timedelta(minutes=3)
    templated = _sensor(stack_name="s", changed_since="2026-03-01T10:00:00Z")
    assert templated.resolve_changed_since(context) == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_update_complete_cleanup_in_progress_keeps_waiting(amplify_world, aws_connections):
    amplify_world.client("cloudformation").create_stack(
        StackName="cleanup", TemplateBody=json.dumps(TEMPLATE)
    )
    amplify_world.script_stack(
        "cleanup", ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"]
    )
    result = _sensor(stack_name="cleanup").execute(_context())
    assert result["stack_status"] == "UPDATE_COMPLETE"
    assert amplify_world.count("DescribeStacks") == 3


def _nested_rollback(world, root: str, account_id: str = "123456789012") -> str:
    cfn = world.client("cloudformation", account_id=account_id)
    root_id = cfn.create_stack(StackName=root, TemplateBody=json.dumps(TEMPLATE))["StackId"]
    nested = f"{root}-data7552DF31-1XYZ"
    nested_id = cfn.create_stack(StackName=nested, TemplateBody=json.dumps(TEMPLATE))["StackId"]
    world.script_stack(
        nested,
        ["UPDATE_ROLLBACK_COMPLETE"],
        account_id=account_id,
        events=[
            {"LogicalResourceId": nested, "ResourceType": "AWS::CloudFormation::Stack", "ResourceStatus": "UPDATE_IN_PROGRESS"},
            {"LogicalResourceId": "amplifyDataGraphQLAPI", "ResourceType": "AWS::AppSync::GraphQLApi",
             "ResourceStatus": "UPDATE_FAILED", "ResourceStatusReason": "Schema validation failed: Unknown type Todoo"},
        ],
    )  # fmt: skip
    world.script_stack(
        root,
        ["CREATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"],
        status_reason="The following resource(s) failed to update: [data7552DF31].",
        account_id=account_id,
        events=[
            {"LogicalResourceId": root, "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_IN_PROGRESS", "ResourceStatusReason": "User Initiated", "PhysicalResourceId": root_id},
            {"LogicalResourceId": "data7552DF31", "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_FAILED", "PhysicalResourceId": nested_id,
             "ResourceStatusReason": f"Embedded stack {nested_id} was not successfully updated."},
            {"LogicalResourceId": root, "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_ROLLBACK_COMPLETE", "PhysicalResourceId": root_id},
        ],
    )  # fmt: skip
    return root_id


def test_rollback_fails_with_the_nested_root_cause_in_error_and_log(
    amplify_world, aws_connections, caplog, capsys
):
    _nested_rollback(amplify_world, "amplify-d1abc-main-branch-0123456789")
    with pytest.raises(StackRollbackError) as info:
        _sensor(stack_name="amplify-d1abc-main-branch-0123456789").execute(_context())
    message = str(info.value)
    assert "ended in UPDATE_ROLLBACK_COMPLETE" in message
    assert "failed to update: [data7552DF31]" in message
    assert (
        "data7552DF31 > amplifyDataGraphQLAPI (AWS::AppSync::GraphQLApi) UPDATE_FAILED: Schema validation failed"
        in message
    )
    task_log = caplog.text + capsys.readouterr().out  # stdlib logging on Airflow 2, structlog on Airflow 3
    assert "Root cause (first failed resources, nested stacks followed)" in task_log
    assert "Unknown type Todoo" in task_log
    assert amplify_world.count("DescribeStacks") == 3


def test_missing_stack_fails_after_the_grace_period_naming_account_and_region(amplify_world, aws_connections):
    sensor = _sensor(stack_name="amplify-never", aws_conn_id="aws_production", missing_stack_grace_period=0.3)
    started = time.monotonic()
    with pytest.raises(AmplifyStackNotFoundError) as info:
        sensor.execute(_context())
    assert 0.3 <= time.monotonic() - started < 10
    assert "amplify-never" in str(info.value)
    assert f"account {PRODUCTION_ACCOUNT_ID}" in str(info.value)
    assert "region us-east-1" in str(info.value)


def test_stack_appearing_within_the_grace_period_is_waited_for(amplify_world, aws_connections):
    cfn = amplify_world.client("cloudformation")
    thread = _after_polls(
        amplify_world, 2, lambda: cfn.create_stack(StackName="late", TemplateBody=json.dumps(TEMPLATE))
    )
    try:
        result = _sensor(stack_name="late", missing_stack_grace_period=timedelta(seconds=20)).execute(
            _context()
        )
    finally:
        thread.join()
    assert result["stack_status"] == "CREATE_COMPLETE"


def test_deleted_stack_by_arn_is_a_failure(amplify_world, aws_connections):
    cfn = amplify_world.client("cloudformation")
    stack_id = cfn.create_stack(StackName="gone", TemplateBody=json.dumps(TEMPLATE))["StackId"]
    cfn.delete_stack(StackName="gone")
    with pytest.raises(StackRollbackError, match="ended in DELETE_COMPLETE"):
        _sensor(stack_name=stack_id).execute(_context(dag_run_start=datetime.now(UTC) - timedelta(hours=1)))


def test_production_stack_through_the_assume_role_connection(amplify_world, aws_connections):
    name = amplify_branch_stack_name("d2prod", "main")
    cfn = amplify_world.client("cloudformation", account_id=PRODUCTION_ACCOUNT_ID)
    stack_id = cfn.create_stack(StackName=name, TemplateBody=json.dumps(TEMPLATE))["StackId"]
    result = _sensor(app_id="d2prod", branch_name="main", aws_conn_id="aws_production").execute(_context())
    assert result["stack_id"] == stack_id
    assert result["outputs"]["topicArn"].split(":")[4] == PRODUCTION_ACCOUNT_ID
    assert {r["account_id"] for r in amplify_world.requests(operation="DescribeStacks")} == {
        PRODUCTION_ACCOUNT_ID
    }


# --- deferrable mode ----------------------------------------------------------------------------


def _defer(sensor, context) -> AmplifyStackTrigger:
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context)
    assert info.value.method_name == "execute_complete"
    return info.value.trigger


def _fire(trigger: AmplifyStackTrigger) -> dict:
    async def first():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(asyncio.wait_for(first(), 30))


def test_deferrable_success_returns_the_summary(amplify_world, aws_connections):
    cfn = amplify_world.client("cloudformation")
    cfn.create_stack(StackName="dfr", TemplateBody=json.dumps(TEMPLATE))
    amplify_world.script_stack("dfr", ["UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"])
    sensor = _sensor(stack_name="dfr", deferrable=True, missing_stack_grace_period=120)
    context = _context()
    trigger = _defer(sensor, context)
    classpath, kwargs = trigger.serialize()
    assert kwargs["stack_name"] == "dfr"
    assert kwargs["waiter_delay"] == 0.1
    assert kwargs["waiter_max_attempts"] == 300
    assert datetime.fromisoformat(kwargs["missing_deadline"]) == context["ti"].start_date + timedelta(
        seconds=120
    )
    assert datetime.fromisoformat(kwargs["changed_since"]) == context["dag_run"].start_date
    event = _fire(trigger)
    fresh = _sensor(stack_name="dfr", deferrable=True)  # Airflow resumes on a new operator instance
    result = fresh.execute_complete(_context(), event)
    assert result["stack_status"] == "UPDATE_COMPLETE"
    assert result["outputs"]["awsAppsyncRegion"] == "us-east-1"


def test_deferrable_settled_stack_returns_without_deferring(amplify_world, aws_connections):
    amplify_world.client("cloudformation").create_stack(StackName="quick", TemplateBody=json.dumps(TEMPLATE))
    result = _sensor(stack_name="quick", deferrable=True).execute(_context())
    assert result["stack_status"] == "CREATE_COMPLETE"


def test_deferrable_rollback_raises_with_root_cause(amplify_world, aws_connections):
    _nested_rollback(amplify_world, "amplify-d2prod-main-branch-0123456789", account_id=PRODUCTION_ACCOUNT_ID)
    sensor = _sensor(
        stack_name="amplify-d2prod-main-branch-0123456789", deferrable=True, aws_conn_id="aws_production"
    )
    event = _fire(_defer(sensor, _context()))
    assert event["status"] == "error"
    with pytest.raises(
        StackRollbackError, match=r"data7552DF31 > amplifyDataGraphQLAPI .*Unknown type Todoo"
    ):
        sensor.execute_complete(_context(), event)


def test_deferrable_missing_stack_fails_after_the_grace_period(amplify_world, aws_connections):
    # long enough for the first check in the worker even on a loaded machine, short for the trigger
    sensor = _sensor(stack_name="amplify-missing", deferrable=True, missing_stack_grace_period=3)
    trigger = _defer(sensor, _context())
    event = _fire(trigger)
    assert event["reason"] == "stack_missing"
    with pytest.raises(
        AmplifyStackNotFoundError,
        match="amplify-missing does not exist in account 123456789012, region us-east-1",
    ):
        sensor.execute_complete(_context(), event)


def test_deferrable_waits_past_the_previous_deploy(amplify_world, aws_connections):
    cfn = amplify_world.client("cloudformation")
    cfn.create_stack(StackName="dstale", TemplateBody=json.dumps(TEMPLATE))
    run_started = datetime.now(UTC) + timedelta(milliseconds=20)
    time.sleep(0.05)
    sensor = _sensor(stack_name="dstale", deferrable=True)
    trigger = _defer(sensor, _context(dag_run_start=run_started))
    thread = _after_polls(
        amplify_world, 3, lambda: cfn.update_stack(StackName="dstale", TemplateBody=json.dumps(UPDATED))
    )
    try:
        event = _fire(trigger)
    finally:
        thread.join()
    assert event["status"] == "success"
    assert sensor.execute_complete(_context(), event)["stack_status"] == "UPDATE_COMPLETE"
