"""The waiter JSON agrees with the stack status model, and works through the hook against the world."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import WaiterError

import airflow_amplify
from airflow_amplify.hooks.cloudformation import AmplifyStackHook
from airflow_amplify.statuses import (
    STACK_FAILURE_STATUSES,
    STACK_SUCCESS_STATUSES,
    stack_is_failed,
    stack_is_in_progress,
)

WAITERS = Path(airflow_amplify.__file__).parent / "waiters" / "cloudformation.json"
STACK_STATUSES = (
    botocore.session.get_session().get_service_model("cloudformation").shape_for("StackStatus").enum
)
TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})


def _path_acceptors(waiter: str) -> dict[str, str]:
    model = json.loads(WAITERS.read_text())["waiters"][waiter]
    assert model["operation"] == "DescribeStacks"
    acceptors = [a for a in model["acceptors"] if a["matcher"] == "path"]
    assert {a["argument"] for a in acceptors} == {"Stacks[0].StackStatus"}
    states = {a["expected"]: a["state"] for a in acceptors}
    assert len(states) == len(acceptors), "a status appears twice"
    return states


def test_stack_settled_agrees_with_the_status_model():
    states = _path_acceptors("stack_settled")
    assert set(states) == set(STACK_STATUSES), "every CloudFormation stack status has an explicit acceptor"
    for status, state in states.items():
        expected = (
            "success"
            if status in STACK_SUCCESS_STATUSES
            else "failure"
            if stack_is_failed(status)
            else "retry"
        )
        assert state == expected, status
        assert (state == "retry") == stack_is_in_progress(status), status
    assert {s for s, st in states.items() if st == "failure"} == set(STACK_FAILURE_STATUSES)
    assert "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" in {s for s, st in states.items() if st == "retry"}
    assert states["REVIEW_IN_PROGRESS"] == "retry"
    assert states["DELETE_COMPLETE"] == "failure"


def test_status_model_only_names_real_statuses():
    assert set(STACK_SUCCESS_STATUSES) | set(STACK_FAILURE_STATUSES) <= set(STACK_STATUSES)


def test_hook_lists_its_custom_waiters(amplify_world, aws_connections):
    hook = AmplifyStackHook(aws_conn_id="aws_staging")
    assert set(hook.list_waiters()) >= {"stack_settled"}


def test_stack_settled_waits_through_cleanup(amplify_world, aws_connections):
    amplify_world.client("cloudformation").create_stack(StackName="s-cleanup", TemplateBody=TEMPLATE)
    amplify_world.script_stack(
        "s-cleanup", ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"]
    )
    hook = AmplifyStackHook(aws_conn_id="aws_staging")
    hook.get_waiter("stack_settled").wait(
        StackName="s-cleanup", WaiterConfig={"Delay": 0.05, "MaxAttempts": 10}
    )
    assert amplify_world.count("DescribeStacks") == 3


def test_stack_settled_fails_on_rollback(amplify_world, aws_connections):
    amplify_world.client("cloudformation").create_stack(StackName="s-rollback", TemplateBody=TEMPLATE)
    amplify_world.script_stack(
        "s-rollback", ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"]
    )
    hook = AmplifyStackHook(aws_conn_id="aws_staging")
    with pytest.raises(WaiterError, match="terminal failure"):
        hook.get_waiter("stack_settled").wait(
            StackName="s-rollback", WaiterConfig={"Delay": 0.05, "MaxAttempts": 10}
        )
    assert amplify_world.count("DescribeStacks") == 3
