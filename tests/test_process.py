"""The one subprocess runner: the allowlisted environment each child really sees (ampx, npm, git), and the runner."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path

import pytest

from airflow_amplify._process import ProcessRunner, child_env, env_name_allowed
from airflow_amplify.hooks.ampx import AmpxHook
from airflow_amplify.hooks.source import AmplifySourceHook, read_commit
from tests.fakes.ampx import write_fake_project
from tests.fakes.git import make_remote

#: What a Celery or Kubernetes worker of Airflow 3 carries in its environment, none of it for a child.
WORKER_SECRETS = {
    "AIRFLOW__CORE__FERNET_KEY": "fernet-key-of-the-worker-0123456789abcdef=",
    "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-secret-of-the-worker",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://airflow:db-password@db/airflow",
    "AIRFLOW__CELERY__BROKER_URL": "redis://:broker-password@redis:6379/0",
    "_AIRFLOW_PROCESS_CONTEXT": "server",
    "SECRET": "an-unrelated-secret-of-the-worker",
    "AWS_ACCESS_KEY_ID": "AKIAWORKEROWNKEY0001",
    "AWS_SECRET_ACCESS_KEY": "worker-own-secret-key",
    "AWS_SESSION_TOKEN": "worker-own-session-token",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/worker",
    "AIRFLOW_CONN_WAREHOUSE": "postgres://user:conn-password@warehouse/db",
    "CI_JOB_TOKEN": "gitlab-job-token",
    "npm_config__authToken": "npm-registry-token",
    "NPM_CONFIG_//registry.example/:_password": "npm-registry-password",
}
#: What the worker has that a child needs.
WORKER_SETTINGS = {
    "HTTPS_PROXY": "http://proxy.internal:3128",
    "no_proxy": "127.0.0.1,localhost",
    "NODE_EXTRA_CA_CERTS": "/etc/ssl/corp-ca.pem",
    "AWS_CA_BUNDLE": "/etc/ssl/corp-ca.pem",
    "npm_config_registry": "http://127.0.0.1:9/",
    "LC_TIME": "C",
    "TZ": "UTC",
}


def write_env_dumper(path: Path, then_exec: str | None = None) -> Path:
    """An executable that appends its argv and real environment (one JSON line) to ``<path>.env.jsonl``."""
    dump = path.parent / f"{path.name}.env.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    tail = f"os.execv({then_exec!r}, [{then_exec!r}, *sys.argv[1:]])\n" if then_exec else ""
    path.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open({str(dump)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}) + '\\n')\n" + tail
    )
    path.chmod(0o755)
    return dump


def read_dumps(dump: Path) -> list[dict]:
    return [json.loads(line) for line in dump.read_text().splitlines()]


@pytest.fixture
def worker_env(monkeypatch, tmp_path):
    """The worker's environment with secrets and settings planted, and a bin directory first on PATH."""
    for name, value in {**WORKER_SECRETS, **WORKER_SETTINGS}.items():
        monkeypatch.setenv(name, value)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def assert_only_allowlisted(env: dict[str, str], set_by_hook: tuple[str, ...] = ()) -> None:
    leaked = sorted(set(WORKER_SECRETS) & set(env) - set(set_by_hook))
    assert leaked == [], f"worker variables reached the child: {leaked}"
    assert not [name for name in env if name.startswith(("AIRFLOW", "_AIRFLOW"))]
    for name, value in WORKER_SECRETS.items():
        assert value not in json.dumps(env), name
    for name, value in WORKER_SETTINGS.items():
        assert env[name] == value, name
    assert env["PATH"] == os.environ["PATH"] and env["HOME"] == os.environ["HOME"]


def test_ampx_child_sees_the_allowlist_and_the_connection_credentials_only(
    worker_env, amplify_world, monkeypatch, tmp_path
):
    conn = amplify_world.aws_connection()
    monkeypatch.setenv("AIRFLOW_CONN_AWS_CHILD", json.dumps(conn))
    ampx = worker_env / "ampx"
    dump = write_env_dumper(ampx)
    project = write_fake_project(tmp_path / "project")
    AmpxHook(aws_conn_id="aws_child", ampx_path=str(ampx), env={"MINE": "1"}).run_ampx(
        ["pipeline-deploy"], project
    )
    (seen,) = read_dumps(dump)
    env = seen["env"]
    assert_only_allowlisted(env, set_by_hook=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    assert env["AWS_ACCESS_KEY_ID"] == conn["login"] and env["AWS_SECRET_ACCESS_KEY"] == conn["password"]
    assert env["AWS_REGION"] == "us-east-1" and env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert "AWS_SESSION_TOKEN" not in env
    assert env["MINE"] == "1" and env["CI"] == "1"


def test_npm_install_child_sees_the_allowlist_and_no_credentials(worker_env, tmp_path):
    dump = write_env_dumper(worker_env / "npm")
    project = write_fake_project(tmp_path / "project")
    AmpxHook(aws_conn_id=None).install_dependencies(project)  # package-lock.json: npm ci
    (seen,) = read_dumps(dump)
    assert seen["argv"] == ["ci"]
    assert_only_allowlisted(seen["env"])
    assert not [name for name in seen["env"] if name.startswith("AWS_") and name != "AWS_CA_BUNDLE"]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_children_see_the_allowlist_only(worker_env, tmp_path):
    remote = make_remote(tmp_path / "remote")  # before the dumper: the fixture's own git runs do not count
    dump = write_env_dumper(worker_env / "git", then_exec=shutil.which("git"))
    source = AmplifySourceHook(repo_url=remote.url).checkout("main", workspace_root=tmp_path / "ws")
    assert read_commit(source.project_dir)[0] == source.commit_id
    runs = read_dumps(dump)
    assert {"init", "fetch", "checkout", "log"} <= {arg for run in runs for arg in run["argv"]}
    for run in runs:
        assert_only_allowlisted(run["env"])
        assert run["env"]["LC_ALL"] == "C"


def test_npm_settings_pass_but_npm_credentials_do_not():
    assert env_name_allowed("npm_config_registry") and env_name_allowed("NPM_CONFIG_CACHE")
    assert env_name_allowed("npm_config_cafile") and env_name_allowed("COREPACK_HOME")
    for name in (
        "npm_config__authToken",
        "npm_config__auth",
        "npm_config_password",
        "NPM_CONFIG__PASSWORD",
        "npm_config_username",
        "npm_config_email",
        "npm_config_key",
        "npm_config_cert",
        "npm_config_otp",
        "NPM_TOKEN",
        "CI_JOB_TOKEN",
        "AWS_ACCESS_KEY_ID",
    ):
        assert not env_name_allowed(name), name


def test_child_env_extra_is_applied_last_and_none_removes():
    env = child_env({"TZ": None, "EXTRA": "1"}, base={"TZ": "UTC", "PATH": "/bin", "SECRET": "s"})
    assert env == {"PATH": "/bin", "EXTRA": "1"}


def test_runner_masks_each_line_and_keeps_stderr_apart(tmp_path):
    script = "import sys; print('token=abc123'); print('oops', file=sys.stderr)"
    run = ProcessRunner(logging.getLogger("test")).run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        mask=lambda s: s.replace("abc123", "***"),
        merge_stderr=False,
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, ["token=***"], ["oops"])


def test_runner_timeout_ends_the_whole_tree(tmp_path):
    marker = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(marker)!r}, 'w').write(str(p.pid))\n"
        "print('started', flush=True); time.sleep(60)\n"
    )
    run = ProcessRunner(logging.getLogger("test"), kill_grace_seconds=0.5).run(
        [sys.executable, "-c", script], cwd=tmp_path, timeout=3
    )
    assert run.timed_out and run.stdout == ["started"]
    grandchild = int(marker.read_text())
    assert (
        not Path(f"/proc/{grandchild}").exists()
        or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split()[2]
    )


def test_a_child_dies_with_the_task_process_that_started_it(tmp_path):
    """A worker SIGKILLed takes its task process along; the child in its own session goes too."""
    import signal
    import subprocess
    import time

    pidfile = tmp_path / "child.pid"
    child_code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    task = tmp_path / "task.py"
    task.write_text(
        "import logging, sys\n"
        "from airflow_amplify._process import ProcessRunner\n"
        f"ProcessRunner(logging.getLogger()).run([sys.executable, '-c', {child_code!r}], cwd={str(tmp_path)!r})\n"
    )
    parent = subprocess.Popen([sys.executable, str(task)])
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text()):
        assert time.monotonic() < deadline and parent.poll() is None, "the child never started"
        time.sleep(0.1)
    child = int(pidfile.read_text())

    def alive(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")

    assert alive(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(child):
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the child outlived the task process that started it")
