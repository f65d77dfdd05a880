"""Watching an Amplify job and shaping its summary: shared by the operators, the sensor and the trigger.

:class:`JobWatch` is the one polling policy (status changes, backoff, queued and running limits)
that the blocking operators, the sensor and the async trigger all use; :func:`job_summary` is the
return value (XCom) of every task that waited for a job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from airflow_amplify.hooks.amplify import AmplifyHook, is_transient_error
from airflow_amplify.links.amplify import AmplifyJobLink
from airflow_amplify.statuses import JOB_FAILURE_STATUSES, JOB_STATUSES, job_is_terminal, job_phase
from airflow_amplify.timestamps import to_epoch, to_iso


def job_summary(
    job: dict[str, Any], app_id: str, branch_name: str, region: str, partition: str
) -> dict[str, Any]:
    """The XCom-safe summary of a job (GetJob's ``job``, or a ``jobSummary``).

    :param job: GetJob's ``job`` or a ``jobSummary``.
    :param app_id: the Amplify app id.
    :param branch_name: the branch.
    :param region: the hook's region, for the console URL.
    :param partition: the hook's partition (``aws``, ``aws-cn``, ``aws-us-gov``), for the console URL.
    """
    summary = job.get("summary", job)
    return {
        "app_id": app_id,
        "branch_name": branch_name,
        "job_id": summary["jobId"],
        "job_type": summary.get("jobType"),
        "status": summary.get("status"),
        "start_time": to_iso(summary.get("startTime")),
        "end_time": to_iso(summary.get("endTime")),
        "commit_id": summary.get("commitId"),
        "console_url": AmplifyJobLink.job_url(region, partition, app_id, branch_name, summary["jobId"]),
    }


@dataclass
class JobOutcome:
    """How a watched job ended.

    :param status: ``success``, ``failed`` (FAILED or CANCELLED) or ``timeout``.
    :param job: the last GetJob answer (``summary`` and ``steps``).
    :param message: one line for the log or the error.
    """

    status: str
    job: dict[str, Any]
    message: str


@dataclass
class JobWatch:
    """Watches one job: logs status changes, decides when to poll next, enforces queued/running limits.

    Sync loops (operators in blocking mode, sensors) and the async trigger feed it every GetJob
    answer and sleep for :meth:`next_delay`. Its inputs are plain values so a trigger can rebuild
    it in a new triggerer process: times come from the job's own timestamps where Amplify has them.

    :param app_id: the Amplify app id.
    :param branch_name: the branch.
    :param job_id: the job being watched.
    :param poll_interval: first delay between polls, and the delay after any status change (seconds).
    :param max_poll_interval: the longest delay between polls without an expected duration (seconds).
    :param backoff: growth factor of the delay while nothing changes.
    :param queued_timeout: longest time the job may stay queued (CREATED, PENDING; seconds; None: no limit).
    :param running_timeout: longest time the job may run once it has a build slot (seconds; None: no limit).
    :param expected_duration: how long the branch's builds usually run (seconds), to sleep until near the end.
    """

    app_id: str
    branch_name: str
    job_id: str
    poll_interval: float = 5.0
    max_poll_interval: float = 30.0
    backoff: float = 1.5
    queued_timeout: float | None = None
    running_timeout: float | None = None
    expected_duration: float | None = None
    # What the watch has seen so far (not arguments).
    last_status: str | None = field(default=None, init=False)
    last_steps: dict[str, str] = field(default_factory=dict, init=False)
    polls_since_change: int = field(default=0, init=False)
    queued_since: float | None = field(default=None, init=False)
    running_since: float | None = field(default=None, init=False)
    errors: int = field(default=0, init=False)

    def describe(self) -> str:
        return f"Amplify job {self.job_id} of {self.app_id}/{self.branch_name}"

    def observe(self, job: dict[str, Any], log: Any, now: float | None = None) -> JobOutcome | None:
        """Record one GetJob answer; log what changed; return the outcome when the wait is over."""
        now = time.time() if now is None else now
        self.errors = 0
        summary = job["summary"]
        status = summary["status"]
        started = to_epoch(summary.get("startTime")) or now
        if self.queued_since is None:
            self.queued_since = started
        steps = job.get("steps") or []
        if steps and self.running_since is None:
            self.running_since = to_epoch(steps[0].get("startTime"))
        if job_phase(status) == "running" and self.running_since is None:
            self.running_since = now
        changed = status != self.last_status
        if changed:
            if status not in JOB_STATUSES:
                log.info(
                    "%s is in status %s, which this provider does not know: still waiting",
                    self.describe(),
                    status,
                )
            else:
                waited = now - started
                log.info("%s is %s (%.0f s since it was created)", self.describe(), status, waited)
            self.last_status = status
        for step in steps:
            name, step_status = step["stepName"], step["status"]
            if self.last_steps.get(name) != step_status:
                self.last_steps[name] = step_status
                duration = ""
                if step.get("endTime") and step.get("startTime"):
                    duration = f" after {to_epoch(step['endTime']) - to_epoch(step['startTime']):.1f} s"
                log.info("%s: step %s %s%s", self.describe(), name, step_status, duration)
                changed = True
        self.polls_since_change = 0 if changed else self.polls_since_change + 1
        if job_is_terminal(status):
            if status in JOB_FAILURE_STATUSES:
                return JobOutcome("failed", job, failure_reason(job, self.describe()))
            return JobOutcome("success", job, f"{self.describe()} succeeded")
        phase = job_phase(status)
        if (
            phase == "queued"
            and self.queued_timeout is not None
            and now - self.queued_since > self.queued_timeout
        ):
            return JobOutcome(
                "timeout",
                job,
                f"{self.describe()} stayed queued ({status}) for more than {self.queued_timeout:.0f} s; "
                "the branch may have another build running or the account its concurrent-build limit.",
            )
        if (
            phase == "running"
            and self.running_timeout is not None
            and now - self.running_since > self.running_timeout
        ):
            return JobOutcome(
                "timeout",
                job,
                f"{self.describe()} ran ({status}) for more than {self.running_timeout:.0f} s.",
            )
        return None

    def observe_error(self, error: BaseException, log: Any) -> None:
        """Record a transient error (throttling, 5xx, dropped connection): the wait goes on."""
        self.errors += 1
        log.warning("%s: transient error while polling (%s); retrying", self.describe(), type(error).__name__)

    def next_delay(self, now: float | None = None) -> float:
        """Seconds to wait before the next poll."""
        now = time.time() if now is None else now
        if self.errors:
            return min(self.max_poll_interval, self.poll_interval * self.backoff ** min(self.errors, 10))
        grown = min(
            self.max_poll_interval, self.poll_interval * self.backoff ** min(self.polls_since_change, 20)
        )
        if (
            self.expected_duration
            and self.running_since is not None
            and job_phase(self.last_status or "") == "running"
        ):
            remaining = self.running_since + self.expected_duration - now
            if remaining > self.poll_interval:
                return remaining  # sleep until about the time builds of this branch usually end
            # Overdue: poll at about a tenth of the usual duration, never slower than the cap.
            return max(1.0, min(grown, self.max_poll_interval, 0.1 * self.expected_duration))
        return grown

    def wait(self, hook: AmplifyHook, sleep=time.sleep) -> JobOutcome:
        """Poll GetJob through ``hook`` until the wait is over (blocking; holds the worker).

        :param hook: the task's AmplifyHook.
        :param sleep: how to wait between polls.
        """
        while True:
            try:
                job = hook.get_job(self.app_id, self.branch_name, self.job_id)
            except Exception as err:
                if not is_transient_error(err):
                    raise
                self.observe_error(err, hook.log)
            else:
                outcome = self.observe(job, hook.log)
                if outcome is not None:
                    return outcome
            sleep(self.next_delay())


def failure_reason(job: dict[str, Any], describe: str) -> str:
    """One line naming the job, its status, the failing step and the step's statusReason."""
    status = job["summary"]["status"]
    failed = [s for s in job.get("steps") or [] if s.get("status") in JOB_FAILURE_STATUSES]
    if failed:
        step = failed[0]
        reason = step.get("statusReason") or "no status reason given"
        return f"{describe} {status}: step {step['stepName']} {step['status']}: {reason}"
    return f"{describe} {status} before any step failed"
