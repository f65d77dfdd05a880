"""The job watch (polling policy) and the job summary every waiting task returns."""

from __future__ import annotations

import pytest

from airflow_amplify.jobs import JobWatch, job_summary


def test_watch_backs_off_while_nothing_changes_and_resets_on_change():
    class Log:
        def info(self, *a):
            pass

    watch = JobWatch("d1", "main", "1", poll_interval=5, max_poll_interval=30, backoff=1.5)
    job = {"summary": {"status": "RUNNING", "startTime": 1000.0}, "steps": []}
    delays = []
    for _ in range(6):
        watch.observe(job, Log(), now=1000.0)
        delays.append(watch.next_delay(now=1000.0))
    assert delays == [5, 7.5, 11.25, 16.875, 25.3125, 30]
    watch.observe(
        {
            "summary": {"status": "RUNNING", "startTime": 1000.0},
            "steps": [{"stepName": "BUILD", "status": "RUNNING", "startTime": 1001.0}],
        },
        Log(),
        now=1002,
    )
    assert watch.next_delay(now=1002) == 5


def test_watch_sleeps_until_the_expected_end_then_polls_densely():
    class Log:
        def info(self, *a):
            pass

    watch = JobWatch("d1", "main", "1", poll_interval=5, max_poll_interval=30, expected_duration=600)
    job = {
        "summary": {"status": "RUNNING", "startTime": 0.0},
        "steps": [{"stepName": "BUILD", "status": "RUNNING", "startTime": 0.0}],
    }
    watch.observe(job, Log(), now=10)
    assert watch.next_delay(now=10) == 590  # one call near the end instead of ~40
    watch.observe(job, Log(), now=600)
    assert watch.next_delay(now=600) <= 30 and watch.next_delay(now=600) <= 0.1 * 600


@pytest.mark.parametrize(
    ("partition", "host"),
    [
        ("aws", "eu-west-1.console.aws.amazon.com"),
        ("aws-cn", "eu-west-1.console.amazonaws.cn"),
        ("aws-us-gov", "eu-west-1.console.amazonaws-us-gov.com"),
    ],
)
def test_summary_console_url_follows_the_partition_and_encodes_the_branch(partition, host):
    job = {"summary": {"jobId": "7", "status": "SUCCEED", "jobType": "RELEASE"}}
    summary = job_summary(job, "d1", "feature/a b", "eu-west-1", partition)
    assert summary["console_url"] == (
        f"https://{host}/amplify/apps/d1/branches/feature%2Fa%20b/deployments/7"
    )
    assert (summary["job_id"], summary["status"], summary["start_time"]) == ("7", "SUCCEED", None)
