"""Preview environments for open branches (pull requests), and cleanup of those no longer open.

For every branch in the list (the ``branches`` Param of a manual run, else the Variable
``amplify_preview_branches``), one mapped task each:

1. ``create_preview``: create (or find) the Amplify branch with auto-build off and this
   provider's preview tag; its XCom holds the preview URL (``https://<branch>.<defaultDomain>``);
2. ``deploy_backend``: ``ampx pipeline-deploy`` of that branch, checked out of the repository;
3. ``build_frontend``: a RELEASE build of the branch, waited for in the triggerer.

Every preview this provider created whose branch is no longer listed is torn down
(``teardown_preview``, mapped): its backend stack is deleted (waiting for ``DELETE_COMPLETE``),
then its branch. Branches without the preview tag and the release branch are never touched.
``report`` prints the URLs of the open previews and what was torn down.

Run it on a schedule (every 15 minutes by default) with a Variable that a CI job or a webhook
receiver keeps up to date, or trigger it with ``{"branches": ["feature/login", "fix/header"]}``.

## Configure

| Variable | meaning |
|---|---|
| ``amplify_preview_app_id`` | the Amplify app id |
| ``amplify_preview_repo_url`` | the app's Git repository (for ``pipeline-deploy``) |
| ``amplify_preview_branches`` | JSON list of the open branches, e.g. ``["feature/login"]`` |
| ``amplify_preview_aws_conn_id`` | optional: the AWS connection (default ``aws_default``) |
| ``amplify_preview_git_conn_id`` | optional: the git connection of a private repository |
| ``amplify_preview_release_branch`` | optional: the release branch, never a preview (default ``main``) |
| ``amplify_ampx_path`` | optional: an ``ampx`` executable (default: the project's, else ``npx``) |

Retries, polling and pools come from the deployment's cluster policy (``airflow_local_settings.py``),
as for the other examples; the demo's and the tests' policy is ``demo/settings/airflow_local_settings.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, TriggerRule
from airflow.providers.common.compat.standard.operators import PythonOperator

from airflow_amplify.operators.amplify import AmplifyStartJobOperator
from airflow_amplify.operators.ampx import AmplifyPipelineDeployOperator
from airflow_amplify.operators.preview import AmplifyPreviewBranchOperator, AmplifyPreviewTeardownOperator

AWS_CONN = "{{ var.value.get('amplify_preview_aws_conn_id', 'aws_default') }}"
RELEASE_BRANCH = "{{ var.value.get('amplify_preview_release_branch', 'main') }}"


def _plan(key: str) -> str:
    return "{{ ti.xcom_pull(task_ids='plan')['" + key + "'] }}"


def plan_previews(params: dict | None = None) -> dict[str, Any]:
    """Which previews to create or update, and which to tear down (at run time only)."""
    from airflow.providers.common.compat.sdk import Variable

    from airflow_amplify.hooks.deployment import AmplifyDeploymentHook
    from airflow_amplify.operators.preview import is_preview

    params = params or {}
    wanted = (
        params.get("branches") or Variable.get("amplify_preview_branches", None, deserialize_json=True) or []
    )
    if not isinstance(wanted, list) or not all(isinstance(b, str) and b for b in wanted):
        raise ValueError(f"The preview branches must be a list of branch names; got {wanted!r}.")
    release = Variable.get("amplify_preview_release_branch", "main")
    app_id = Variable.get("amplify_preview_app_id")
    hook = AmplifyDeploymentHook(aws_conn_id=Variable.get("amplify_preview_aws_conn_id", "aws_default"))
    existing = [b["branchName"] for b in hook.list_branches(app_id) if is_preview(b)]
    open_branches = [b for b in dict.fromkeys(wanted) if b != release]
    stale = sorted(set(existing) - set(open_branches))
    print(f"open previews: {open_branches or '-'}; to tear down: {stale or '-'}")
    return {
        "app_id": app_id,
        "repo_url": Variable.get("amplify_preview_repo_url"),
        "git_conn_id": Variable.get("amplify_preview_git_conn_id", "") or "",
        "open": open_branches,
        "deploys": [{"branch_name": b, "ref": b} for b in open_branches],
        "builds": [{"branch_name": b} for b in open_branches],
        "stale": stale,
    }


def pick(plan: dict[str, Any], key: str) -> list[Any]:
    """One list of the plan, as the return value a mapped task can expand over."""
    return plan[key]


def preview_report(ti: Any) -> dict[str, Any]:
    """Print the preview URLs and what was torn down."""

    def results(task_id: str) -> list[dict[str, Any]]:
        value = ti.xcom_pull(task_ids=task_id)  # one mapped result comes alone, several as a list
        values = [value] if isinstance(value, dict) else list(value or [])
        return [v for v in values if v]

    created, torn_down = results("create_preview"), results("teardown_preview")
    for preview in created:
        print(f"preview {preview['branch_name']}: {preview['url']}")
    for gone in torn_down:
        print(f"torn down {gone['branch_name']}: branch {gone['branch']}, stack {gone['stack']}")
    return {
        "previews": {p["branch_name"]: p["url"] for p in created},
        "torn_down": [g["branch_name"] for g in torn_down],
    }


with DAG(
    dag_id="amplify_preview_branches",
    description="A preview environment per open branch, torn down with its backend when the branch is closed",
    doc_md=__doc__,
    schedule=timedelta(minutes=15),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["amplify", "example", "preview"],
    params={
        "branches": Param(
            [],
            type="array",
            uniqueItems=True,
            items={"type": "string", "minLength": 1, "maxLength": 255},
            description="Open branches to preview; empty: the Variable amplify_preview_branches",
        ),
    },
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    },
) as dag:
    plan = PythonOperator(task_id="plan", python_callable=plan_previews, retries=0).output
    # mapped tasks expand over a task's return value: one small task per list of the plan
    lists = {
        key: PythonOperator(
            task_id=f"{key}_list", python_callable=pick, op_kwargs={"plan": plan, "key": key}, retries=0
        ).output
        for key in ("open", "deploys", "builds", "stale")
    }
    create = AmplifyPreviewBranchOperator.partial(
        task_id="create_preview",
        app_id=_plan("app_id"),
        release_branch=RELEASE_BRANCH,
        aws_conn_id=AWS_CONN,
        map_index_template="{{ task.ref }}",
    ).expand(ref=lists["open"])
    deploy = AmplifyPipelineDeployOperator.partial(
        task_id="deploy_backend",
        app_id=_plan("app_id"),
        repo_url=_plan("repo_url"),
        git_conn_id=_plan("git_conn_id"),
        ampx_path="{{ var.value.get('amplify_ampx_path', '') }}",
        aws_conn_id=AWS_CONN,
        map_index_template="{{ task.branch_name }}",
    ).expand_kwargs(lists["deploys"])
    build = AmplifyStartJobOperator.partial(
        task_id="build_frontend",
        app_id=_plan("app_id"),
        job_type="RELEASE",
        job_reason="Airflow preview {{ run_id[:200] }}",
        if_busy="attach",
        deferrable=True,
        waiter_delay=15,
        waiter_max_delay=60,
        aws_conn_id=AWS_CONN,
        map_index_template="{{ task.branch_name }}",
    ).expand_kwargs(lists["builds"])
    teardown = AmplifyPreviewTeardownOperator.partial(
        task_id="teardown_preview",
        app_id=_plan("app_id"),
        release_branch=RELEASE_BRANCH,
        deferrable=True,
        waiter_delay=15,
        aws_conn_id=AWS_CONN,
        map_index_template="{{ task.branch_name }}",
    ).expand(branch_name=lists["stale"])
    report = PythonOperator(
        task_id="report", python_callable=preview_report, trigger_rule=TriggerRule.ALL_DONE
    )
    create >> deploy >> build >> report
    teardown >> report
