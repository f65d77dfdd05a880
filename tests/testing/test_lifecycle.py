"""The simulated job lifecycle: statuses, steps, logs, queueing, the account limit and StopJob."""

from __future__ import annotations

import time

import pytest
import requests

TERMINAL = {"SUCCEED", "FAILED", "CANCELLED"}


def watch(amplify, app_id, branch, job_id, until=TERMINAL, timeout=15.0):
    """Poll GetJob quickly and return the distinct statuses seen, and the last job."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = amplify.get_job(appId=app_id, branchName=branch, jobId=job_id)["job"]
        status = job["summary"]["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in until:
            return seen, job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not reach {until} in {timeout}s; saw {seen}")


@pytest.fixture
def amplify(amplify_world):
    return amplify_world.client("amplify")


def test_job_goes_through_every_status_with_scripted_timings(amplify_world, amplify, staging_app):
    app_id = staging_app["app_id"]
    amplify_world.script_next_job(
        app_id,
        "main",
        created_seconds=0.2,
        pending_seconds=0.2,
        provision_seconds=0.3,
        build_seconds=0.5,
        deploy_seconds=0.3,
    )
    job = amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")["jobSummary"]
    assert job["status"] == "CREATED"
    seen, final = watch(amplify, app_id, "main", job["jobId"])
    assert seen == ["CREATED", "PENDING", "PROVISIONING", "RUNNING", "SUCCEED"]
    steps = final["steps"]
    assert [(s["stepName"], s["status"]) for s in steps] == [("BUILD", "SUCCEED"), ("DEPLOY", "SUCCEED")]
    build = (steps[0]["endTime"] - steps[0]["startTime"]).total_seconds()
    deploy = (steps[1]["endTime"] - steps[1]["startTime"]).total_seconds()
    assert build == pytest.approx(0.5, abs=0.01) and deploy == pytest.approx(0.3, abs=0.01)
    total = (final["summary"]["endTime"] - final["summary"]["startTime"]).total_seconds()
    assert total == pytest.approx(1.5, abs=0.02)  # event times, not poll times


def test_failed_build_names_step_reason_and_serves_its_log(amplify_world, amplify, staging_app):
    app_id = staging_app["app_id"]
    amplify_world.script_next_job(
        app_id, "main", outcome="FAILED", fail_step="BUILD", status_reason="npm ERR! missing script: build"
    )
    job = amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")["jobSummary"]
    seen, final = watch(amplify, app_id, "main", job["jobId"])
    assert seen[-1] == "FAILED"
    (step,) = final["steps"]
    assert step["stepName"] == "BUILD" and step["status"] == "FAILED"
    assert step["statusReason"] == "npm ERR! missing script: build"
    log = requests.get(step["logUrl"], timeout=5).text.splitlines()
    assert len(log) > 60
    assert "npm ERR! missing script: build" in log[-2]
    # The next job on the branch uses the default script again.
    second = amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")["jobSummary"]
    assert watch(amplify, app_id, "main", second["jobId"])[0][-1] == "SUCCEED"


def test_failure_in_deploy_step(amplify_world, amplify, staging_app):
    app_id = staging_app["app_id"]
    amplify_world.script_next_job(
        app_id, "main", outcome="FAILED", fail_step="DEPLOY", status_reason="deploy broke"
    )
    job = amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")["jobSummary"]
    _, final = watch(amplify, app_id, "main", job["jobId"])
    assert [(s["stepName"], s["status"]) for s in final["steps"]] == [
        ("BUILD", "SUCCEED"),
        ("DEPLOY", "FAILED"),
    ]


def test_one_running_job_per_branch_later_ones_wait_pending(amplify_world, amplify, staging_app):
    app_id = staging_app["app_id"]
    amplify_world.script_next_job(app_id, "main", build_seconds=0.8)
    first = amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")["jobSummary"]
    second = amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")["jobSummary"]
    assert (
        amplify.get_job(appId=app_id, branchName="main", jobId="2")["job"]["summary"]["status"] == "PENDING"
    )
    _, first_final = watch(amplify, app_id, "main", first["jobId"])
    _, second_final = watch(amplify, app_id, "main", second["jobId"])
    assert second_final["steps"][0]["startTime"] >= first_final["summary"]["endTime"]
    # Another branch is not blocked by main's running job.
    other = amplify.start_job(appId=app_id, branchName="feature/x", jobType="RELEASE")["jobSummary"]
    assert watch(amplify, app_id, "feature/x", other["jobId"], until={"PROVISIONING", "RUNNING"} | TERMINAL)


def test_webhook_trigger_merges_into_a_pending_job(amplify_world, amplify, staging_app):
    app_id = staging_app["app_id"]
    url = staging_app["webhooks"]["main"]["url"] + "&operation=startbuild"
    amplify_world.script_next_job(app_id, "main", pending_seconds=0, build_seconds=1.0)
    amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")
    watch(amplify, app_id, "main", "1", until={"PROVISIONING", "RUNNING"})
    assert requests.post(url, json={}, timeout=5).status_code == 200  # queues job 2 behind job 1
    assert requests.post(url, json={}, timeout=5).status_code == 200  # merges into pending job 2
    jobs = amplify.list_jobs(appId=app_id, branchName="main")["jobSummaries"]
    assert [(j["jobId"], j["jobType"], j["status"]) for j in jobs][0] == ("2", "WEB_HOOK", "PENDING")
    assert len(jobs) == 2
    (merged,) = [r for r in amplify_world.requests(service="amplify-webhooks") if r["merged"]]
    assert merged["job_id"] == "2"


def test_account_concurrency_limit_keeps_extra_jobs_pending(amplify_world, amplify):
    amplify_world.settings(concurrency_limit=2, default_script={"build_seconds": 0.6})
    apps = [amplify_world.seed_app(f"app{i}", ("main",)) for i in range(3)]
    jobs = [
        amplify.start_job(appId=a["app_id"], branchName="main", jobType="RELEASE")["jobSummary"] for a in apps
    ]
    time.sleep(0.25)
    statuses = [
        amplify.get_job(appId=a["app_id"], branchName="main", jobId=j["jobId"])["job"]["summary"]["status"]
        for a, j in zip(apps, jobs, strict=True)
    ]
    assert statuses == ["PROVISIONING", "PROVISIONING", "PENDING"]
    seen, final = watch(amplify, apps[2]["app_id"], "main", jobs[2]["jobId"])
    assert seen[0] == "PENDING" and seen[-1] == "SUCCEED"
    # Another account has its own limit.
    other = amplify_world.seed_app("other", ("main",), account_id="222222222222")
    prod = amplify_world.client("amplify", account_id="222222222222")
    job = prod.start_job(appId=other["app_id"], branchName="main", jobType="RELEASE")["jobSummary"]
    assert watch(prod, other["app_id"], "main", job["jobId"])[0][-1] == "SUCCEED"


def test_stop_job_goes_through_cancelling_to_cancelled(amplify_world, amplify, staging_app):
    app_id = staging_app["app_id"]
    amplify_world.script_next_job(app_id, "main", build_seconds=5, cancel_seconds=0.3)
    job = amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")["jobSummary"]
    watch(amplify, app_id, "main", job["jobId"], until={"RUNNING"})
    stopped = amplify.stop_job(appId=app_id, branchName="main", jobId=job["jobId"])["jobSummary"]
    assert stopped["status"] == "CANCELLING"
    seen, final = watch(amplify, app_id, "main", job["jobId"])
    assert seen == ["CANCELLING", "CANCELLED"]
    assert final["steps"][0]["status"] == "CANCELLED"
    with pytest.raises(amplify.exceptions.BadRequestException):
        amplify.stop_job(appId=app_id, branchName="main", jobId=job["jobId"])


def test_stopping_a_pending_job_frees_nothing_and_cancels_it(amplify_world, amplify, staging_app):
    app_id = staging_app["app_id"]
    amplify_world.script_next_job(app_id, "main", build_seconds=0.8)
    amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")
    pending = amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")["jobSummary"]
    amplify.stop_job(appId=app_id, branchName="main", jobId=pending["jobId"])
    assert watch(amplify, app_id, "main", pending["jobId"])[0][-1] == "CANCELLED"
    assert watch(amplify, app_id, "main", "1")[0][-1] == "SUCCEED"


def test_time_speed_scales_simulated_durations(amplify_world, amplify, staging_app):
    app_id = staging_app["app_id"]
    amplify_world.settings(time_speed=60.0)
    amplify_world.script_next_job(app_id, "main", provision_seconds=10, build_seconds=40, deploy_seconds=10)
    started = time.monotonic()
    job = amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")["jobSummary"]
    _, final = watch(amplify, app_id, "main", job["jobId"])
    assert time.monotonic() - started < 3  # one simulated minute in about one real second
    assert (final["summary"]["endTime"] - final["summary"]["startTime"]).total_seconds() == pytest.approx(
        60, abs=1
    )


def test_world_job_listing_shows_every_account(amplify_world, staging_app, production_app):
    amplify_world.client("amplify").start_job(
        appId=staging_app["app_id"], branchName="main", jobType="RELEASE"
    )
    prod = amplify_world.client("amplify", account_id="222222222222")
    prod.start_job(appId=production_app["app_id"], branchName="main", jobType="RELEASE")
    assert {j["account_id"] for j in amplify_world.jobs()} == {"123456789012", "222222222222"}
    assert len(amplify_world.jobs(account_id="222222222222")) == 1


def test_reset_brings_a_fast_clock_back_to_real_time(amplify_world, amplify, staging_app):
    amplify_world.settings(time_speed=100.0)
    time.sleep(0.3)  # thirty simulated seconds
    amplify_world.reset()
    app = amplify_world.seed_app("after-reset", ("main",))
    job = amplify.start_job(appId=app["app_id"], branchName="main", jobType="RELEASE")["jobSummary"]
    assert abs(job["startTime"].timestamp() - time.time()) < 2
