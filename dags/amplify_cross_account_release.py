"""Release an Amplify Gen 2 app to staging (one AWS account), then the same commit to production (another).

The cross-account pipeline of the Amplify docs, the Airflow way: each stage is
:func:`~airflow_amplify.task_groups.amplify_release_stage` (``ampx pipeline-deploy``, the stack
settled, ``amplify_outputs.json``, the frontend build with the deployed commit). Production deploys
the commit staging resolved; only ``release_branch`` gets a frontend build. ``require_approval=true``
asks a person before production on Airflow 3.1+ (and fails clearly on 2.11 and 3.0).

Connections ``aws_staging`` and ``aws_production`` (assume-role); Params and the ``amplify_release_*``
Variables (the backend's secrets too) are listed in the README (Example DAGs). Give ``deploy_backend``
a one-slot pool per stage, with a cluster policy (``airflow_local_settings.py``) which also sets
retries and polls. The demo (``make demo``) runs this DAG against the local world with the real
``ampx pipeline-deploy``, or a stand-in ampx where Node or npm is missing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import (
    DAG,
    AirflowFailException,
    AirflowOptionalProviderFeatureException,
    Param,
    TriggerRule,
    Variable,
)
from airflow.providers.common.compat.standard.operators import PythonOperator, ShortCircuitOperator

from airflow_amplify.notifications import OptionalSnsNotifier
from airflow_amplify.task_groups import amplify_release_stage

try:  # Airflow 3.1+: human-in-the-loop operators
    from airflow.providers.standard.operators.hitl import ApprovalOperator
except (ImportError, AirflowOptionalProviderFeatureException):  # Airflow 2 (no module); 3.0 (it refuses)
    ApprovalOperator = None

DAG_ID = "amplify_cross_account_release"
STAGES = {"staging": "aws_staging", "production": "aws_production"}
APP_ID_PATTERN = "^(d[a-z0-9]{1,19})?$"  # empty: use the Variable
PLAN = "{{ ti.xcom_pull(task_ids='plan')%s }}"
STAGING_COMMIT = "{{ (ti.xcom_pull(task_ids='staging.deploy_backend') or {}).get('commit_id') or ti.xcom_pull(task_ids='plan')['ref'] }}"
PARAMS = {
    "staging_app_id": Param("", type="string", pattern=APP_ID_PATTERN, description="App id in the staging account; empty: Variable amplify_release_staging_app_id"),
    "production_app_id": Param("", type="string", pattern=APP_ID_PATTERN, description="App id in the production account; empty: Variable amplify_release_production_app_id"),
    "branch": Param("main", type="string", minLength=1, maxLength=255, description="The Amplify branch to deploy (in both accounts); also the default ref"),
    "ref": Param("", type="string", maxLength=255, description="Branch, tag or commit SHA to release; empty: the head of 'branch'"),
    "release_branch": Param("main", type="string", minLength=1, description="Only this branch gets a frontend build; others deploy the backend only"),
    "stages": Param(["staging", "production"], type="array", minItems=1, uniqueItems=True, items={"type": "string", "enum": list(STAGES)}, description="Which stages to release to (production always after staging)"),
    "skip_backend": Param(False, type="boolean", description="Skip pipeline-deploy and generate-outputs"),
    "skip_frontend": Param(False, type="boolean", description="Skip the frontend build"),
    "require_approval": Param(False, type="boolean", description="Ask a person to approve before production (Airflow 3.1+)"),
}  # fmt: skip


notify_failure = OptionalSnsNotifier(
    aws_conn_id="{{ var.value.get('amplify_release_sns_conn_id', 'aws_staging') }}",
    target_arn="{{ var.value.get('amplify_release_sns_topic_arn', '') }}",
    subject="Amplify release failed: {{ ti.task_id }}",
    message=(
        "Task {{ ti.task_id }} of {{ ti.dag_id }} run {{ run_id }} failed (try {{ ti.try_number }}).\n"
        "Log: {{ ti.log_url }}"
    ),
)


def resolve_plan(params: dict | None = None) -> dict[str, Any]:
    """Resolve Params and Variables into what each stage does (at run time; parsing reads no Variable)."""
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
    secret_names = Variable.get("amplify_release_secret_names", None, deserialize_json=True) or []
    for stage in STAGES:
        # each backend secret from the extra key of its name of the stage's secrets connection
        conn = f"amplify_release_{stage}_secrets"
        result[f"{stage}_secrets"] = {n: {"conn_id": conn, "field": f"extra.{n}"} for n in secret_names}
        result[f"{stage}_secret_names"] = list(secret_names)
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
    params = params or {}
    if not params.get("require_approval") or "production" not in params["stages"]:
        return False
    if ApprovalOperator is None:
        raise AirflowFailException(
            "require_approval=true, but this Airflow has no human-in-the-loop operators "
            "(airflow.providers.standard.operators.hitl, Airflow 3.1+); trigger with require_approval=false."
        )
    return True


def approval_wanted(wanted: bool) -> bool:
    """The ``approval_check`` answer (short-circuit condition)."""
    return wanted


def release_report(plan: dict[str, Any], ti: Any) -> dict[str, Any]:
    """Print what each stage did; fail the run when a wanted stage did not complete."""
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
    params=PARAMS,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": [notify_failure],
    },
) as dag:
    plan = PythonOperator(task_id="plan", python_callable=resolve_plan, retries=0, multiple_outputs=True)
    previous_stage_done: Any = None
    for stage, conn_id in STAGES.items():
        group = amplify_release_stage(
            stage,
            aws_conn_id=conn_id,
            app_id=PLAN % f"['{stage}']['app_id']",
            branch_name=PLAN % "['branch']",
            repo_url=PLAN % "['repo_url']",
            # staging checks out the release ref; production deploys the commit staging resolved
            ref=PLAN % "['ref']" if stage == "staging" else STAGING_COMMIT,
            git_conn_id=PLAN % "['git_conn_id']",
            out_dir=PLAN % "['outputs_dir']"
            + "/{{ run_id | replace(':', '-') | replace('+', '-') }}/"
            + stage,
            ampx_path="{{ var.value.get('amplify_ampx_path', '') }}",
            backend=PLAN % f"['{stage}']['backend']",
            frontend=PLAN % f"['{stage}']['frontend']",
            job_reason=f"Airflow {DAG_ID} {stage} " + "{{ run_id[:180] }}",
            secrets=plan.output[f"{stage}_secrets"],
            required_secrets=plan.output[f"{stage}_secret_names"],
        )
        done = dag.get_task(f"{stage}.stage_done")
        if stage == "staging":
            plan >> group
        else:
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
        op_kwargs={"plan": plan.output},
        trigger_rule=TriggerRule.ALL_DONE,
        retries=0,
        multiple_outputs=True,
    )
    report << previous_stage_done
