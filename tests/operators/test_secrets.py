"""AmplifyBackendSecretsOperator and the deploy operator's required_secrets, against the local world."""

from __future__ import annotations

import json
import sys

import pytest

from airflow_amplify.hooks.secrets import AmplifySecretsMissingError, amplify_secret_path
from airflow_amplify.operators.ampx import AmplifyPipelineDeployOperator
from airflow_amplify.operators.secrets import AmplifyBackendSecretsOperator
from tests.fakes.ampx import write_fake_ampx, write_fake_project

STAGING = "123456789012"
PRODUCTION = "222222222222"


@pytest.fixture
def secret_sources(monkeypatch):
    """A connection holding two secrets (password and an extra key) and a Variable holding a third."""
    conn = {
        "conn_type": "generic",
        "password": "pw-7f3a9c1e55d0",
        "extra": {"STRIPE_KEY": "sk-live-2b9e4d", "nested": {"a": 1}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_BACKEND_SECRETS", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_VAR_API_TOKEN", "tok-91c2e8aa")
    return {
        "DB_PASSWORD": {"conn_id": "backend_secrets"},
        "STRIPE_KEY": {"conn_id": "backend_secrets", "field": "extra.STRIPE_KEY"},
        "API_TOKEN": {"variable": "api_token"},
    }


def secrets_op(app, sources, **kw):
    params = {
        "task_id": "secrets",
        "app_id": app["app_id"],
        "branch_name": "main",
        "aws_conn_id": "aws_staging",
    }
    return AmplifyBackendSecretsOperator(**{**params, "secrets": sources, **kw})


def ssm_value(world, name, account=STAGING):
    return world.client("ssm", account).get_parameter(Name=name, WithDecryption=True)["Parameter"]


def writes(world):
    return [
        r["operation"]
        for r in world.requests(service="ssm")
        if r["operation"] in ("PutParameter", "DeleteParameter", "DeleteParameters")
    ]


def test_sets_branch_secrets_where_ampx_reads_them_and_reruns_unchanged(
    amplify_world, aws_connections, staging_app, secret_sources, task_context, task_logs
):
    app_id = staging_app["app_id"]
    first = secrets_op(staging_app, secret_sources).execute(task_context())
    assert first == {"API_TOKEN": "created", "DB_PASSWORD": "created", "STRIPE_KEY": "created"}
    stored = ssm_value(amplify_world, amplify_secret_path(app_id, "main", "STRIPE_KEY"))
    assert stored["Type"] == "SecureString" and stored["Value"] == "sk-live-2b9e4d"
    assert (
        ssm_value(amplify_world, amplify_secret_path(app_id, "main", "DB_PASSWORD"))["Value"]
        == "pw-7f3a9c1e55d0"
    )
    assert (
        ssm_value(amplify_world, amplify_secret_path(app_id, "main", "API_TOKEN"))["Value"] == "tok-91c2e8aa"
    )

    amplify_world.clear_requests()
    second = secrets_op(staging_app, secret_sources).execute(task_context())
    assert second == dict.fromkeys(first, "unchanged")
    assert writes(amplify_world) == []
    logs = task_logs()
    assert "nothing changed" in logs
    for value in ("pw-7f3a9c1e55d0", "sk-live-2b9e4d", "tok-91c2e8aa"):
        assert value not in logs and value not in json.dumps(first)


def test_a_changed_value_is_updated_alone(
    amplify_world, aws_connections, staging_app, secret_sources, task_context, monkeypatch
):
    secrets_op(staging_app, secret_sources).execute(task_context())
    monkeypatch.setenv("AIRFLOW_VAR_API_TOKEN", "tok-rotated-0042")
    amplify_world.clear_requests()
    result = secrets_op(staging_app, secret_sources).execute(task_context())
    assert result == {"API_TOKEN": "updated", "DB_PASSWORD": "unchanged", "STRIPE_KEY": "unchanged"}
    assert writes(amplify_world) == ["PutParameter"]


def test_shared_secrets_with_branch_name_none(
    amplify_world, aws_connections, staging_app, secret_sources, task_context
):
    result = secrets_op(staging_app, {"API_TOKEN": secret_sources["API_TOKEN"]}, branch_name=None).execute(
        task_context()
    )
    assert result == {"API_TOKEN": "created"}
    path = f"/amplify/shared/{staging_app['app_id']}/API_TOKEN"
    assert ssm_value(amplify_world, path)["Value"] == "tok-91c2e8aa"


def test_prune_is_off_by_default_and_removes_unlisted_when_asked(
    amplify_world, aws_connections, staging_app, secret_sources, task_context
):
    app_id = staging_app["app_id"]
    stale = amplify_secret_path(app_id, "main", "OLD_KEY")
    amplify_world.client("ssm").put_parameter(Name=stale, Value="old-value-5d1c", Type="SecureString")
    assert "OLD_KEY" not in secrets_op(staging_app, secret_sources).execute(task_context())
    assert ssm_value(amplify_world, stale)
    result = secrets_op(staging_app, secret_sources, prune=True).execute(task_context())
    assert result["OLD_KEY"] == "deleted"
    with pytest.raises(amplify_world.client("ssm").exceptions.ParameterNotFound):
        ssm_value(amplify_world, stale)


def test_a_missing_source_fails_before_any_write_without_showing_values(
    amplify_world, aws_connections, staging_app, secret_sources, task_context
):
    sources = {**secret_sources, "MISSING": {"variable": "no_such_variable"}}
    amplify_world.clear_requests()
    with pytest.raises(ValueError, match="Variable 'no_such_variable' does not exist") as err:
        secrets_op(staging_app, sources).execute(task_context())
    assert writes(amplify_world) == [] and amplify_world.requests(service="ssm") == []
    assert "pw-7f3a9c1e55d0" not in str(err.value)


def test_a_whitespace_padded_value_is_refused_naming_its_source_only(
    amplify_world, aws_connections, staging_app, task_context, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_VAR_PADDED", "secret-value-with-newline\n")
    with pytest.raises(
        ValueError, match=r"secrets\['K'\]: the value from Variable 'padded' has leading"
    ) as err:
        secrets_op(staging_app, {"K": {"variable": "padded"}}).execute(task_context())
    assert "secret-value-with-newline" not in str(err.value)
    assert writes(amplify_world) == []


def test_secrets_go_to_the_assumed_role_account(
    amplify_world, aws_connections, production_app, secret_sources, task_context
):
    op = secrets_op(production_app, secret_sources, aws_conn_id="aws_production")
    assert op.execute(task_context())["STRIPE_KEY"] == "created"
    path = amplify_secret_path(production_app["app_id"], "main", "STRIPE_KEY")
    assert ssm_value(amplify_world, path, PRODUCTION)["Value"] == "sk-live-2b9e4d"
    with pytest.raises(amplify_world.client("ssm").exceptions.ParameterNotFound):
        ssm_value(amplify_world, path, STAGING)


# --- required_secrets on the deploy operator ---------------------------------------------------------

SECRET_NOT_SET_AMPX = """\
import sys
print("ampx pipeline-deploy\\n\\nOptions:\\n  --branch  [string] [required]\\n")
print("[SecretNotSetError] The secret STRIPE_KEY specified in the backend does not exist.")
print("Resolution: Create secrets using the command `ampx sandbox secret set`.")
print("")
sys.exit(1)
"""


def deploy_op(app, tmp_path, ampx, **kw):
    project = write_fake_project(tmp_path / "project")
    (project / "node_modules").mkdir(exist_ok=True)
    return AmplifyPipelineDeployOperator(
        task_id="deploy",
        project_dir=str(project),
        app_id=app["app_id"],
        branch_name="main",
        aws_conn_id="aws_production",
        ampx_path=str(ampx),
        install_dependencies=False,
        env={"FAKE_AMPX_MODE": "ok"},
        **kw,
    )


def test_required_secrets_preflight_fails_before_ampx_naming_both_paths(
    amplify_world, aws_connections, production_app, task_context, tmp_path
):
    amplify_world.bootstrap_cdk(PRODUCTION)
    app_id = production_app["app_id"]
    ssm = amplify_world.client("ssm", PRODUCTION)
    ssm.put_parameter(Name=amplify_secret_path(app_id, "main", "ON_BRANCH"), Value="v", Type="SecureString")
    ssm.put_parameter(Name=amplify_secret_path(app_id, None, "SHARED"), Value="v", Type="SecureString")
    state = tmp_path / "state"
    state.mkdir()
    ampx = write_fake_ampx(tmp_path / "bin")
    op = deploy_op(production_app, tmp_path, ampx, required_secrets=["ON_BRANCH", "SHARED", "STRIPE_KEY"])
    op.env = {"FAKE_AMPX_MODE": "env", "FAKE_AMPX_STATE": str(state)}
    with pytest.raises(AmplifySecretsMissingError) as err:
        op.execute(task_context())
    assert err.value.missing == ["STRIPE_KEY"]
    assert amplify_secret_path(app_id, "main", "STRIPE_KEY") in str(err.value)
    assert f"/amplify/shared/{app_id}/STRIPE_KEY" in str(err.value)
    assert not (state / "env.json").exists()  # ampx never ran

    ssm.put_parameter(Name=amplify_secret_path(app_id, None, "STRIPE_KEY"), Value="v", Type="SecureString")
    op = deploy_op(production_app, tmp_path, ampx, required_secrets=["ON_BRANCH", "SHARED", "STRIPE_KEY"])
    assert op.execute(task_context())["app_id"] == app_id


def test_ampxs_secret_not_set_error_gives_the_same_message(
    amplify_world, aws_connections, production_app, task_context, tmp_path
):
    amplify_world.bootstrap_cdk(PRODUCTION)
    ampx = tmp_path / "bin" / "ampx"
    ampx.parent.mkdir()
    ampx.write_text(f"#!{sys.executable}\n{SECRET_NOT_SET_AMPX}")
    ampx.chmod(0o755)
    with pytest.raises(AmplifySecretsMissingError) as err:
        deploy_op(production_app, tmp_path, ampx).execute(task_context())
    app_id = production_app["app_id"]
    assert err.value.missing == ["STRIPE_KEY"]
    message = str(err.value)
    assert amplify_secret_path(app_id, "main", "STRIPE_KEY") in message
    assert f"/amplify/shared/{app_id}/STRIPE_KEY" in message
    assert "not `ampx sandbox secret set`" in message
