"""AmpxHook: finding ampx, installing, environment, streaming, timeouts, process-tree kill, errors, preflight."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from airflow_amplify.ampx.errors import (
    AmpxCommandError,
    AmpxPreflightError,
    AmpxTimeoutError,
    parse_ampx_error,
)
from airflow_amplify.ampx.project import LOCK_HASH_MARKER, node_version_supported, parse_node_version
from airflow_amplify.hooks.ampx import AmpxHook
from airflow_amplify.outputs.versions import outputs_file_name
from tests.fakes.ampx import (
    SAMPLE_APP,
    write_fake_ampx,
    write_fake_node,
    write_fake_project,
)

#: A secret that no other test registers with the masker, so masking is seen, not assumed.
SECRET_KEY = "ampxTestSecretKey0123456789abcdefEXAMPLE"


@pytest.fixture
def ampx_conn(amplify_world, monkeypatch) -> str:
    """A connection into the world's staging account with a distinctive secret key."""
    conn = amplify_world.aws_connection()
    conn["login"] = "AKIAAMPXTESTKEY00001"
    conn["password"] = SECRET_KEY
    monkeypatch.setenv("AIRFLOW_CONN_AWS_AMPX", json.dumps(conn))
    return "aws_ampx"


@pytest.fixture
def fake(tmp_path):
    """A project directory and a stand-in ampx with a state directory."""
    project = write_fake_project(tmp_path / "project")
    state = tmp_path / "state"
    state.mkdir()
    return {"project": project, "ampx": write_fake_ampx(tmp_path / "bin"), "state": state}


def make_hook(conn_id, fake, mode, log_records=None, **env):
    hook = AmpxHook(
        aws_conn_id=conn_id,
        ampx_path=str(fake["ampx"]),
        env={"FAKE_AMPX_MODE": mode, "FAKE_AMPX_STATE": str(fake["state"]), **env},
        kill_grace_seconds=0.5,
    )
    return log_records.attach(hook) if log_records is not None else hook


class Recorder(logging.Handler):
    """Records (time received, message) of every log record."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[tuple[float, str]] = []

    def emit(self, record):
        self.records.append((time.time(), record.getMessage()))

    @property
    def messages(self) -> list[str]:
        return [m for _, m in self.records]


@pytest.fixture
def log_records():
    """Records what hooks attached with ``log_records.attach(hook)`` log (stdlib or structlog lines alike)."""
    recorder = Recorder()
    logger = logging.getLogger(f"test.ampx.{id(recorder)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(recorder)

    def attach(hook):
        hook._log = logger
        return hook

    recorder.attach = attach
    return recorder


def pids_alive(pids):
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            alive.append(pid)
    return alive


# --- parsing ------------------------------------------------------------------------------------


def test_parse_drops_help_text_and_takes_error_cause_and_resolution():
    output = [
        "ampx pipeline-deploy",
        "Options:",
        "      --branch  Name of the git branch being deployed  [string] [required]",
        "[not an error] looks like one but has spaces",
        "",
        "[BootstrapNotDetectedError] This AWS account and region has not been bootstrapped.",
        "  ∟ Caused by: [ToolkitError] Is account 123456789012 bootstrapped?",
        "Resolution: Run `cdk bootstrap aws://{YOUR_ACCOUNT_ID}/{YOUR_REGION}` locally to resolve this.",
        "",
        "Error: stack trace printed with --debug",
    ]
    info = parse_ampx_error(output)
    assert info.name == "BootstrapNotDetectedError"
    assert info.message == "This AWS account and region has not been bootstrapped."
    assert info.caused_by == ["[ToolkitError] Is account 123456789012 bootstrapped?"]
    assert info.resolution.startswith("Run `cdk bootstrap aws://")
    assert info.details is None


def test_parse_multiline_message_details_and_colour_codes():
    output = (
        "\x1b[31m\x1b[1m[CloudFormationDeploymentError]\x1b[22m\x1b[39m The CloudFormation deployment failed.\n"
        "Stack amplify-d1-main-branch-abc is in UPDATE_IN_PROGRESS state\n"
        "\x1b[32mResolution\x1b[39m: Wait for the running deployment to finish.\n"
        "Details: UPDATE_IN_PROGRESS\n"
    )
    info = parse_ampx_error(output)
    assert info.name == "CloudFormationDeploymentError"
    assert "UPDATE_IN_PROGRESS state" in info.message
    assert info.resolution == "Wait for the running deployment to finish."
    assert info.details == "UPDATE_IN_PROGRESS"


def test_parse_returns_none_without_an_error_block():
    assert parse_ampx_error("npm ERR! something\nplain failure\n") is None


@pytest.mark.parametrize(
    ("text", "supported"),
    [
        ("v18.18.2", False),
        ("v18.19.0", True),
        ("v20.5.1", False),
        ("v20.6.0", True),
        ("v21.7.3", False),
        ("v22.0.0", True),
        ("v24.1.0", True),
        ("v16.20.2", False),
    ],
)
def test_node_version_range(text, supported):
    assert node_version_supported(parse_node_version(text)) is supported


def test_outputs_file_names():
    assert outputs_file_name("1.4", "json") == "amplify_outputs.json"
    assert outputs_file_name("1.4", "json-mobile") == "amplify_outputs.json"
    assert outputs_file_name("1.4", "dart") == "amplify_outputs.dart"
    assert outputs_file_name("0", "mjs") == "amplifyconfiguration.mjs"


# --- finding ampx -------------------------------------------------------------------------------


def test_project_ampx_is_preferred_to_npx(tmp_path):
    project = write_fake_project(tmp_path)
    hook = AmpxHook(aws_conn_id=None)
    argv, direct = hook.ampx_command(project)
    assert argv == [
        "npx",
        "--yes",
        "--package=@aws-amplify/backend-cli@1.10.0",
        "--package=tsx@4",
        "ampx",
    ]
    assert direct is False
    local = write_fake_ampx(project / "node_modules" / ".bin")
    assert hook.ampx_command(project) == ([str(local)], True)


def test_ampx_version_is_overridable_and_ampx_path_wins(tmp_path):
    project = write_fake_project(tmp_path / "p")
    write_fake_ampx(project / "node_modules" / ".bin")
    assert AmpxHook(aws_conn_id=None, ampx_version="1.9.0").ampx_command(tmp_path)[0][2] == (
        "--package=@aws-amplify/backend-cli@1.9.0"
    )
    explicit = write_fake_ampx(tmp_path / "elsewhere")
    assert AmpxHook(aws_conn_id=None, ampx_path=str(explicit)).ampx_command(project) == (
        [str(explicit)],
        True,
    )
    with pytest.raises(AmpxPreflightError, match="ampx_path='/nonexistent/ampx' is not an executable"):
        AmpxHook(aws_conn_id=None, ampx_path="/nonexistent/ampx").ampx_command(project)


# --- environment ----------------------------------------------------------------------------------


def test_env_defaults_overrides_and_no_worker_identity(ampx_conn, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "worker-own-token")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/worker")
    monkeypatch.setenv("AIRFLOW_CONN_SOMETHING_ELSE", "postgres://user:pw@host/db")
    hook = AmpxHook(aws_conn_id=ampx_conn, env={"NO_COLOR": None, "CI": "true", "EXTRA": "1"})
    env = hook.build_env(direct_ampx=True)
    assert env["CI"] == "true" and env["EXTRA"] == "1" and "NO_COLOR" not in env
    assert env["AMPLIFY_DISABLE_TELEMETRY"] == "1"
    assert env["npm_config_user_agent"].startswith("npm/")
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAAMPXTESTKEY00001"
    assert env["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert "AWS_SESSION_TOKEN" not in env  # the worker's own token must not pair with the connection's key
    assert "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" not in env
    assert not [k for k in env if k.startswith("AIRFLOW_CONN_")]
    assert "npm_config_user_agent" not in hook.build_env(direct_ampx=False)
    assert "AWS_SECRET_ACCESS_KEY" not in hook.build_env(with_credentials=False)


def test_env_carries_assumed_role_session_credentials(aws_connections):
    env = AmpxHook(aws_conn_id=aws_connections["production"]).build_env()
    assert env["AWS_SESSION_TOKEN"]
    assert env["AWS_ACCESS_KEY_ID"] != "testing"
    import boto3

    sts = boto3.client(
        "sts",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    assert sts.get_caller_identity()["Account"] == "222222222222"


def test_ampx_receives_credentials_only_in_env_and_secrets_are_masked(aws_connections, fake, log_records):
    hook = make_hook(aws_connections["production"], fake, "env", log_records)
    errors: list[BaseException] = []

    def run():
        try:
            hook.run_ampx(
                ["pipeline-deploy", "--branch", "main", "--app-id", "d1"], fake["project"], timeout=30
            )
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    env_file = fake["state"] / "env.json"
    deadline = time.time() + 15
    while not env_file.exists() and time.time() < deadline:
        time.sleep(0.05)
    seen = json.loads(env_file.read_text())
    pid = seen["pid"]
    # read the running process's command line and environment from /proc while it is alive
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    proc_env = Path(f"/proc/{pid}/environ").read_bytes().decode()
    (fake["state"] / "release").touch()
    thread.join(30)
    assert not errors, errors

    secret, token = seen["env"]["AWS_SECRET_ACCESS_KEY"], seen["env"]["AWS_SESSION_TOKEN"]
    assert secret and token
    assert f"AWS_SECRET_ACCESS_KEY={secret}" in proc_env
    assert secret not in cmdline and token not in cmdline
    assert seen["argv"][1:] == ["pipeline-deploy", "--branch", "main", "--app-id", "d1"]
    assert seen["env"]["CI"] == "1" and seen["env"]["NO_COLOR"] == "1"
    assert seen["env"]["AMPLIFY_DISABLE_TELEMETRY"] == "1"
    assert seen["env"]["npm_config_user_agent"].startswith("npm/")
    logged = "\n".join(log_records.messages)
    assert "secret key is ***" in logged
    assert "session token is ***" in logged
    assert secret not in logged and token not in logged


# --- streaming, exit codes, timeouts, kill ----------------------------------------------------------


def test_output_is_streamed_line_by_line_in_order(ampx_conn, fake, log_records):
    result = make_hook(ampx_conn, fake, "stream", log_records).run_ampx(
        ["generate", "outputs"], fake["project"]
    )
    lines = [line for line in result.output]
    assert [line.split()[0] + line.split()[1] for line in lines] == [
        "out0",
        "err0",
        "out1",
        "err1",
        "out2",
        "err2",
    ]
    # each stdout line reached the log while the CLI was still running, not at the end
    received = {m: t for t, m in log_records.records}
    for line in lines:
        if line.startswith("out"):
            printed_at = float(line.split()[2])
            assert received[line] - printed_at < 0.25, (line, received[line] - printed_at)
    assert result.returncode == 0 and result.duration >= 0.8


def test_failure_is_parsed_into_error_name_and_resolution(ampx_conn, fake, log_records):
    hook = make_hook(ampx_conn, fake, "fail", log_records)
    with pytest.raises(AmpxCommandError) as excinfo:
        hook.run_ampx(["pipeline-deploy", "--branch", "main", "--app-id", "d1"], fake["project"])
    err = excinfo.value
    assert err.returncode == 1
    assert err.error_name == "BootstrapNotDetectedError"
    assert err.resolution.startswith("Run `cdk bootstrap")
    assert "[BootstrapNotDetectedError] This AWS account and region has not been bootstrapped." in str(err)
    assert "Caused by: [ToolkitError] Is account 123456789012 bootstrapped?" in str(err)
    assert "Options:" not in str(err)  # the help text stays in the log only
    assert any("Options:" in m for m in log_records.messages)


def test_nonzero_exit_without_error_block_reports_exit_code_and_tail(ampx_conn, fake):
    with pytest.raises(AmpxCommandError, match="exit code 3") as excinfo:
        make_hook(ampx_conn, fake, "exit", FAKE_AMPX_EXIT="3").run_ampx(["x"], fake["project"])
    assert excinfo.value.returncode == 3 and excinfo.value.error_name is None
    with pytest.raises(AmpxCommandError, match="AMPLIFY_DISABLE_TELEMETRY"):
        make_hook(ampx_conn, fake, "exit", FAKE_AMPX_EXIT="13").run_ampx(["x"], fake["project"])


def test_timeout_ends_the_whole_process_tree(ampx_conn, fake):
    hook = make_hook(ampx_conn, fake, "tree")
    start = time.monotonic()
    with pytest.raises(AmpxTimeoutError, match="timed out after 2"):
        hook.run_ampx(["pipeline-deploy"], fake["project"], timeout=2)
    elapsed = time.monotonic() - start
    child, grandchild = (int(p) for p in (fake["state"] / "pids").read_text().split())
    assert pids_alive([child, grandchild]) == []  # the grandchild ignored SIGTERM: SIGKILL got it
    assert elapsed < 6


def test_terminate_from_on_kill_ends_the_tree(ampx_conn, fake):
    hook = make_hook(ampx_conn, fake, "tree")
    errors: list[BaseException] = []

    def run():
        try:
            hook.run_ampx(["pipeline-deploy"], fake["project"], timeout=60)
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    pids_file = fake["state"] / "pids"
    deadline = time.time() + 15
    while not pids_file.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    pids = [int(p) for p in pids_file.read_text().split()]
    assert pids_alive(pids) == pids
    hook.terminate()
    thread.join(15)
    assert not thread.is_alive()
    assert pids_alive(pids) == []
    assert isinstance(errors[0], AmpxCommandError) and "ended by on_kill" in str(errors[0])


# --- dependency install -----------------------------------------------------------------------------


def test_install_runs_once_per_lockfile_content(tmp_path, log_records):
    project = write_fake_project(tmp_path)
    counter = project / "installs"
    command = [
        sys.executable,
        "-c",
        "import os; os.makedirs('node_modules', exist_ok=True); open('installs', 'a').write('x')",
    ]
    hook = log_records.attach(AmpxHook(aws_conn_id=None))
    assert hook.install_dependencies(project, command=command) is True
    assert (project / "node_modules" / LOCK_HASH_MARKER).is_file()
    assert hook.install_dependencies(project, command=command) is False
    assert counter.read_text() == "x"
    (project / "package-lock.json").write_text('{"name": "fake", "lockfileVersion": 3, "changed": true}\n')
    assert hook.install_dependencies(project, command=command) is True
    assert counter.read_text() == "xx"
    assert hook.install_dependencies(project, command=command, force=True) is True
    assert any("skipping" in m for m in log_records.messages)


def test_install_failure_raises_with_the_output(tmp_path):
    project = write_fake_project(tmp_path)
    with pytest.raises(AmpxCommandError, match="exit code 7"):
        AmpxHook(aws_conn_id=None).install_dependencies(
            project, command=[sys.executable, "-c", "print('npm ERR! boom'); raise SystemExit(7)"]
        )
    assert not (project / "node_modules" / LOCK_HASH_MARKER).exists()


def test_install_picks_npm_ci_for_package_lock(tmp_path, monkeypatch):
    project = write_fake_project(tmp_path / "p")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/npm-args\nmkdir -p node_modules\n')
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    AmpxHook(aws_conn_id=None).install_dependencies(project)
    assert (tmp_path / "npm-args").read_text().strip() == "ci"


# --- preflight ------------------------------------------------------------------------------------


def test_check_project_errors_name_what_to_fix(tmp_path):
    hook = AmpxHook(aws_conn_id=None)
    with pytest.raises(AmpxPreflightError, match="project_dir='.*missing' does not exist"):
        hook.check_project(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AmpxPreflightError, match=r"has no amplify/backend\.\(ts\|js\|mjs\|cjs\)"):
        hook.check_project(tmp_path / "empty")
    project = write_fake_project(tmp_path / "p", backend="backend.mjs")
    assert hook.check_project(project).name == "backend.mjs"
    (project / "package-lock.json").unlink()
    with pytest.raises(AmpxPreflightError, match="has no lock file"):
        hook.check_project(project)
    assert hook.check_project(project, require_lockfile=False).name == "backend.mjs"


def test_sample_app_passes_the_project_check():
    assert AmpxHook(aws_conn_id=None).check_project(SAMPLE_APP).name == "backend.ts"


def test_unsupported_node_on_path_is_refused(tmp_path, monkeypatch):
    write_fake_node(tmp_path, "v20.5.1")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    hook = AmpxHook(aws_conn_id=None)
    with pytest.raises(
        AmpxPreflightError, match=r"node v20\.5\.1 .* not supported .*\^18\.19 \|\| \^20\.6 \|\| >=22"
    ):
        hook.check_node()
    write_fake_node(tmp_path, "v22.11.0")
    assert hook.check_node() == "v22.11.0"


def test_missing_node_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AmpxPreflightError, match="node was not found on PATH"):
        AmpxHook(aws_conn_id=None).check_node()


def test_missing_connection_is_refused(amplify_world):
    with pytest.raises(
        AmpxPreflightError, match="aws_conn_id='aws_nowhere': no Airflow connection with this id"
    ):
        AmpxHook(aws_conn_id="aws_nowhere").check_connection()


def test_cdk_bootstrap_check_names_account_region_and_command(amplify_world, aws_connections):
    hook = AmpxHook(aws_conn_id=aws_connections["production"])
    with pytest.raises(AmpxPreflightError) as excinfo:
        hook.check_cdk_bootstrap()
    message = str(excinfo.value)
    assert "account 222222222222 region us-east-1 is not CDK-bootstrapped" in message
    assert "npx cdk bootstrap aws://222222222222/us-east-1" in message
    amplify_world.bootstrap_cdk("222222222222", version=5)
    with pytest.raises(AmpxPreflightError, match="version '5', ampx needs >= 6"):
        AmpxHook(aws_conn_id=aws_connections["production"]).check_cdk_bootstrap()
    amplify_world.bootstrap_cdk("222222222222", version=21)
    assert AmpxHook(aws_conn_id=aws_connections["production"]).check_cdk_bootstrap() == 21
    # bootstrapping another account does not count
    with pytest.raises(AmpxPreflightError, match="account 123456789012"):
        AmpxHook(aws_conn_id=aws_connections["staging"]).check_cdk_bootstrap()


def test_branch_check_finds_app_and_branch_in_the_target_account(
    aws_connections, staging_app, production_app
):
    prod = AmpxHook(aws_conn_id=aws_connections["production"])
    assert prod.check_branch(production_app["app_id"], "feature/x")["branchName"] == "feature/x"
    with pytest.raises(AmpxPreflightError, match=r"branch_name='nope': app .* has no such branch"):
        prod.check_branch(production_app["app_id"], "nope")
    # the staging app does not exist in the production account
    with pytest.raises(AmpxPreflightError, match=r"app_id='.*': no such Amplify app in account 222222222222"):
        prod.check_branch(staging_app["app_id"], "main")
