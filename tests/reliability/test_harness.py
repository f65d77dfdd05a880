"""The suite's own measuring instruments can see what they report: a duplicate build, a build left
running, a process left alive, the faults the world injected."""

from __future__ import annotations

import os
import subprocess
import time

from .harness import (
    MARKER_VAR,
    build_ledger,
    fault_counts,
    faults_injected,
    inject_fault_mix,
    job_keys,
    left_running,
    marked_processes,
    new_marker,
)


def test_ledger_counts_a_second_build_of_a_branch_but_not_a_rebuild_after_a_failure(amplify_world):
    amplify = amplify_world.client("amplify")
    twice = amplify_world.seed_app("twice", ("main",))
    rebuilt = amplify_world.seed_app("rebuilt", ("main",))
    before = amplify_world.seed_app("before", ("main",))
    amplify.start_job(appId=before["app_id"], branchName="main", jobType="RELEASE")
    preexisting = job_keys(amplify_world)
    for _ in range(2):
        amplify.start_job(appId=twice["app_id"], branchName="main", jobType="RELEASE")
    amplify_world.script_next_job(rebuilt["app_id"], "main", outcome="FAILED", build_seconds=0.1)
    amplify.start_job(appId=rebuilt["app_id"], branchName="main", jobType="RELEASE")
    deadline = time.monotonic() + 20
    while amplify_world.jobs(app_id=rebuilt["app_id"])[0]["status"] != "FAILED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    amplify.start_job(appId=rebuilt["app_id"], branchName="main", jobType="RELEASE")
    ledger = build_ledger(amplify_world, preexisting)
    assert ledger["builds_started"] == 5  # every StartJob of the log; the jobs exclude the one before
    assert len(ledger["jobs"]) == 4 and ledger["builds_started_twice"] == 1
    assert left_running(amplify_world)["count"] >= 1  # twice's second build is still queued or running


def test_leftover_scan_finds_a_marked_process_until_it_is_gone():
    marker = new_marker()
    child = subprocess.Popen(["sleep", "60"], env={**os.environ, MARKER_VAR: marker})
    try:
        assert [pid for pid, _ in marked_processes(marker)] == [child.pid]
        assert marked_processes(new_marker()) == []
    finally:
        child.kill()
        child.wait()
    assert marked_processes(marker) == []


def test_fault_mix_fails_about_a_tenth_of_the_calls_of_each_service(amplify_world):
    import boto3
    from botocore.config import Config

    inject_fault_mix(amplify_world, seed=5, delay_rate=0, services=("sts",))
    sts = boto3.client(  # botocore's retries off: every injected fault is seen
        "sts",
        endpoint_url=amplify_world.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )
    failed = 0
    for _ in range(300):
        try:
            sts.get_caller_identity()
        except Exception:
            failed += 1
    counts = fault_counts(amplify_world)
    assert faults_injected(amplify_world) == failed == sum(counts[k] for k in ("429", "500", "503", "drop"))
    assert 15 <= failed <= 50, counts  # 10% of 300, give or take
    assert all(counts[k] > 0 for k in ("429", "500", "503", "drop")), counts
