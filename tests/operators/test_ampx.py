"""AmplifyPipelineDeployOperator and AmplifyGenerateOutputsOperator, with a stand-in ampx and with the real CLI."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from airflow_amplify.ampx.errors import AmpxCommandError, AmpxPreflightError
from airflow_amplify.ampx.project import amplify_branch_stack_name
from airflow_amplify.operators.ampx import AmplifyGenerateOutputsOperator, AmplifyPipelineDeployOperator
from tests.fakes.ampx import (
    SAMPLE_APP,
    real_ampx_path,
    sample_app_ready,
    write_fake_ampx,
    write_fake_project,
)

PRODUCTION = "222222222222"

#: A branch stack as ampx leaves it: Amplify metadata in the template, the listed keys as outputs.
BRANCH_TEMPLATE = {
    "Metadata": {
        "AWS::Amplify::Platform": {"version": "1", "stackOutputs": ["deploymentType", "region"]},
        "AWS::Amplify::Auth": {
            "version": "1",
            "stackOutputs": ["authRegion", "userPoolId", "webClientId", "identityPoolId"],
        },
    },
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {
        "deploymentType": {"Value": "branch"},
        "region": {"Value": "us-east-1"},
        "authRegion": {"Value": "us-east-1"},
        "userPoolId": {"Value": "us-east-1_prodPool"},
        "webClientId": {"Value": "prodclient123"},
        "identityPoolId": {"Value": "us-east-1:prod-identity"},
    },
}
EXPECTED_OUTPUTS = {
    "auth": {
        "user_pool_id": "us-east-1_prodPool",
        "aws_region": "us-east-1",
        "user_pool_client_id": "prodclient123",
        "identity_pool_id": "us-east-1:prod-identity",
    },
    "version": "1.5",
}


def create_branch_stack(world, app, branch="main", account_id=PRODUCTION):
    name = amplify_branch_stack_name(app["app_id"], branch)
    cfn = world.client("cloudformation", account_id)
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(BRANCH_TEMPLATE),
        Tags=[
            {"Key": "created-by", "Value": "amplify"},
            {"Key": "amplify:app-id", "Value": app["app_id"]},
            {"Key": "amplify:branch-name", "Value": branch},
        ],
    )
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


@pytest.fixture
def fake_project(tmp_path):
    project = write_fake_project(tmp_path / "project")
    (project / "node_modules").mkdir()
    return project


@pytest.fixture
def fake_ampx(tmp_path):
    return write_fake_ampx(tmp_path / "bin")


def deploy_op(app, project, ampx, conn="aws_production", **kwargs):
    kwargs.setdefault("install_dependencies", False)
    kwargs.setdefault("env", {"FAKE_AMPX_MODE": "ok"})
    return AmplifyPipelineDeployOperator(
        task_id="deploy",
        project_dir=str(project),
        app_id=app["app_id"],
        branch_name="main",
        aws_conn_id=conn,
        ampx_path=str(ampx) if ampx else None,
        **kwargs,
    )


# --- with the stand-in ampx ------------------------------------------------------------------------


def test_deploy_returns_stack_arn_status_outputs_file_and_link(
    amplify_world, aws_connections, production_app, fake_project, fake_ampx, task_context
):
    amplify_world.bootstrap_cdk(PRODUCTION)
    stack = create_branch_stack(amplify_world, production_app)
    context = task_context()
    result = deploy_op(production_app, fake_project, fake_ampx).execute(context)
    assert result["stack_name"] == stack["StackName"]
    assert result["stack_arn"] == stack["StackId"] and ":222222222222:" in result["stack_arn"]
    assert result["stack_status"] == "CREATE_COMPLETE"
    assert result["outputs_file"] == str(fake_project / "amplify_outputs.json")
    assert result["duration_seconds"] >= 0 and result["region"] == "us-east-1"
    assert "testing" not in json.dumps(result)
    link = context["ti"].xcoms["amplify_cloudformation_stack"]
    assert link["stack_id"] == stack["StackId"] and link["region_name"] == "us-east-1"


def test_deploy_passes_branch_app_and_outputs_options(
    amplify_world, aws_connections, production_app, fake_project, fake_ampx, task_context, tmp_path
):
    amplify_world.bootstrap_cdk(PRODUCTION)
    state = tmp_path / "state"
    state.mkdir()
    op = deploy_op(
        production_app,
        fake_project,
        fake_ampx,
        outputs_out_dir=str(tmp_path / "out"),
        outputs_version="1.3",
        outputs_format="dart",
        debug=True,
    )
    op.env = {"FAKE_AMPX_MODE": "env", "FAKE_AMPX_STATE": str(state)}
    (state / "release").touch()
    result = op.execute(task_context())
    seen = json.loads((state / "env.json").read_text())
    assert seen["argv"][1:] == [
        "pipeline-deploy",
        "--branch",
        "main",
        "--app-id",
        production_app["app_id"],
        "--outputs-out-dir",
        str(tmp_path / "out"),
        "--outputs-version",
        "1.3",
        "--outputs-format",
        "dart",
        "--debug",
    ]
    assert seen["env"]["AWS_SESSION_TOKEN"]  # assumed-role credentials of the production account
    assert result["outputs_file"] == str(tmp_path / "out" / "amplify_outputs.dart")
    assert result["stack_arn"] is None  # the stand-in deployed nothing


def test_deploy_refuses_while_branch_stack_is_in_progress(
    amplify_world, aws_connections, production_app, fake_project, fake_ampx, task_context, tmp_path
):
    from botocore.stub import Stubber

    amplify_world.bootstrap_cdk(PRODUCTION)
    op = deploy_op(production_app, fake_project, fake_ampx, env={"FAKE_AMPX_MODE": "tree"})
    stack_name = amplify_branch_stack_name(production_app["app_id"], "main")
    cfn = op.hook.client_for("cloudformation")
    stubber = Stubber(cfn)
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": stack_name,
                    "StackId": f"arn:aws:cloudformation:us-east-1:{PRODUCTION}:stack/{stack_name}/1",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "StackStatus": "UPDATE_IN_PROGRESS",
                }
            ]
        },
    )
    with (
        stubber,
        pytest.raises(AmpxPreflightError, match=f"stack {stack_name} is UPDATE_IN_PROGRESS") as excinfo,
    ):
        op.execute(task_context())
    assert "Airflow pool" in str(excinfo.value)


def test_deploy_waits_for_branch_stack_to_settle_when_asked(
    amplify_world, aws_connections, production_app, fake_project, fake_ampx, task_context
):
    from botocore.stub import Stubber

    amplify_world.bootstrap_cdk(PRODUCTION)
    op = deploy_op(production_app, fake_project, fake_ampx, wait_for_stack=True, stack_poll_interval=0.1)
    stack_name = amplify_branch_stack_name(production_app["app_id"], "main")
    cfn = op.hook.client_for("cloudformation")
    stubber = Stubber(cfn)
    for status in ("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"):
        stubber.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": stack_name,
                        "StackId": f"arn:aws:cloudformation:us-east-1:{PRODUCTION}:stack/{stack_name}/1",
                        "CreationTime": "2026-01-01T00:00:00Z",
                        "StackStatus": status,
                    }
                ]
            },
        )
    stubber.add_client_error(
        "describe_stacks", "ValidationError", f"Stack with id {stack_name} does not exist"
    )
    with stubber:
        result = op.execute(task_context())
    assert result["stack_status"] is None
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"app_id": "not an app"}, "app_id='not an app'"),
        ({"branch_name": ""}, "branch_name='' is not valid"),
        ({"outputs_version": "2"}, "outputs_version='2' is not valid"),
        ({"outputs_format": "yaml"}, "format='yaml' is not valid"),
        ({"timeout": 0}, "timeout=0 is not valid"),
    ],
)
def test_deploy_bad_parameters_fail_before_any_aws_call(
    amplify_world, fake_project, kwargs, message, task_context
):
    params = {"project_dir": str(fake_project), "app_id": "d1abcdef", "branch_name": "main", **kwargs}
    with pytest.raises(ValueError, match=message):  # in __init__ for what no template changes
        AmplifyPipelineDeployOperator(task_id="deploy", aws_conn_id="aws_nowhere", **params).execute(
            task_context()
        )
    assert amplify_world.requests() == []


def test_deploy_bad_inputs_name_what_to_fix(
    amplify_world,
    aws_connections,
    production_app,
    staging_app,
    fake_project,
    fake_ampx,
    tmp_path,
    task_context,
):
    amplify_world.bootstrap_cdk(PRODUCTION)
    # missing connection
    with pytest.raises(
        AmpxPreflightError, match="aws_conn_id='aws_nowhere': no Airflow connection with this id"
    ):
        deploy_op(production_app, fake_project, fake_ampx, conn="aws_nowhere").execute(task_context())
    # missing project dir, no backend file
    with pytest.raises(AmpxPreflightError, match="project_dir='.*nowhere' does not exist"):
        deploy_op(production_app, tmp_path / "nowhere", fake_ampx).execute(task_context())
    (tmp_path / "empty").mkdir()
    with pytest.raises(AmpxPreflightError, match=r"has no amplify/backend\.\(ts\|js\|mjs\|cjs\)"):
        deploy_op(production_app, tmp_path / "empty", fake_ampx).execute(task_context())
    # app unknown in the target account (it lives in staging), branch unknown
    with pytest.raises(AmpxPreflightError, match="no such Amplify app in account 222222222222"):
        deploy_op(staging_app, fake_project, fake_ampx).execute(task_context())
    op = deploy_op(production_app, fake_project, fake_ampx)
    op.branch_name = "release/9"
    with pytest.raises(AmpxPreflightError, match=r"branch_name='release/9': app .* has no such branch"):
        op.execute(task_context())


def test_deploy_unsupported_node_fails_before_ampx(
    amplify_world,
    aws_connections,
    production_app,
    fake_project,
    fake_ampx,
    tmp_path,
    task_context,
    monkeypatch,
):
    import os

    from tests.fakes.ampx import write_fake_node

    write_fake_node(tmp_path / "node-bin", "v18.12.0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'node-bin'}{os.pathsep}{os.environ['PATH']}")
    op = deploy_op(production_app, fake_project, fake_ampx, env={"FAKE_AMPX_MODE": "exit"})
    with pytest.raises(AmpxPreflightError, match=r"node v18\.12\.0 .* not supported"):
        op.execute(task_context())


def test_deploy_ampx_failure_names_error_and_resolution(
    amplify_world, aws_connections, production_app, fake_project, fake_ampx, task_context
):
    amplify_world.bootstrap_cdk(PRODUCTION)
    op = deploy_op(production_app, fake_project, fake_ampx, env={"FAKE_AMPX_MODE": "fail"})
    with pytest.raises(AmpxCommandError) as excinfo:
        op.execute(task_context())
    assert excinfo.value.error_name == "BootstrapNotDetectedError"
    assert "Resolution: Run `cdk bootstrap" in str(excinfo.value)


def test_deploy_installs_dependencies_once(
    amplify_world, aws_connections, production_app, fake_project, fake_ampx, task_context
):
    import sys

    amplify_world.bootstrap_cdk(PRODUCTION)
    command = [sys.executable, "-c", "open('installs', 'a').write('x')"]
    for _ in range(2):
        deploy_op(
            production_app, fake_project, fake_ampx, install_dependencies=True, install_command=command
        ).execute(task_context())
    assert (fake_project / "installs").read_text() == "x"


def test_generate_outputs_validates_backend_identification(amplify_world, tmp_path, task_context):
    with pytest.raises(ValueError, match="give both, or stack_name instead"):
        AmplifyGenerateOutputsOperator(task_id="g", out_dir=str(tmp_path), app_id="d1abc").execute(
            task_context()
        )
    with pytest.raises(ValueError, match="give either stack_name or app_id with branch_name"):
        AmplifyGenerateOutputsOperator(
            task_id="g", out_dir=str(tmp_path), app_id="d1abc", branch_name="main", stack_name="amplify-x"
        ).execute(task_context())
    with pytest.raises(ValueError, match="engine='node' is not valid; use one of auto, native, ampx"):
        AmplifyGenerateOutputsOperator(
            task_id="g", out_dir=str(tmp_path), stack_name="s", engine="node"
        ).execute(task_context())
    with pytest.raises(ValueError, match="format='yml' is not valid"):
        AmplifyGenerateOutputsOperator(
            task_id="g", out_dir=str(tmp_path), stack_name="s", format="yml"
        ).execute(task_context())
    assert amplify_world.requests() == []


def test_generate_outputs_with_stand_in_returns_file_and_content(
    amplify_world, aws_connections, fake_ampx, tmp_path, task_context
):
    op = AmplifyGenerateOutputsOperator(
        task_id="g",
        out_dir=str(tmp_path / "out"),
        app_id="d1abcdef",
        branch_name="main",
        aws_conn_id="aws_staging",
        ampx_path=str(fake_ampx),
        env={"FAKE_AMPX_MODE": "ok"},
        engine="ampx",
    )
    result = op.execute(task_context())
    assert result["outputs_file"] == str(tmp_path / "out" / "amplify_outputs.json")
    args = result["outputs"]["custom"]["args"]
    assert args[:6] == ["generate", "outputs", "--app-id", "d1abcdef", "--branch", "main"]
    assert args[-4:] == ["--format", "json", "--outputs-version", "1.5"]
    assert result["stack_name"] == amplify_branch_stack_name("d1abcdef", "main")


# --- with the real CLI -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_ampx():
    path, reason = real_ampx_path()
    if path is None:
        pytest.skip(f"real ampx unavailable: {reason}")
    return path


@pytest.mark.ampx
def test_real_generate_outputs_from_a_stack_in_the_production_account(
    amplify_world, aws_connections, production_app, real_ampx, tmp_path, task_context
):
    create_branch_stack(amplify_world, production_app)
    op = AmplifyGenerateOutputsOperator(
        task_id="g",
        out_dir=str(tmp_path / "out"),
        app_id=production_app["app_id"],
        branch_name="main",
        aws_conn_id=aws_connections["production"],
        ampx_path=str(real_ampx),
        engine="ampx",
    )
    result = op.execute(task_context())
    assert result["outputs"] == EXPECTED_OUTPUTS
    text = (tmp_path / "out" / "amplify_outputs.json").read_text()
    assert text == json.dumps(EXPECTED_OUTPUTS, indent=2)  # JSON.stringify(config, null, 2), no newline
    # the same stack is invisible to the staging account: ampx's own error comes back parsed
    staging = AmplifyGenerateOutputsOperator(
        task_id="g2",
        out_dir=str(tmp_path / "out2"),
        stack_name=result["stack_name"],
        aws_conn_id=aws_connections["staging"],
        ampx_path=str(real_ampx),
        engine="ampx",
    )
    with pytest.raises(AmpxCommandError) as excinfo:
        staging.execute(task_context())
    assert excinfo.value.error_name == "StackDoesNotExistError"


# The tests on the shared sample-app/ directory (ampx writes sample-app/.amplify) are in this module
# only: `make test` runs a module on one pytest-xdist worker (--dist loadfile), so they never overlap.
@pytest.fixture
def sample_app(tmp_path):
    ready, reason = sample_app_ready()
    if not ready:
        pytest.skip(reason)
    shutil.rmtree(SAMPLE_APP / ".amplify", ignore_errors=True)
    yield SAMPLE_APP
    shutil.rmtree(SAMPLE_APP / ".amplify", ignore_errors=True)


@pytest.mark.ampx
def test_real_pipeline_deploy_unbootstrapped_account_fails_with_parsed_bootstrap_error(
    amplify_world, aws_connections, production_app, real_ampx, sample_app, task_context
):
    op = AmplifyPipelineDeployOperator(
        task_id="deploy",
        project_dir=str(sample_app),
        app_id=production_app["app_id"],
        branch_name="main",
        aws_conn_id=aws_connections["production"],
        install_dependencies=False,
        check_project=False,
        check_node=False,
        check_cdk_bootstrap=False,
        check_branch=False,
        check_stack=False,
        timeout=600,
    )
    with pytest.raises(AmpxCommandError) as excinfo:
        op.execute(task_context())
    err = excinfo.value
    assert err.returncode == 1
    assert err.error_name == "BootstrapNotDetectedError"
    assert "cdk bootstrap aws://" in err.resolution
    assert "Options:" not in str(err)
    # the CLI really ran in the production account: it asked for the bootstrap version there
    assert amplify_world.requests(operation="GetParameter", account_id=PRODUCTION)


@pytest.mark.ampx
def test_real_pipeline_deploy_with_preflight_is_stopped_before_the_cli_runs(
    amplify_world, aws_connections, production_app, real_ampx, sample_app, task_context
):
    amplify_world.clear_requests()
    op = AmplifyPipelineDeployOperator(
        task_id="deploy",
        project_dir=str(sample_app),
        app_id=production_app["app_id"],
        branch_name="main",
        aws_conn_id=aws_connections["production"],
        install_dependencies=False,
    )
    start = time.monotonic()
    with pytest.raises(AmpxPreflightError) as excinfo:
        op.execute(task_context())
    assert excinfo.value.check == "cdk_bootstrap"
    assert "npx cdk bootstrap aws://222222222222/us-east-1" in str(excinfo.value)
    assert time.monotonic() - start < 15
    # only the preflight's own calls reached AWS: no S3 asset lookups, no CloudFormation from the CLI
    operations = {r["operation"] for r in amplify_world.requests()}
    assert operations <= {"AssumeRole", "GetCallerIdentity", "GetParameter"}, operations
    assert not (sample_app / ".amplify").exists()


def test_on_kill_ends_the_deploy_process_tree(
    amplify_world, aws_connections, production_app, fake_project, fake_ampx, tmp_path, task_context
):
    import threading
    from pathlib import Path

    amplify_world.bootstrap_cdk(PRODUCTION)
    state = tmp_path / "state"
    state.mkdir()
    op = deploy_op(
        production_app,
        fake_project,
        fake_ampx,
        env={"FAKE_AMPX_MODE": "tree", "FAKE_AMPX_STATE": str(state)},
        kill_grace_seconds=0.5,
    )
    pids: list[int] = []

    def kill_when_started():
        # Airflow calls on_kill from outside the running execute(): do the same from a thread
        deadline = time.time() + 30
        while not (state / "pids").exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        pids.extend(int(p) for p in (state / "pids").read_text().split())
        op.on_kill()

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    with pytest.raises(AmpxCommandError, match="ended by on_kill"):
        op.execute(task_context())
    killer.join(15)
    assert len(pids) == 2
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
