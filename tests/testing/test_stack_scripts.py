"""The world's CloudFormation extension: LastUpdatedTime after moto updates, scripted statuses and events."""

from __future__ import annotations

import json

TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
UPDATED = json.dumps(
    {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}, "More": {"Type": "AWS::SNS::Topic"}}}
)


def test_last_updated_time_appears_after_an_update(amplify_world):
    cfn = amplify_world.client("cloudformation")
    cfn.create_stack(StackName="s", TemplateBody=TEMPLATE)
    assert "LastUpdatedTime" not in cfn.describe_stacks(StackName="s")["Stacks"][0]
    cfn.update_stack(StackName="s", TemplateBody=UPDATED)
    stack = cfn.describe_stacks(StackName="s")["Stacks"][0]
    assert stack["LastUpdatedTime"] >= stack["CreationTime"]


def test_scripted_statuses_advance_per_answer_and_stay_on_the_last(amplify_world):
    cfn = amplify_world.client("cloudformation", account_id="222222222222")
    cfn.create_stack(StackName="s", TemplateBody=TEMPLATE)
    amplify_world.script_stack(
        "s",
        ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"],
        status_reason="boom",
        account_id="222222222222",
    )
    seen = [cfn.describe_stacks(StackName="s")["Stacks"][0] for _ in range(3)]
    assert [s["StackStatus"] for s in seen] == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
    ]
    assert {s["StackStatusReason"] for s in seen} == {"boom"}
    # the script belongs to its account: the same name elsewhere is untouched
    staging = amplify_world.client("cloudformation")
    staging.create_stack(StackName="s", TemplateBody=TEMPLATE)
    assert staging.describe_stacks(StackName="s")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_scripted_events_are_merged_newest_first_and_reset_forgets_them(amplify_world):
    cfn = amplify_world.client("cloudformation")
    stack_id = cfn.create_stack(StackName="s", TemplateBody=TEMPLATE)["StackId"]
    amplify_world.script_stack(
        "s",
        ["UPDATE_ROLLBACK_COMPLETE"],
        events=[
            {"LogicalResourceId": "s", "ResourceType": "AWS::CloudFormation::Stack", "ResourceStatus": "UPDATE_IN_PROGRESS"},
            {"LogicalResourceId": "Topic", "ResourceType": "AWS::SNS::Topic", "ResourceStatus": "UPDATE_FAILED",
             "ResourceStatusReason": "denied"},
        ],
    )  # fmt: skip
    events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    assert [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events[:2]] == [
        ("Topic", "UPDATE_FAILED"),
        ("s", "UPDATE_IN_PROGRESS"),
    ]
    assert events[0]["StackId"] == stack_id and events[0]["ResourceStatusReason"] == "denied"
    assert [e["Timestamp"] for e in events] == sorted((e["Timestamp"] for e in events), reverse=True)
    amplify_world.reset()
    cfn.create_stack(StackName="s", TemplateBody=TEMPLATE)
    assert cfn.describe_stacks(StackName="s")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert len(cfn.describe_stack_events(StackName="s")["StackEvents"]) == 2
