"""Deferrable wait for an Amplify branch backend stack to settle after a deploy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger
from airflow.providers.amazon.aws.utils.waiter_with_logging import RETRIABLE_ERROR_CODES
from airflow.triggers.base import TriggerEvent
from botocore.exceptions import ClientError

from airflow_amplify.hooks.cloudformation import (
    SETTLE_MISSING,
    SETTLE_STALE,
    AmplifyStackHook,
    is_stack_missing_error,
    settle_state,
)
from airflow_amplify.timestamps import to_datetime

#: ``reason`` of the error event sent when the stack did not appear before ``missing_deadline``.
REASON_STACK_MISSING = "stack_missing"
#: ``reason`` of the error event sent when the attempts ran out before this deploy showed up.
REASON_NO_NEW_DEPLOY = "no_new_deploy"


class AmplifyStackTrigger(AwsBaseWaiterTrigger):
    """Wait, in the triggerer, until a branch backend stack has settled after *this* deploy.

    The amazon provider's waiter trigger polls one waiter; this one waits in two phases so that
    ``changed_since`` and the missing-stack grace period hold here as they do in poke mode:

    1. *Find this deploy.* Poll DescribeStacks (async client of :class:`AmplifyStackHook`) while the
       stack does not exist yet (until ``missing_deadline``; then an error event with
       ``reason="stack_missing"``) or still shows a terminal state older than ``changed_since``
       (the previous deploy's result). Both checks compare timestamps with values given at defer
       time, which a waiter's JMESPath acceptors cannot do.
    2. *Wait for it to settle.* As soon as the stack is in progress, or shows a terminal state of
       this deploy, the ``stack_settled`` waiter of ``airflow_amplify/waiters/cloudformation.json``
       takes over through :meth:`AwsBaseWaiterTrigger.run` with the attempts that are left.

    Events: ``{"status": "success", "stack_name": ...}`` when the stack settled in a success state;
    ``{"status": "error", "stack_name": ..., "message": ..., "reason": ...}`` otherwise. The task's
    ``execute_complete`` reads the stack again, so the return value and the root cause of a failure
    come from the stack itself, not from the event.

    :param stack_name: the stack name or stack id (ARN) to watch.
    :param changed_since: ISO 8601 time; terminal states of a stack that last changed before it
        are from an earlier deploy and are waited past. None: any terminal state counts.
    :param missing_deadline: ISO 8601 time; a stack that still does not exist then is an error.
        None: wait for it as long as attempts last.
    :param waiter_delay: seconds between two polls.
    :param waiter_max_attempts: polls in all (both phases together).
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region of the stack (default: the connection's).
    :param verify: whether to verify SSL certificates.
    :param botocore_config: botocore client configuration (a dict).
    :param events: wait for stack status events instead of polling (see
        :mod:`airflow_amplify.triggers._events`): a dict with ``queue_url`` and optionally
        ``safety_poll_interval``; None (default) takes the connection extra's ``amplify_events``;
        False always polls.
    """

    aws_hook_class = AmplifyStackHook

    def __init__(
        self,
        *,
        stack_name: str,
        changed_since: str | None = None,
        missing_deadline: str | None = None,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 240,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        events: dict | bool | None = None,
    ):
        super().__init__(
            serialized_fields={
                "stack_name": stack_name,
                "changed_since": changed_since,
                "missing_deadline": missing_deadline,
                "events": events,
            },
            waiter_name="stack_settled",
            waiter_args={"StackName": stack_name},
            failure_message=f"CloudFormation stack {stack_name} did not settle in a success state",
            status_message=f"CloudFormation stack {stack_name} is",
            status_queries=["Stacks[0].StackStatus", "Stacks[0].StackStatusReason"],
            return_key="stack_name",
            return_value=stack_name,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )
        self.stack_name = stack_name
        self.changed_since = changed_since
        self.missing_deadline = missing_deadline
        self.events = events

    def _error(self, reason: str, message: str) -> TriggerEvent:
        return TriggerEvent(
            {"status": "error", "reason": reason, "message": message, "stack_name": self.stack_name}
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_amplify.triggers import _events

        events = await _events.resolve(self.events, self.aws_conn_id)
        if events is not None:
            async for event in _events.wait_for_stack(self, events):
                yield event
            return
        changed_since = to_datetime(self.changed_since)
        deadline = to_datetime(self.missing_deadline)
        attempts_left = self.attempts
        last_state = None
        async with await self.hook().get_async_conn() as client:
            while True:
                try:
                    stacks = (await client.describe_stacks(StackName=self.stack_name))["Stacks"]
                    stack = stacks[0] if stacks else None
                except ClientError as error:
                    code = (error.response.get("Error") or {}).get("Code")
                    if is_stack_missing_error(error):
                        stack = None
                    elif code in RETRIABLE_ERROR_CODES:
                        self.log.info("DescribeStacks of %s: %s; retrying", self.stack_name, code)
                        await asyncio.sleep(self.waiter_delay)
                        continue
                    else:
                        yield self._error("describe_failed", f"DescribeStacks of {self.stack_name}: {error}")
                        return
                state = settle_state(stack, changed_since)
                if state not in (SETTLE_MISSING, SETTLE_STALE):
                    break
                if state == SETTLE_MISSING and deadline is not None and datetime.now(UTC) >= deadline:
                    yield self._error(
                        REASON_STACK_MISSING,
                        f"CloudFormation stack {self.stack_name} did not appear by {deadline.isoformat()}",
                    )
                    return
                if state != last_state:
                    if state == SETTLE_MISSING:
                        self.log.info(
                            "Stack %s does not exist yet; waiting for the deploy to create it",
                            self.stack_name,
                        )
                    else:
                        self.log.info(
                            "Stack %s shows %s from before %s (an earlier deploy); waiting for this deploy",
                            self.stack_name,
                            stack["StackStatus"],  # type: ignore[index]
                            self.changed_since,
                        )
                    last_state = state
                attempts_left -= 1
                if attempts_left <= 0:
                    yield self._error(
                        REASON_NO_NEW_DEPLOY,
                        f"CloudFormation stack {self.stack_name}: no deploy since {self.changed_since} "
                        f"after {self.attempts} polls",
                    )
                    return
                await asyncio.sleep(self.waiter_delay)
        self.log.info(
            "Stack %s shows this deploy (%s); waiting for it to settle", self.stack_name, stack["StackStatus"]
        )  # type: ignore[index]
        self.attempts = attempts_left
        async for event in super().run():
            yield event


class AmplifyStackDeletedTrigger(AwsBaseWaiterTrigger):
    """Wait, in the triggerer, until a stack reaches ``DELETE_COMPLETE`` (the ``stack_deleted`` waiter).

    Events: ``{"status": "success", "stack_name": ...}``, or ``{"status": "error", "message": ...}``
    on ``DELETE_FAILED`` or when the attempts run out.

    :param stack_name: the stack id (ARN): by name a deleted stack no longer answers.
    :param waiter_delay: seconds between two polls.
    :param waiter_max_attempts: polls in all.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region of the stack (default: the connection's).
    :param verify: whether to verify SSL certificates.
    :param botocore_config: botocore client configuration (a dict).
    """

    aws_hook_class = AmplifyStackHook

    def __init__(
        self,
        *,
        stack_name: str,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 120,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ):
        super().__init__(
            serialized_fields={"stack_name": stack_name},
            waiter_name="stack_deleted",
            waiter_args={"StackName": stack_name},
            failure_message=f"CloudFormation stack {stack_name} was not deleted",
            status_message=f"CloudFormation stack {stack_name} is",
            status_queries=["Stacks[0].StackStatus", "Stacks[0].StackStatusReason"],
            return_key="stack_name",
            return_value=stack_name,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )
