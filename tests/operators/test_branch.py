"""AmplifyBranchSetupOperator against the local world, through real botocore."""

from __future__ import annotations

import json

import pytest
from airflow.providers.common.compat.sdk import redact

from airflow_amplify.operators.branch import DEFAULT_WEBHOOK_DESCRIPTION, AmplifyBranchSetupOperator


@pytest.fixture
def app(amplify_world):
    """An app whose ``main`` branch builds on every push and has one webhook made by hand."""
    seeded = amplify_world.seed_app("site", ("main", "feature/x"), webhooks=True, enable_auto_build=True)
    amplify_world.client("amplify").update_branch(
        appId=seeded["app_id"], branchName="main", environmentVariables={"KEEP": "me", "API_URL": "old"}
    )
    amplify_world.clear_requests()
    return seeded


def setup_op(app, **kw):
    params = {
        "task_id": "setup",
        "app_id": app["app_id"],
        "branch_name": "main",
        "aws_conn_id": "aws_staging",
    }
    return AmplifyBranchSetupOperator(**{**params, **kw})


def branch(world, app, name="main"):
    return world.client("amplify").get_branch(appId=app["app_id"], branchName=name)["branch"]


def changes_made(world):
    return [
        r["operation"]
        for r in world.requests(service="amplify")
        if r["operation"] in ("UpdateBranch", "CreateBranch", "CreateWebhook", "DeleteWebhook")
    ]


def test_second_run_changes_nothing_and_says_so(amplify_world, aws_connections, app, task_context, task_logs):
    declared = {
        "enable_auto_build": False,
        "webhook": True,
        "environment_variables": {"API_URL": "https://api"},
    }
    first = setup_op(app, **declared).execute(task_context())
    assert first["changed"] is True and first["branch_created"] is False
    assert first["changes"]["enable_auto_build"] == {"from": True, "to": False}
    assert first["changes"]["environment_variables"] == {"added": [], "changed": ["API_URL"], "removed": []}
    assert first["changes"]["webhook"] == {"created": first["webhook_id"]}
    state = branch(amplify_world, app)
    assert state["enableAutoBuild"] is False
    assert state["environmentVariables"] == {"KEEP": "me", "API_URL": "https://api"}  # merged, KEEP kept
    assert changes_made(amplify_world) == ["UpdateBranch", "CreateWebhook"]
    json.dumps(first)

    amplify_world.clear_requests()
    second = setup_op(app, **declared).execute(task_context())
    assert second == {**first, "changed": False, "changes": {}}
    assert changes_made(amplify_world) == []
    assert "already matches the declared state: nothing changed" in task_logs()


def test_webhook_is_found_again_by_its_description(amplify_world, aws_connections, app, task_context):
    hand_made = app["webhooks"]["main"]["id"]  # seeded with description "airflow main"
    result = setup_op(app, webhook=True, webhook_description="airflow main").execute(task_context())
    assert result["webhook_id"] == hand_made and result["changed"] is False
    assert changes_made(amplify_world) == []
    # Another description is another webhook; the one of another branch with that description does not count.
    other = setup_op(app, webhook=True, webhook_description="airflow feature/x").execute(task_context())
    assert other["webhook_id"] != app["webhooks"]["feature/x"]["id"]
    assert other["changes"] == {"webhook": {"created": other["webhook_id"]}}
    again = setup_op(app, webhook=True, webhook_description="airflow feature/x").execute(task_context())
    assert again["webhook_id"] == other["webhook_id"] and again["changed"] is False


def test_webhook_url_is_never_logged_or_returned(
    amplify_world, aws_connections, app, task_context, task_logs
):
    context = task_context()
    result = setup_op(app, webhook=True).execute(context)
    webhook = amplify_world.client("amplify").get_webhook(webhookId=result["webhook_id"])["webhook"]
    assert webhook["description"] == DEFAULT_WEBHOOK_DESCRIPTION and webhook["branchName"] == "main"
    url = webhook["webhookUrl"]
    token = url.rsplit("token=", 1)[1]
    logged = task_logs()
    assert f"Created incoming webhook {result['webhook_id']}" in logged
    assert (
        token not in logged
        and token not in json.dumps(result)
        and token not in json.dumps(context["ti"].xcoms)
    )
    assert token not in redact(f"url={url}")  # registered with the secrets masker
    # Listing the app's webhooks registers every URL it sees, the hand-made ones too.
    assert app["webhooks"]["feature/x"]["url"].rsplit("token=", 1)[1] not in redact(
        app["webhooks"]["feature/x"]["url"]
    )


def test_webhook_false_deletes_only_ours(amplify_world, aws_connections, app, task_context):
    created = setup_op(app, webhook=True).execute(task_context())["webhook_id"]
    result = setup_op(app, webhook=False).execute(task_context())
    assert result["changes"] == {"webhook": {"deleted": [created]}} and result["webhook_id"] is None
    left = amplify_world.client("amplify").list_webhooks(appId=app["app_id"])["webhooks"]
    assert {w["webhookId"] for w in left} == {
        app["webhooks"]["main"]["id"],
        app["webhooks"]["feature/x"]["id"],
    }
    assert setup_op(app, webhook=False).execute(task_context())["changed"] is False


def test_replace_environment_variables_removes_the_others(amplify_world, aws_connections, app, task_context):
    result = setup_op(
        app, environment_variables={"API_URL": "old", "NEW": "1"}, replace_environment_variables=True
    ).execute(task_context())
    assert result["changes"] == {
        "environment_variables": {"added": ["NEW"], "changed": [], "removed": ["KEEP"]}
    }
    assert branch(amplify_world, app)["environmentVariables"] == {"API_URL": "old", "NEW": "1"}


def test_values_of_environment_variables_stay_out_of_the_log(
    amplify_world, aws_connections, app, task_context, task_logs
):
    setup_op(app, environment_variables={"API_URL": "https://very-distinctive.example"}).execute(
        task_context()
    )
    logged = task_logs()
    assert "environment variables changed: API_URL" in logged and "very-distinctive" not in logged


def test_nothing_declared_changes_nothing(amplify_world, aws_connections, app, task_context):
    result = setup_op(app).execute(task_context())
    assert result["changed"] is False and result["webhook_id"] is None
    assert [r["operation"] for r in amplify_world.requests(service="amplify")] == ["GetBranch"]


def test_missing_branch_is_created_on_request(amplify_world, aws_connections, app, task_context):
    declared = {"enable_auto_build": False, "environment_variables": {"STAGE": "qa"}, "webhook": True}
    with pytest.raises(ValueError, match="branch_name='qa'.*Set create_branch=True"):
        setup_op(app, branch_name="qa", **declared).execute(task_context())
    assert changes_made(amplify_world) == []
    result = setup_op(app, branch_name="qa", create_branch=True, **declared).execute(task_context())
    assert result["branch_created"] is True and result["changes"]["branch"] == "created"
    assert set(result["changes"]) == {"branch", "webhook"}  # created as declared: no UpdateBranch after it
    state = branch(amplify_world, app, "qa")
    assert state["enableAutoBuild"] is False and state["environmentVariables"] == {"STAGE": "qa"}
    assert changes_made(amplify_world) == ["CreateBranch", "CreateWebhook"]
    assert (
        setup_op(app, branch_name="qa", create_branch=True, **declared).execute(task_context())["changed"]
        is False
    )


def test_branch_with_a_slash(amplify_world, aws_connections, app, task_context):
    result = setup_op(app, branch_name="feature/x", enable_auto_build=False).execute(task_context())
    assert result["changes"] == {"enable_auto_build": {"from": True, "to": False}}
    assert branch(amplify_world, app, "feature/x")["enableAutoBuild"] is False


def test_production_account_through_assume_role(amplify_world, aws_connections, task_context):
    prod = amplify_world.seed_app("site", ("main",), account_id="222222222222", enable_auto_build=True)
    result = setup_op(prod, aws_conn_id="aws_production", enable_auto_build=False).execute(task_context())
    assert result["changed"] is True
    (update,) = amplify_world.requests(operation="UpdateBranch")
    assert update["account_id"] == "222222222222"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"app_id": "NOPE"}, "app_id='NOPE' does not match"),
        ({"branch_name": ""}, "branch_name is required"),
        ({"enable_auto_build": "false"}, "enable_auto_build='false' is not valid; use True, False or None"),
        ({"webhook": 1}, "webhook=1 is not valid"),
        ({"webhook": True, "webhook_description": "x" * 1001}, "must be 0 to 1000 characters"),
        ({"environment_variables": ["A=1"]}, "environment_variables must be a mapping"),
        ({"environment_variables": {"A": 1}}, "environment_variables['A'] must be a string; got int"),
        ({"environment_variables": {"": "x"}}, "the name '' is not a non-empty string"),
        ({"environment_variables": {"A": "x" * 5501}}, "Amplify allows 5500"),
        (
            {"replace_environment_variables": True, "environment_variables": None},
            "needs environment_variables",
        ),
        ({"aws_conn_id": "no_such_conn"}, "no_such_conn"),
        ({"app_id": "d0000000000000", "create_branch": True, "enable_auto_build": False}, "no such app"),
    ],
)
def test_bad_input_fails_clearly_before_any_change(
    amplify_world, aws_connections, app, task_context, overrides, fragment
):
    declared = {"enable_auto_build": False, "webhook": True, "environment_variables": {"X": "1"}}
    with pytest.raises(ValueError) as excinfo:
        setup_op(app, **{**declared, **overrides}).execute(task_context())
    assert fragment in str(excinfo.value)
    assert changes_made(amplify_world) == []
