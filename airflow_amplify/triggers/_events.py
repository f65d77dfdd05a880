"""Event-driven waits: one SQS consumer per queue per triggerer process, a hint for each wait.

With events configured (see :func:`events_config`), an EventBridge rule delivers every
``Amplify Deployment Status Change`` and ``CloudFormation Stack Status Change`` event of the
account and region to an SQS queue *of this triggerer* (the rule has one target per triggerer
queue, so every triggerer receives every event; see
:class:`~airflow_amplify.operators.events.AmplifyEventsSetupOperator`). Because the queue is this
triggerer's own, its consumer deletes every message it reads: nothing it consumes was meant for
another triggerer.

- :class:`EventConsumer`: the one consumer of a queue in a triggerer process and event loop
  (:func:`consumer_for` keeps the registry, keyed by queue URL, connection settings and loop). It
  long-polls (``WaitTimeSeconds=20``) with an aiobotocore client opened off the event loop, hands
  each event to the waits that registered interest in its job or stack (an :class:`Interest`, with
  an :class:`asyncio.Event`), and stops a minute after its last wait ended.
- An event is a hint: the wait reads GetJob / DescribeStacks once before it fires. Waits also poll
  every ``safety_poll_interval`` seconds (default 300), so a lost or late event costs at most that.
- A queue that is gone or unreadable (no such queue, access denied, a malformed answer) ends the
  consumer: its waits fall back to polling as without events, and the process logs it once per
  queue; new waits on that queue poll for ``retry_after`` seconds before trying it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
import weakref
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: Key of the AWS connection's extra that turns event mode on (a dict, see :func:`events_config`).
EXTRA_KEY = "amplify_events"
#: Environment variable naming this triggerer for a ``{triggerer}`` queue URL (default: host name).
TRIGGERER_ENV = "AIRFLOW_AMPLIFY_EVENTS_TRIGGERER"
DEFAULT_SAFETY_POLL = 300.0
#: The longest SQS long poll.
WAIT_TIME_SECONDS = 20
#: GetJob calls, ``poll_interval`` apart, after an event said "finished" and GetJob did not agree yet.
UNCONFIRMED_RECHECKS = 3
#: Long polls one consumer runs at once while its queue has a backlog (one when it has none).
MAX_RECEIVERS = 4


@dataclass(frozen=True)
class EventsConfig:
    """Where a triggerer reads status events, and how often its waits poll anyway.

    :param queue_url: this triggerer's SQS queue; ``{triggerer}`` in it is replaced by
        ``$AIRFLOW_AMPLIFY_EVENTS_TRIGGERER`` or, unset, the host name (Airflow's own).
    :param safety_poll_interval: seconds between the polls a wait makes with no event (>= 1).
    """

    queue_url: str
    safety_poll_interval: float = DEFAULT_SAFETY_POLL

    def resolved_url(self) -> str:
        if "{triggerer}" not in self.queue_url:
            return self.queue_url
        name = os.environ.get(TRIGGERER_ENV) or _hostname()
        return self.queue_url.replace("{triggerer}", name)

    def to_dict(self) -> dict[str, Any]:
        return {"queue_url": self.queue_url, "safety_poll_interval": self.safety_poll_interval}


def _hostname() -> str:
    try:
        from airflow.utils.net import get_hostname

        return get_hostname()
    except Exception:  # pragma: no cover - a bad hostname_callable
        import socket

        return socket.gethostname()


def events_config(value: Any, where: str = "events") -> EventsConfig | None:
    """An events setting (a trigger's ``events`` parameter or the connection extra's value), checked
    by :func:`airflow_amplify.validation.validate_events_setting`; None for polling.

    :param value: the setting.
    :param where: what to call it in an error message.
    """
    from airflow_amplify.validation import validate_events_setting

    if isinstance(value, EventsConfig):
        return value
    checked = validate_events_setting(value, where)
    return EventsConfig(*checked) if checked else None


# --- the connection's setting, read off the event loop and cached -------------------------------

_EXTRA_TTL = 60.0
_extra_cache: dict[str | None, tuple[float, asyncio.Future]] = {}


async def connection_events(aws_conn_id: str | None) -> EventsConfig | None:
    """The ``amplify_events`` setting of an AWS connection's extra, read once a minute per process.

    The lookup runs in a thread (``sync_to_async``), never on the event loop; a thousand waits on
    one connection read it once.
    """
    if aws_conn_id is None:
        return None
    now = time.monotonic()
    cached = _extra_cache.get(aws_conn_id)
    if (
        cached is None
        or now - cached[0] > _EXTRA_TTL
        or cached[1].get_loop() is not asyncio.get_running_loop()
    ):
        future = asyncio.ensure_future(_read_extra(aws_conn_id))
        _extra_cache[aws_conn_id] = cached = (now, future)
    try:
        value = await asyncio.shield(cached[1])
    except Exception:
        _extra_cache.pop(aws_conn_id, None)
        raise
    return events_config(value, f"connection {aws_conn_id!r} extra {EXTRA_KEY}")


async def _read_extra(aws_conn_id: str) -> Any:
    from asgiref.sync import sync_to_async

    def read() -> Any:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(aws_conn_id=aws_conn_id, client_type="sqs").conn_config.extra_config.get(EXTRA_KEY)

    return await sync_to_async(read)()


async def resolve(events: Any, aws_conn_id: str | None) -> EventsConfig | None:
    """A trigger's events setting: its ``events`` parameter if given, else the connection's.

    :param events: the trigger's parameter (None: ask the connection; False: never).
    :param aws_conn_id: the trigger's AWS connection.
    """
    if events is False:
        return None
    if events is not None:
        return events_config(events)
    try:
        return await connection_events(aws_conn_id)
    except ValueError:
        raise
    except Exception as err:  # the connection could not be read: the wait polls, as before
        log.warning(
            "Amplify status events: cannot read connection %s (%s); polling", aws_conn_id, _describe(err)
        )
        return None


# --- what an event concerns ---------------------------------------------------------------------


def job_key(app_id: str, branch_name: str, job_id: str) -> tuple:
    return ("job", app_id, branch_name, str(job_id))


def stack_key(stack: str) -> tuple:
    """By stack name: an event names the stack by id (an ARN holding the name), a wait maybe by name."""
    if stack.startswith("arn:") and ":stack/" in stack:
        stack = stack.split(":stack/", 1)[1].split("/", 1)[0]
    return ("stack", stack)


def event_target(body: Any) -> tuple[tuple, str] | None:
    """(the key of what a message concerns, the status it reports), or None for anything else."""
    try:
        event = json.loads(body) if isinstance(body, str) else body
        detail = event["detail"]
        if event.get("source") == "aws.amplify":
            return job_key(detail["appId"], detail["branchName"], detail["jobId"]), str(detail["jobStatus"])
        if event.get("source") == "aws.cloudformation":
            return stack_key(detail["stack-id"]), str(detail["status-details"]["status"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return None


# --- waits and the consumer ---------------------------------------------------------------------


@dataclass(eq=False)
class Interest:
    """One wait's registration: woken by an event about its key, or when the consumer gives up."""

    key: tuple
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    hints: list[str] = field(default_factory=list)
    consumer: EventConsumer | None = None

    @property
    def failed(self) -> bool:
        """The consumer stopped reading (queue gone or unreadable): poll instead."""
        return self.consumer is None or self.consumer.failed is not None

    async def wait(self, timeout: float) -> list[str] | None:
        """Statuses the events since the last call reported (oldest first), or None on timeout."""
        if not self.hints and not self.failed:
            try:
                await asyncio.wait_for(self.woken.wait(), max(0.0, timeout))
            except TimeoutError:
                return None
        self.woken.clear()
        hints, self.hints = self.hints, []
        return hints


class EventConsumer:
    """Reads one SQS queue for the waits of one event loop (see the module docstring).

    :param queue_url: the queue.
    :param open_client: coroutine function returning an aiobotocore SQS client context (it must
        create the client off the event loop, as ``AwsBaseHook.get_async_conn`` does).
    :param linger: seconds the consumer keeps reading after its last wait ended.
    """

    def __init__(self, queue_url: str, open_client: Any, linger: float = 60.0):
        self.queue_url = queue_url
        self.open_client = open_client
        self.linger = linger
        self.interests: dict[tuple, set[Interest]] = {}
        self.failed: str | None = None
        self.task: asyncio.Task | None = None
        self._idle_since = time.monotonic()
        self._client: Any = None
        self._extra: set[asyncio.Task] = set()
        self._deleting: set[asyncio.Task] = set()
        #: What this consumer did, for tests and benchmarks.
        self.stats = {"receives": 0, "messages": 0, "deletes": 0, "matched": 0, "unmatched": 0, "errors": 0}

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    @contextlib.asynccontextmanager
    async def watch(self, key: Hashable) -> AsyncIterator[Interest]:
        """Register interest in ``key`` (see :func:`job_key`, :func:`stack_key`) for the block."""
        interest = Interest(key, consumer=self)  # type: ignore[arg-type]
        self.interests.setdefault(key, set()).add(interest)  # type: ignore[arg-type]
        self.start()
        try:
            yield interest
        finally:
            waiting = self.interests.get(key)  # type: ignore[arg-type]
            if waiting is not None:
                waiting.discard(interest)
                if not waiting:
                    del self.interests[key]  # type: ignore[arg-type]
            if not self.interests:
                self._idle_since = time.monotonic()

    def dispatch(self, body: Any) -> bool:
        """Hand one message to the waits it concerns; whether any did."""
        target = event_target(body)
        if target is None:
            return False
        key, status = target
        waiting = self.interests.get(key)
        if not waiting:
            return False
        for interest in waiting:
            interest.hints.append(status)
            interest.woken.set()
        return True

    def _give_up(self, reason: str) -> None:
        self.failed = reason
        _failed_queues[self.queue_url] = time.monotonic()
        if self.queue_url not in _logged:
            _logged.add(self.queue_url)
            log.warning(
                "Amplify status events: cannot read queue %s (%s); waits poll instead", self.queue_url, reason
            )
        for waiting in self.interests.values():
            for interest in waiting:
                interest.woken.set()

    async def _run(self) -> None:
        try:
            async with await self.open_client() as client:
                self._client = client
                await self._receive(extra=False)
                while self._extra:  # let extra receivers finish before the client closes
                    await asyncio.gather(*self._extra, return_exceptions=True)
                if self._deleting:
                    await asyncio.gather(*self._deleting, return_exceptions=True)
        except asyncio.CancelledError:
            for task in (*self._extra, *self._deleting):
                task.cancel()
            raise
        except Exception as err:  # the client could not be made (credentials, region)
            self._give_up(_describe(err))
        finally:
            _forget(self)

    async def _receive(self, extra: bool) -> None:
        """One receiver: long-polls until the consumer is idle, failed, or (an extra one) the queue is drained.

        A full batch (ten messages) means a backlog: another receiver joins, up to ``MAX_RECEIVERS``;
        deletes run beside the next receive.
        """
        from airflow_amplify.hooks.amplify import is_transient_error

        client, errors = self._client, 0
        while self.failed is None and (self.interests or time.monotonic() - self._idle_since < self.linger):
            try:
                self.stats["receives"] += 1
                answer = await client.receive_message(
                    QueueUrl=self.queue_url, WaitTimeSeconds=WAIT_TIME_SECONDS, MaxNumberOfMessages=10
                )
                errors = 0
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.stats["errors"] += 1
                if not is_transient_error(err) or errors >= 5:
                    self._give_up(_describe(err))
                    return
                errors += 1
                await asyncio.sleep(min(30.0, 2.0**errors))
                continue
            messages = answer.get("Messages") or []
            for message in messages:
                self.stats["messages"] += 1
                matched = self.dispatch(message.get("Body"))
                self.stats["matched" if matched else "unmatched"] += 1
            if messages:
                self._spawn(self._deleting, self._delete(messages))
            if len(messages) == 10 and 1 + len(self._extra) < MAX_RECEIVERS:
                self._spawn(self._extra, self._receive(extra=True))
            elif extra and len(messages) < 10:
                return

    @staticmethod
    def _spawn(tasks: set[asyncio.Task], coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _delete(self, messages: list[dict[str, Any]]) -> None:
        self.stats["deletes"] += 1
        try:
            await self._client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        except Exception as err:  # read again after the visibility timeout: a duplicate, harmless
            self.stats["errors"] += 1
            log.debug("Amplify status events: delete failed (%s)", _describe(err))


def _describe(err: BaseException) -> str:
    """An error's kind and code, never its message (which may quote a request)."""
    code = getattr(err, "response", {}).get("Error", {}).get("Code") if hasattr(err, "response") else None
    return f"{type(err).__name__}{f' {code}' if code else ''}"


_consumers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, EventConsumer]] = (
    weakref.WeakKeyDictionary()
)
_failed_queues: dict[str, float] = {}
_logged: set[str] = set()
#: Seconds new waits poll, without trying again, after a queue could not be read.
RETRY_AFTER = 300.0


def consumer_for(config: EventsConfig, client_key: Hashable, open_client: Any) -> EventConsumer | None:
    """The running loop's consumer of ``config``'s queue (made on first use), or None while it is failed.

    :param config: the events setting.
    :param client_key: the connection settings (as for shared clients): waits on one queue through
        different credentials get separate consumers.
    :param open_client: coroutine function returning an aiobotocore SQS client context.
    """
    url = config.resolved_url()
    failed_at = _failed_queues.get(url)
    if failed_at is not None and time.monotonic() - failed_at < RETRY_AFTER:
        return None
    loop = asyncio.get_running_loop()
    consumers = _consumers.setdefault(loop, {})
    key = (url, client_key)
    consumer = consumers.get(key)
    if (
        consumer is None
        or consumer.failed is not None
        or (consumer.task is not None and consumer.task.done())
    ):
        consumer = consumers[key] = EventConsumer(url, open_client)
    return consumer


def _forget(consumer: EventConsumer) -> None:
    with contextlib.suppress(RuntimeError):
        consumers = _consumers.get(asyncio.get_running_loop(), {})
        for key, value in list(consumers.items()):
            if value is consumer:
                del consumers[key]


def consumers() -> list[EventConsumer]:
    """The running loop's consumers (tests and benchmarks)."""
    return list(_consumers.get(asyncio.get_running_loop(), {}).values())


def reset() -> None:
    """Forget failed queues and the cached connection settings (tests)."""
    _failed_queues.clear()
    _logged.clear()
    _extra_cache.clear()


def sqs_opener(aws_conn_id: str | None, region_name: str | None, verify: Any, botocore_config: dict | None):
    """A coroutine function opening an aiobotocore SQS client from a connection, off the event loop."""

    async def open_client():
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
        from botocore.config import Config

        hook = AwsBaseHook(
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            config=Config(**botocore_config) if botocore_config else None,
            client_type="sqs",
        )
        return await hook.get_async_conn()

    return open_client


# --- the two waits ------------------------------------------------------------------------------


def _limit_delay(watch: Any, now: float) -> float:
    """Seconds until the watch's queued or running limit would be passed (inf: none)."""
    from airflow_amplify.statuses import job_phase

    phase = job_phase(watch.last_status or "")
    if phase == "queued" and watch.queued_timeout is not None and watch.queued_since is not None:
        return max(1.0, watch.queued_since + watch.queued_timeout - now + 1.0)
    if phase == "running" and watch.running_timeout is not None and watch.running_since is not None:
        return max(1.0, watch.running_since + watch.running_timeout - now + 1.0)
    return math.inf


def _worth_a_look(hints: list[str], watch: Any) -> bool:
    """Whether events call for a GetJob: a finished (or unknown) status, or, where a queued or
    running limit is set, a change of phase that starts its clock."""
    from airflow_amplify.statuses import JOB_STATUSES, job_is_terminal, job_phase

    if any(job_is_terminal(h) or h not in JOB_STATUSES for h in hints):
        return True
    if watch.queued_timeout is None and watch.running_timeout is None:
        return False
    return any(job_phase(h) != job_phase(watch.last_status or "") for h in hints)


async def wait_for_job(trigger: Any, config: EventsConfig) -> AsyncIterator[Any]:
    """AmplifyJobTrigger's wait with events: GetJob at the start, on each event and every safety interval.

    Yields the trigger's one event. Without a readable queue it polls as the trigger does without
    events.
    """
    from airflow_amplify.hooks.amplify import is_transient_error
    from airflow_amplify.jobs import JobWatch
    from airflow_amplify.statuses import job_is_terminal

    watch = JobWatch(
        trigger.app_id,
        trigger.branch_name,
        trigger.job_id,
        poll_interval=trigger.poll_interval,
        max_poll_interval=trigger.max_poll_interval,
        queued_timeout=trigger.queued_timeout,
        running_timeout=trigger.running_timeout,
        expected_duration=trigger.expected_duration,
    )
    consumer = consumer_for(
        config,
        trigger.client_key(),
        sqs_opener(trigger.aws_conn_id, trigger.region_name, trigger.verify, trigger.botocore_config),
    )
    key = job_key(trigger.app_id, trigger.branch_name, trigger.job_id)
    async with _watching(consumer, key) as interest, trigger._client() as client:
        rechecks = 0  # an event said terminal, GetJob did not (yet): look again soon, a few times
        while True:
            try:
                answer = await client.get_job(
                    appId=trigger.app_id, branchName=trigger.branch_name, jobId=trigger.job_id
                )
            except Exception as err:
                if not is_transient_error(err):
                    yield trigger._event("error", f"{watch.describe()}: GetJob failed: {err}")
                    return
                watch.observe_error(err, trigger.log)
            else:
                outcome = watch.observe(answer["job"], trigger.log)
                if outcome is not None:
                    yield trigger._event(outcome.status, outcome.message)
                    return
            if interest is None or interest.failed or watch.errors:
                delay = watch.next_delay()
            elif rechecks:
                delay = trigger.poll_interval
                rechecks -= 1
            else:
                delay = min(config.safety_poll_interval, _limit_delay(watch, time.time()))
            if interest is None or interest.failed:
                await asyncio.sleep(delay)
                continue
            deadline = time.monotonic() + delay
            while True:  # until a timeout or an event worth a GetJob
                hints = await interest.wait(deadline - time.monotonic())
                if hints is None or interest.failed or _worth_a_look(hints, watch):
                    break
            if hints and any(job_is_terminal(h) for h in hints):
                rechecks = UNCONFIRMED_RECHECKS


async def wait_for_stack(trigger: Any, config: EventsConfig) -> AsyncIterator[Any]:
    """AmplifyStackTrigger's wait with events: DescribeStacks at the start, on each event and every
    safety interval, until the stack settled after this deploy (or went missing past the deadline)."""
    from datetime import UTC, datetime

    from airflow.providers.amazon.aws.utils.waiter_with_logging import RETRIABLE_ERROR_CODES
    from airflow.triggers.base import TriggerEvent
    from botocore.exceptions import ClientError

    from airflow_amplify.hooks.cloudformation import (
        SETTLE_FAILED,
        SETTLE_MISSING,
        SETTLE_STALE,
        SETTLE_SUCCEEDED,
        is_stack_missing_error,
        settle_state,
    )
    from airflow_amplify.statuses import stack_is_in_progress
    from airflow_amplify.timestamps import to_datetime
    from airflow_amplify.triggers.cloudformation import REASON_NO_NEW_DEPLOY, REASON_STACK_MISSING

    changed_since = to_datetime(trigger.changed_since)
    deadline = to_datetime(trigger.missing_deadline)
    consumer = consumer_for(
        config,
        (
            "cloudformation",
            trigger.aws_conn_id,
            trigger.region_name,
            trigger.verify,
            repr(trigger.botocore_config),
        ),
        sqs_opener(trigger.aws_conn_id, trigger.region_name, trigger.verify, trigger.botocore_config),
    )
    async with (
        _watching(consumer, stack_key(trigger.stack_name)) as interest,
        await trigger.hook().get_async_conn() as client,
    ):
        last_status = None
        give_up_at = time.monotonic() + trigger.attempts * trigger.waiter_delay
        while True:
            delay = config.safety_poll_interval
            try:
                stacks = (await client.describe_stacks(StackName=trigger.stack_name))["Stacks"]
                stack = stacks[0] if stacks else None
            except ClientError as error:
                code = (error.response.get("Error") or {}).get("Code")
                if is_stack_missing_error(error):
                    stack = None
                elif code in RETRIABLE_ERROR_CODES:
                    stack, delay = None, trigger.waiter_delay
                else:
                    yield trigger._error(
                        "describe_failed", f"DescribeStacks of {trigger.stack_name}: {error}"
                    )
                    return
            state = settle_state(stack, changed_since)
            if state == SETTLE_SUCCEEDED:
                yield TriggerEvent({"status": "success", "stack_name": trigger.stack_name})
                return
            if state == SETTLE_FAILED:
                yield trigger._error(
                    "stack_failed", f"CloudFormation stack {trigger.stack_name} is {stack['StackStatus']}"
                )
                return
            if state == SETTLE_MISSING and deadline is not None:
                left = (deadline - datetime.now(UTC)).total_seconds()
                if left <= 0:
                    yield trigger._error(
                        REASON_STACK_MISSING,
                        f"CloudFormation stack {trigger.stack_name} did not appear by {deadline.isoformat()}",
                    )
                    return
                delay = min(delay, left + 1.0)
            if time.monotonic() >= give_up_at:
                yield trigger._error(
                    REASON_NO_NEW_DEPLOY if state == SETTLE_STALE else "timeout",
                    f"CloudFormation stack {trigger.stack_name} did not settle after this deploy within "
                    f"{trigger.attempts * trigger.waiter_delay:.0f} s",
                )
                return
            status = stack["StackStatus"] if stack else None
            if status != last_status:
                trigger.log.info("Stack %s is %s; waiting for its status events", trigger.stack_name, status)
                last_status = status
            if interest is None or interest.failed:
                await asyncio.sleep(trigger.waiter_delay)
                continue
            until = time.monotonic() + min(delay, max(1.0, give_up_at - time.monotonic()))
            while True:  # until a timeout or an event that may mean "settled"
                hints = await interest.wait(until - time.monotonic())
                if hints is None or interest.failed or not all(map(stack_is_in_progress, hints)):
                    break


@contextlib.asynccontextmanager
async def _watching(consumer: EventConsumer | None, key: tuple) -> AsyncIterator[Interest | None]:
    if consumer is None:
        yield None
        return
    async with consumer.watch(key) as interest:
        yield interest


__all__ = [
    "EXTRA_KEY",
    "TRIGGERER_ENV",
    "EventConsumer",
    "EventsConfig",
    "Interest",
    "consumer_for",
    "events_config",
    "job_key",
    "resolve",
    "stack_key",
    "wait_for_job",
    "wait_for_stack",
]
