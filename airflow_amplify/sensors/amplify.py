"""Wait for an Amplify Hosting job that something else started."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException, PokeReturnValue, conf

from airflow_amplify.hooks.amplify import AmplifyHook, AmplifyJobFailedError
from airflow_amplify.jobs import JobOutcome, JobWatch, job_summary
from airflow_amplify.links.amplify import AmplifyJobLink
from airflow_amplify.reattach import STALE_RESUME_MESSAGE, current_try, resumed_on_another_try
from airflow_amplify.validation import (
    AWS_PARAMETER_KINDS,
    BOOL,
    amplify,
    check_parameters,
    count,
    custom,
    duration,
    ensure_connection_exists,
    to_seconds,
    validate_amplify_value,
)


def _job_id_or_latest(param: str, value: Any) -> None:
    if value != "latest":
        validate_amplify_value(param, value, "JobId", required=False)


if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class AmplifyJobSensor(AwsBaseSensor[AmplifyHook]):
    """Wait until an Amplify job succeeds; fail with the failing step and its log when it does not.

    Works in ``poke`` and ``reschedule`` modes, and deferrable (holding no worker slot). The sensor
    never stops the job it watches: it did not start it.

    :param app_id: the Amplify app id. Templated.
    :param branch_name: the branch. Templated.
    :param job_id: the job to watch; ``None`` or ``"latest"`` for the branch's newest job. Templated.
    :param deferrable: wait in the triggerer (default: the ``[operators] default_deferrable`` setting).
    :param waiter_max_delay: longest delay between the trigger's polls (seconds); its first delay is
        ``poke_interval``.
    :param queued_timeout: longest time the job may stay queued, in seconds or a timedelta (deferrable mode).
    :param running_timeout: longest time the job may run, in seconds or a timedelta (deferrable mode).
    :param log_tail_lines: lines of the failing step's log to put in the error.
    """

    aws_hook_class = AmplifyHook
    template_fields: Sequence[str] = aws_template_fields("app_id", "branch_name", "job_id")
    operator_extra_links = (AmplifyJobLink(),)
    ui_color = "#ff9900"
    parameter_kinds = {
        **AWS_PARAMETER_KINDS,
        "app_id": amplify("AppId"),
        "branch_name": amplify("BranchName"),
        "job_id": custom("Amplify JobId, 'latest' or None", _job_id_or_latest),
        "deferrable": BOOL,
        "waiter_max_delay": duration(),
        "queued_timeout": duration(allow_none=True),
        "running_timeout": duration(allow_none=True),
        "log_tail_lines": count(0),
    }

    def __init__(
        self,
        *,
        app_id: str,
        branch_name: str,
        job_id: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        waiter_max_delay: float = 30,
        queued_timeout: float | timedelta | None = None,
        running_timeout: float | timedelta | None = None,
        log_tail_lines: int = 50,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_id = app_id
        self.branch_name = branch_name
        self.job_id = job_id
        self.deferrable = deferrable
        self.waiter_max_delay = waiter_max_delay
        self.queued_timeout = queued_timeout
        self.running_timeout = running_timeout
        self.log_tail_lines = log_tail_lines
        self._resolved_job_id: str | None = None
        self._watch_state: JobWatch | None = None
        check_parameters(self, at="init")

    def _validate(self) -> None:
        check_parameters(self)
        ensure_connection_exists(self.aws_conn_id)

    def _job_id(self, context: Context) -> str:
        if self._resolved_job_id:
            return self._resolved_job_id
        where = f"account {self.hook.account_id}, region {self.hook.conn_region_name}"
        if self.job_id not in (None, "", "latest"):
            job_id = self.job_id
            try:
                self.hook.get_job(self.app_id, self.branch_name, job_id)
            except self.hook.conn.exceptions.NotFoundException:
                raise ValueError(
                    f"job_id={job_id!r}: app_id={self.app_id!r}, branch_name={self.branch_name!r} has no such job "
                    f"in {where}; give the id of one of the branch's jobs, or job_id='latest'."
                ) from None
        else:
            try:
                # every page: the API promises no order, so the newest is the highest id of all
                jobs = self.hook.list_jobs(self.app_id, self.branch_name)
            except self.hook.conn.exceptions.NotFoundException:
                raise ValueError(
                    f"app_id={self.app_id!r}, branch_name={self.branch_name!r}: not found in {where}. "
                    "Check the app id, the branch and aws_conn_id."
                ) from None
            if not jobs:
                raise AirflowException(f"Branch {self.branch_name} of app {self.app_id} has no job to watch.")
            job_id = jobs[0]["jobId"]
            self.log.info("Watching the newest job of %s/%s: %s", self.app_id, self.branch_name, job_id)
        self._resolved_job_id = job_id
        AmplifyJobLink.persist_job(context, self, self.hook, self.app_id, self.branch_name, job_id)
        return job_id

    def _watch(self, job_id: str) -> JobWatch:
        """One watch per job for the life of this sensor instance, so a poke logs only what changed."""
        if self._watch_state is None or self._watch_state.job_id != job_id:
            self._watch_state = JobWatch(self.app_id, self.branch_name, job_id)
        return self._watch_state

    def execute(self, context: Context) -> Any:
        self._validate()
        job_id = self._job_id(context)
        if not self.deferrable:
            return super().execute(context)
        from airflow_amplify.triggers.amplify import (
            AmplifyJobTrigger,  # deferral only: the trigger module pulls in aiobotocore
        )

        self.defer(
            trigger=AmplifyJobTrigger.for_task(
                self,
                job_id,
                poll_interval=self.poke_interval,
                max_poll_interval=max(self.waiter_max_delay, self.poke_interval),
                queued_timeout=to_seconds(self.queued_timeout, "queued_timeout"),
                running_timeout=to_seconds(self.running_timeout, "running_timeout"),
                expected_duration=self.hook.expected_duration(self.app_id, self.branch_name),
                stop_on_kill=False,
                deferred_on_try=current_try(context),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        job_id = self._job_id(context)
        job = self.hook.get_job(self.app_id, self.branch_name, job_id)
        outcome = self._watch(job_id).observe(job, self.log)
        if outcome is None:
            return False
        return self._finish(outcome)

    def _finish(self, outcome: JobOutcome) -> PokeReturnValue:
        if outcome.status == "success":
            summary = job_summary(
                outcome.job,
                self.app_id,
                self.branch_name,
                self.hook.conn_region_name,
                self.hook.conn_partition,
            )
            return PokeReturnValue(is_done=True, xcom_value=summary)
        if outcome.status == "timeout":
            raise AmplifyJobFailedError(outcome.message)
        raise AmplifyJobFailedError(self.hook.describe_failure(outcome, self.log_tail_lines))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: the job summary, or an error with the failing step's log."""
        if resumed_on_another_try(context, event):
            self.log.warning(STALE_RESUME_MESSAGE, (event or {}).get("deferred_on_try"))
            return self.execute(context)
        if not event or "status" not in event or "job_id" not in event:
            raise AirflowException(f"Unexpected trigger event: {event!r}")
        if event["status"] == "error":
            raise AmplifyJobFailedError(event["message"])
        job = self.hook.get_job(self.app_id, self.branch_name, event["job_id"])
        return self._finish(JobOutcome(event["status"], job, event["message"])).xcom_value
