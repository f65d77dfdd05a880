"""The example DAGs: they import cleanly without network or connections, and run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parent.parent / "dags"


def test_dags_import_without_errors_connections_or_network(monkeypatch):
    for key in [k for k in os.environ if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]:
        monkeypatch.delenv(key)
    code = (
        "import json, time, socket\n"
        "def refuse(*a, **k): raise RuntimeError('network used while parsing')\n"
        "socket.socket.connect = refuse\n"
        "try:\n    from airflow.dag_processing.dagbag import DagBag\n"
        "except ImportError:\n    from airflow.models.dagbag import DagBag\n"
        "t = time.perf_counter()\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()},"
        " 'dags': sorted(bag.dag_ids), 'seconds': time.perf_counter() - t}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert "amplify_smoke_build" in result["dags"]


def test_smoke_dag_runs_deferrable_end_to_end_with_airflow_dags_test(
    amplify_world, staging_app, tmp_path, airflow_db
):
    amplify_world.script_next_job(staging_app["app_id"], "main", build_seconds=1.0)
    env = {
        **os.environ,
        "AIRFLOW_CONN_AWS_STAGING": json.dumps(amplify_world.aws_connection()),
        "AIRFLOW_VAR_AMPLIFY_SMOKE_APP_ID": staging_app["app_id"],
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    }
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "amplify_smoke_build"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    # The build was waited for by the trigger (aiobotocore), not by the worker (boto3).
    polls = amplify_world.requests(operation="GetJob")
    assert any(p["client"].startswith("aiobotocore") for p in polls), {p["client"] for p in polls}
    (job,) = amplify_world.jobs(app_id=staging_app["app_id"])
    assert job["status"] == "SUCCEED" and amplify_world.count("StartJob") == 1
    if "marking run" in output.lower():
        assert "successful" in output.lower()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_cms_rebuild_one_site_fails_the_others_succeed_and_a_busy_one_is_attached(
    amplify_world, tmp_path, airflow_db
):
    blog = amplify_world.seed_app("blog", ("main",))
    shop = amplify_world.seed_app("shop", ("main",))
    docs = amplify_world.seed_app("docs", ("main",), webhooks=True)
    news = amplify_world.seed_app("news", ("main",))
    # shop fails on every try; news is already building when the DAG starts
    for _ in range(2):
        amplify_world.script_next_job(shop["app_id"], "main", outcome="FAILED", status_reason="CMS API down")
    # long enough to be still running when the DAG (slow to start on a loaded machine) reaches news
    amplify_world.script_next_job(news["app_id"], "main", pending_seconds=0, build_seconds=120)
    amplify_world.client("amplify").start_job(appId=news["app_id"], branchName="main", jobType="RELEASE")
    sites = [
        {"name": "news", "app_id": news["app_id"], "branch_name": "main", "aws_conn_id": "aws_staging"},
        {"name": "blog", "app_id": blog["app_id"], "branch_name": "main", "aws_conn_id": "aws_staging"},
        {"name": "shop", "app_id": shop["app_id"], "branch_name": "main", "aws_conn_id": "aws_staging"},
        {"name": "docs", "webhook_conn_id": "docs_webhook", "aws_conn_id": "aws_staging",
         "allow_custom_webhook_host": True},
    ]  # fmt: skip
    env = {
        **os.environ,
        "AIRFLOW_CONN_AWS_STAGING": json.dumps(amplify_world.aws_connection()),
        "AIRFLOW_CONN_DOCS_WEBHOOK": json.dumps(
            {"conn_type": "amplify_webhook", "password": docs["webhooks"]["main"]["url"]}
        ),
        "AIRFLOW_VAR_AMPLIFY_CMS_SITES": json.dumps(sites),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW_AMPLIFY_EXAMPLE_RETRY_DELAY": "0.5",
        "AIRFLOW_AMPLIFY_EXAMPLE_RETRIES": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "amplify_nightly_cms_rebuild"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert "rebuilt: blog (job 1), docs (job 1)" in output, output[-5000:]
    assert "attached: news (job 1)" in output
    assert "failed: shop" in output
    starts = amplify_world.requests(operation="StartJob")
    # news: only the start that made it busy; shop: one per try; blog: one
    assert sorted(r["app_id"] for r in starts) == sorted(
        [news["app_id"], blog["app_id"], shop["app_id"], shop["app_id"]]
    )
    assert {j["app_id"] for j in amplify_world.jobs() if j["status"] == "SUCCEED"} == {
        blog["app_id"],
        docs["app_id"],
        news["app_id"],
    }


# --- amplify_cross_account_release -------------------------------------------------------------

RELEASE_DAG = "amplify_cross_account_release"


def _release_env(world, tmp_path, staging, production, remote, **extra: str) -> dict[str, str]:
    """Variables, connections and parse-time settings of the release DAG against the world (one retry)."""
    from reliability.harness import release_env  # tests/ is on sys.path: this module has no package

    return release_env(
        world, tmp_path, staging, production, remote, **{"AIRFLOW_AMPLIFY_EXAMPLE_RETRIES": "1", **extra}
    )


def _dags_test(dag_id: str, env: dict[str, str], log: Path, conf: dict | None = None) -> subprocess.Popen:
    """Start ``airflow dags test`` (its output goes to ``log``: a pipe nobody reads would block it)."""
    args = [sys.executable, "-m", "airflow", "dags", "test", dag_id]
    if conf is not None:
        args += ["-c", json.dumps(conf)]
    with log.open("w") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)


def _task_states(dag_id: str) -> dict[str, tuple[str, int]]:
    """task_id -> (state, try_number) of the DAG's latest run, from the metadata database."""
    import sqlite3

    db = sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db")
    (run_id,) = db.execute(
        "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
    ).fetchone()
    rows = db.execute(
        "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
        (dag_id, run_id),
    ).fetchall()
    return {task_id: (state, try_number) for task_id, state, try_number in rows}


def test_release_deploys_the_same_commit_to_both_accounts_and_a_failed_wait_reattaches(
    amplify_world, tmp_path, airflow_db
):
    from airflow_amplify.ampx.project import amplify_branch_stack_name
    from airflow_amplify.testing import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID
    from tests.fakes.git import make_remote

    remote = make_remote(tmp_path / "git")
    staging = amplify_world.seed_app("shop", ("main",), account_id=STAGING_ACCOUNT_ID)
    production = amplify_world.seed_app("shop", ("main",), account_id=PRODUCTION_ACCOUNT_ID)
    amplify_world.script_next_job(staging["app_id"], "main", build_seconds=1.0)
    amplify_world.script_next_job(
        production["app_id"], "main", account_id=PRODUCTION_ACCOUNT_ID, build_seconds=6.0
    )
    env = _release_env(amplify_world, tmp_path, staging, production, remote)
    log = tmp_path / "dags-test.log"
    process = _dags_test(RELEASE_DAG, env, log)
    started = time.monotonic()
    # Once production's build has started, the next GetJob answers "token expired": a non-transient
    # error that fails the waiting task while the build goes on.
    fault = None
    while process.poll() is None and time.monotonic() - started < 240:
        starts = amplify_world.requests(operation="StartJob", account_id=PRODUCTION_ACCOUNT_ID)
        if starts and fault is None:
            fault = amplify_world.inject_fault("403", service="amplify", operations=["GetJob"], count=1)
        time.sleep(0.1)
    process.wait(timeout=60)
    output = log.read_text()
    assert process.returncode == 0, output[-6000:]
    assert fault is not None and amplify_world.faults()[0]["injected"] == 1

    states = _task_states(RELEASE_DAG)
    assert states["production.build_frontend"] == ("success", 2), states
    not_success = {t: s for t, (s, _) in states.items() if s != "success"}
    assert not_success in ({}, {"approve_production": "skipped"}), states  # no approval asked for
    assert "'job_action': 'reattached'" in output  # the report task's line for production
    # One build per account: the retried production task re-attached to the running build.
    (staging_job,) = amplify_world.jobs(app_id=staging["app_id"])
    (production_job,) = amplify_world.jobs(app_id=production["app_id"])
    assert staging_job["status"] == production_job["status"] == "SUCCEED"
    assert amplify_world.count("StartJob", account_id=PRODUCTION_ACCOUNT_ID) == 1
    # The same commit (the head of main) in both accounts: stacks, branch links and builds.
    head = remote.commits["c4"]
    for app, account in ((staging, STAGING_ACCOUNT_ID), (production, PRODUCTION_ACCOUNT_ID)):
        cfn = amplify_world.client("cloudformation", account)
        stack = cfn.describe_stacks(StackName=amplify_branch_stack_name(app["app_id"], "main"))["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        assert outputs["deployedCommit"] == head
        branch = amplify_world.client("amplify", account).get_branch(appId=app["app_id"], branchName="main")
        assert branch["branch"]["backend"]["stackArn"] == stack["StackId"]
    assert staging_job["commit_id"] == production_job["commit_id"] == head
    # staging checked out the ref (main); production was given the commit staging resolved
    assert f"'ref': '{head}'" in output and "'ref': 'main'" in output
    outputs_files = sorted((tmp_path / "outputs").rglob("amplify_outputs.json"))
    assert [p.parent.name for p in outputs_files] == ["production", "staging"]
    assert json.loads(outputs_files[0].read_text())["auth"]["aws_region"] == amplify_world.region


def test_release_of_a_non_release_branch_deploys_the_backend_only(amplify_world, tmp_path, airflow_db):
    from airflow_amplify.ampx.project import amplify_branch_stack_name
    from airflow_amplify.hooks.secrets import amplify_secret_path
    from airflow_amplify.testing import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID
    from tests.fakes.git import make_remote

    remote = make_remote(tmp_path / "git")
    staging = amplify_world.seed_app("shop", ("main", "feature/x"), account_id=STAGING_ACCOUNT_ID)
    production = amplify_world.seed_app("shop", ("main", "feature/x"), account_id=PRODUCTION_ACCOUNT_ID)
    env = _release_env(amplify_world, tmp_path, staging, production, remote)
    # the backend's secrets, from the extra of the stage's secrets connection
    env["AIRFLOW_VAR_AMPLIFY_RELEASE_SECRET_NAMES"] = json.dumps(["STRIPE_KEY"])
    env["AIRFLOW_CONN_AMPLIFY_RELEASE_STAGING_SECRETS"] = json.dumps(
        {"conn_type": "generic", "extra": {"STRIPE_KEY": "sk-release-51f0c2"}}
    )
    log = tmp_path / "dags-test.log"
    process = _dags_test(RELEASE_DAG, env, log, conf={"branch": "feature/x", "stages": ["staging"]})
    process.wait(timeout=240)
    output = log.read_text()
    assert process.returncode == 0, output[-6000:]

    states = {task: state for task, (state, _) in _task_states(RELEASE_DAG).items()}
    assert states["staging.deploy_backend"] == states["staging.generate_outputs"] == "success", states
    assert states["staging.build_frontend"] == "skipped", states  # feature/x is not the release branch
    assert states["production.deploy_backend"] == states["production.build_frontend"] == "skipped", states
    assert amplify_world.count("StartJob") == 0 and amplify_world.jobs() == []
    stack_name = amplify_branch_stack_name(staging["app_id"], "feature/x")
    stack = amplify_world.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["deployedCommit"] == remote.commits[
        "f1"
    ]
    assert amplify_world.client("cloudformation", PRODUCTION_ACCOUNT_ID).describe_stacks()["Stacks"] == []
    assert states["staging.set_secrets"] == "success", states
    secret = amplify_world.client("ssm").get_parameter(
        Name=amplify_secret_path(staging["app_id"], "feature/x", "STRIPE_KEY"), WithDecryption=True
    )["Parameter"]
    assert secret["Type"] == "SecureString" and secret["Value"] == "sk-release-51f0c2"
    assert "sk-release-51f0c2" not in output


def _release_dag():
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag
    bag = DagBag(dag_folder=str(DAGS / f"{RELEASE_DAG}.py"))
    assert bag.import_errors == {}
    return bag.dags[RELEASE_DAG]


@pytest.mark.parametrize(
    "conf",
    [
        {"stages": ["qa"]},
        {"stages": []},
        {"stages": ["staging", "staging"]},
        {"staging_app_id": "not-an-app-id"},
        {"branch": ""},
        {"skip_backend": "yes"},
        {"require_approval": 1},
    ],
    ids=[
        "unknown-stage",
        "no-stage",
        "repeated-stage",
        "bad-app-id",
        "empty-branch",
        "string-bool",
        "int-bool",
    ],
)
def test_release_params_reject_bad_values(conf):
    import copy

    from airflow.exceptions import ParamValidationError

    params = copy.deepcopy(_release_dag().params)
    with pytest.raises(ParamValidationError):
        for key, value in conf.items():
            params[key] = value
        params.validate()


def test_release_params_accept_a_valid_trigger():
    import copy

    params = copy.deepcopy(_release_dag().params)
    for key, value in {
        "stages": ["production"],
        "production_app_id": "d1abcdefgh1234",
        "ref": "v1.1",
    }.items():
        params[key] = value
    resolved = params.validate()
    assert resolved["stages"] == ["production"] and resolved["staging_app_id"] == ""
    assert resolved["branch"] == "main" and resolved["release_branch"] == "main"
    assert resolved["require_approval"] is False and resolved["skip_backend"] is False


def test_release_dag_parses_without_variables_and_has_no_cycles():
    dag = _release_dag()
    assert dag.dag_id == RELEASE_DAG and not dag.catchup
    assert dag.doc_md and "stand-in" in dag.doc_md
    # production starts only after staging: every production task is downstream of staging's last task
    downstream = dag.get_task("staging.stage_done").get_flat_relative_ids(upstream=False)
    assert {t for t in dag.task_ids if t.startswith("production.")} <= downstream
    # every task that talks to AWS retries with exponential backoff
    for task_id in ("deploy_backend", "stack_settled", "generate_outputs", "build_frontend"):
        task = dag.get_task(f"production.{task_id}")
        assert task.retries >= 1 and task.retry_exponential_backoff, task_id
    assert dag.get_task("production.deploy_backend").ref.startswith("{{")
    # no cycles: a topological order covers every task
    assert len(dag.topological_sort()) == len(dag.task_ids)


def test_release_approval_step_exists_only_where_airflow_has_hitl_operators():
    dag = _release_dag()
    try:
        from airflow.providers.standard.operators.hitl import ApprovalOperator  # noqa: F401
    except ImportError:
        assert "approve_production" not in dag.task_ids
        assert "production.backend_enabled" in dag.get_task("approval_check").downstream_task_ids
        return
    approve = dag.get_task("approve_production")
    assert approve.ignore_downstream_trigger_rules  # a rejection skips all of production
    assert "production.backend_enabled" in approve.downstream_task_ids


def test_release_failure_notifier_publishes_only_when_a_topic_is_configured(amplify_world, aws_connections):
    import importlib.util

    spec = importlib.util.spec_from_file_location("release_dag", DAGS / f"{RELEASE_DAG}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.notify_failure.target_arn == "{{ var.value.get('amplify_release_sns_topic_arn', '') }}"

    topic = amplify_world.client("sns").create_topic(Name="amplify-releases")["TopicArn"]
    unset = module.OptionalSnsNotifier(aws_conn_id="aws_staging", target_arn="", message="failed")
    unset.notify({})
    assert amplify_world.count("Publish") == 0
    configured = module.OptionalSnsNotifier(aws_conn_id="aws_staging", target_arn=topic, message="failed")
    configured.notify({})
    (publish,) = amplify_world.requests(operation="Publish")
    assert publish["status"] == 200 and publish["account_id"] == "123456789012"


def test_previews_are_created_for_listed_branches_and_unlisted_ones_torn_down(
    amplify_world, tmp_path, airflow_db
):
    """amplify_preview_branches with `airflow dags test`: feature/x gets a preview (branch, backend,
    build, URL); the preview pr/old, no longer listed, loses its stack and branch; main is untouched."""
    from airflow_amplify.ampx.project import amplify_branch_stack_name
    from airflow_amplify.operators.preview import PREVIEW_TAG
    from airflow_amplify.testing import STAGING_ACCOUNT_ID
    from tests.fakes.git import make_remote

    remote = make_remote(tmp_path / "git")
    app = amplify_world.seed_app("shop", ("main",), account_id=STAGING_ACCOUNT_ID)
    app_id = app["app_id"]
    amplify = amplify_world.client("amplify")
    amplify.create_branch(
        appId=app_id, branchName="pr/old", enableAutoBuild=False, tags={PREVIEW_TAG: "true"}
    )
    cfn = amplify_world.client("cloudformation")
    old_stack = cfn.create_stack(
        StackName=amplify_branch_stack_name(app_id, "pr/old"),
        TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
        Tags=[{"Key": "amplify:app-id", "Value": app_id}, {"Key": "amplify:branch-name", "Value": "pr/old"}],
    )["StackId"]
    env = _release_env(amplify_world, tmp_path, app, app, remote)
    env.update(
        {
            "AIRFLOW_VAR_AMPLIFY_PREVIEW_APP_ID": app_id,
            "AIRFLOW_VAR_AMPLIFY_PREVIEW_REPO_URL": remote.url,
            "AIRFLOW_VAR_AMPLIFY_PREVIEW_AWS_CONN_ID": "aws_staging",
            "AIRFLOW_VAR_AMPLIFY_PREVIEW_BRANCHES": json.dumps(["feature/x", "main"]),
        }
    )
    log = tmp_path / "dags-test.log"
    process = _dags_test("amplify_preview_branches", env, log)
    process.wait(timeout=300)
    output = log.read_text()
    assert process.returncode == 0, output[-6000:]

    states = {task: state for task, (state, _) in _task_states("amplify_preview_branches").items()}
    assert set(states.values()) == {"success"}, states
    branch = amplify.get_branch(appId=app_id, branchName="feature/x")["branch"]
    assert branch["tags"] == {PREVIEW_TAG: "true"} and branch["enableAutoBuild"] is False
    stack = cfn.describe_stacks(StackName=amplify_branch_stack_name(app_id, "feature/x"))["Stacks"][0]
    assert branch["backend"]["stackArn"] == stack["StackId"]
    (job,) = amplify_world.jobs(app_id=app_id)
    assert job["branch_name"] == "feature/x" and job["status"] == "SUCCEED"
    assert f"preview feature/x: https://feature-x.{app_id}.amplifyapp.com" in output
    # the unlisted preview: stack DELETE_COMPLETE, branch gone; main untouched
    assert cfn.describe_stacks(StackName=old_stack)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert {b["branchName"] for b in amplify.list_branches(appId=app_id)["branches"]} == {"main", "feature/x"}
