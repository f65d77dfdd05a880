"""Start Amplify Hosting builds (StartJob, incoming webhooks) and wait for them.

Both operators share one life cycle: validate input before any AWS call, start (or re-attach to)
a job, persist a console link, then wait in the triggerer (deferrable), in the worker (blocking),
or not at all. A retried task re-attaches to the job its earlier try started while that job is
active or has succeeded: through Airflow 3.3's resumable-job support (``task_state_store``) where
it exists, and through an Airflow Variable per task instance on older Airflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException, conf

from airflow_amplify.hooks.amplify import (
    AmplifyHook,
    AmplifyJobFailedError,
    AmplifyWebhookError,
    AmplifyWebhookHook,
)
from airflow_amplify.jobs import JobOutcome, JobWatch, job_summary
from airflow_amplify.links.amplify import AmplifyJobLink
from airflow_amplify.reattach import (
    STALE_RESUME_MESSAGE,
    ReattachJobMixin,
    current_try,
    resumed_on_another_try,
)
from airflow_amplify.statuses import JOB_PENDING_STATUS, JOB_SUCCESS_STATUSES, job_is_active
from airflow_amplify.validation import (
    AWS_PARAMETER_KINDS,
    BOOL,
    amplify,
    check_connection_id,
    check_parameters,
    connection_id,
    count,
    custom,
    duration,
    ensure_connection_exists,
    enum,
    shown,
    to_seconds,
    validate_amplify_value,
    validate_webhook_url,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

IF_BUSY_CHOICES = ("wait", "attach", "stop", "fail")
WEBHOOK_IF_BUSY_CHOICES = ("trigger", "attach", "fail")
#: Job types StartJob takes without a job id (RETRY names the job it retries).
JOB_TYPES_WITHOUT_JOB_ID = ("RELEASE", "WEB_HOOK")


def _webhook_id(param: str, value: Any) -> None:
    """A webhook id, never a webhook URL (whose token must not reach a message)."""
    if isinstance(value, str) and ("://" in value or "token=" in value):
        check_connection_id(param, value)  # refuses it without showing it
    validate_amplify_value(param, value, "WebhookId", required=False)


class AmplifyBaseJobOperator(ReattachJobMixin, AwsBaseOperator[AmplifyHook]):
    """Shared life cycle of the operators that start an Amplify job and wait for it.

    :param wait_for_completion: wait for the job to finish (default True); otherwise return once it started.
    :param deferrable: wait in the triggerer, holding no worker slot
        (default: the ``[operators] default_deferrable`` setting).
    :param waiter_delay: seconds between the first polls, and after every status change.
    :param waiter_max_delay: longest delay between polls while nothing changes (seconds).
    :param queued_timeout: longest time the job may stay queued (CREATED, PENDING), in seconds or a timedelta.
    :param running_timeout: longest time the job may run once provisioned, in seconds or a timedelta.
    :param log_tail_lines: lines of the failing step's log to put in the error.
    :param stop_job_on_kill: stop the Amplify job when the task is killed, or times out.
    :param aws_conn_id: the Airflow AWS connection (assume-role and per-service endpoints included).
    :param region_name: AWS region (default: the connection's).
    :param verify: SSL certificate verification.
    :param botocore_config: botocore client configuration, as a dict.
    """

    aws_hook_class = AmplifyHook
    operator_extra_links = (AmplifyJobLink(),)
    external_id_key = "amplify_job"
    ui_color = "#ff9900"
    #: The kind of every parameter, checked by :func:`~airflow_amplify.validation.check_parameters`.
    parameter_kinds = {
        **AWS_PARAMETER_KINDS,
        "wait_for_completion": BOOL,
        "deferrable": BOOL,
        "waiter_delay": duration(),
        "waiter_max_delay": duration(),
        "queued_timeout": duration(allow_none=True),
        "running_timeout": duration(allow_none=True),
        "log_tail_lines": count(0),
        "stop_job_on_kill": BOOL,
    }

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        waiter_delay: float = 5,
        waiter_max_delay: float = 30,
        queued_timeout: float | timedelta | None = timedelta(hours=2),
        running_timeout: float | timedelta | None = timedelta(hours=2),
        log_tail_lines: int = 50,
        stop_job_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_delay = waiter_max_delay
        self.queued_timeout = queued_timeout
        self.running_timeout = running_timeout
        self.log_tail_lines = log_tail_lines
        self.stop_job_on_kill = stop_job_on_kill
        self.app_id: str = ""
        self.branch_name: str = ""
        self._job_ref: dict[str, str] | None = None
        #: How this task came by its job: started, attached (to an active job), merged (into a
        #: pending job, by a webhook) or reattached (by a retry). Part of the XCom value.
        self._action = "started"

    # --- for subclasses ---------------------------------------------------------------------

    def validate(self) -> None:
        """Check every input before any AWS call; raise ValueError naming the parameter."""
        check_parameters(self)
        if to_seconds(self.waiter_delay, "waiter_delay") > to_seconds(
            self.waiter_max_delay, "waiter_max_delay"
        ):
            raise ValueError(
                f"waiter_delay ({self.waiter_delay}) must not exceed waiter_max_delay ({self.waiter_max_delay})."
            )
        ensure_connection_exists(self.aws_conn_id)

    def start(self, context: Context) -> dict[str, Any]:
        """Start the job (or adopt one) and return its ``jobSummary``."""
        raise NotImplementedError

    # --- re-attach: ReattachJobMixin's interface (ResumableJobMixin's, on every Airflow line) ----

    def execute(self, context: Context) -> Any:
        return self.execute_reattaching(context)

    def _same_target(self, ref: dict[str, Any]) -> bool:
        return ref.get("app_id") == self.app_id and ref.get("branch_name") == self.branch_name

    def submit_job(self, context: Context) -> dict[str, str]:
        summary = self.start(context)
        ref = {"app_id": self.app_id, "branch_name": self.branch_name, "job_id": summary["jobId"]}
        self._job_ref = ref
        return ref

    def get_job_status(self, external_id: Any, context: Context) -> str | None:
        """The stored job's status; None when it is of another app or branch, or no longer exists."""
        if not isinstance(external_id, dict) or not self._same_target(external_id):
            return None
        try:
            return self.hook.get_job(self.app_id, self.branch_name, external_id["job_id"])["summary"][
                "status"
            ]
        except self.hook.conn.exceptions.NotFoundException:
            return None

    def is_job_active(self, status: str | None) -> bool:
        return status is not None and job_is_active(status)

    def is_job_succeeded(self, status: str | None) -> bool:
        return status in JOB_SUCCESS_STATUSES

    def poll_until_complete(self, external_id: Any, context: Context) -> Any:
        if self._job_ref is None or self._job_ref["job_id"] != external_id["job_id"]:
            self._action = "reattached"  # not submitted by this try
        self._job_ref = dict(external_id)
        job_id = external_id["job_id"]
        AmplifyJobLink.persist_job(context, self, self.hook, self.app_id, self.branch_name, job_id)
        if not self.wait_for_completion:
            return self._remember(self.get_job_result(external_id, context))
        expected = self.hook.expected_duration(self.app_id, self.branch_name)
        if self.deferrable:
            from airflow_amplify.triggers.amplify import (
                AmplifyJobTrigger,  # deferral only: the trigger module pulls in aiobotocore
            )

            self.defer(
                trigger=AmplifyJobTrigger.for_task(
                    self,
                    job_id,
                    poll_interval=self.waiter_delay,
                    max_poll_interval=self.waiter_max_delay,
                    queued_timeout=to_seconds(self.queued_timeout, "queued_timeout"),
                    running_timeout=to_seconds(self.running_timeout, "running_timeout"),
                    expected_duration=expected,
                    stop_on_kill=self.stop_job_on_kill,
                    action=self._action,
                    deferred_on_try=current_try(context),
                ),
                method_name="execute_complete",
                kwargs={"action": self._action},
            )
        watch = self._watch(job_id, expected)
        return self._remember(self._finish(watch.wait(self.hook), context))

    def _remember(self, result: dict[str, Any]) -> dict[str, Any]:
        self._result = result
        return result

    def get_job_result(self, external_id: Any, context: Context) -> dict[str, Any]:
        cached = getattr(self, "_result", None)
        if cached and cached["job_id"] == external_id["job_id"]:
            return cached  # the wait that just ended already read the final state
        if self._job_ref is None or self._job_ref["job_id"] != external_id["job_id"]:
            self._action = "reattached"
        job = self.hook.get_job(self.app_id, self.branch_name, external_id["job_id"])
        return self._summary(job)

    def _summary(self, job: dict[str, Any]) -> dict[str, Any]:
        summary = job_summary(
            job, self.app_id, self.branch_name, self.hook.conn_region_name, self.hook.conn_partition
        )
        summary["action"] = self._action
        return summary

    # --- waiting ----------------------------------------------------------------------------

    def _watch(self, job_id: str, expected: float | None) -> JobWatch:
        return JobWatch(
            self.app_id,
            self.branch_name,
            job_id,
            poll_interval=self.waiter_delay,
            max_poll_interval=self.waiter_max_delay,
            queued_timeout=to_seconds(self.queued_timeout, "queued_timeout"),
            running_timeout=to_seconds(self.running_timeout, "running_timeout"),
            expected_duration=expected,
        )

    def _finish(self, outcome: JobOutcome, context: Context) -> dict[str, Any]:
        if outcome.status == "success":
            self.log.info("%s", outcome.message)
            return self._summary(outcome.job)
        if outcome.status == "timeout":
            self._stop_if_active(outcome.job["summary"]["jobId"], "it exceeded its time limit")
            raise AmplifyJobFailedError(outcome.message)
        raise AmplifyJobFailedError(self.hook.describe_failure(outcome, self.log_tail_lines))

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, action: str = "started"
    ) -> dict[str, Any]:
        """Resume after the trigger fired: return the job summary, or raise with the failure and its log.

        :param event: the trigger's event.
        :param action: how the deferred try came by its job (kept in the XCom value).
        """
        if resumed_on_another_try(context, event):
            self.log.warning(STALE_RESUME_MESSAGE, (event or {}).get("deferred_on_try"))
            return self.execute(context)
        self._action = (event or {}).get("action") or action
        if not event or "status" not in event or "job_id" not in event:
            raise AirflowException(f"Unexpected trigger event: {event!r}")
        self.validate_inputs_after_deferral()
        job_id = event["job_id"]
        self._job_ref = {"app_id": self.app_id, "branch_name": self.branch_name, "job_id": job_id}
        if event["status"] == "error":
            raise AmplifyJobFailedError(event["message"])
        job = self.hook.get_job(self.app_id, self.branch_name, job_id)
        result = self._finish(JobOutcome(event["status"], job, event["message"]), context)
        self.forget_job(context)
        return result

    def validate_inputs_after_deferral(self) -> None:
        """Hook for subclasses whose app and branch are resolved at run time."""

    def _fail_or_attach(self, active: dict[str, Any]) -> dict[str, Any]:
        """``if_busy`` is ``fail`` or ``attach`` and the branch has an active job: refuse, or adopt it."""
        desc = f"job {active['jobId']} ({active['jobType']}, {active['status']})"
        if self.if_busy == "fail":
            raise AirflowException(
                f"Branch {self.branch_name} of app {self.app_id} already has an active {desc}; if_busy='fail'."
            )
        self.log.info("Branch %s already has an active %s: attaching to it", self.branch_name, desc)
        self._action = "attached"
        return active

    def _stop_if_active(self, job_id: str, why: str) -> None:
        try:
            job = self.hook.get_job(self.app_id, self.branch_name, job_id)
            if job_is_active(job["summary"]["status"]):
                self.log.info(
                    "Stopping Amplify job %s of %s/%s: %s", job_id, self.app_id, self.branch_name, why
                )
                self.hook.stop_job(self.app_id, self.branch_name, job_id)
        except Exception as err:
            self.log.warning("Could not stop Amplify job %s: %s", job_id, err)

    def on_kill(self) -> None:
        """Stop the Amplify job this task started or attached to."""
        if self.stop_job_on_kill and self._job_ref:
            self._stop_if_active(self._job_ref["job_id"], "the task was killed")


class AmplifyStartJobOperator(AmplifyBaseJobOperator):
    """Start an Amplify Hosting job with StartJob and wait for it.

    .. seealso:: the Amplify API's StartJob.

    :param app_id: the Amplify app id (``d`` followed by lowercase letters and digits). Templated.
    :param branch_name: the branch to build, e.g. ``main`` or ``feature/x``. Templated.
    :param job_type: RELEASE (default), RETRY (needs ``job_id``), or WEB_HOOK. Templated.
    :param job_id: the job to retry, for RETRY. Templated.
    :param job_reason: free text shown with the job. Templated.
    :param commit_id: the commit to build, shown in the console. Templated.
    :param commit_message: the commit message to show in the console. Templated.
    :param if_busy: what to do when the branch already has an active job: ``wait`` for it and then
        start ours (default), ``attach`` to it as if we had started it, ``stop`` it and start ours,
        or ``fail``.
    """

    template_fields: Sequence[str] = aws_template_fields(
        "app_id", "branch_name", "job_type", "job_id", "job_reason", "commit_id", "commit_message"
    )
    parameter_kinds = {
        **AmplifyBaseJobOperator.parameter_kinds,
        "app_id": amplify("AppId"),
        "branch_name": amplify("BranchName"),
        "job_type": amplify("JobType"),
        "job_id": amplify("JobId", required=False),
        "job_reason": amplify("JobReason", required=False),
        "commit_id": amplify("CommitId", required=False),
        "commit_message": amplify("CommitMessage", required=False),
        "if_busy": enum(*IF_BUSY_CHOICES),
    }

    def __init__(
        self,
        *,
        app_id: str,
        branch_name: str,
        job_type: str = "RELEASE",
        job_id: str | None = None,
        job_reason: str | None = None,
        commit_id: str | None = None,
        commit_message: str | None = None,
        if_busy: str = "wait",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_id = app_id
        self.branch_name = branch_name
        self.job_type = job_type
        self.job_id = job_id
        self.job_reason = job_reason
        self.commit_id = commit_id
        self.commit_message = commit_message
        self.if_busy = if_busy
        check_parameters(self, at="init")

    def validate(self) -> None:
        if self.job_type == "MANUAL":
            raise ValueError("job_type='MANUAL' is for manual deployments (CreateDeployment), not StartJob.")
        super().validate()
        if self.job_type == "RETRY" and not self.job_id:
            raise ValueError("job_type='RETRY' needs job_id: the id of the job to retry.")
        if self.job_id and self.job_type in JOB_TYPES_WITHOUT_JOB_ID:
            raise ValueError(
                f"job_id={self.job_id!r} with job_type={self.job_type!r}: only job_type='RETRY' takes a job id "
                "(the job to retry); leave job_id out, or use job_type='RETRY'."
            )

    def start(self, context: Context) -> dict[str, Any]:
        hook = self.hook
        self._get_branch_or_explain()
        if self.job_type == "RETRY":
            self._get_job_to_retry()
        active = hook.get_active_job(self.app_id, self.branch_name)
        if active is not None:
            desc = f"job {active['jobId']} ({active['jobType']}, {active['status']})"
            if self.if_busy in ("fail", "attach"):
                return self._fail_or_attach(active)
            if self.if_busy == "stop":
                self.log.info(
                    "Branch %s has an active %s: stopping it before starting ours", self.branch_name, desc
                )
                hook.stop_job(self.app_id, self.branch_name, active["jobId"])
            elif self.deferrable:
                # Waiting here would hold the worker: Amplify queues our job behind the active one,
                # and the triggerer waits for it (queued_timeout bounds the wait).
                self.log.info(
                    "Branch %s has an active %s: starting ours, which Amplify queues behind it",
                    self.branch_name,
                    desc,
                )
            else:
                self.log.info(
                    "Branch %s has an active %s: waiting for it before starting ours", self.branch_name, desc
                )
                self._wait_for_other_job(active["jobId"])
        summary = hook.start_job(
            self.app_id,
            self.branch_name,
            job_type=self.job_type,
            job_id=self.job_id,
            job_reason=self.job_reason,
            commit_id=self.commit_id,
            commit_message=self.commit_message,
        )
        self.log.info(
            "Started Amplify %s job %s on %s/%s (%s)",
            self.job_type,
            summary["jobId"],
            self.app_id,
            self.branch_name,
            summary["status"],
        )
        return summary

    def _get_branch_or_explain(self) -> dict[str, Any]:
        try:
            return self.hook.get_branch(self.app_id, self.branch_name)
        except self.hook.conn.exceptions.NotFoundException as err:
            raise ValueError(
                f"app_id={self.app_id!r}, branch_name={self.branch_name!r}: not found in account "
                f"{self.hook.account_id}, region {self.hook.conn_region_name} "
                f"({err.response['Error'].get('Message', '')}). Check the app id, the branch and the connection."
            ) from None

    def _get_job_to_retry(self) -> dict[str, Any]:
        """GetJob of the job a RETRY names, before StartJob: a missing job is an input error."""
        try:
            return self.hook.get_job(self.app_id, self.branch_name, self.job_id)
        except self.hook.conn.exceptions.NotFoundException:
            raise ValueError(
                f"job_id={self.job_id!r}: branch {self.branch_name!r} of app {self.app_id!r} has no such job "
                f"to retry (account {self.hook.account_id}, region {self.hook.conn_region_name}); give the id "
                "of one of its jobs."
            ) from None

    def _wait_for_other_job(self, job_id: str) -> None:
        """Wait, in the worker, for another job on the branch to finish (its outcome is not ours).

        The wait is bounded by ``queued_timeout``: the longest our job may wait for a build slot.
        """
        watch = self._watch(job_id, None)
        limit = to_seconds(self.queued_timeout, "queued_timeout")
        watch.queued_timeout = watch.running_timeout = limit
        outcome = watch.wait(self.hook)
        if outcome.status == "timeout":
            raise AmplifyJobFailedError(
                f"Branch {self.branch_name} of app {self.app_id} stayed busy with job {job_id} for longer than "
                f"queued_timeout ({limit:.0f} s); our job was not started. Use if_busy='stop' or 'attach', "
                "or a longer queued_timeout."
            )
        self.log.info("The branch's earlier job %s ended %s", job_id, outcome.job["summary"]["status"])


class AmplifyWebhookBuildOperator(AmplifyBaseJobOperator):
    """Start an Amplify Hosting build through an incoming webhook, find the job it started, wait for it.

    The webhook answer carries no job id. The operator notes the branch's newest job before the
    POST and then finds the new WEB_HOOK job with ListJobs, or the pending job the trigger was
    merged into. A POST whose fate is unknown (timeout, reset) is followed by that ListJobs check,
    never by a second POST. The webhook URL and its token are masked in every log.

    :param webhook_conn_id: an ``amplify_webhook`` connection whose password is the webhook URL.
    :param app_id: with ``webhook_id``, resolve the URL by GetWebhook instead of a connection.
    :param webhook_id: the webhook's id, with ``app_id``.
    :param allow_custom_webhook_host: accept a webhook URL whose host is not
        ``webhooks.amplify.<region>.amazonaws.com`` (for a local emulator).
    :param webhook_timeout: seconds to wait for the webhook's answer.
    :param find_job_timeout: seconds to look for the job the webhook started.
    :param merge_grace_period: when the branch had a pending job, seconds to wait for a new job
        before deciding the trigger was merged into the pending one.
    :param if_busy: when the branch already has an active job: ``trigger`` the webhook anyway
        (default; Amplify queues the build or merges it into a pending one), ``attach`` to the
        active job without posting, or ``fail``.
    """

    template_fields: Sequence[str] = aws_template_fields("webhook_conn_id", "app_id", "webhook_id")
    parameter_kinds = {
        **AmplifyBaseJobOperator.parameter_kinds,
        "webhook_conn_id": connection_id(),
        "app_id": amplify("AppId", required=False),
        "webhook_id": custom("Amplify WebhookId or None", _webhook_id),
        "allow_custom_webhook_host": BOOL,
        "webhook_timeout": duration(),
        "find_job_timeout": duration(),
        "merge_grace_period": duration(allow_zero=True),
        "if_busy": enum(*WEBHOOK_IF_BUSY_CHOICES),
    }

    def __init__(
        self,
        *,
        webhook_conn_id: str | None = None,
        app_id: str | None = None,
        webhook_id: str | None = None,
        allow_custom_webhook_host: bool = False,
        webhook_timeout: float = 30,
        find_job_timeout: float = 120,
        merge_grace_period: float = 5,
        if_busy: str = "trigger",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.if_busy = if_busy
        self.webhook_conn_id = webhook_conn_id
        self.app_id = app_id  # templated; replaced by the webhook's own app once GetWebhook answered
        self.webhook_id = webhook_id
        self.allow_custom_webhook_host = allow_custom_webhook_host
        self.webhook_timeout = webhook_timeout
        self.find_job_timeout = find_job_timeout
        self.merge_grace_period = merge_grace_period
        check_parameters(self, at="init")

    def validate(self) -> None:
        super().validate()
        if bool(self.webhook_conn_id) == bool(self.webhook_id):
            raise ValueError(
                "Give either webhook_conn_id (a connection holding the webhook URL) or app_id with webhook_id; "
                f"got webhook_conn_id={shown(self.webhook_conn_id)}, webhook_id={shown(self.webhook_id)}."
            )
        if self.webhook_id:
            validate_amplify_value("app_id", self.app_id, "AppId")
        self._resolve_webhook()

    def _resolve_webhook(self) -> None:
        """Find the URL, check its host, and learn the app and branch from GetWebhook. No change in AWS."""
        if self.webhook_conn_id:
            try:
                url = AmplifyWebhookHook(self.webhook_conn_id).get_webhook_url()
            except (AirflowException, ValueError) as err:
                raise ValueError(f"webhook_conn_id={self.webhook_conn_id!r}: {err}") from None
            source = f"the URL in connection {self.webhook_conn_id!r}"
        else:
            url = ""
            source = f"the URL of webhook {self.webhook_id!r}"
        webhook_id = self.webhook_id or validate_webhook_url(url, self.allow_custom_webhook_host, source)
        try:
            webhook = self.hook.get_webhook(webhook_id)
        except self.hook.conn.exceptions.NotFoundException:
            raise ValueError(
                f"Webhook {webhook_id!r} ({source}) was not found in account {self.hook.account_id}, "
                f"region {self.hook.conn_region_name}: check the webhook and aws_conn_id."
            ) from None
        if self.webhook_id and webhook.get("appId") and webhook["appId"] != self.app_id:
            raise ValueError(
                f"webhook_id={self.webhook_id!r} belongs to app {webhook['appId']!r}, not app_id={self.app_id!r}."
            )
        url = url or webhook["webhookUrl"]
        validate_webhook_url(url, self.allow_custom_webhook_host, source)
        self._url = url
        self.app_id = webhook.get("appId") or self.app_id or ""
        self.branch_name = webhook["branchName"]

    def validate_inputs_after_deferral(self) -> None:
        self._resolve_webhook()

    def start(self, context: Context) -> dict[str, Any]:
        hook = self.hook
        before = hook.list_jobs(self.app_id, self.branch_name, max_items=50)
        newest = max((int(j["jobId"]) for j in before), default=0)
        pending = [j for j in before if j["status"] == JOB_PENDING_STATUS]
        active = next((j for j in before if job_is_active(j["status"])), None)
        if active is not None and self.if_busy != "trigger":
            return self._fail_or_attach(active)
        self.log.info(
            "Triggering the incoming webhook of %s/%s (newest job before: %s)",
            self.app_id,
            self.branch_name,
            newest,
        )
        unknown_fate: BaseException | None = None
        try:
            hook.trigger_webhook(self._url, timeout=self.webhook_timeout)
        except AmplifyWebhookError:
            raise
        except OSError as err:  # timeout, reset: the build may or may not have started
            unknown_fate = err
            self.log.warning(
                "The webhook POST did not get an answer (%s); checking ListJobs instead of posting again",
                type(err).__name__,
            )
        return self._find_started_job(newest, pending, unknown_fate)

    def _find_started_job(
        self, newest: int, pending: list[dict[str, Any]], unknown_fate: BaseException | None
    ) -> dict[str, Any]:
        # a lost answer may mean the POST never arrived: only a known delivery can have merged
        merge_into = pending[-1]["jobId"] if pending and unknown_fate is None else None
        job, merged = self.hook.find_webhook_job(
            self.app_id,
            self.branch_name,
            newest,
            merge_into=merge_into,
            merge_grace_period=self.merge_grace_period,
            timeout=self.find_job_timeout,
        )
        if job is None:
            fate = f" after the POST got no answer ({type(unknown_fate).__name__})" if unknown_fate else ""
            raise AmplifyWebhookError(
                f"No new WEB_HOOK job appeared on {self.app_id}/{self.branch_name} within "
                f"{self.find_job_timeout:.0f} s{fate}. The webhook was not posted again, to avoid a duplicate build."
            )
        if merged:
            self.log.info(
                "No new job appeared: the trigger was merged into pending job %s (%s)",
                job["jobId"],
                job["status"],
            )
            self._action = "merged"
        else:
            self.log.info("The webhook started job %s (%s)", job["jobId"], job["status"])
        return job
