"""App and branch build and runtime settings (AmplifyAppSetupOperator, AmplifyBranchSetupOperator) against the world."""

from __future__ import annotations

import pytest

from airflow_amplify.operators.app import AmplifyAppSetupOperator
from airflow_amplify.operators.branch import AmplifyBranchSetupOperator

ROLE = "arn:aws:iam::123456789012:role/amplify-ssr-compute"


def updates(world):
    return [r["operation"] for r in world.requests(service="amplify") if r["operation"].startswith("Update")]


def app_op(app, **kw):
    return AmplifyAppSetupOperator(task_id="app", app_id=app["app_id"], aws_conn_id="aws_staging", **kw)


def test_app_settings_change_only_what_differs_and_a_rerun_says_unchanged(
    amplify_world, aws_connections, staging_app, task_context, task_logs
):
    amplify_world.clear_requests()
    declared = {
        "build_compute_type": "LARGE_16GB",
        "cache_config_type": "AMPLIFY_MANAGED",
        "compute_role_arn": ROLE,
    }
    first = app_op(staging_app, **declared).execute(task_context())
    assert first["changed"] is True
    assert first["changes"] == {
        "build_compute_type": {"from": "STANDARD_8GB", "to": "LARGE_16GB"},
        "cache_config_type": {"from": "AMPLIFY_MANAGED_NO_COOKIES", "to": "AMPLIFY_MANAGED"},
        "compute_role_arn": {"from": "", "to": ROLE},
    }
    app = amplify_world.client("amplify").get_app(appId=staging_app["app_id"])["app"]
    assert app["jobConfig"] == {"buildComputeType": "LARGE_16GB"}
    assert app["cacheConfig"] == {"type": "AMPLIFY_MANAGED"} and app["computeRoleArn"] == ROLE
    assert updates(amplify_world) == ["UpdateApp"]

    amplify_world.clear_requests()
    second = app_op(staging_app, **declared).execute(task_context())
    assert second == {"app_id": staging_app["app_id"], "changed": False, "changes": {}}
    assert updates(amplify_world) == []
    assert "already matches the declared settings: nothing changed" in task_logs()


def test_app_setting_left_as_is_when_none_and_removed_with_empty_string(
    amplify_world, aws_connections, staging_app, task_context
):
    app_op(staging_app, compute_role_arn=ROLE, build_compute_type="XLARGE_72GB").execute(task_context())
    result = app_op(staging_app, compute_role_arn="").execute(task_context())
    assert result["changes"] == {"compute_role_arn": {"from": ROLE, "to": ""}}
    app = amplify_world.client("amplify").get_app(appId=staging_app["app_id"])["app"]
    assert "computeRoleArn" not in app and app["jobConfig"] == {"buildComputeType": "XLARGE_72GB"}


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"build_compute_type": "MEDIUM"},
            "build_compute_type='MEDIUM' is not valid; expected one of STANDARD_8GB",
        ),
        (
            {"cache_config_type": "amplify_managed"},
            "expected one of AMPLIFY_MANAGED, AMPLIFY_MANAGED_NO_COOKIES",
        ),
        ({"compute_role_arn": "ssr-role"}, "compute_role_arn='ssr-role' is not an IAM role ARN"),
    ],
)
def test_app_settings_are_checked_against_the_model_before_any_call(
    amplify_world, aws_connections, staging_app, task_context, kw, message
):
    amplify_world.clear_requests()
    with pytest.raises(ValueError, match=message):
        app_op(staging_app, **kw).execute(task_context())
    assert amplify_world.requests(service="amplify") == []


def branch_op(app, **kw):
    return AmplifyBranchSetupOperator(
        task_id="branch", app_id=app["app_id"], branch_name="feature/x", aws_conn_id="aws_staging", **kw
    )


def test_branch_compute_role_and_skew_protection_are_declarative(
    amplify_world, aws_connections, staging_app, task_context, task_logs
):
    first = branch_op(staging_app, compute_role_arn=ROLE, enable_skew_protection=True).execute(task_context())
    assert first["changes"] == {
        "compute_role_arn": {"from": "", "to": ROLE},
        "enable_skew_protection": {"from": False, "to": True},
    }
    branch = amplify_world.client("amplify").get_branch(appId=staging_app["app_id"], branchName="feature/x")[
        "branch"
    ]
    assert branch["computeRoleArn"] == ROLE and branch["enableSkewProtection"] is True
    assert "skew protection on (was off)" in task_logs()
    amplify_world.clear_requests()
    second = branch_op(staging_app, compute_role_arn=ROLE, enable_skew_protection=True).execute(
        task_context()
    )
    assert second["changed"] is False and updates(amplify_world) == []
    third = branch_op(staging_app, enable_skew_protection=False).execute(task_context())
    assert third["changes"] == {"enable_skew_protection": {"from": True, "to": False}}


def test_created_branch_gets_its_settings_at_creation(
    amplify_world, aws_connections, staging_app, task_context
):
    op = AmplifyBranchSetupOperator(
        task_id="branch",
        app_id=staging_app["app_id"],
        branch_name="release/2",
        aws_conn_id="aws_staging",
        create_branch=True,
        compute_role_arn=ROLE,
        enable_skew_protection=True,
    )
    result = op.execute(task_context())
    assert result["branch_created"] is True and set(result["changes"]) == {"branch"}
    branch = amplify_world.client("amplify").get_branch(appId=staging_app["app_id"], branchName="release/2")[
        "branch"
    ]
    assert branch["computeRoleArn"] == ROLE and branch["enableSkewProtection"] is True
