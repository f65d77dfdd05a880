"""Amplify Hosting jobs, branches and incoming webhooks.

:class:`AmplifyHook` talks to the Amplify control plane (StartJob, GetJob, ListJobs, StopJob,
GetWebhook, ...); :class:`AmplifyWebhookHook` holds an incoming-webhook URL as a secret connection;
the polling policy that waits on the hook lives in :mod:`airflow_amplify.jobs`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.common.compat.sdk import AirflowException, BaseHook, mask_secret
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from airflow_amplify import WEBHOOK_CONNECTION_FORM as form
from airflow_amplify.statuses import (
    JOB_FAILURE_STATUSES,
    JOB_SUCCESS_STATUSES,
    job_is_active,
)

if TYPE_CHECKING:
    from airflow_amplify.jobs import JobOutcome

#: Error codes and HTTP statuses that mean "try again later", not "the wait is over".
TRANSIENT_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "LimitExceededException",
        "RequestLimitExceeded",
        "InternalFailure",
        "InternalFailureException",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "DependentServiceFailureException",
        "RequestTimeout",
    }
)


class AmplifyJobFailedError(AirflowException):
    """An Amplify job ended FAILED or CANCELLED, or did not finish within its limits."""


class AmplifyWebhookError(AirflowException):
    """An incoming webhook refused the trigger, or the job it started cannot be found."""


def is_transient_error(error: BaseException) -> bool:
    """Whether an AWS error means "try again" (throttling, 5xx, a dropped connection)."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in TRANSIENT_ERROR_CODES or status == 429 or status >= 500
    return isinstance(error, ConnectionError | HTTPClientError | OSError | TimeoutError)


# --- hooks -----------------------------------------------------------------------------------


class AmplifyHook(AwsBaseHook):
    """Interact with AWS Amplify Hosting: jobs, branches, webhooks and step logs.

    Additional arguments (such as ``aws_conn_id`` and ``region_name``) are passed to
    :class:`~airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "amplify"
        super().__init__(*args, **kwargs)

    def start_job(
        self,
        app_id: str,
        branch_name: str,
        job_type: str = "RELEASE",
        job_id: str | None = None,
        job_reason: str | None = None,
        commit_id: str | None = None,
        commit_message: str | None = None,
        attempts: int = 5,
        sleep=time.sleep,
    ) -> dict[str, Any]:
        """Start a job (StartJob) and return its ``jobSummary``; never start it twice.

        StartJob is not idempotent: had botocore resent it after an answer was lost (a dropped
        connection, a read timeout, a 5xx after Amplify took the request), the branch would get a
        second build. So StartJob goes out with botocore's retries off, and after a transient error
        ListJobs decides: a job of this type (and commit) newer than the branch's newest job before
        the first attempt is the one we started; otherwise StartJob is sent again, with backoff.

        :param app_id: the Amplify app id.
        :param branch_name: the branch to build.
        :param job_type: RELEASE, RETRY (needs ``job_id``), MANUAL or WEB_HOOK.
        :param job_id: the job to retry, for RETRY.
        :param job_reason: free text shown with the job.
        :param commit_id: the commit to build.
        :param commit_message: the commit message to show.
        :param attempts: StartJob attempts in all, after transient errors.
        :param sleep: the sleep function between attempts (tests pass a fake one).
        """
        from airflow_amplify.validation import to_count

        to_count(attempts, "attempts")
        params: dict[str, Any] = {"appId": app_id, "branchName": branch_name, "jobType": job_type}
        for key, value in (
            ("jobId", job_id),
            ("jobReason", job_reason),
            ("commitId", commit_id),
            ("commitMessage", commit_message),
        ):
            if value:
                params[key] = value
        newest = max((int(j["jobId"]) for j in self.list_jobs(app_id, branch_name, max_items=50)), default=0)
        client = self._client_without_retries()
        for attempt in range(1, attempts + 1):
            try:
                return client.start_job(**params)["jobSummary"]
            except Exception as err:
                if not is_transient_error(err) or attempt >= attempts:
                    raise
                self.log.warning(
                    "StartJob on %s/%s got no usable answer (%s); checking ListJobs before sending it again",
                    app_id,
                    branch_name,
                    type(err).__name__,
                )
            started = self.job_started_since(app_id, branch_name, newest, job_type, commit_id)
            if started is not None:
                self.log.info(
                    "StartJob had started job %s (%s) after all: not starting another",
                    started["jobId"],
                    started["status"],
                )
                return started
            sleep(min(10.0, 0.5 * 2 ** (attempt - 1)))
        raise AssertionError(
            "unreachable: attempts >= 1 returns or raises inside the loop"
        )  # pragma: no cover

    def _client_without_retries(self) -> Any:
        """An Amplify client like :attr:`conn` (same connection and settings) whose botocore retries are off."""
        no_retries = Config(retries={"total_max_attempts": 1})
        return self.get_client_type(region_name=self.region_name, config=self.config.merge(no_retries))

    def job_started_since(
        self, app_id: str, branch_name: str, newest: int, job_type: str, commit_id: str | None
    ) -> dict[str, Any] | None:
        """The oldest job of ``job_type`` (and ``commit_id``) newer than job ``newest``, or None."""
        jobs = self.list_jobs(app_id, branch_name, max_items=50)
        for job in sorted(jobs, key=lambda j: int(j["jobId"])):
            if int(job["jobId"]) <= newest or job.get("jobType") != job_type:
                continue
            if commit_id and job.get("commitId") not in (None, commit_id):
                continue
            return job
        return None

    def find_webhook_job(
        self,
        app_id: str,
        branch_name: str,
        newest: int,
        merge_into: str | None = None,
        merge_grace_period: float = 30.0,
        timeout: float = 120.0,
        sleep=time.sleep,
    ) -> tuple[dict[str, Any] | None, bool]:
        """Find the job an incoming-webhook POST started (ListJobs with a growing delay).

        :param app_id: the Amplify app.
        :param branch_name: the branch.
        :param newest: the newest job id before the POST.
        :param merge_into: the job that was pending before the POST: Amplify merges the trigger into
            it when no new job appears within ``merge_grace_period``.
        :param merge_grace_period: seconds after which ``merge_into`` is taken as the answer.
        :param timeout: seconds after which no answer is given.
        :param sleep: the sleep function (tests).
        :return: the new ``WEB_HOOK`` job (or the merged one) and whether it was merged; (None, False)
            after ``timeout``.
        """
        started = time.monotonic()
        delay = 1.0
        while True:
            job = self.job_started_since(app_id, branch_name, newest, "WEB_HOOK", None)
            if job is not None:
                return job, False
            elapsed = time.monotonic() - started
            if merge_into is not None and elapsed >= merge_grace_period:
                return self.get_job(app_id, branch_name, merge_into)["summary"], True
            if elapsed >= timeout:
                return None, False
            sleep(delay)
            delay = min(delay * 1.5, 10.0)

    def get_job(self, app_id: str, branch_name: str, job_id: str) -> dict[str, Any]:
        """GetJob: the job's ``summary`` and ``steps``."""
        return self.conn.get_job(appId=app_id, branchName=branch_name, jobId=job_id)["job"]

    def list_jobs(self, app_id: str, branch_name: str, max_items: int | None = None) -> list[dict[str, Any]]:
        """Job summaries of a branch, newest first (sorted by numeric job id: the API promises no order).

        :param max_items: stop after this many summaries (pages are fetched only as needed).
        """
        paginator = self.conn.get_paginator("list_jobs")
        config = {"MaxItems": max_items} if max_items else {}
        jobs = [
            j
            for page in paginator.paginate(appId=app_id, branchName=branch_name, PaginationConfig=config)
            for j in page["jobSummaries"]
        ]
        return sorted(jobs, key=lambda j: int(j["jobId"]), reverse=True)

    def stop_job(self, app_id: str, branch_name: str, job_id: str) -> dict[str, Any]:
        """StopJob; returns the ``jobSummary`` (usually CANCELLING)."""
        return self.conn.stop_job(appId=app_id, branchName=branch_name, jobId=job_id)["jobSummary"]

    def get_active_job(self, app_id: str, branch_name: str) -> dict[str, Any] | None:
        """The newest job of the branch that is not finished, or None."""
        for job in self.list_jobs(app_id, branch_name, max_items=50):
            if job_is_active(job["status"]):
                return job
        return None

    def get_branch(self, app_id: str, branch_name: str) -> dict[str, Any]:
        return self.conn.get_branch(appId=app_id, branchName=branch_name)["branch"]

    def expected_duration(self, app_id: str, branch_name: str, sample: int = 3) -> float | None:
        """How long the branch's recent successful builds ran once they had a build slot (median, seconds).

        Measured from the first step's start to the job's end, so time spent queued does not count.
        None when the branch has no successful build yet.

        :param sample: how many recent successful jobs to look at (one GetJob each).
        """
        durations = []
        for summary in self.list_jobs(app_id, branch_name, max_items=20):
            if summary["status"] not in JOB_SUCCESS_STATUSES:
                continue
            job = self.get_job(app_id, branch_name, summary["jobId"])
            steps = job.get("steps") or []
            if steps and steps[0].get("startTime") and job["summary"].get("endTime"):
                durations.append((job["summary"]["endTime"] - steps[0]["startTime"]).total_seconds())
            if len(durations) >= sample:
                break
        if not durations:
            return None
        durations.sort()
        return durations[len(durations) // 2]

    # logs

    def fetch_log_tail(self, log_url: str, lines: int = 50, timeout: float = 30) -> list[str]:
        """The last ``lines`` lines of a step's log, from its presigned ``logUrl``.

        :param log_url: the step's ``logUrl``.
        :param lines: how many lines to keep from the end.
        :param timeout: seconds to wait for the log.
        """
        with urllib.request.urlopen(log_url, timeout=timeout) as answer:
            text = answer.read().decode("utf-8", "replace")
        return text.splitlines()[-lines:]

    def describe_failure(self, outcome: JobOutcome, lines: int = 50) -> str:
        """The error text for a failed job: job, step, statusReason and the failing step's log tail."""
        message = outcome.message
        steps = [s for s in outcome.job.get("steps") or [] if s.get("status") in JOB_FAILURE_STATUSES]
        steps = steps or (outcome.job.get("steps") or [])[-1:]
        if lines and steps and steps[0].get("logUrl"):
            step = steps[0]
            try:
                tail = self.fetch_log_tail(step["logUrl"], lines)
            except (OSError, urllib.error.URLError) as err:
                message += f"\n(The {step['stepName']} log could not be fetched: {err})"
            else:
                message += f"\nLast {len(tail)} lines of the {step['stepName']} log:\n" + "\n".join(tail)
        return message

    # webhooks

    def get_webhook(self, webhook_id: str) -> dict[str, Any]:
        """GetWebhook: the webhook's app, branch and URL. The URL is registered as a secret at once."""
        webhook = self.conn.get_webhook(webhookId=webhook_id)["webhook"]
        register_webhook_secret(webhook["webhookUrl"])
        return webhook

    def trigger_webhook(self, url: str, timeout: float = 30) -> None:
        """POST ``&operation=startbuild`` with ``{}`` to an incoming webhook.

        :param url: the webhook URL (a secret: it is never logged).
        :param timeout: seconds to wait for the answer.
        :raises AmplifyWebhookError: when the webhook answered, but refused.
        :raises OSError: when the answer never came (timeout, reset): the build may have started.
        """
        request = urllib.request.Request(
            url + "&operation=startbuild",
            data=b"{}",
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                body = answer.read(4096).decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            raise AmplifyWebhookError(
                f"The incoming webhook refused the trigger with HTTP {err.code}: {err.read(500).decode('utf-8', 'replace')}"
            ) from None
        if body.lstrip().startswith("<"):
            raise AmplifyWebhookError(
                "The incoming webhook answered with an HTML page: the trigger was not accepted."
            )


def register_webhook_secret(url: str) -> None:
    """Tell Airflow's secrets masker about a webhook URL and its token, so no log shows them."""
    mask_secret(url)
    for token in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("token", []):
        mask_secret(token)


class AmplifyWebhookHook(BaseHook):
    """An Amplify incoming-webhook URL kept in an Airflow connection of type ``amplify_webhook``.

    The whole URL goes in the connection's password field, so Airflow stores it encrypted and masks it.

    :param webhook_conn_id: the connection id.
    """

    conn_name_attr = "webhook_conn_id"
    default_conn_name = "amplify_webhook_default"
    conn_type = "amplify_webhook"
    hook_name = "Amplify incoming webhook"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form for Airflow before 3.2: the provider info's ``ui-field-behaviour``."""
        return {
            "hidden_fields": list(form["hidden-fields"]),
            "relabeling": dict(form["relabeling"]),
            "placeholders": dict(form["placeholders"]),
        }

    def __init__(self, webhook_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook_conn_id = webhook_conn_id

    def get_webhook_url(self) -> str:
        """The webhook URL, registered with the secrets masker before it is returned."""
        conn = self.get_connection(self.webhook_conn_id)
        url = conn.password or ""
        if not url and conn.extra:
            url = json.loads(conn.extra).get("webhook_url", "")
        if not url:
            raise ValueError(
                f"Connection {self.webhook_conn_id!r} has no webhook URL: put the URL in its password field."
            )
        register_webhook_secret(url)
        return url
