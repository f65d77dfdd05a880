"""The stand-in ampx of the world: deploys a branch stack with boto3, links the branch, writes outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from airflow_amplify.ampx.project import amplify_branch_stack_name
from airflow_amplify.outputs.mapping import generate_outputs
from airflow_amplify.testing import PRODUCTION_ACCOUNT_ID
from airflow_amplify.testing.ampx_world import BANNER, write_world_ampx


@pytest.fixture
def run_ampx(amplify_world, tmp_path):
    """Run the stand-in as AmpxHook does: credentials, region and endpoint in its environment only."""
    path = write_world_ampx(tmp_path / "bin")
    (tmp_path / "project").mkdir()

    def run(*args: str, account_id: str = PRODUCTION_ACCOUNT_ID, **extra: str) -> subprocess.CompletedProcess:
        creds = amplify_world.credentials(account_id)
        env = {
            **extra,
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            "CI": "1",
            "AWS_REGION": amplify_world.region,
            "AWS_ENDPOINT_URL": amplify_world.url,
            "AWS_ACCESS_KEY_ID": creds["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
            **({"AWS_SESSION_TOKEN": creds["aws_session_token"]} if creds.get("aws_session_token") else {}),
        }
        return subprocess.run(
            [str(path), *args], env=env, cwd=tmp_path / "project", capture_output=True, text=True, timeout=60
        )

    return run


def test_pipeline_deploy_creates_then_updates_the_branch_stack_in_the_target_account(
    amplify_world, run_ampx, production_app, tmp_path
):
    app_id = production_app["app_id"]
    out = tmp_path / "out"
    first = run_ampx("pipeline-deploy", "--branch", "main", "--app-id", app_id, "--outputs-out-dir", str(out))
    assert first.returncode == 0, first.stdout + first.stderr
    assert BANNER in first.stdout and "CREATE_COMPLETE" in first.stdout
    second = run_ampx(
        "pipeline-deploy", "--branch", "main", "--app-id", app_id, "--outputs-out-dir", str(out)
    )
    assert second.returncode == 0 and "UPDATE_COMPLETE" in second.stdout, second.stdout + second.stderr

    cfn = amplify_world.client("cloudformation", PRODUCTION_ACCOUNT_ID)
    stack_name = amplify_branch_stack_name(app_id, "main")
    (stack,) = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {
        "created-by": "amplify",
        "amplify:app-id": app_id,
        "amplify:branch-name": "main",
        "amplify:deployment-type": "branch",
    }
    assert amplify_world.client("cloudformation").describe_stacks()["Stacks"] == []  # not in staging
    branch = amplify_world.client("amplify", PRODUCTION_ACCOUNT_ID).get_branch(
        appId=app_id, branchName="main"
    )
    assert branch["branch"]["backend"]["stackArn"] == stack["StackId"]
    # The outputs file is what the native engine makes of the stack (Auth metadata and outputs).
    metadata = cfn.get_template_summary(StackName=stack_name)["Metadata"]
    written = (out / "amplify_outputs.json").read_text()
    assert written == generate_outputs(metadata, stack, "1.4")
    assert json.loads(written)["auth"]["user_pool_id"].startswith(amplify_world.region)


def test_pipeline_deploy_of_a_missing_branch_fails_like_ampx(run_ampx, production_app):
    result = run_ampx("pipeline-deploy", "--branch", "nope", "--app-id", production_app["app_id"])
    assert result.returncode == 1
    assert "[CloudFormationDeploymentError]" in result.stdout and "Resolution:" in result.stdout


def test_generate_outputs_reads_the_deployed_stack(run_ampx, production_app, tmp_path):
    app_id = production_app["app_id"]
    assert run_ampx("pipeline-deploy", "--branch", "main", "--app-id", app_id).returncode == 0
    result = run_ampx(
        "generate", "outputs", "--app-id", app_id, "--branch", "main", "--out-dir", str(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "amplify_outputs.json").read_text())["version"] == "1.4"


def test_stand_in_needs_nothing_of_airflow(run_ampx, production_app, tmp_path):
    """A Celery worker of Airflow 3 hands task children a database URL that makes importing airflow fail."""
    blocker = tmp_path / "no-airflow"
    (blocker / "airflow").mkdir(parents=True)
    (blocker / "airflow" / "__init__.py").write_text(
        "raise ImportError('the stand-in ampx imported airflow')\n"
    )
    app_id = production_app["app_id"]
    result = run_ampx(
        "pipeline-deploy",
        "--branch",
        "main",
        "--app-id",
        app_id,
        "--outputs-out-dir",
        str(tmp_path / "out"),
        PYTHONPATH=str(blocker),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="airflow-db-not-allowed:///",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "out" / "amplify_outputs.json").read_text())["version"] == "1.4"
    # the control: with the blocker on the path, importing airflow does fail in such a child
    control = subprocess.run(
        [sys.executable, "-c", "import airflow"],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(blocker)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert control.returncode != 0 and "the stand-in ampx imported airflow" in control.stderr
