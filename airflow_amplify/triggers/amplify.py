"""Wait for an Amplify Hosting job in the triggerer, holding no worker slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_amplify.hooks.amplify import AmplifyHook, is_transient_error
from airflow_amplify.jobs import JobWatch
from airflow_amplify.triggers._shared_client import SharedAsyncClients, client_key


class AmplifyJobTrigger(BaseTrigger):
    """Poll an Amplify job with aiobotocore until it finishes, then fire one event.

    The event is ``{"status": "success" | "failed" | "timeout" | "error", "message", "app_id",
    "branch_name", "job_id"}``. Polling follows :class:`~airflow_amplify.jobs.JobWatch`:
    quick after a status change, slower while nothing changes, asleep until near the end when the
    branch's usual build duration is known. Throttling, 5xx answers and dropped connections are
    retried without ending the wait. A trigger rebuilt in a new triggerer process from its
    serialized arguments resumes: the queued and running limits count from the job's own timestamps.

    All the Amplify triggers of a triggerer process that use the same connection settings share one
    aiobotocore client (see :mod:`airflow_amplify.triggers._shared_client`), so a wait costs a few
    kilobytes instead of a client of its own.

    :param app_id: the Amplify app id.
    :param branch_name: the branch.
    :param job_id: the job to wait for.
    :param aws_conn_id: the Airflow AWS connection.
    :param region_name: AWS region (default: the connection's).
    :param verify: SSL certificate verification, as for the amazon provider's hooks.
    :param botocore_config: botocore client configuration, as a dict.
    :param poll_interval: first delay between polls, and the delay after a status change (seconds).
    :param max_poll_interval: longest delay between polls while nothing changes (seconds).
    :param queued_timeout: longest time the job may stay CREATED or PENDING (seconds; None: no limit).
    :param running_timeout: longest time the job may run once provisioned (seconds; None: no limit).
    :param expected_duration: the branch's usual build duration (seconds), to sleep until near its end.
    :param stop_on_kill: stop the Amplify job when a user kills the deferred task (Airflow 3.3+).
    :param action: how the task came by the job (started, attached, merged, reattached); echoed in
        the event, so the resumed task reports it even where the defer call's kwargs are dropped.
    :param deferred_on_try: the try that deferred, echoed in the event: on Airflow 3.0 a retry may
        resume with an earlier try's event, and the task tells them apart by it.
    :param events: wait for status events instead of polling (see :mod:`airflow_amplify.triggers._events`):
        a dict with ``queue_url`` and optionally ``safety_poll_interval``; None (default) takes the
        connection extra's ``amplify_events``; False always polls.
    """

    def __init__(
        self,
        app_id: str,
        branch_name: str,
        job_id: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        poll_interval: float = 5.0,
        max_poll_interval: float = 30.0,
        queued_timeout: float | None = None,
        running_timeout: float | None = None,
        expected_duration: float | None = None,
        stop_on_kill: bool = True,
        action: str | None = None,
        deferred_on_try: int | None = None,
        events: dict | bool | None = None,
    ):
        super().__init__()
        self.app_id = app_id
        self.branch_name = branch_name
        self.job_id = job_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.queued_timeout = queued_timeout
        self.running_timeout = running_timeout
        self.expected_duration = expected_duration
        self.stop_on_kill = stop_on_kill
        self.action = action
        self.deferred_on_try = deferred_on_try
        self.events = events

    @classmethod
    def for_task(cls, task: Any, job_id: str, **kwargs: Any) -> AmplifyJobTrigger:
        """A trigger for ``job_id`` that reuses an AWS operator's or sensor's connection settings.

        :param task: the operator or sensor (its app_id, branch_name, aws_conn_id, region_name,
            verify and botocore_config are used).
        :param job_id: the job to wait for.
        :param kwargs: the polling and limit arguments of this class.
        """
        return cls(
            app_id=task.app_id,
            branch_name=task.branch_name,
            job_id=job_id,
            aws_conn_id=task.aws_conn_id,
            region_name=task.region_name,
            verify=task.verify,
            botocore_config=task.botocore_config,
            **kwargs,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "app_id": self.app_id,
                "branch_name": self.branch_name,
                "job_id": self.job_id,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "queued_timeout": self.queued_timeout,
                "running_timeout": self.running_timeout,
                "expected_duration": self.expected_duration,
                "stop_on_kill": self.stop_on_kill,
                "action": self.action,
                "deferred_on_try": self.deferred_on_try,
                "events": self.events,
            },
        )

    #: The clients shared by the instances in this process (not serialized).
    clients = SharedAsyncClients()

    def hook(self) -> AmplifyHook:
        from botocore.config import Config

        return AmplifyHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=Config(**self.botocore_config) if self.botocore_config else None,
        )

    def client_key(self) -> tuple:
        """What makes two triggers' clients interchangeable: the connection settings."""
        return client_key("amplify", self.aws_conn_id, self.region_name, self.verify, self.botocore_config)

    def _client(self):
        """Borrow the process's aiobotocore Amplify client for this trigger's connection settings."""
        return self.clients.client(self.client_key(), lambda: self.hook().get_async_conn())

    def _event(self, status: str, message: str) -> TriggerEvent:
        payload = {
            "status": status,
            "message": message,
            "app_id": self.app_id,
            "branch_name": self.branch_name,
            "job_id": self.job_id,
        }
        if self.action:
            payload["action"] = self.action
        if self.deferred_on_try is not None:
            payload["deferred_on_try"] = self.deferred_on_try
        return TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_amplify.triggers import _events

        events = await _events.resolve(self.events, self.aws_conn_id)
        if events is not None:
            async for event in _events.wait_for_job(self, events):
                yield event
            return
        watch = JobWatch(
            self.app_id,
            self.branch_name,
            self.job_id,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            queued_timeout=self.queued_timeout,
            running_timeout=self.running_timeout,
            expected_duration=self.expected_duration,
        )
        async with self._client() as client:
            while True:
                try:
                    answer = await client.get_job(
                        appId=self.app_id, branchName=self.branch_name, jobId=self.job_id
                    )
                except Exception as err:
                    if not is_transient_error(err):
                        yield self._event("error", f"{watch.describe()}: GetJob failed: {err}")
                        return
                    watch.observe_error(err, self.log)
                else:
                    outcome = watch.observe(answer["job"], self.log)
                    if outcome is not None:
                        yield self._event(outcome.status, outcome.message)
                        return
                await asyncio.sleep(watch.next_delay())

    async def on_kill(self) -> None:
        """Stop the Amplify job when a user kills the deferred task (called by Airflow 3.3 and later)."""
        if not self.stop_on_kill:
            return
        from airflow_amplify.statuses import job_is_active

        async with self._client() as client:
            answer = await client.get_job(appId=self.app_id, branchName=self.branch_name, jobId=self.job_id)
            if job_is_active(answer["job"]["summary"]["status"]):
                self.log.info("Stopping Amplify job %s of %s/%s", self.job_id, self.app_id, self.branch_name)
                await client.stop_job(appId=self.app_id, branchName=self.branch_name, jobId=self.job_id)
