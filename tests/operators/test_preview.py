"""Preview branches: create or find, and teardown of branch and backend stack, against the local world."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_amplify.ampx.project import amplify_branch_stack_name
from airflow_amplify.operators.preview import (
    PREVIEW_TAG,
    AmplifyPreviewBranchOperator,
    AmplifyPreviewError,
    AmplifyPreviewTeardownOperator,
)

TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})


def create_backend_stack(world, app_id, branch):
    """The branch stack as ampx leaves it: its name and tags."""
    cfn = world.client("cloudformation")
    name = amplify_branch_stack_name(app_id, branch)
    tags = {"created-by": "amplify", "amplify:app-id": app_id, "amplify:branch-name": branch}
    cfn.create_stack(
        StackName=name, TemplateBody=TEMPLATE, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def run_trigger(trigger):
    async def first_event():
        async for event in trigger.run():
            return event

    return asyncio.run(first_event())


def preview(app, ref, **kw):
    return AmplifyPreviewBranchOperator(
        task_id="preview", app_id=app["app_id"], ref=ref, aws_conn_id="aws_staging", **kw
    )


def teardown(app, branch, **kw):
    kw.setdefault("deferrable", False)
    kw.setdefault("waiter_delay", 1)
    return AmplifyPreviewTeardownOperator(
        task_id="teardown", app_id=app["app_id"], branch_name=branch, aws_conn_id="aws_staging", **kw
    )


def get_branch(world, app, name):
    return world.client("amplify").get_branch(appId=app["app_id"], branchName=name)["branch"]


def test_preview_is_created_with_auto_build_off_and_a_marker_then_found_again(
    amplify_world, aws_connections, staging_app, task_context
):
    app_id = staging_app["app_id"]
    first = preview(staging_app, "feature/login").execute(task_context())
    assert first == {
        "app_id": app_id,
        "branch_name": "feature/login",
        "ref": "feature/login",
        "url": f"https://feature-login.{app_id}.amplifyapp.com",
        "created": True,
        "stack_name": amplify_branch_stack_name(app_id, "feature/login"),
    }
    branch = get_branch(amplify_world, staging_app, "feature/login")
    assert branch["enableAutoBuild"] is False and branch["tags"] == {PREVIEW_TAG: "true"}
    assert "created by airflow-provider-amplify" in branch["description"]
    # someone turns auto-build on: the preview is found again and auto-build goes off again
    amplify_world.client("amplify").update_branch(
        appId=app_id, branchName="feature/login", enableAutoBuild=True
    )
    again = preview(staging_app, "feature/login").execute(task_context())
    assert again == {**first, "created": False}
    assert get_branch(amplify_world, staging_app, "feature/login")["enableAutoBuild"] is False


def test_preview_refuses_a_branch_it_did_not_create_and_the_release_branch(
    amplify_world, aws_connections, staging_app, task_context
):
    with pytest.raises(AmplifyPreviewError, match="did not create it"):
        preview(staging_app, "feature/x").execute(task_context())  # seeded by hand
    with pytest.raises(AmplifyPreviewError, match="is the release branch"):
        preview(staging_app, "main").execute(task_context())


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_teardown_deletes_stack_then_branch_and_is_idempotent(
    amplify_world, aws_connections, staging_app, task_context, deferrable
):
    app_id = staging_app["app_id"]
    preview(staging_app, "feature/login").execute(task_context())
    stack = create_backend_stack(amplify_world, app_id, "feature/login")
    op = teardown(staging_app, "feature/login", deferrable=deferrable)
    if deferrable:
        from airflow.providers.common.compat.sdk import TaskDeferred

        with pytest.raises(TaskDeferred) as deferred:
            op.execute(task_context())
        assert deferred.value.trigger.serialize()[1]["stack_name"] == stack["StackId"]
        assert get_branch(amplify_world, staging_app, "feature/login")  # the branch waits for the stack
        event = run_trigger(deferred.value.trigger)
        result = op.execute_complete(task_context(), event.payload)
    else:
        result = op.execute(task_context())
    assert result == {
        "app_id": app_id,
        "branch_name": "feature/login",
        "stack_name": stack["StackName"],
        "branch": "deleted",
        "stack": "deleted",
    }
    cfn = amplify_world.client("cloudformation")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(amplify_world.client("amplify").exceptions.NotFoundException):
        get_branch(amplify_world, staging_app, "feature/login")
    again = teardown(staging_app, "feature/login", deferrable=deferrable).execute(task_context())
    assert again == {**result, "branch": "absent", "stack": "absent"}


def test_teardown_of_a_preview_without_a_stack_and_of_an_orphaned_stack(
    amplify_world, aws_connections, staging_app, task_context
):
    app_id = staging_app["app_id"]
    preview(staging_app, "pr-7").execute(task_context())
    assert teardown(staging_app, "pr-7").execute(task_context())["branch"] == "deleted"
    # a backend left behind by a branch deleted earlier (amplify-hosting #24)
    stack = create_backend_stack(amplify_world, app_id, "pr-8")
    result = teardown(staging_app, "pr-8").execute(task_context())
    assert (result["branch"], result["stack"]) == ("absent", "deleted")
    cfn = amplify_world.client("cloudformation")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


def test_teardown_refuses_branches_it_did_not_create_before_any_change(
    amplify_world, aws_connections, staging_app, task_context
):
    app_id = staging_app["app_id"]
    create_backend_stack(amplify_world, app_id, "feature/x")
    amplify_world.clear_requests()
    with pytest.raises(AmplifyPreviewError, match="did not create it"):
        teardown(staging_app, "feature/x").execute(task_context())
    with pytest.raises(AmplifyPreviewError, match="is the release branch"):
        teardown(staging_app, "main").execute(task_context())
    with pytest.raises(AmplifyPreviewError, match="is the release branch"):
        teardown(staging_app, "trunk", release_branch="trunk").execute(task_context())
    mutating = [
        r["operation"] for r in amplify_world.requests() if r["operation"].startswith(("Delete", "Update"))
    ]
    assert mutating == []
    assert get_branch(amplify_world, staging_app, "feature/x")
    assert (
        amplify_world.client("cloudformation").describe_stacks(
            StackName=amplify_branch_stack_name(app_id, "feature/x")
        )["Stacks"][0]["StackStatus"]
        == "CREATE_COMPLETE"
    )


def test_teardown_refuses_a_stack_not_tagged_as_the_branch_backend(
    amplify_world, aws_connections, staging_app, task_context
):
    cfn = amplify_world.client("cloudformation")
    name = amplify_branch_stack_name(staging_app["app_id"], "pr-9")
    cfn.create_stack(StackName=name, TemplateBody=TEMPLATE)
    with pytest.raises(AmplifyPreviewError, match="is not tagged as the backend"):
        teardown(staging_app, "pr-9").execute(task_context())
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_teardown_without_waiting_deletes_both_at_once(
    amplify_world, aws_connections, staging_app, task_context
):
    app_id = staging_app["app_id"]
    preview(staging_app, "pr-3").execute(task_context())
    stack = create_backend_stack(amplify_world, app_id, "pr-3")
    amplify_world.clear_requests()
    result = teardown(staging_app, "pr-3", wait_for_completion=False).execute(task_context())
    assert (result["branch"], result["stack"]) == ("deleted", "deleted")
    operations = [r["operation"] for r in amplify_world.requests() if r["operation"].startswith("Delete")]
    assert operations == ["DeleteStack", "DeleteBranch"]  # the stack first, so a retry still sees the tag
    status = amplify_world.client("cloudformation").describe_stacks(StackName=stack["StackId"])["Stacks"][0]
    assert status["StackStatus"] in ("DELETE_IN_PROGRESS", "DELETE_COMPLETE")
