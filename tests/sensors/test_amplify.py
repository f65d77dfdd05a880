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


def test_latest_is_the_highest_job_id_whatever_order_list_jobs_answers_in(
    aws_connections, staging_app, task_context
):
    """ListJobs promises no order: here its one page lists the oldest job first (botocore's Stubber
    on the sensor's real client). "latest" is the highest id of every page, not the first item."""
    from botocore.stub import Stubber

    task = sensor(staging_app, job_id="latest")
    summaries = [
        {"jobId": job_id, "jobArn": f"arn:aws:amplify:eu-west-1:123456789012:apps/x/branches/main/jobs/{job_id}",
         "commitId": "HEAD", "commitMessage": "m", "commitTime": "2026-01-01T00:00:00Z",
         "startTime": "2026-01-01T00:00:00Z", "status": "SUCCEED", "jobType": "RELEASE"}
        for job_id in ("7", "9", "12")
    ]  # fmt: skip
    with Stubber(task.hook.conn) as stub:
        stub.add_response(
            "list_jobs", {"jobSummaries": summaries}, {"appId": staging_app["app_id"], "branchName": "main"}
        )
        assert task._job_id(task_context()) == "12"


def test_an_unknown_job_id_is_an_input_error_naming_it(
    amplify_world, aws_connections, staging_app, task_context
):
    with pytest.raises(ValueError, match=r"job_id='99': .* has no such job"):
        sensor(staging_app, job_id="99").execute(task_context())


def test_an_unknown_branch_with_latest_is_an_input_error(
    amplify_world, aws_connections, staging_app, task_context
):
    with pytest.raises(ValueError, match=r"branch_name='no-such-branch': not found in account"):
        sensor(staging_app, branch_name="no-such-branch").execute(task_context())
