"""AmplifySourceHook against local remotes: file://, smart HTTP with Basic auth, SSH through a stand-in ssh."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from airflow_amplify.hooks.source import (
    AmplifySourceHook,
    GitAuthenticationError,
    GitRefNotFoundError,
    GitRemoteUnreachableError,
    GitSourceError,
)
from airflow_amplify.validation import redact_url, validate_ref, validate_repo_url, validate_subdir
from tests.fakes.git import GitHttpServer, closed_port, make_remote, write_fake_ssh

TOKEN = "ghp_s3cr3tT0kenValue42"


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    return make_remote(tmp_path_factory.mktemp("remote"))


@pytest.fixture
def workspaces(tmp_path):
    root = tmp_path / "workspaces"
    root.mkdir()
    return root


def git_conn(monkeypatch, conn_id, **fields):
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "git", **fields}))
    return conn_id


def commit_count(path):
    return int(
        subprocess.run(
            ["git", "rev-list", "--count", "HEAD"], cwd=path, capture_output=True, text=True
        ).stdout
    )


@pytest.mark.parametrize(
    ("ref", "label"),
    [
        ("main", "c4"),
        ("feature/x", "f1"),
        ("v1.1", "c3"),
        ("v1.0", "c1"),
        ("refs/heads/main", "c4"),
        (None, "c4"),
    ],
)
def test_checkout_by_branch_or_tag_is_shallow_and_records_the_commit(remote, workspaces, ref, label):
    source = AmplifySourceHook(repo_url=remote.url).checkout(ref, workspace_root=workspaces)
    sha = remote.commits[label]
    assert source.commit_id == sha
    assert source.commit_message == remote.subjects[sha]  # the subject line only
    assert Path(source.project_dir, "version.txt").read_text().strip() == label
    assert commit_count(source.project_dir) == 1  # depth 1: no history
    assert source.commit_time.startswith("20") and source.ref == ref


def test_checkout_by_full_sha_fetches_that_commit_by_id(remote, workspaces, task_logs):
    sha = remote.commits["c2"]  # no branch or tag points at it
    source = AmplifySourceHook(repo_url=remote.url).checkout(sha, workspace_root=workspaces)
    assert source.commit_id == sha and Path(source.project_dir, "version.txt").read_text().strip() == "c2"
    assert commit_count(source.project_dir) == 1
    assert "does not serve" not in task_logs()


def test_checkout_by_sha_falls_back_when_the_server_refuses_fetching_by_sha(
    remote, workspaces, monkeypatch, task_logs
):
    # protocol v0 without uploadpack.allowReachableSHA1InWant: "Server does not allow request for unadvertised object"
    protocol_v0 = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.version", "GIT_CONFIG_VALUE_0": "0"}
    sha = remote.commits["c2"]
    source = AmplifySourceHook(repo_url=remote.url, env=protocol_v0).checkout(sha, workspace_root=workspaces)
    assert source.commit_id == sha and Path(source.project_dir, "version.txt").read_text().strip() == "c2"
    assert "does not serve" in task_logs()


def test_checkout_by_short_sha(remote, workspaces):
    sha = remote.commits["f1"]
    source = AmplifySourceHook(repo_url=remote.url).checkout(sha[:9], workspace_root=workspaces)
    assert source.commit_id == sha and source.commit_message == "Feature work"


def test_subdir_selects_the_app_of_a_monorepo(remote, workspaces):
    source = AmplifySourceHook(repo_url=remote.url).checkout(
        "main", subdir="apps/web", workspace_root=workspaces
    )
    assert source.project_dir == str(Path(source.workspace, "apps", "web"))
    assert Path(source.project_dir, "amplify", "backend.ts").is_file()
    with pytest.raises(GitSourceError, match=r"subdir='apps/web' does not exist in commit") as excinfo:
        AmplifySourceHook(repo_url=remote.url).checkout("v1.0", subdir="apps/web", workspace_root=workspaces)
    assert remote.url in str(excinfo.value) and "'v1.0'" in str(excinfo.value)


@pytest.mark.parametrize("ref", ["no-such-branch", "v9.9", "deadbeef", "0" * 40])
def test_missing_ref_names_repository_and_ref(remote, workspaces, ref):
    with pytest.raises(GitRefNotFoundError) as excinfo:
        AmplifySourceHook(repo_url=remote.url).checkout(ref, workspace_root=workspaces)
    message = str(excinfo.value)
    assert f"ref {ref!r} of {remote.url}" in message and "no such branch, tag or commit" in message.replace(
        "no branch, tag or commit of that name", "no such branch, tag or commit"
    )
    assert list(workspaces.iterdir()) == []  # the failed checkout's workspace is gone


@pytest.mark.parametrize("kind", ["file", "http"])
def test_unreachable_remote_names_repository_and_ref(workspaces, tmp_path, kind):
    url = (
        (tmp_path / "missing.git").as_uri() if kind == "file" else f"http://127.0.0.1:{closed_port()}/app.git"
    )
    with pytest.raises(GitRemoteUnreachableError) as excinfo:
        AmplifySourceHook(repo_url=url).checkout("main", workspace_root=workspaces)
    assert f"ref 'main' of {url}: the remote could not be reached" in str(excinfo.value)


def test_git_timeout_ends_the_fetch_and_says_so(workspaces):
    import socket

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/app.git"
        with pytest.raises(GitRemoteUnreachableError, match=r"did not finish within 1 s"):
            AmplifySourceHook(repo_url=url, timeout=1).checkout("main", workspace_root=workspaces)


# --- HTTPS token auth ------------------------------------------------------------------------------


@pytest.fixture
def http_remote(remote):
    with GitHttpServer(remote.path.parent, user="deploy-bot", token=TOKEN) as server:
        yield server, f"{server.url}/{remote.path.name}"


def test_http_token_from_connection_never_in_argv_logs_or_git_config(
    remote, http_remote, workspaces, monkeypatch, task_logs
):
    server, url = http_remote
    conn = git_conn(monkeypatch, "git_token", login="deploy-bot", password=TOKEN)
    hook = AmplifySourceHook(git_conn_id=conn, repo_url=url)
    source = hook.checkout("v1.1", workspace_root=workspaces)
    assert source.commit_id == remote.commits["c3"] and source.repo_url == url
    assert ("deploy-bot", TOKEN) in server.auth_attempts  # git really sent the connection's token
    assert server.token_in_cmdlines == []  # no process had it on its command line during the fetch
    assert TOKEN not in task_logs()
    assert TOKEN not in json.dumps(source.to_dict())
    assert TOKEN not in Path(source.workspace, ".git", "config").read_text()
    for path in Path(source.workspace, ".git").rglob("*"):
        assert not path.is_file() or TOKEN.encode() not in path.read_bytes(), path


def test_http_token_without_login_uses_a_token_user_name(
    remote, remote_server_any_user, workspaces, monkeypatch
):
    server, url = remote_server_any_user
    conn = git_conn(monkeypatch, "git_token_only", password=TOKEN)
    AmplifySourceHook(git_conn_id=conn, repo_url=url).checkout("main", workspace_root=workspaces)
    assert ("x-access-token", TOKEN) in server.auth_attempts


@pytest.fixture
def remote_server_any_user(remote):
    with GitHttpServer(remote.path.parent, token=TOKEN) as server:
        yield server, f"{server.url}/{remote.path.name}"


def test_http_wrong_token_is_an_authentication_error_without_the_token(
    http_remote, workspaces, monkeypatch, task_logs
):
    server, url = http_remote
    conn = git_conn(monkeypatch, "git_bad", login="deploy-bot", password="wrong-token-value")
    with pytest.raises(GitAuthenticationError) as excinfo:
        AmplifySourceHook(git_conn_id=conn, repo_url=url).checkout("main", workspace_root=workspaces)
    message = str(excinfo.value)
    assert f"ref 'main' of {url}: the remote refused the credentials (git_conn_id='git_bad')" in message
    assert "wrong-token-value" not in message and "wrong-token-value" not in task_logs()
    assert ("deploy-bot", "wrong-token-value") in server.auth_attempts


def test_http_without_credentials_fails_at_once_instead_of_prompting(http_remote, workspaces):
    _server, url = http_remote
    with pytest.raises(GitAuthenticationError, match="no git_conn_id"):
        AmplifySourceHook(repo_url=url, timeout=30).checkout("main", workspace_root=workspaces)


def test_token_in_url_is_refused_without_echoing_it():
    with pytest.raises(ValueError, match="Put the token in an Airflow connection") as excinfo:
        validate_repo_url(f"https://bot:{TOKEN}@github.com/org/app.git")
    assert TOKEN not in str(excinfo.value) and "https://bot:***@github.com/org/app.git" in str(excinfo.value)
    # a bare user info over HTTPS is how tokens are passed (issue #18): redacted and refused too
    assert redact_url(f"https://{TOKEN}@github.com/x.git") == "https://***@github.com/x.git"
    with pytest.raises(ValueError, match="has a password or token in the URL") as bare:
        validate_repo_url(f"https://{TOKEN}@github.com/org/app.git")
    assert TOKEN not in str(bare.value)
    assert validate_repo_url("git@github.com:org/app.git") == "git@github.com:org/app.git"
    assert validate_repo_url("ssh://git@example.com/org/app.git")


def test_connection_checks(monkeypatch, remote, workspaces):
    with pytest.raises(GitSourceError, match="git_conn_id='nope': no such Airflow connection"):
        AmplifySourceHook(git_conn_id="nope", repo_url=remote.url).checkout("main", workspace_root=workspaces)
    monkeypatch.setenv("AIRFLOW_CONN_GIT_AWS", json.dumps({"conn_type": "aws", "login": "a"}))
    with pytest.raises(GitSourceError, match="is of type 'aws'; use a connection of type 'git' or 'generic'"):
        AmplifySourceHook(git_conn_id="git_aws", repo_url=remote.url).checkout(
            "main", workspace_root=workspaces
        )
    # a generic connection whose host is the repository
    monkeypatch.setenv("AIRFLOW_CONN_GIT_GENERIC", json.dumps({"conn_type": "generic", "host": remote.url}))
    source = AmplifySourceHook(git_conn_id="git_generic").checkout("v1.0", workspace_root=workspaces)
    assert source.commit_message == "Initial app"


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (validate_ref, "main..x", "ref='main..x' is not valid"),
        (validate_ref, "--upload-pack=evil", "ref='--upload-pack=evil' is not valid"),
        (validate_ref, "", "ref='' is not valid"),
        (validate_subdir, "../outside", "subdir='../outside' is not valid"),
        (validate_subdir, "/abs", "subdir='/abs' is not valid"),
        (validate_repo_url, "", "repo_url='' is not valid"),
        (validate_repo_url, "ftp://host/x.git", "transport 'ftp' is not supported"),
    ],
)
def test_bad_parameters_name_the_parameter(check, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(value)


# --- SSH key auth ----------------------------------------------------------------------------------

PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAfakefakefake\n-----END OPENSSH PRIVATE KEY-----"


def test_ssh_private_key_is_written_0600_in_a_private_dir_and_deleted(
    remote, workspaces, tmp_path, monkeypatch, task_logs
):
    import hashlib
    import os

    log = tmp_path / "ssh.log"
    write_fake_ssh(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    conn = git_conn(monkeypatch, "git_ssh", extra={"private_key": PRIVATE_KEY, "ssh_port": "2222"})
    url = f"ssh://git@git.example.internal{remote.path}"
    hook = AmplifySourceHook(git_conn_id=conn, repo_url=url, env={"FAKE_SSH_LOG": str(log)})
    source = hook.checkout("feature/x", workspace_root=workspaces)
    assert source.commit_id == remote.commits["f1"]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls, "git did not use ssh"
    for call in calls:
        key = call["key"]
        assert key["mode"] == "0o600" and key["dir_mode"] == "0o700"
        assert key["sha256"] == hashlib.sha256((PRIVATE_KEY + "\n").encode()).hexdigest()
        assert not Path(key["path"]).exists() and not Path(key["path"]).parent.exists()  # deleted afterwards
        argv = " ".join(call["argv"])
        assert "IdentitiesOnly=yes" in argv and "StrictHostKeyChecking=no" in argv and "-p 2222" in argv
        assert "BatchMode=yes" in argv and "git@git.example.internal" in argv
        assert "PRIVATE KEY" not in argv + call["ppid_cmdline"]
    assert "b3BlbnNzaC1rZXktdjEAAAAAfakefakefake" not in task_logs()


def test_ssh_key_file_and_inline_key_are_exclusive(monkeypatch, remote, workspaces):
    conn = git_conn(monkeypatch, "git_both", extra={"private_key": PRIVATE_KEY, "key_file": "/k"})
    with pytest.raises(GitSourceError, match="sets both 'private_key' and 'key_file'"):
        AmplifySourceHook(git_conn_id=conn, repo_url=remote.url).checkout("main", workspace_root=workspaces)


# --- workspace lifecycle ---------------------------------------------------------------------------


def test_checked_out_removes_the_workspace_and_keeps_it_on_failure_when_asked(remote, workspaces):
    hook = AmplifySourceHook(repo_url=remote.url)
    with hook.checked_out("main", workspace_root=workspaces) as source:
        assert Path(source.project_dir, "amplify", "backend.ts").is_file()
    assert not Path(source.workspace).exists()
    with pytest.raises(RuntimeError), hook.checked_out("main", workspace_root=workspaces) as source:
        raise RuntimeError("deploy failed")
    assert not Path(source.workspace).exists()
    with (
        pytest.raises(RuntimeError),
        hook.checked_out("main", workspace_root=workspaces, keep_on_failure=True) as source,
    ):
        raise RuntimeError("deploy failed")
    assert Path(source.workspace, "version.txt").is_file()


def test_process_scan_would_see_a_token_on_a_command_line():
    """Control for the test above: the /proc scan the HTTP server runs does find a token in argv."""
    import sys
    import time

    from tests.fakes.git import processes_containing

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10)", TOKEN])
    try:
        deadline = time.monotonic() + 8  # until the child has exec'd (a loaded machine is slow to)
        while not any(TOKEN in line for line in processes_containing(TOKEN)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(TOKEN in line for line in processes_containing(TOKEN))
    finally:
        child.kill()
        child.wait()
