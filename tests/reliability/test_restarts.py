"""The example DAGs' own tasks through a triggerer restart, a worker killed mid-wait, a build cancelled
from outside, and a backend stack that rolls back.

``airflow dags test`` can neither restart a triggerer nor kill a worker, so these cases load the
example DAG files as a worker would, take their task objects, render their templates, and drive
them the way Airflow does: ``execute`` until ``TaskDeferred``, the trigger's ``run()`` in an event
loop, the resume method named in ``TaskDeferred`` with the trigger's event; killed processes are
real processes killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from .harness import (
    MARKER_VAR,
    FileTaskStateStore,
    build_ledger,
    faults_injected,
    has_task_state_store,
    inject_fault_mix,
    left_running,
    new_marker,
    release_build_xcoms,
    release_task,
)
from .report import record

pytestmark = pytest.mark.slow

RELEASE = "amplify_cross_account_release.py"
SMOKE = "amplify_smoke_build.py"
CHILD = Path(__file__).resolve().parent / "child.py"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ACTIVE = ("CREATED", "PENDING", "PROVISIONING", "RUNNING")


@pytest.fixture
def marker(monkeypatch):
    """Marks every process this case starts, to find any left alive afterwards; fast example-DAG polls."""
    value = new_marker()
    monkeypatch.setenv(MARKER_VAR, value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("AIRFLOW_AMPLIFY_EXAMPLE_POLL_INTERVAL", "0.5")
    return value


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not seen within {timeout} s")


def _child(mode: str, spec: dict, tmp_path: Path, name: str) -> subprocess.Popen:
    spec_path = tmp_path / f"{name}.json"
    spec_path.write_text(json.dumps(spec))
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen(
        [sys.executable, str(CHILD), mode, str(spec_path)], stdout=log, stderr=subprocess.STDOUT
    )


def _store(tmp_path: Path, name: str):
    return FileTaskStateStore(tmp_path / f"{name}-state.json") if has_task_state_store() else None


# --- (b) the triggerer restarts while two builds are waited on ---------------------------------


def test_triggerer_restart_while_builds_are_waited_on_resumes_without_a_second_build(
    amplify_world, aws_connections, staging_app, production_app, tmp_path, marker
):
    """Both stages' ``build_frontend`` defer; the triggerer polls them, is shut down (its trigger tasks
    cancelled), and a new triggerer process rebuilds the triggers from ``serialize()`` and runs them to
    their events; the tasks resume in a fresh worker. The builds go on through the restart; 10% of the
    AWS calls fail throughout."""
    run_id = f"manual__restart_{uuid.uuid4().hex[:8]}"
    stages = {"staging": staging_app, "production": production_app}
    for app in stages.values():
        amplify_world.script_next_job(app["app_id"], "main", account_id=app["account_id"], build_seconds=6)
    inject_fault_mix(amplify_world, seed=21)  # and 10% of Amplify, CloudFormation and STS calls fail
    deferred = {}
    for stage, app in stages.items():
        task, context = release_task(
            RELEASE,
            f"{stage}.build_frontend",
            {
                "run_id": run_id,
                "xcoms": release_build_xcoms(stage, app["app_id"], COMMIT),
                "store": _store(tmp_path, stage),
            },
        )
        assert task.deferrable and task.aws_conn_id == f"aws_{stage}"
        with pytest.raises(TaskDeferred) as excinfo:
            task.execute(context)
        deferred[stage] = excinfo.value

    # The first triggerer: both triggers in one event loop, until its shutdown cancels them.
    async def first_triggerer() -> list[bool]:
        async def first_event(trigger):
            async for event in trigger.run():
                return event

        def polled_by_aiobotocore(app) -> bool:
            polls = amplify_world.requests(operation="GetJob", app_id=app["app_id"])
            return any(r["client"].startswith("aiobotocore") for r in polls)

        runs = [asyncio.create_task(first_event(d.trigger)) for d in deferred.values()]
        deadline = time.monotonic() + 30  # client start-up (AssumeRole included) on a loaded machine
        while not all([await asyncio.to_thread(polled_by_aiobotocore, app) for app in stages.values()]):
            assert time.monotonic() < deadline, "the triggers did not poll within 30 s"
            await asyncio.sleep(0.2)
        fired = [run.done() for run in runs]
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        return fired

    assert asyncio.run(first_triggerer()) == [False, False], "a build ended before the restart"
    polls_before = {
        stage: [
            r
            for r in amplify_world.requests(operation="GetJob", app_id=app["app_id"])
            if r["client"].startswith("aiobotocore")
        ]
        for stage, app in stages.items()
    }
    assert all(polls_before.values()), polls_before  # the old triggerer was waiting on both
    # A triggerer shutdown is not a kill: the builds go on, nobody stopped them.
    assert [j["status"] for j in amplify_world.jobs()] != [] and all(
        j["status"] in ACTIVE for j in amplify_world.jobs()
    ), amplify_world.jobs()
    assert amplify_world.count("StopJob") == 0

    # The new triggerer process.
    serialized = [d.trigger.serialize() for d in deferred.values()]
    result_path = tmp_path / "triggerer-2.result.json"
    child = _child(
        "triggers", {"triggers": serialized, "result_path": str(result_path)}, tmp_path, "triggerer-2"
    )
    assert child.wait(timeout=120) == 0, (tmp_path / "triggerer-2.log").read_text()[-3000:]
    events = json.loads(result_path.read_text())["events"]

    results = {}
    for (stage, app), d, event in zip(stages.items(), deferred.values(), events, strict=True):
        assert event["status"] == "success" and event["job_id"] == "1", event
        task, context = release_task(  # a fresh worker resumes the task
            RELEASE,
            f"{stage}.build_frontend",
            {
                "run_id": run_id,
                "xcoms": release_build_xcoms(stage, app["app_id"], COMMIT),
                "store": _store(tmp_path, stage),
            },
        )
        results[stage] = getattr(task, d.method_name)(context, event=event, **(d.kwargs or {}))
        assert results[stage]["status"] == "SUCCEED" and results[stage]["action"] == "started"
        assert results[stage]["commit_id"] == COMMIT

    ledger = build_ledger(amplify_world)
    leftovers = left_running(amplify_world, marker)
    polls_after = [
        r
        for r in amplify_world.requests(operation="GetJob")
        if r["client"].startswith("aiobotocore")
        and r["seq"] > max(p["seq"] for v in polls_before.values() for p in v)
    ]
    assert polls_after, "the new triggerer polled the builds"
    assert ledger["builds_started"] == 2 and ledger["builds_started_twice"] == 0, ledger
    assert {j["account_id"] for j in ledger["jobs"]} == {app["account_id"] for app in stages.values()}
    assert leftovers["count"] == 0, leftovers
    record(
        "triggerer_restart_two_builds",
        dag_runs=2,  # task runs of the release DAG (both stages' build_frontend)
        faults_injected=faults_injected(amplify_world),
        builds_started=ledger["builds_started"],
        builds_started_twice=ledger["builds_started_twice"],
        left_running=leftovers["count"],
    )


# --- (c) the worker dies mid-wait (SIGKILL), the retry re-attaches ----------------------------


def test_worker_killed_mid_wait_then_the_retry_reattaches_to_the_same_build(
    amplify_world, aws_connections, staging_app, tmp_path, marker
):
    """``staging.build_frontend`` in blocking mode runs in a worker process, which is SIGKILLed while
    it waits; try 2, in a fresh process with the same re-attach store (Airflow 3.3: the task state
    store; Airflow 2.11: a Variable in the metadata database), re-attaches: one StartJob in all."""
    app_id = staging_app["app_id"]
    amplify_world.script_next_job(app_id, "main", build_seconds=8)
    inject_fault_mix(amplify_world, seed=22)  # and 10% of Amplify, CloudFormation and STS calls fail
    run_id = f"manual__kill_{uuid.uuid4().hex[:8]}"
    spec = {
        "dag_file": RELEASE,
        "task_id": "staging.build_frontend",
        "run_id": run_id,
        "xcoms": release_build_xcoms("staging", app_id, COMMIT),
        "store_path": str(tmp_path / "task-state.json"),
        "overrides": {"deferrable": False},  # the worker itself waits: the case a kill hurts
    }
    first = _child("task", {**spec, "result_path": str(tmp_path / "try1.json")}, tmp_path, "try1")
    start_seq = _wait_for(
        lambda: [
            r["seq"]
            for r in amplify_world.requests(operation="StartJob", app_id=app_id)
            if r["status"] == 200
        ],
        90,
        "try 1's StartJob",
    )[0]
    # Mid-wait: try 1 polls the build it started (its re-attach state was written before the first poll).
    _wait_for(
        lambda: [
            r for r in amplify_world.requests(operation="GetJob", app_id=app_id) if r["seq"] > start_seq
        ],
        30,
        "try 1 polling its build",
    )
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL
    (job,) = amplify_world.jobs(app_id=app_id)
    assert job["status"] in ACTIVE, job  # a SIGKILLed worker runs no on_kill: the build goes on
    if has_task_state_store():
        stored = FileTaskStateStore(spec["store_path"]).get("amplify_job")
        assert stored == {"app_id": app_id, "branch_name": "main", "job_id": job["job_id"]}, stored

    second = _child(
        "task", {**spec, "try_number": 2, "result_path": str(tmp_path / "try2.json")}, tmp_path, "try2"
    )
    assert second.wait(timeout=120) == 0, (tmp_path / "try2.log").read_text()[-3000:]
    result = json.loads((tmp_path / "try2.json").read_text())["result"]
    assert result["action"] == "reattached" and result["job_id"] == job["job_id"], result
    assert result["status"] == "SUCCEED" and result["commit_id"] == COMMIT
    if not has_task_state_store():  # Airflow 2.11: the Variable is gone once the task succeeded
        dag_id, task_id = "amplify_cross_account_release", "staging.build_frontend"
        digest = hashlib.sha1(f"{dag_id}/{task_id}/{run_id}/-1".encode()).hexdigest()[:16]
        assert f"airflow_amplify.amplify_job.{dag_id}.{task_id}.{digest}" not in _variables()

    ledger = build_ledger(amplify_world)
    leftovers = left_running(amplify_world, marker)
    assert ledger["builds_started"] == 1 and ledger["builds_started_twice"] == 0, ledger
    assert amplify_world.jobs(app_id=app_id)[0]["status"] == "SUCCEED"
    assert leftovers["count"] == 0, leftovers
    record(
        "worker_sigkill_mid_wait_retry_reattaches",
        dag_runs=2,  # try 1 (killed) and try 2 of one task instance
        faults_injected=faults_injected(amplify_world),
        builds_started=ledger["builds_started"],
        builds_started_twice=ledger["builds_started_twice"],
        left_running=leftovers["count"],
    )


def _variables() -> list[str]:
    from airflow.models import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        return [v.key for v in session.query(Variable)]


# --- (d) a build cancelled from outside while the task waits ----------------------------------


def test_build_cancelled_from_outside_fails_the_task_naming_the_cancellation(
    amplify_world, aws_connections, staging_app, tmp_path, marker
):
    """The smoke DAG's ``start_build`` defers; someone stops the build (StopJob from another client)
    while the trigger waits: the trigger fires, and the resumed task fails saying the job was CANCELLED."""
    app_id = staging_app["app_id"]
    amplify_world.script_next_job(app_id, "main", build_seconds=6)
    run_id = f"manual__cancel_{uuid.uuid4().hex[:8]}"
    context_kwargs = {
        "run_id": run_id,
        "params": {"app_id": app_id, "branch_name": "main"},
        "store": _store(tmp_path, "cancel"),
    }
    task, context = release_task(SMOKE, "start_build", context_kwargs)
    assert task.app_id == app_id and task.deferrable
    with pytest.raises(TaskDeferred) as excinfo:
        task.execute(context)
    deferred = excinfo.value

    def cancel_once_polled():
        _wait_for(lambda: amplify_world.count("GetJob", app_id=app_id) >= 1, 30, "the trigger's first poll")
        (job,) = amplify_world.jobs(app_id=app_id)
        assert job["status"] in ACTIVE, job
        amplify_world.client("amplify").stop_job(appId=app_id, branchName="main", jobId=job["job_id"])

    canceller = threading.Thread(target=cancel_once_polled)
    canceller.start()

    async def first_event():
        async for event in deferred.trigger.run():
            return event.payload

    event = asyncio.run(asyncio.wait_for(first_event(), 60))
    canceller.join(timeout=30)
    assert event["status"] == "failed" and "CANCELLED" in event["message"], event

    resumed, context = release_task(SMOKE, "start_build", context_kwargs)
    with pytest.raises(Exception) as failure:
        getattr(resumed, deferred.method_name)(context, event=event, **(deferred.kwargs or {}))
    message = str(failure.value)
    assert type(failure.value).__name__ == "AmplifyJobFailedError", repr(failure.value)
    assert f"Amplify job 1 of {app_id}/main CANCELLED" in message, message

    ledger = build_ledger(amplify_world)
    leftovers = left_running(amplify_world, marker)
    assert ledger["builds_started"] == 1 and ledger["builds_started_twice"] == 0, ledger
    assert amplify_world.jobs(app_id=app_id)[0]["status"] == "CANCELLED"
    assert leftovers["count"] == 0, leftovers
    record(
        "build_cancelled_from_outside",
        outcome="failed as expected",
        dag_runs=1,
        faults_injected=faults_injected(amplify_world),
        builds_started=ledger["builds_started"],
        builds_started_twice=ledger["builds_started_twice"],
        left_running=leftovers["count"],
    )


# --- (e) the backend stack rolls back ----------------------------------------------------------


def test_backend_stack_rollback_fails_stack_settled_naming_the_failing_resource(
    amplify_world, aws_connections, staging_app, tmp_path, marker
):
    """The release DAG's ``staging.stack_settled`` waits (deferrable) on a branch stack whose update
    rolls back: the task fails with the stack's final status and the resource that failed."""
    from airflow_amplify.ampx.project import amplify_branch_stack_name

    app_id = staging_app["app_id"]
    stack_name = amplify_branch_stack_name(app_id, "main")
    cfn = amplify_world.client("cloudformation")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    stack_id = cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))["StackId"]
    amplify_world.script_stack(
        stack_name,
        ["UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"],
        status_reason="The following resource(s) failed to update: [amplifyAuthUserPool4BA7F805].",
        events=[
            {"LogicalResourceId": stack_name, "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_IN_PROGRESS", "ResourceStatusReason": "User Initiated",
             "PhysicalResourceId": stack_id},
            {"LogicalResourceId": "amplifyAuthUserPool4BA7F805", "ResourceType": "AWS::Cognito::UserPool",
             "ResourceStatus": "UPDATE_FAILED", "PhysicalResourceId": "us-east-1_abc",
             "ResourceStatusReason": "Invalid password policy: MinimumLength must be at least 6"},
            {"LogicalResourceId": stack_name, "ResourceType": "AWS::CloudFormation::Stack",
             "ResourceStatus": "UPDATE_ROLLBACK_COMPLETE", "PhysicalResourceId": stack_id},
        ],
    )  # fmt: skip
    context_kwargs = {
        "run_id": f"manual__rollback_{uuid.uuid4().hex[:8]}",
        "xcoms": {"plan": {"branch": "main", "staging": {"app_id": app_id}}},
        "dag_run_start": datetime.now(UTC) - timedelta(minutes=1),  # the run began before the deploy
    }
    sensor, context = release_task(RELEASE, "staging.stack_settled", context_kwargs)
    assert sensor.deferrable and sensor.app_id == app_id
    with pytest.raises(TaskDeferred) as excinfo:  # the worker's first look: UPDATE_IN_PROGRESS
        sensor.execute(context)
    deferred = excinfo.value

    async def first_event():
        async for event in deferred.trigger.run():
            return event.payload

    event = asyncio.run(asyncio.wait_for(first_event(), 60))
    assert event["status"] == "error", event
    resumed, context = release_task(RELEASE, "staging.stack_settled", context_kwargs)
    with pytest.raises(Exception) as failure:
        getattr(resumed, deferred.method_name)(context, event=event, **(deferred.kwargs or {}))
    message = str(failure.value)
    assert type(failure.value).__name__ == "StackRollbackError", repr(failure.value)
    assert "UPDATE_ROLLBACK_COMPLETE" in message and "amplifyAuthUserPool4BA7F805" in message, message
    assert "Invalid password policy" in message, message

    ledger = build_ledger(amplify_world)
    leftovers = left_running(amplify_world, marker)
    assert ledger["builds_started"] == 0 and leftovers["count"] == 0, (ledger, leftovers)
    record(
        "backend_stack_rolled_back",
        outcome="failed as expected",
        dag_runs=1,
        faults_injected=faults_injected(amplify_world),
        builds_started=ledger["builds_started"],
        builds_started_twice=ledger["builds_started_twice"],
        left_running=leftovers["count"],
    )
