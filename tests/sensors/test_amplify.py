"""AmplifyJobSensor in poke and deferrable modes against the world."""

from __future__ import annotations

import asyncio

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_amplify.hooks.amplify import AmplifyJobFailedError
from airflow_amplify.sensors.amplify import AmplifyJobSensor


def sensor(app, **kw):
    params = dict(
        task_id="wait_build",
        app_id=app["app_id"],
        branch_name="main",
        aws_conn_id="aws_staging",
        poke_interval=0.1,
        timeout=30,
        deferrable=False,
    )
    return AmplifyJobSensor(**{**params, **kw})


def start(amplify_world, app, **script):
    if script:
        amplify_world.script_next_job(app["app_id"], "main", **script)
    amplify_world.client("amplify").start_job(appId=app["app_id"], branchName="main", jobType="RELEASE")


def test_poke_mode_returns_the_job_summary(amplify_world, aws_connections, staging_app, task_context):
    start(amplify_world, staging_app)
    context = task_context()
    result = sensor(staging_app, job_id="latest").execute(context)
    assert result["job_id"] == "1" and result["status"] == "SUCCEED"
    assert context["ti"].xcoms["amplify_job"]["job_id"] == "1"


def test_pokes_until_done_and_logs_only_changes(
    amplify_world, aws_connections, staging_app, task_context, task_logs
):
    # long enough that the first poke sees it unfinished on a loaded machine
    start(amplify_world, staging_app, build_seconds=4.0)
    op = sensor(staging_app, job_id="1")
    context = task_context()
    assert op.poke(context) is False
    while not op.poke(context):
        pass
    assert task_logs().count("is RUNNING") == 1


def test_failed_job_raises_with_its_log(amplify_world, aws_connections, staging_app, task_context):
    start(amplify_world, staging_app, outcome="FAILED", status_reason="tests failed")
    with pytest.raises(AmplifyJobFailedError, match=r"(?s)tests failed.*Last 50 lines of the BUILD log"):
        sensor(staging_app).execute(task_context())


def test_deferrable_mode_does_not_stop_a_job_it_did_not_start(
    amplify_world, aws_connections, staging_app, task_context
):
    start(amplify_world, staging_app)
    context = task_context()
    op = sensor(staging_app, deferrable=True)
    with pytest.raises(TaskDeferred) as excinfo:
        op.execute(context)
    trigger = excinfo.value.trigger
    assert trigger.stop_on_kill is False

    async def event():
        async for e in trigger.run():
            return e

    result = op.execute_complete(context, asyncio.run(event()).payload)
    assert result["status"] == "SUCCEED"


def test_branch_without_jobs_is_a_clear_error(amplify_world, aws_connections, staging_app, task_context):
    with pytest.raises(Exception, match="has no job to watch"):
        sensor(staging_app).execute(task_context())


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"app_id": "x"}, "app_id='x' does not match"),
        ({"job_id": "seven"}, "job_id='seven' does not match"),
        ({"aws_conn_id": "missing"}, "aws_conn_id='missing'"),
    ],
)
def test_bad_input(amplify_world, aws_connections, staging_app, task_context, kw, fragment):
    with pytest.raises(ValueError) as excinfo:
        sensor(staging_app, **kw).execute(task_context())
    assert fragment in str(excinfo.value)


def test_reschedule_mode_frees_the_slot_between_pokes_and_finishes(
    amplify_world, aws_connections, staging_app, task_context
):
    import time

    context = task_context()
    context["ti"].start_date = None
    start(amplify_world, staging_app, build_seconds=4)
    rescheduled = 0
    for _ in range(60):
        try:
            result = sensor(staging_app, job_id="1", mode="reschedule").execute(context)
            break
        except Exception as err:  # Airflow's AirflowRescheduleException, whichever module defines it
            assert type(err).__name__ == "AirflowRescheduleException", err
            rescheduled += 1
            time.sleep(0.2)  # the slot is free until the reschedule date
    assert rescheduled >= 1 and result["status"] == "SUCCEED" and result["job_id"] == "1"
