"""Release an Amplify Gen 2 app to staging (one AWS account), then to production (another account).

The trunk-based, cross-account pipeline of the Amplify docs ("Cross-account deployments"), done the
Airflow way. For each stage, in order, staging then production:

1. ``backend_enabled``: skip the backend when the stage is not selected or ``skip_backend`` is set;
2. ``deploy_backend``: ``ampx pipeline-deploy`` of the release ref, checked out of the app's Git
   repository (preflight: project, Node, CDK bootstrap, app and branch, stack not busy);
3. ``stack_settled``: wait (deferrable) for the branch stack to reach a settled state;
4. ``generate_outputs``: write ``amplify_outputs.json`` (engine ``auto``: native Python, ampx if needed);
5. ``frontend_enabled``: build the frontend only for the release branch (``release_branch``,
   default ``main``), as the docs' ``if [ $AWS_BRANCH = "main" ]`` does; other branches deploy the
   backend only;
6. ``build_frontend``: StartJob with the deployed commit's id and message, waited for in the
   triggerer. A retried try re-attaches to the build its earlier try started: no second build.

Production starts only after every staging task succeeded (or was skipped because it was not
wanted), and deploys the **same commit**: staging checks out ``ref`` once, and production deploys
the commit SHA staging resolved (its ``deploy_backend`` XCom ``commit_id``), not ``ref`` again. On
Airflow 3.1+ an optional approval step (human-in-the-loop ``ApprovalOperator``) sits before
production: trigger with ``require_approval=true``. Rejecting skips production. On Airflow 2 there is
no such operator: the DAG parses and runs the same, and ``require_approval=true`` fails clearly.

## Configure

Connections (one per stage; the app, its branch, its secrets and the CDK bootstrap must exist in
each account):

- ``aws_staging``: the staging account, direct credentials or the worker's role.
- ``aws_production``: the production account, an assume-role connection (extra ``role_arn``); the
  role needs ``AmplifyBackendDeployFullAccess`` plus the permissions the README lists.
- optional: a ``git`` connection with the repository's token or SSH key (Variable ``amplify_release_git_conn_id``).

Variables (read at run time only, never while the DAG file is parsed):

| Variable | meaning |
|---|---|
| ``amplify_release_repo_url`` | the app's Git repository (``https://``, ``ssh://``, ``git@host:path``, ``file://``) |
| ``amplify_release_staging_app_id`` | the Amplify app id in the staging account |
| ``amplify_release_production_app_id`` | the Amplify app id in the production account |
| ``amplify_release_git_conn_id`` | optional: the git connection for a private repository |
| ``amplify_release_outputs_dir`` | optional: where ``amplify_outputs.json`` files go (default ``/tmp/airflow-amplify-release``) |
| ``amplify_release_sns_topic_arn`` | optional: SNS topic for failure notifications (none when unset) |
| ``amplify_release_sns_conn_id`` | optional: AWS connection used to publish them (default ``aws_staging``) |
| ``amplify_ampx_path`` | optional: an ``ampx`` executable (default: the project's, else ``npx``) |

Params of a manual trigger override the Variables: ``staging_app_id`` / ``production_app_id``
(``""`` = use the Variable), ``branch`` (the Amplify branch and default ref), ``ref`` (a branch,
tag or commit to release; ``""`` = the branch's head), ``release_branch``, ``stages``,
``skip_backend``, ``skip_frontend``, ``require_approval``. They are checked against their JSON
schema when the run is triggered.

Failure notification: every task's ``on_failure_callback`` is the amazon provider's
``SnsNotifier``; its topic is the template ``{{ var.value.get('amplify_release_sns_topic_arn', '') }}``,
rendered when a task fails. With the Variable unset nothing is published (the task log says so).

Concurrency: one ``pipeline-deploy`` per app and branch at a time. Give the deploy tasks a one-slot
pool per stage (``airflow pools set amplify-release-production 1 "..."``) and name it in the
environment of the scheduler and workers, read when the file is parsed:
``AIRFLOW_AMPLIFY_RELEASE_STAGING_POOL`` / ``AIRFLOW_AMPLIFY_RELEASE_PRODUCTION_POOL``
(default ``default_pool``).

Also read at parse time from the environment (no database or network needed):
``AIRFLOW_AMPLIFY_EXAMPLE_RETRIES`` / ``AIRFLOW_AMPLIFY_EXAMPLE_RETRY_DELAY`` (retry pacing; backoff is
exponential), ``AIRFLOW_AMPLIFY_EXAMPLE_POLL_INTERVAL`` (seconds between status polls, default 15),
``AIRFLOW_AMPLIFY_RELEASE_INSTALL_DEPENDENCIES`` (``false`` skips ``npm ci`` before the deploy: only
for the local demo, whose ``ampx`` is a **stand-in** that needs no ``node_modules``).

The demo (``make demo``) runs this DAG against a local AWS world (moto + an Amplify emulator) with a
**stand-in ampx** (``airflow_amplify.testing.ampx_world``) that creates the branch stack with boto3:
a real ``pipeline-deploy`` needs a real AWS account.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.amazon.aws.notifications.sns import SnsNotifier
from airflow.providers.common.compat.sdk import (
    DAG,
    AirflowOptionalProviderFeatureException,
    Param,
    TaskGroup,
    TriggerRule,
)
from airflow.providers.common.compat.standard.operators import PythonOperator, ShortCircuitOperator

from airflow_amplify.operators.amplify import AmplifyStartJobOperator
from airflow_amplify.operators.ampx import AmplifyGenerateOutputsOperator, AmplifyPipelineDeployOperator
from airflow_amplify.sensors.cloudformation import AmplifyBackendStackSensor

try:  # Airflow 3.1+: human-in-the-loop operators
    from airflow.providers.standard.operators.hitl import ApprovalOperator
except (ImportError, AirflowOptionalProviderFeatureException):  # Airflow 2 (no module); 3.0 (it refuses)
    ApprovalOperator = None

DAG_ID = "amplify_cross_account_release"
STAGES = {"staging": "aws_staging", "production": "aws_production"}
APP_ID_PATTERN = "^(d[a-z0-9]{1,19})?$"  # empty: use the Variable

# Parse-time settings from the environment (no connection, Variable or database is read here).
RETRIES = int(os.environ.get("AIRFLOW_AMPLIFY_EXAMPLE_RETRIES", "3"))
RETRY_DELAY = timedelta(seconds=float(os.environ.get("AIRFLOW_AMPLIFY_EXAMPLE_RETRY_DELAY", "30")))
POLL_INTERVAL = float(os.environ.get("AIRFLOW_AMPLIFY_EXAMPLE_POLL_INTERVAL", "15"))
INSTALL_DEPENDENCIES = os.environ.get("AIRFLOW_AMPLIFY_RELEASE_INSTALL_DEPENDENCIES", "true").lower() not in (
    "0",
    "false",
    "no",
)
POOLS = {
    stage: os.environ.get(f"AIRFLOW_AMPLIFY_RELEASE_{stage.upper()}_POOL", "default_pool") for stage in STAGES
}


class OptionalSnsNotifier(SnsNotifier):
    """The amazon provider's SNS notifier, publishing only when its (templated) topic is configured."""

    def notify(self, context):
        if not self.target_arn:
            self.log.info("No SNS topic configured (Variable amplify_release_sns_topic_arn): not notifying")
            return
        super().notify(context)

    async def async_notify(self, context):
        if not self.target_arn:
            return
        await super().async_notify(context)


notify_failure = OptionalSnsNotifier(
    aws_conn_id="{{ var.value.get('amplify_release_sns_conn_id', 'aws_staging') }}",
    target_arn="{{ var.value.get('amplify_release_sns_topic_arn', '') }}",
    subject="Amplify release failed: {{ ti.task_id }}",
    message=(
        "Task {{ ti.task_id }} of {{ ti.dag_id }} run {{ run_id }} failed (try {{ ti.try_number }}).\n"
        "Log: {{ ti.log_url }}"
    ),
)


def _plan(*keys: str) -> str:
    """A template reading a value of the ``plan`` task's XCom."""
    path = "".join(f"[{key!r}]" for key in keys)
    return "{{ ti.xcom_pull(task_ids='plan')" + path + " }}"


def _deployed(stage: str, key: str, fallback: str = "''") -> str:
    """A template reading the stage's deploy XCom (empty when the backend was skipped)."""
    return (
        "{{ (ti.xcom_pull(task_ids='"
        + stage
        + ".deploy_backend') or {}).get('"
        + key
        + "') or "
        + fallback
        + " }}"
    )


# The Python tasks' callables, at module level and run by plain PythonOperator/ShortCircuitOperator:
# a ``@task`` costs about twice their parse time (decorator machinery and two more ``__init__``
# levels, each of which deep-copies the DAG's Params).


def resolve_plan(params: dict | None = None) -> dict[str, Any]:
    """Resolve Params and Variables into what each stage does (at run time; parsing reads no Variable)."""
    from airflow.providers.common.compat.sdk import Variable

    params = params or {}

    def variable(name: str, default: str | None = None) -> str:
        value = Variable.get(name, default)
        if value is None:
            raise ValueError(f"Variable {name} is not set; set it, or pass the matching Param.")
        return value

    branch = params["branch"]
    skip_backend, skip_frontend = bool(params["skip_backend"]), bool(params["skip_frontend"])
    is_release = branch == params["release_branch"]
    result: dict[str, Any] = {
        "branch": branch,
        "ref": params["ref"] or branch,
        "release_branch": params["release_branch"],
        "repo_url": "" if skip_backend else variable("amplify_release_repo_url"),
        "git_conn_id": Variable.get("amplify_release_git_conn_id", "") or "",
        "outputs_dir": Variable.get("amplify_release_outputs_dir", "") or "/tmp/airflow-amplify-release",
    }
    for stage in STAGES:
        selected = stage in params["stages"]
        app_id = params[f"{stage}_app_id"] or (
            variable(f"amplify_release_{stage}_app_id") if selected else ""
        )
        result[stage] = {
            "app_id": app_id,
            "selected": selected,
            "backend": selected and not skip_backend,
            "frontend": selected and not skip_frontend and is_release,
        }
    if not is_release and not skip_frontend:
        print(f"Branch {branch!r} is not the release branch {params['release_branch']!r}: backend only")
    return result


def check_approval(params: dict | None = None) -> bool:
    """Whether the approval step runs (only with require_approval, production selected, Airflow 3.1+)."""
    from airflow.providers.common.compat.sdk import AirflowFailException

    params = params or {}
    if not params.get("require_approval") or "production" not in params["stages"]:
        return False
    if ApprovalOperator is None:
        raise AirflowFailException(
            "require_approval=true, but this Airflow has no human-in-the-loop operators "
            "(airflow.providers.standard.operators.hitl, Airflow 3.1+); trigger with require_approval=false."
        )
    return True


def stage_flag(plan: dict[str, Any], stage: str, flag: str) -> bool:
    """Whether the plan wants the stage's ``backend`` or ``frontend`` (short-circuit condition)."""
    return plan[stage][flag]


def approval_wanted(wanted: bool) -> bool:
    """The ``approval_check`` answer (short-circuit condition)."""
    return wanted


def stage_summary(stage: str, ti: Any) -> dict[str, Any]:
    """What the stage did, from its tasks' XComs."""
    deploy = ti.xcom_pull(task_ids=f"{stage}.deploy_backend") or {}
    outputs = ti.xcom_pull(task_ids=f"{stage}.generate_outputs") or {}
    build = ti.xcom_pull(task_ids=f"{stage}.build_frontend") or {}
    return {
        "ref": deploy.get("ref"),
        "commit_id": deploy.get("commit_id"),
        "stack_name": deploy.get("stack_name"),
        "outputs_file": outputs.get("outputs_file"),
        "job_id": build.get("job_id"),
        "job_status": build.get("status"),
        "job_action": build.get("action"),
    }


def release_report(plan: dict[str, Any], ti: Any) -> dict[str, Any]:
    """Print what each stage did; fail the run when a wanted stage did not complete."""
    from airflow.providers.common.compat.sdk import AirflowFailException

    summary: dict[str, Any] = {}
    for stage in STAGES:
        done = ti.xcom_pull(task_ids=f"{stage}.stage_done")
        summary[stage] = done if done else ("not selected" if not plan[stage]["selected"] else "FAILED")
        print(f"{stage:>10}: {summary[stage]}")
    if any(value == "FAILED" for value in summary.values()):
        raise AirflowFailException(f"Release incomplete: {summary}")
    return summary


with DAG(
    dag_id=DAG_ID,
    description="Deploy an Amplify Gen 2 app to staging, then the same commit to production in another account",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["amplify", "example", "release", "cross-account"],
    params={
        "staging_app_id": Param(
            "",
            type="string",
            pattern=APP_ID_PATTERN,
            description="Amplify app id in the staging account; empty: Variable amplify_release_staging_app_id",
        ),
        "production_app_id": Param(
            "",
            type="string",
            pattern=APP_ID_PATTERN,
            description="Amplify app id in the production account; empty: Variable amplify_release_production_app_id",
        ),
        "branch": Param(
            "main",
            type="string",
            minLength=1,
            maxLength=255,
            description="The Amplify branch to deploy (in both accounts); also the default ref",
        ),
        "ref": Param(
            "",
            type="string",
            maxLength=255,
            description="Branch, tag or commit SHA to release; empty: the head of 'branch'",
        ),
        "release_branch": Param(
            "main",
            type="string",
            minLength=1,
            description="Only this branch gets a frontend build; other branches deploy the backend only",
        ),
        "stages": Param(
            ["staging", "production"],
            type="array",
            minItems=1,
            uniqueItems=True,
            items={"type": "string", "enum": list(STAGES)},
            description="Which stages to release to (production always after staging)",
        ),
        "skip_backend": Param(False, type="boolean", description="Skip pipeline-deploy and generate-outputs"),
        "skip_frontend": Param(False, type="boolean", description="Skip the frontend build"),
        "require_approval": Param(
            False, type="boolean", description="Ask a person to approve before production (Airflow 3.1+)"
        ),
    },  # fmt: skip
    default_args={
        "retries": RETRIES,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": [notify_failure],
    },
) as dag:
    # multiple_outputs: each key of the returned dict is also an XCom of its own.
    release_plan = PythonOperator(
        task_id="plan", python_callable=resolve_plan, retries=0, multiple_outputs=True
    ).output
    previous_stage_done: Any = None

    for stage, conn_id in STAGES.items():
        with TaskGroup(stage) as group:
            # Staging checks out the release ref; production deploys the commit staging resolved.
            ref = (
                _plan("ref")
                if stage == "staging"
                else _deployed("staging", "commit_id", "ti.xcom_pull(task_ids='plan')['ref']")
            )
            deploy = AmplifyPipelineDeployOperator(
                task_id="deploy_backend",
                aws_conn_id=conn_id,
                app_id=_plan(stage, "app_id"),
                branch_name=_plan("branch"),
                repo_url=_plan("repo_url"),
                ref=ref,
                git_conn_id=_plan("git_conn_id"),
                install_dependencies=INSTALL_DEPENDENCIES,
                ampx_path="{{ var.value.get('amplify_ampx_path', '') }}",
                pool=POOLS[stage],
            )
            settled = AmplifyBackendStackSensor(
                task_id="stack_settled",
                aws_conn_id=conn_id,
                app_id=_plan(stage, "app_id"),
                branch_name=_plan("branch"),
                deferrable=True,
                poke_interval=POLL_INTERVAL,
                timeout=timedelta(hours=1).total_seconds(),
            )
            outputs = AmplifyGenerateOutputsOperator(
                task_id="generate_outputs",
                aws_conn_id=conn_id,
                app_id=_plan(stage, "app_id"),
                branch_name=_plan("branch"),
                out_dir=_plan("outputs_dir")
                + "/{{ run_id | replace(':', '-') | replace('+', '-') }}/"
                + stage,
                engine="auto",
                ampx_path="{{ var.value.get('amplify_ampx_path', '') }}",
            )
            build = AmplifyStartJobOperator(
                task_id="build_frontend",
                aws_conn_id=conn_id,
                app_id=_plan(stage, "app_id"),
                branch_name=_plan("branch"),
                job_type="RELEASE",
                job_reason=f"Airflow {DAG_ID} {stage} " + "{{ run_id[:180] }}",
                commit_id=_deployed(stage, "commit_id"),
                commit_message=_deployed(stage, "commit_message"),
                deferrable=True,
                waiter_delay=POLL_INTERVAL,
                waiter_max_delay=max(POLL_INTERVAL, 60.0),
            )
            backend_enabled, frontend_enabled = (
                ShortCircuitOperator(
                    task_id=f"{flag}_enabled",
                    python_callable=stage_flag,
                    op_kwargs={"plan": release_plan, "stage": stage, "flag": flag},
                    ignore_downstream_trigger_rules=False,
                    trigger_rule=TriggerRule.NONE_FAILED,
                    retries=0,
                )
                for flag in ("backend", "frontend")
            )
            done = PythonOperator(
                task_id="stage_done",
                python_callable=stage_summary,
                op_kwargs={"stage": stage},
                trigger_rule=TriggerRule.NONE_FAILED,
                retries=0,
                multiple_outputs=True,
            )
            backend_enabled >> deploy >> settled >> outputs
            outputs >> frontend_enabled >> build >> done

        if previous_stage_done is not None:
            check = PythonOperator(task_id="approval_check", python_callable=check_approval, retries=0)
            if ApprovalOperator is not None:
                wanted = ShortCircuitOperator(
                    task_id="approval_wanted",
                    python_callable=approval_wanted,
                    op_kwargs={"wanted": check.output},
                    ignore_downstream_trigger_rules=False,
                    retries=0,
                )
                approve = ApprovalOperator(
                    task_id="approve_production",
                    subject="Release {{ ti.xcom_pull(task_ids='plan')['branch'] }} to production?",
                    body=(
                        "Staging deployed commit "
                        "{{ (ti.xcom_pull(task_ids='staging.deploy_backend') or {}).get('commit_id') }}."
                    ),
                    ignore_downstream_trigger_rules=True,
                    retries=0,
                )
                previous_stage_done >> check
                wanted >> approve >> group
            else:
                previous_stage_done >> check >> group
        previous_stage_done = done

    report = PythonOperator(
        task_id="report",
        python_callable=release_report,
        op_kwargs={"plan": release_plan},
        trigger_rule=TriggerRule.ALL_DONE,
        retries=0,
        multiple_outputs=True,
    )
    report << previous_stage_done
