"""AmplifyStackHook and the branch stack naming rule, against the local world (moto) and the CLI's own code."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.stub import Stubber

from airflow_amplify.ampx.project import amplify_branch_stack_name
from airflow_amplify.hooks.cloudformation import (
    SETTLE_FAILED,
    SETTLE_IN_PROGRESS,
    SETTLE_MISSING,
    SETTLE_STALE,
    SETTLE_SUCCEEDED,
    SETTLE_UNKNOWN,
    AmplifyStackHook,
    AmplifyStackNotFoundError,
    first_failures,
    settle_state,
    stack_summary,
)
from airflow_amplify.testing.world.client import PRODUCTION_ACCOUNT_ID
from airflow_amplify.validation import validate_app_id, validate_stack_name

TEMPLATE = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {
        "awsAppsyncRegion": {"Value": "us-east-1"},
        "topicArn": {"Value": {"Ref": "Topic"}},
    },
}

# Computed with the CLI's own BackendIdentifierConversions.toStackName (@aws-amplify/platform-core
# 1.12.1, shipped with @aws-amplify/backend-cli 1.10.0) under Node 20.
CLI_NAMES = [
    ("d1abcdefgh1234", "main", "amplify-d1abcdefgh1234-main-branch-823652aa49"),
    ("d1abcdefgh1234", "feature/data", "amplify-d1abcdefgh1234-featuredata-branch-c0f9b20887"),
    ("d1abcdefgh1234", "feature_data", "amplify-d1abcdefgh1234-featuredata-branch-edd0532811"),
    ("d1abcdefgh1234", "release-2024-01", "amplify-d1abcdefgh1234-release202401-branch-ce233107e7"),
    ("d1abcdefgh1234", "123", "amplify-d1abcdefgh1234-123-branch-e5b4d08fab"),
    (
        "d2xyz",
        "dependabot/npm_and_yarn/aws-amplify/backend-1.2.3",
        "amplify-d2xyz-dependabotnpmandyarnawsamplifybackend123-branch-f429f65cdc",
    ),
    ("d1abcdefgh1234", "ünïcode/ブランチ", "amplify-d1abcdefgh1234-ncode-branch-09884d7938"),
    ("d1abcdefgh1234", "///", "amplify-d1abcdefgh1234--branch-d513de390b"),
    (
        "d1abcdefgh1234",
        "a" * 60,
        "amplify-d1abcdefgh1234-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-branch-b0ec68219b",
    ),
    (
        "d1234567890abcdefghi",
        "b" * 255,
        "amplify-d1234567890abcdefghi-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-branch-8d6e252637",
    ),
    # Namespaces longer than an app id can be, to reach the length limit (the CLI cuts to 127).
    ("n" * 100, "main", "amplify-" + "n" * 96 + "-main-branch-a41d04c354"),
    ("n" * 100, "b" * 70, "amplify-" + "n" * 50 + "-" + "b" * 50 + "-branch-6c76f38d90"),
    (
        "d" + "7" * 60,
        "feature/" + "x" * 45,
        "amplify-d" + "7" * 49 + "-feature" + "x" * 43 + "-branch-5d236c9e51",
    ),
]

CLI_CACHE = Path.home() / ".cache/airflow-amplify/ampx/1.10.0/node_modules/@aws-amplify/platform-core"


def _create_stack(client, name: str) -> str:
    return client.create_stack(StackName=name, TemplateBody=json.dumps(TEMPLATE))["StackId"]


@pytest.mark.parametrize(("app_id", "branch", "expected"), CLI_NAMES)
def test_branch_stack_name_matches_the_cli(app_id, branch, expected):
    name = amplify_branch_stack_name(app_id, branch)
    assert name == expected
    assert len(name) <= 127
    assert validate_stack_name(name) == name


def test_facts_page_examples():
    assert (
        amplify_branch_stack_name("d1abcdefgh1234", "main") == "amplify-d1abcdefgh1234-main-branch-823652aa49"
    )
    assert (
        amplify_branch_stack_name("d1abcdefgh1234", "feature/data")
        == "amplify-d1abcdefgh1234-featuredata-branch-c0f9b20887"
    )


def test_branches_that_sanitize_alike_get_different_hashes():
    names = {
        amplify_branch_stack_name("d1abc", b)
        for b in ("feature/data", "feature_data", "feature-data", "featuredata")
    }
    assert len(names) == 4
    assert all(n.startswith("amplify-d1abc-featuredata-branch-") for n in names)


@pytest.mark.ampx
def test_branch_stack_name_against_the_installed_cli_code():
    """Runs the CLI's own toStackName under Node on generated inputs (needs scripts/install-ampx)."""
    if not (CLI_CACHE / "lib/backend_identifier_conversions.js").exists() or not shutil.which("node"):
        pytest.skip("ampx 1.10.0 is not installed (scripts/install-ampx) or node is missing")
    cases = [["d1abcdefgh1234", b] for b in ("x/" * 40, "UPPER_lower-9", "a.b.c", "é" * 30 + "z", "-" * 10)]
    cases += [["d" + "9" * n, "feature/" + "q" * n] for n in (5, 19, 40, 70)]
    script = (
        "const {BackendIdentifierConversions: C} = require(process.argv[1] + '/lib/backend_identifier_conversions.js');"
        "const cases = JSON.parse(process.argv[2]);"
        "console.log(JSON.stringify(cases.map(([a, b]) => C.toStackName({namespace: a, name: b, type: 'branch'}))));"
    )
    out = subprocess.run(
        ["node", "-e", script, str(CLI_CACHE), json.dumps(cases)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [amplify_branch_stack_name(a, b) for a, b in cases]


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "amplify-d1-main-branch-823652aa49",
        "A" * 128,
        "arn:aws:cloudformation:us-east-1:123456789012:stack/s-1/0a1b-2c",
    ],
)
def test_valid_stack_names(name):
    assert validate_stack_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "1stack", "-x", "has_underscore", "a/b", "A" * 129, "amplify d1", None, 12]
)
def test_invalid_stack_names_name_the_parameter_and_value(name):
    with pytest.raises(ValueError, match=r"stack_name=.*starts with a letter.*128") as info:
        validate_stack_name(name)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("app_id", ["d1", "d1abcdefgh1234", "d" + "a" * 19])
def test_valid_app_ids(app_id):
    assert validate_app_id(app_id) == app_id


@pytest.mark.parametrize("app_id", ["", "d", "D123", "x123", "d-123", "d" + "a" * 20, "d1 ", None])
def test_invalid_app_ids(app_id):
    with pytest.raises(ValueError, match=r"app_id=.*is not an Amplify app id"):
        validate_app_id(app_id)


T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "changed", "expected"),
    [
        ("CREATE_IN_PROGRESS", T0 - timedelta(days=1), SETTLE_IN_PROGRESS),
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", T0, SETTLE_IN_PROGRESS),
        ("REVIEW_IN_PROGRESS", T0, SETTLE_IN_PROGRESS),
        ("UPDATE_COMPLETE", T0 + timedelta(seconds=1), SETTLE_SUCCEEDED),
        ("UPDATE_COMPLETE", T0 - timedelta(seconds=1), SETTLE_STALE),
        ("UPDATE_ROLLBACK_COMPLETE", T0 - timedelta(seconds=1), SETTLE_STALE),
        ("UPDATE_ROLLBACK_COMPLETE", T0 + timedelta(seconds=1), SETTLE_FAILED),
        ("ROLLBACK_COMPLETE", T0, SETTLE_FAILED),
        ("DELETE_COMPLETE", T0, SETTLE_FAILED),
        ("SOMETHING_NEW", T0, SETTLE_UNKNOWN),
    ],
)
def test_settle_state(status, changed, expected):
    stack = {"StackStatus": status, "CreationTime": T0 - timedelta(days=2), "LastUpdatedTime": changed}
    assert settle_state(stack, T0) == expected


def test_settle_state_of_a_missing_stack_and_without_changed_since():
    assert settle_state(None, T0) == SETTLE_MISSING
    assert (
        settle_state({"StackStatus": "CREATE_COMPLETE", "CreationTime": T0 - timedelta(days=9)})
        == SETTLE_SUCCEEDED
    )


def test_hook_reads_status_outputs_and_summary(amplify_world, aws_connections):
    stack_id = _create_stack(amplify_world.client("cloudformation"), "amplify-d1abc-main-branch-0123456789")
    hook = AmplifyStackHook(aws_conn_id="aws_staging")
    stack = hook.describe_stack("amplify-d1abc-main-branch-0123456789")
    assert stack["StackId"] == stack_id
    assert hook.get_stack_status(stack_id) == "CREATE_COMPLETE"
    outputs = hook.get_stack_outputs("amplify-d1abc-main-branch-0123456789")
    assert outputs["awsAppsyncRegion"] == "us-east-1"
    assert outputs["topicArn"].startswith("arn:aws:sns:us-east-1:123456789012:")
    summary = stack_summary(stack)
    assert summary["stack_status"] == "CREATE_COMPLETE"
    assert datetime.fromisoformat(summary["last_updated_time"]).tzinfo is not None
    json.dumps(summary)  # XCom-safe


def test_hook_reports_a_missing_stack_as_none(amplify_world, aws_connections):
    hook = AmplifyStackHook(aws_conn_id="aws_staging")
    assert hook.describe_stack("amplify-nothing-here") is None
    assert hook.get_stack_status("amplify-nothing-here") is None
    with pytest.raises(AmplifyStackNotFoundError, match="amplify-nothing-here"):
        hook.get_stack_outputs("amplify-nothing-here")


def test_world_reports_last_updated_time_after_an_update(amplify_world, aws_connections):
    cfn = amplify_world.client("cloudformation")
    _create_stack(cfn, "stack-a")
    hook = AmplifyStackHook(aws_conn_id="aws_staging")
    assert "LastUpdatedTime" not in hook.describe_stack("stack-a")
    template = {**TEMPLATE, "Resources": {**TEMPLATE["Resources"], "Other": {"Type": "AWS::SNS::Topic"}}}
    cfn.update_stack(StackName="stack-a", TemplateBody=json.dumps(template))
    stack = hook.describe_stack("stack-a")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert stack["LastUpdatedTime"] >= stack["CreationTime"]


def test_production_connection_sees_only_the_production_stack(amplify_world, aws_connections):
    _create_stack(amplify_world.client("cloudformation", account_id=PRODUCTION_ACCOUNT_ID), "prod-stack")
    _create_stack(amplify_world.client("cloudformation"), "staging-stack")
    prod = AmplifyStackHook(aws_conn_id="aws_production")
    assert prod.describe_stack("prod-stack")["StackId"].split(":")[4] == PRODUCTION_ACCOUNT_ID
    assert prod.describe_stack("staging-stack") is None
    assert prod.account_id == PRODUCTION_ACCOUNT_ID


def _nested_failure_script(amplify_world, root_name: str, account_id: str = "123456789012") -> dict:
    """A root stack whose update failed inside its nested data stack (real moto stacks, scripted events)."""
    cfn = amplify_world.client("cloudformation", account_id=account_id)
    root_id = _create_stack(cfn, root_name)
    nested_name = f"{root_name}-data7552DF31-1XYZ"
    nested_id = _create_stack(cfn, nested_name)
    amplify_world.script_stack(
        nested_name,
        ["UPDATE_ROLLBACK_COMPLETE"],
        account_id=account_id,
        events=[
            {"LogicalResourceId": nested_name, "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_IN_PROGRESS", "PhysicalResourceId": nested_id},
            {"LogicalResourceId": "amplifyDataGraphQLAPI42A6FA33", "ResourceType": "AWS::AppSync::GraphQLApi",
             "ResourceStatus": "UPDATE_FAILED",
             "ResourceStatusReason": "Resource handler returned message: \"Schema validation failed: Unknown type Todoo\""},
            {"LogicalResourceId": "amplifyDataTodoTable", "ResourceType": "Custom::AmplifyDynamoDBTable",
             "ResourceStatus": "UPDATE_FAILED", "ResourceStatusReason": "Resource update cancelled"},
            {"LogicalResourceId": nested_name, "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_ROLLBACK_COMPLETE", "PhysicalResourceId": nested_id},
        ],
    )  # fmt: skip
    amplify_world.script_stack(
        root_name,
        ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"],
        account_id=account_id,
        events=[
            {"LogicalResourceId": root_name, "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_IN_PROGRESS", "ResourceStatusReason": "User Initiated", "PhysicalResourceId": root_id},
            {"LogicalResourceId": "auth179371D7", "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_FAILED", "ResourceStatusReason": "Resource update cancelled",
             "PhysicalResourceId": root_id.replace(root_name, root_name + "-auth")},
            {"LogicalResourceId": "data7552DF31", "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_FAILED", "PhysicalResourceId": nested_id,
             "ResourceStatusReason": f"Embedded stack {nested_id} was not successfully updated. Currently in UPDATE_ROLLBACK_IN_PROGRESS"},
            {"LogicalResourceId": root_name, "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_ROLLBACK_IN_PROGRESS", "PhysicalResourceId": root_id,
             "ResourceStatusReason": "The following resource(s) failed to update: [data7552DF31]."},
            {"LogicalResourceId": root_name, "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_ROLLBACK_COMPLETE", "PhysicalResourceId": root_id},
        ],
    )  # fmt: skip
    return {"root_id": root_id, "nested_id": nested_id, "nested_name": nested_name}


def test_explain_failure_follows_the_nested_stack(amplify_world, aws_connections):
    ids = _nested_failure_script(amplify_world, "amplify-d1abc-main-branch-0123456789")
    hook = AmplifyStackHook(aws_conn_id="aws_staging")
    failures = hook.explain_failure("amplify-d1abc-main-branch-0123456789")
    assert [f.path for f in failures] == [("data7552DF31", "amplifyDataGraphQLAPI42A6FA33")]
    assert failures[0].stack_name == ids["nested_name"]
    assert failures[0].resource_type == "AWS::AppSync::GraphQLApi"
    assert "Unknown type Todoo" in failures[0].reason
    message = hook.failure_message("amplify-d1abc-main-branch-0123456789")
    assert "data7552DF31 > amplifyDataGraphQLAPI42A6FA33 (AWS::AppSync::GraphQLApi) UPDATE_FAILED" in message
    assert "cancelled" not in message
    # one DescribeStackEvents for the root, one for the nested stack (by its PhysicalResourceId)
    amplify_world.clear_requests()
    hook.explain_failure("amplify-d1abc-main-branch-0123456789")
    assert len(amplify_world.requests(operation="DescribeStackEvents")) == 2


def test_explain_failure_pages_events_and_stops_at_the_operation_start():
    """Stubber on a real botocore client: two pages of events, an older failed operation not reported."""
    hook = AmplifyStackHook(aws_conn_id=None, region_name="us-east-1")
    client = hook.conn
    arn = "arn:aws:cloudformation:us-east-1:123456789012:stack/s1/aaaa"

    def event(logical, status, reason=None, rtype="AWS::SNS::Topic", minute=0):
        e = {"StackId": arn, "EventId": f"{logical}-{status}-{minute}", "StackName": "s1",
             "LogicalResourceId": logical, "ResourceType": rtype, "ResourceStatus": status,
             "Timestamp": T0 + timedelta(minutes=minute)}  # fmt: skip
        if reason:
            e["ResourceStatusReason"] = reason
        return e

    page1 = [
        event("s1", "ROLLBACK_COMPLETE", rtype="AWS::CloudFormation::Stack", minute=9),
        event("Queue", "CREATE_FAILED", "Resource creation cancelled", minute=8),
        event("Topic", "CREATE_FAILED", "Topic name already exists", minute=7),
    ]
    page2 = [
        event("Bucket", "CREATE_FAILED", "Bucket exists", minute=6),
        event("s1", "CREATE_IN_PROGRESS", "User Initiated", rtype="AWS::CloudFormation::Stack", minute=5),
        event("Old", "UPDATE_FAILED", "an earlier operation", minute=1),
    ]
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_stack_events", {"StackEvents": page1, "NextToken": "t"}, {"StackName": arn}
        )
        stubber.add_response(
            "describe_stack_events", {"StackEvents": page2}, {"StackName": arn, "NextToken": "t"}
        )
        failures = hook.explain_failure(arn)
        stubber.assert_no_pending_responses()
    assert [f.path for f in failures] == [("Bucket",), ("Topic",)]


def test_first_failures_keeps_cancellations_when_nothing_else_failed():
    events = [
        {"LogicalResourceId": "A", "ResourceType": "X", "ResourceStatus": "UPDATE_FAILED", "ResourceStatusReason": "Resource update cancelled"},
        {"LogicalResourceId": "s", "ResourceType": "AWS::CloudFormation::Stack", "ResourceStatus": "UPDATE_IN_PROGRESS"},
    ]  # fmt: skip
    assert [e["LogicalResourceId"] for e in first_failures(events, "s")] == ["A"]
