"""Status events of the local world: what AWS pushes to EventBridge, pushed to moto's EventBridge.

Real Amplify sends ``Amplify Deployment Status Change`` events (source ``aws.amplify``) and
CloudFormation ``CloudFormation Stack Status Change`` events (source ``aws.cloudformation``) to
the account's default event bus. The world does the same, so EventBridge rules and SQS targets
created in moto (by :class:`~airflow_amplify.operators.events.AmplifyEventsSetupOperator` or by
hand) receive them:

- :class:`WorldTicker` applies the emulator's scripted job transitions as they fall due (the
  emulator otherwise applies them only when a request arrives, and an event-driven wait sends
  none) and watches every stack's status: moto's own stacks, and scripted stacks of
  :class:`~airflow_amplify.testing.world.cloudformation.StackOverlay` (time-driven with ``step_seconds``);
- :class:`EventPublisher` puts each event on moto's default bus from a thread of its own, after
  the fault rules of service ``event-delivery`` (operation: the event's detail type) had their say:
  ``drop`` loses the event, ``delay`` delivers it ``delay_seconds`` (real time) later; any other
  fault kind also loses it.

``GET /_world/events`` reports what was published, delivered, dropped and delayed.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

#: The fault-injection service name of event delivery (see :mod:`airflow_amplify.testing.world.faults`).
DELIVERY_SERVICE = "event-delivery"
AMPLIFY_DETAIL_TYPE = "Amplify Deployment Status Change"
STACK_DETAIL_TYPE = "CloudFormation Stack Status Change"


class EventPublisher:
    """Puts status events on moto's default event bus, one thread, faults applied.

    :param faults: the world's :class:`~airflow_amplify.testing.world.faults.FaultInjector`.
    :param keep: how many recent events ``recent`` keeps for the control API.
    """

    def __init__(self, faults: Any, keep: int = 200):
        self.faults = faults
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._thread: threading.Thread | None = None
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.counts = {"published": 0, "delivered": 0, "dropped": 0, "delayed": 0, "failed": 0}
            self._recent.clear()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="world-events", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def publish(
        self,
        account_id: str,
        region: str,
        source: str,
        detail_type: str,
        detail: dict[str, Any],
        resources: list[str],
        at: float,
    ) -> None:
        """Queue one event (never blocks; safe under the emulator's lock)."""
        self._queue.put(
            {
                "account_id": account_id,
                "region": region,
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "Resources": resources,
                "Time": at,
            }
        )

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was handled (delayed ones excepted); for tests."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def recent(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._recent)

    def _count(self, key: str, event: dict[str, Any], fate: str) -> None:
        with self._lock:
            self.counts[key] += 1
            self._recent.append(
                {
                    "fate": fate,
                    "account_id": event["account_id"],
                    "region": event["region"],
                    "source": event["Source"],
                    "detail_type": event["DetailType"],
                    "detail": json.loads(event["Detail"]),
                    "time": event["Time"],
                }
            )

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                with self._lock:
                    self.counts["published"] += 1
                rule = self.faults.pick(DELIVERY_SERVICE, event["DetailType"], explicit=True)
                if rule is None:
                    self._deliver(event)
                elif rule.kind == "delay":
                    self._count("delayed", event, "delayed")
                    timer = threading.Timer(rule.delay_seconds, self._deliver, args=(event,))
                    timer.daemon = True
                    timer.start()
                else:
                    self._count("dropped", event, "dropped")
            finally:
                self._queue.task_done()

    def _deliver(self, event: dict[str, Any]) -> None:
        try:
            _put_on_default_bus(event)
        except Exception:  # a target queue deleted, say: EventBridge drops it too
            self._count("failed", event, "failed")
        else:
            self._count("delivered", event, "delivered")


def _put_on_default_bus(event: dict[str, Any]) -> None:
    """What PutEvents on the default bus does, with SQS targets served directly.

    moto's own path renders every target's input through a JSONPath template, about 0.2 s of CPU
    per event and target, which a thousand waits cannot afford; an SQS target without an input
    transformer gets the event as EventBridge sends it (with ``account``, which moto's default
    template leaves out). Other targets go through moto.
    """
    from moto.events.models import events_backends  # moto is heavy: loaded when the world runs
    from moto.sqs.models import sqs_backends
    from moto.utilities.arns import parse_arn

    account_id, region = event["account_id"], event["region"]
    backend = events_backends[account_id][region]
    message = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": event["DetailType"],
        "source": event["Source"],
        "account": account_id,
        "time": datetime.fromtimestamp(event["Time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": event["Resources"],
        "detail": json.loads(event["Detail"]),
    }
    bus = backend.describe_event_bus("default")
    for rule in list(bus.rules.values()):
        if rule.state != "ENABLED" or not rule.event_pattern.matches_event(message):
            continue
        for target in list(rule.targets):
            arn = parse_arn(target["Arn"])
            if arn.service == "sqs" and "InputTransformer" not in target and "Input" not in target:
                sqs_backends[arn.account][arn.region].send_message(
                    queue_name=arn.resource_id, message_body=json.dumps(message)
                )
            else:
                rule.send_to_targets({**message, "time": event["Time"]})
                break


class WorldTicker:
    """Applies due job transitions and notices stack status changes, publishing an event for each.

    :param amplify: the emulator's :class:`~airflow_amplify.testing.amplify.models.AmplifyBackend`.
    :param stacks: the world's :class:`~airflow_amplify.testing.world.cloudformation.StackOverlay`.
    :param publisher: where events go.
    :param max_sleep: longest real-time pause between two looks (seconds); sooner when a job
        transition falls due.
    """

    def __init__(self, amplify: Any, stacks: Any, publisher: EventPublisher, max_sleep: float = 0.2):
        self.amplify = amplify
        self.stacks = stacks
        self.publisher = publisher
        self.max_sleep = max_sleep
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stack_status: dict[tuple[str, str, str], str] = {}
        amplify.listeners.append(self._job_changed)

    def reset(self) -> None:
        self._stack_status = {}

    def start(self) -> None:
        _quick_sqs_retention_check()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="world-ticker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout=5)
            self._thread = None

    def wake(self) -> None:
        """Look again now (a job was started, a stack scripted)."""
        self._wake.set()

    def _job_changed(self, job: Any, status: str, at: float) -> None:
        app_arn = f"arn:aws:amplify:{job.region}:{job.account_id}:apps/{job.app_id}"
        self.publisher.publish(
            job.account_id,
            job.region,
            "aws.amplify",
            AMPLIFY_DETAIL_TYPE,
            {"appId": job.app_id, "branchName": job.branch_name, "jobId": job.job_id, "jobStatus": status},
            [app_arn],
            at,
        )
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.amplify.advance()
                self._look_at_stacks()
                pause = self._next_pause()
            except Exception:  # never let the ticker die on a race with a reset
                pause = self.max_sleep
            self._wake.wait(pause)
            self._wake.clear()

    def _next_pause(self) -> float:
        amplify = self.amplify
        with amplify.lock:
            due = [
                t
                for apps in amplify.apps.values()
                for app in apps.values()
                for branch in app.branches.values()
                for job in branch.jobs
                if (t := job.next_event_time()) is not None
            ]
        if not due:
            return self.max_sleep
        wait = amplify.clock.real_seconds(min(due) - amplify.clock.now())
        return max(0.0, min(self.max_sleep, wait))

    def _look_at_stacks(self) -> None:
        now = self.amplify.clock.now()
        for (account_id, region, stack_id), status in self._current_stacks().items():
            key = (account_id, region, stack_id)
            if self._stack_status.get(key) == status:
                continue
            self._stack_status[key] = status
            self.publisher.publish(
                account_id,
                region,
                "aws.cloudformation",
                STACK_DETAIL_TYPE,
                {
                    "stack-id": stack_id,
                    "status-details": {"status": status, "status-reason": ""},
                    "client-request-token": "",
                },
                [stack_id],
                now,
            )

    def _current_stacks(self) -> dict[tuple[str, str, str], str]:
        """Every stack's status as DescribeStacks would show it now, by (account, region, stack id)."""
        from moto.cloudformation.models import cloudformation_backends  # heavy: loaded when the world runs

        found: dict[tuple[str, str, str], str] = {}
        for account_id, regions in list(cloudformation_backends.items()):
            for region, backend in list(regions.items()):
                stacks = [*backend.stacks.values(), *getattr(backend, "deleted_stacks", {}).values()]
                for stack in stacks:
                    status = self.stacks.visible_status(account_id, region, stack.name) or stack.status
                    found[(account_id, region, stack.stack_id)] = status
        return found


def _quick_sqs_retention_check() -> None:
    """moto 5.2 checks each message it hands out against the queue's retention period by computing
    every queue attribute, which counts every message: a receive costs O(backlog) per message (3 s
    per receive with 2,000 messages queued). Read the one attribute instead; same outcome."""
    from moto.core.utils import unix_time  # moto is heavy: loaded when the world starts
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend, "_world_retention_check", False):
        return

    def is_message_valid_based_on_retention_period(self, queue_name: str, message: Any) -> bool:
        retention = int(getattr(self.get_queue(queue_name), "message_retention_period", 345600))
        return retention + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
    SQSBackend._world_retention_check = True


__all__ = ["AMPLIFY_DETAIL_TYPE", "DELIVERY_SERVICE", "STACK_DETAIL_TYPE", "EventPublisher", "WorldTicker"]
