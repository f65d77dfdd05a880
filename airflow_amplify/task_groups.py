"""Building blocks for users' pipelines: one release stage of an Amplify Gen 2 app as a task group.

:func:`amplify_release_stage` puts what one stage (one AWS account) of a release does into a task
group: deploy the backend with ``ampx pipeline-deploy``, wait for its stack to settle, write
``amplify_outputs.json``, build the frontend with the deployed commit, and report what it did.
``examples``: ``dags/amplify_cross_account_release.py`` chains two of them (staging, production).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import TaskGroup, TriggerRule
from airflow.providers.common.compat.standard.operators import PythonOperator, ShortCircuitOperator

from airflow_amplify.operators.amplify import AmplifyStartJobOperator
from airflow_amplify.operators.ampx import AmplifyGenerateOutputsOperator, AmplifyPipelineDeployOperator
from airflow_amplify.operators.secrets import AmplifyBackendSecretsOperator
from airflow_amplify.sensors.cloudformation import AmplifyBackendStackSensor


def _wanted(value: Any) -> bool:
    """A short-circuit condition: the flag, a bool or a template's rendering of one (``"True"``/``"False"``).

    Anything else (``"yes"``, ``"1"``, ``"None"``...) is refused rather than guessed.
    """
    if isinstance(value, bool):
        return value
    if value in ("True", "False"):
        return value == "True"
    raise ValueError(
        f"stage flag={value!r} is not valid; use True or False (a boolean Param renders as one)."
    )


def _stage_summary(group_id: str, ti: Any) -> dict[str, Any]:
    """What the stage did, from its tasks' XComs (empty values for skipped tasks)."""
    deploy = ti.xcom_pull(task_ids=f"{group_id}.deploy_backend") or {}
    outputs = ti.xcom_pull(task_ids=f"{group_id}.generate_outputs") or {}
    build = ti.xcom_pull(task_ids=f"{group_id}.build_frontend") or {}
    return {
        "ref": deploy.get("ref"),
        "commit_id": deploy.get("commit_id"),
        "stack_name": deploy.get("stack_name"),
        "outputs_file": outputs.get("outputs_file"),
        "job_id": build.get("job_id"),
        "job_status": build.get("status"),
        "job_action": build.get("action"),
    }


def amplify_release_stage(
    group_id: str,
    *,
    aws_conn_id: str,
    app_id: str,
    branch_name: str,
    repo_url: str | None = None,
    ref: str | None = None,
    git_conn_id: str | None = None,
    project_dir: str | None = None,
    out_dir: str,
    ampx_path: str | None = None,
    backend: Any = True,
    frontend: Any = True,
    job_reason: str | None = None,
    poll_interval: float = 15.0,
    stack_timeout: float = 3600.0,
    secrets: Any = None,
    required_secrets: Any = None,
) -> TaskGroup:
    """One release stage as a task group: ``backend_enabled >> deploy_backend >> stack_settled >>
    generate_outputs >> frontend_enabled >> build_frontend >> stage_done``.

    The frontend build carries the commit the backend deploy checked out; a retried build
    re-attaches to the job its earlier try started. ``stage_done`` returns what the stage did
    (``ref``, ``commit_id``, ``stack_name``, ``outputs_file``, ``job_id``, ``job_status``, ``job_action``).
    Every argument but ``group_id`` may be a template.

    :param group_id: the task group's id (e.g. ``staging``).
    :param aws_conn_id: the AWS connection of the stage's account.
    :param app_id: the Amplify app id in that account.
    :param branch_name: the Amplify branch.
    :param repo_url: the app's Git repository (with ``ref``), or None with ``project_dir``.
    :param ref: the branch, tag or commit to deploy.
    :param git_conn_id: a ``git`` connection for a private repository.
    :param project_dir: a checked-out project instead of ``repo_url``.
    :param out_dir: where ``amplify_outputs.json`` goes.
    :param ampx_path: an ``ampx`` executable (default: the project's, else npx).
    :param backend: whether to deploy the backend (a bool or a template rendering to one).
    :param frontend: whether to build the frontend (a bool or a template rendering to one).
    :param job_reason: the build's ``jobReason``.
    :param poll_interval: seconds between status polls of the stack and the build.
    :param stack_timeout: seconds to wait for the stack to settle.
    :param secrets: the backend's secrets for :class:`~airflow_amplify.operators.secrets.AmplifyBackendSecretsOperator`
        (``{NAME: {"conn_id", "field"} | {"variable"}}``, or an XComArg of one): a ``set_secrets`` task
        writes them for the branch before the deploy. None: no such task.
    :param required_secrets: secret names the deploy's preflight checks (a list, or an XComArg of one).
    """
    deployed = "{{ (ti.xcom_pull(task_ids='" + group_id + ".deploy_backend') or {}).get('%s') or '' }}"
    target = {"aws_conn_id": aws_conn_id, "app_id": app_id, "branch_name": branch_name}
    with TaskGroup(group_id) as group:
        backend_enabled, frontend_enabled = (
            ShortCircuitOperator(
                task_id=f"{flag}_enabled",
                python_callable=_wanted,
                op_args=[value],
                ignore_downstream_trigger_rules=False,
                trigger_rule=TriggerRule.NONE_FAILED,
                retries=0,
            )
            for flag, value in (("backend", backend), ("frontend", frontend))
        )
        deploy = AmplifyPipelineDeployOperator(
            task_id="deploy_backend",
            **target,
            repo_url=repo_url,
            ref=ref,
            git_conn_id=git_conn_id,
            project_dir=project_dir,
            ampx_path=ampx_path,
            required_secrets=required_secrets,
        )
        settled = AmplifyBackendStackSensor(
            task_id="stack_settled",
            **target,
            deferrable=True,
            poke_interval=poll_interval,
            timeout=stack_timeout,
        )
        outputs = AmplifyGenerateOutputsOperator(
            task_id="generate_outputs", **target, out_dir=out_dir, engine="auto", ampx_path=ampx_path
        )
        build = AmplifyStartJobOperator(
            task_id="build_frontend",
            **target,
            job_type="RELEASE",
            **({"job_reason": job_reason} if job_reason else {}),
            commit_id=deployed % "commit_id",
            commit_message=deployed % "commit_message",
            deferrable=True,
            waiter_delay=poll_interval,
            waiter_max_delay=max(poll_interval, 60.0),
        )
        done = PythonOperator(
            task_id="stage_done",
            python_callable=_stage_summary,
            op_kwargs={"group_id": group_id},
            trigger_rule=TriggerRule.NONE_FAILED,
            retries=0,
            multiple_outputs=True,
        )
        if secrets is not None:
            (
                backend_enabled
                >> AmplifyBackendSecretsOperator(task_id="set_secrets", **target, secrets=secrets)
                >> deploy
            )
        else:
            backend_enabled >> deploy
        deploy >> settled >> outputs >> frontend_enabled >> build >> done
    return group
