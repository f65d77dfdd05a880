"""Smoke test for an Amplify Hosting app: start a release build, wait for it without holding a worker.

Configure:

- Connection ``aws_staging``: an AWS connection into the account that hosts the app.
- Variable ``amplify_smoke_app_id``: the Amplify app id (or pass ``app_id`` when triggering).

``make demo`` runs this DAG against the local AWS world.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_amplify.operators.amplify import AmplifyStartJobOperator
from airflow_amplify.sensors.amplify import AmplifyJobSensor

with DAG(
    dag_id="amplify_smoke_build",
    description="Start an Amplify Hosting build and wait for it (deferrable), then check it with a sensor",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["amplify", "example"],
    params={
        "app_id": Param(
            "", type="string", description="Amplify app id; empty: the amplify_smoke_app_id Variable"
        ),
        "branch_name": Param("main", type="string", minLength=1, description="Branch to build"),
    },
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10), "retry_exponential_backoff": True},
) as dag:
    app_id = "{{ params.app_id or var.value.amplify_smoke_app_id }}"

    start_build = AmplifyStartJobOperator(
        task_id="start_build",
        app_id=app_id,
        branch_name="{{ params.branch_name }}",
        job_reason="Airflow smoke build {{ run_id }}",
        aws_conn_id="aws_staging",
        deferrable=True,
        waiter_delay=1,
        waiter_max_delay=10,
    )

    check_build = AmplifyJobSensor(
        task_id="check_build",
        app_id=app_id,
        branch_name="{{ params.branch_name }}",
        job_id="{{ ti.xcom_pull(task_ids='start_build')['job_id'] }}",
        aws_conn_id="aws_staging",
        poke_interval=1,
        timeout=600,
    )

    start_build >> check_build
