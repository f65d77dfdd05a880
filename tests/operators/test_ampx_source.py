"""AmplifyPipelineDeployOperator with repo_url + ref: checkout, commit in XCom, workspace lifecycle, dependency cache."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from airflow_amplify.ampx.errors import AmpxCommandError
from airflow_amplify.hooks.source import GitAuthenticationError, GitRefNotFoundError
from airflow_amplify.operators.amplify import AmplifyStartJobOperator
from airflow_amplify.operators.ampx import AmplifyPipelineDeployOperator
from tests.fakes.ampx import write_fake_ampx
from tests.fakes.git import GitHttpServer, make_remote

PRODUCTION = "222222222222"
TOKEN = "glpat-operatorT0kenValue"


def install_command(count) -> list[str]:
    """A 0.5 s stand-in install that appends an ``x`` to the file ``count`` each time it runs."""
    return [
        sys.executable,
        "-c",
        "import os, sys, time; time.sleep(0.5); os.makedirs('node_modules/pkg', exist_ok=True); "
        "open('node_modules/pkg/index.js', 'w').write('x'); open(sys.argv[1], 'a').write('x')",
        str(count),
    ]


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    return make_remote(tmp_path_factory.mktemp("remote"))


@pytest.fixture
def fake_ampx(tmp_path):
    """The stand-in ampx, wrapped: in ``ok`` mode it also writes ``amplify_outputs.json`` into
    ``--outputs-out-dir`` (as pipeline-deploy does) with its working directory and arguments."""
    inner = write_fake_ampx(tmp_path / "bin", name="ampx-inner")
    wrapper = tmp_path / "bin" / "ampx"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "if os.environ.get('FAKE_AMPX_MODE', 'ok') == 'ok' and '--outputs-out-dir' in args:\n"
        "    out = args[args.index('--outputs-out-dir') + 1]\n"
        "    os.makedirs(out, exist_ok=True)\n"
        "    with open(os.path.join(out, 'amplify_outputs.json'), 'w') as f:\n"
        "        json.dump({'version': '1.4', 'custom': {'cwd': os.getcwd(), 'args': args}}, f)\n"
        f"os.execv({str(inner)!r}, [{str(inner)!r}, *args])\n"
    )
    wrapper.chmod(0o755)
    return wrapper


@pytest.fixture
def world(amplify_world, aws_connections, production_app):
    amplify_world.bootstrap_cdk(PRODUCTION)
    return amplify_world


def deploy_op(app, fake_ampx, tmp_path, **kwargs):
    kwargs.setdefault("install_dependencies", False)
    kwargs.setdefault("env", {"FAKE_AMPX_MODE": "ok"})
    kwargs.setdefault("workspace_root", str(tmp_path / "workspaces"))
    kwargs.setdefault("cache_dir", str(tmp_path / "cache"))
    return AmplifyPipelineDeployOperator(
        task_id="deploy",
        app_id=app["app_id"],
        branch_name="main",
        aws_conn_id="aws_production",
        ampx_path=str(fake_ampx),
        **kwargs,
    )


@pytest.mark.parametrize(
    ("ref", "label"), [("main", "c4"), ("v1.1", "c3"), ("feature/x", "f1"), ("c2", "c2")]
)
def test_deploy_a_branch_tag_or_commit_returns_the_commit_and_removes_the_workspace(
    world, production_app, remote, fake_ampx, tmp_path, task_context, ref, label
):
    ref = remote.commits["c2"] if ref == "c2" else ref
    result = deploy_op(production_app, fake_ampx, tmp_path, repo_url=remote.url, ref=ref).execute(
        task_context()
    )
    assert result["commit_id"] == remote.commits[label]
    assert result["commit_message"] == remote.subjects[remote.commits[label]]
    assert result["repo_url"] == remote.url and result["ref"] == ref
    # ampx ran in the checkout: the stand-in wrote amplify_outputs.json there, handed on as content
    seen = result["outputs"]["custom"]
    assert seen["args"][:5] == ["pipeline-deploy", "--branch", "main", "--app-id", production_app["app_id"]]
    assert Path(seen["cwd"]).name.startswith("airflow-amplify-src-")
    assert Path(seen["cwd"]).parent == tmp_path / "workspaces"
    assert result["outputs_file"] is None
    assert list((tmp_path / "workspaces").iterdir()) == []
    json.dumps(result)


def test_deploy_subdir_of_a_monorepo_with_outputs_out_dir(
    world, production_app, remote, fake_ampx, tmp_path, task_context
):
    op = deploy_op(
        production_app,
        fake_ampx,
        tmp_path,
        repo_url=remote.url,
        ref="main",
        subdir="apps/web",
        outputs_out_dir=str(tmp_path / "out"),
    )
    result = op.execute(task_context())
    assert result["outputs_file"] == str(tmp_path / "out" / "amplify_outputs.json")
    assert "outputs" not in result
    seen = json.loads(Path(result["outputs_file"]).read_text())["custom"]
    assert Path(seen["cwd"]).parts[-2:] == ("apps", "web")


def test_commit_goes_on_to_start_job(world, production_app, remote, fake_ampx, tmp_path, task_context):
    result = deploy_op(production_app, fake_ampx, tmp_path, repo_url=remote.url, ref="v1.1").execute(
        task_context()
    )
    job = AmplifyStartJobOperator(
        task_id="build",
        app_id=production_app["app_id"],
        branch_name="main",
        aws_conn_id="aws_production",
        commit_id=result["commit_id"],
        commit_message=result["commit_message"],
        wait_for_completion=False,
        deferrable=False,
    ).execute(task_context())
    amplify = world.client("amplify", PRODUCTION)
    summary = amplify.get_job(appId=production_app["app_id"], branchName="main", jobId=job["job_id"])["job"][
        "summary"
    ]
    assert summary["commitId"] == remote.commits["c3"] and summary["commitMessage"] == "Release 1.1"


def test_commit_templates_render_from_xcom():
    """The DAG pattern: AmplifyStartJobOperator's commit fields are templated (XCom pull)."""
    assert {"commit_id", "commit_message"} <= set(AmplifyStartJobOperator.template_fields)
    assert {"repo_url", "ref", "subdir", "git_conn_id"} <= set(AmplifyPipelineDeployOperator.template_fields)


def test_project_dir_in_a_work_tree_reports_its_commit(
    world, production_app, remote, fake_ampx, tmp_path, task_context
):
    from airflow_amplify.hooks.source import AmplifySourceHook

    source = AmplifySourceHook(repo_url=remote.url).checkout("feature/x", workspace=tmp_path / "mine")
    result = deploy_op(production_app, fake_ampx, tmp_path, project_dir=source.project_dir).execute(
        task_context()
    )
    assert result["commit_id"] == remote.commits["f1"] and result["repo_url"] is None
    assert result["outputs_file"] == str(tmp_path / "mine" / "amplify_outputs.json")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project_dir": "/p", "repo_url": "file:///r.git"}, "were both given"),
        ({"project_dir": "/p", "ref": "main"}, "ref='main' is only used with repo_url"),
        ({"project_dir": "/p", "git_conn_id": "g"}, "git_conn_id='g' is only used with repo_url"),
        ({}, "project_dir=None is not valid"),
        ({"repo_url": "https://u:hunter2hunter2@example.com/r.git"}, "has a password or token in the URL"),
        ({"repo_url": "file:///r.git", "ref": "a..b"}, "ref='a..b' is not valid"),
        ({"repo_url": "file:///r.git", "subdir": "../x"}, "subdir='../x' is not valid"),
        ({"repo_url": "file:///r.git", "cache_max_entries": 0}, "cache_max_entries=0 is not valid"),
    ],
)
def test_bad_source_parameters_fail_before_anything(amplify_world, tmp_path, task_context, kwargs, message):
    with pytest.raises(ValueError, match=message) as excinfo:  # in __init__ for what no template changes
        AmplifyPipelineDeployOperator(
            task_id="deploy", app_id="d1abcdef", branch_name="main", aws_conn_id="aws_nowhere", **kwargs
        ).execute(task_context())
    assert "hunter2hunter2" not in str(excinfo.value)
    assert amplify_world.requests() == []


def test_missing_ref_fails_before_ampx_naming_repository_and_ref(
    world, production_app, remote, fake_ampx, tmp_path, task_context
):
    op = deploy_op(production_app, fake_ampx, tmp_path, repo_url=remote.url, ref="release/9")
    with pytest.raises(GitRefNotFoundError, match=rf"ref 'release/9' of {remote.url}"):
        op.execute(task_context())
    assert list((tmp_path / "workspaces").iterdir()) == []


def test_failed_deploy_keeps_the_workspace_only_when_asked(
    world, production_app, remote, fake_ampx, tmp_path, task_context, task_logs
):
    for keep in (False, True):
        op = deploy_op(
            production_app,
            fake_ampx,
            tmp_path,
            repo_url=remote.url,
            ref="main",
            env={"FAKE_AMPX_MODE": "fail"},
            keep_workspace_on_failure=keep,
        )
        with pytest.raises(AmpxCommandError):
            op.execute(task_context())
    kept = list((tmp_path / "workspaces").iterdir())
    assert len(kept) == 1 and (kept[0] / "amplify" / "backend.ts").is_file()
    assert f"Keeping the workspace {kept[0]}" in task_logs()


def test_http_token_stays_out_of_xcom_logs_and_process_list(
    world, production_app, remote, fake_ampx, tmp_path, task_context, task_logs, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_GIT_DEPLOY", json.dumps({"conn_type": "git", "login": "ci", "password": TOKEN})
    )
    with GitHttpServer(remote.path.parent, user="ci", token=TOKEN) as server:
        url = f"{server.url}/{remote.path.name}"
        result = deploy_op(
            production_app, fake_ampx, tmp_path, repo_url=url, ref="main", git_conn_id="git_deploy"
        ).execute(task_context())
        assert result["commit_id"] == remote.commits["c4"]
        assert ("ci", TOKEN) in server.auth_attempts and server.token_in_cmdlines == []
        monkeypatch.setenv(
            "AIRFLOW_CONN_GIT_DEPLOY",
            json.dumps({"conn_type": "git", "login": "ci", "password": "not-it-123"}),
        )
        op = deploy_op(
            production_app, fake_ampx, tmp_path, repo_url=url, ref="main", git_conn_id="git_deploy"
        )
        with pytest.raises(
            GitAuthenticationError, match=rf"ref 'main' of {url}: the remote refused"
        ) as excinfo:
            op.execute(task_context())
    assert TOKEN not in json.dumps(result) and TOKEN not in task_logs()
    assert "not-it-123" not in str(excinfo.value) and "not-it-123" not in task_logs()


def test_second_deploy_on_the_worker_reuses_the_dependency_cache(
    world, production_app, remote, fake_ampx, tmp_path, task_context, monkeypatch, capsys
):
    count = tmp_path / "installs"
    count.write_text("")
    runs = []
    for ref in ("main", "v1.1"):  # two commits, the same lock file
        start = time.monotonic()
        result = deploy_op(
            production_app,
            fake_ampx,
            tmp_path,
            repo_url=remote.url,
            ref=ref,
            install_dependencies=True,
            install_command=install_command(count),
        ).execute(task_context())
        runs.append((result["dependencies"], time.monotonic() - start))
    assert [r["source"] for r, _ in runs] == ["install", "cache"]
    assert count.read_text() == "x"  # the install ran once
    assert runs[1][0]["seconds"] < runs[0][0]["seconds"]
    with capsys.disabled():
        print(
            f"\n[deploy from git] run 1 (install 0.5 s stand-in): {runs[0][1]:.2f} s, deps {runs[0][0]['seconds']:.2f} s;"
            f" run 2 (cache hit): {runs[1][1]:.2f} s, deps {runs[1][0]['seconds']:.2f} s"
        )
    # switched off: the install runs every time
    deploy_op(
        production_app,
        fake_ampx,
        tmp_path,
        repo_url=remote.url,
        ref="main",
        install_dependencies=True,
        install_command=install_command(count),
        dependency_cache=False,
    ).execute(task_context())
    assert count.read_text() == "xx"
    monkeypatch.setenv("AIRFLOW__AMPLIFY__DEPENDENCY_CACHE", "False")
    deploy_op(
        production_app,
        fake_ampx,
        tmp_path,
        repo_url=remote.url,
        ref="main",
        install_dependencies=True,
        install_command=install_command(count),
        dependency_cache=True,
    ).execute(task_context())
    assert count.read_text() == "xxx"
