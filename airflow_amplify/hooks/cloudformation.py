"""Amplify branch backend stacks in CloudFormation: naming, status, outputs and failure causes.

An Amplify Gen 2 branch backend is one root CloudFormation stack (plus nested stacks) that every
deploy *updates*. This module names that stack as the ``ampx`` CLI does, reads it, decides whether
a deploy has settled (:func:`settle_state`, on the status model of :mod:`airflow_amplify.statuses`),
and explains a rollback from the stack events (:meth:`AmplifyStackHook.explain_failure`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.common.compat.sdk import AirflowException
from botocore.exceptions import ClientError

from airflow_amplify.statuses import (
    STACK_OPERATION_START_STATUSES,
    STACK_SUCCESS_STATUSES,
    resource_is_failed,
    stack_is_failed,
    stack_is_in_progress,
)
from airflow_amplify.timestamps import to_datetime

# --- reading a stack ------------------------------------------------------------------------

#: What :func:`settle_state` can say about a stack for the deploy being waited on.
SETTLE_MISSING = "missing"
SETTLE_IN_PROGRESS = "in_progress"
SETTLE_STALE = "stale"
SETTLE_SUCCEEDED = "succeeded"
SETTLE_FAILED = "failed"
SETTLE_UNKNOWN = "unknown"


def stack_changed_at(stack: dict[str, Any]) -> datetime | None:
    """When the stack last changed: the latest of its creation, last update and deletion times."""
    times = [to_datetime(stack.get(key)) for key in ("CreationTime", "LastUpdatedTime", "DeletionTime")]
    present = [t for t in times if t is not None]
    return max(present) if present else None


def settle_state(stack: dict[str, Any] | None, changed_since: datetime | None = None) -> str:
    """Classify a stack (a DescribeStacks ``Stacks[]`` entry, or None) for the deploy being waited on.

    - ``missing``: no such stack (DescribeStacks by name does not return deleted stacks);
    - ``in_progress``: any ``*_IN_PROGRESS`` status, cleanup and review included;
    - ``stale``: a terminal status older than ``changed_since``: the previous deploy's result;
    - ``succeeded`` / ``failed``: a terminal status of this deploy (status model in :mod:`airflow_amplify.statuses`);
    - ``unknown``: a status this package does not know; treated as not settled.

    :param stack: the stack as DescribeStacks returns it, or None if it does not exist.
    :param changed_since: terminal states from before this moment belong to an earlier deploy.
    """
    if stack is None:
        return SETTLE_MISSING
    status = stack["StackStatus"]
    if stack_is_in_progress(status):
        return SETTLE_IN_PROGRESS
    if status not in STACK_SUCCESS_STATUSES and not stack_is_failed(status):
        return SETTLE_UNKNOWN
    changed_at = stack_changed_at(stack)
    since = to_datetime(changed_since)
    if since is not None and changed_at is not None and changed_at < since:
        return SETTLE_STALE
    return SETTLE_SUCCEEDED if status in STACK_SUCCESS_STATUSES else SETTLE_FAILED


def stack_outputs(stack: dict[str, Any]) -> dict[str, str]:
    """The stack's outputs as ``{OutputKey: OutputValue}``."""
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs") or []}


def stack_summary(stack: dict[str, Any]) -> dict[str, Any]:
    """What the sensor returns (and pushes to XCom): id, name, status, last updated time (ISO 8601), outputs."""
    updated = to_datetime(stack.get("LastUpdatedTime")) or to_datetime(stack.get("CreationTime"))
    return {
        "stack_id": stack["StackId"],
        "stack_name": stack["StackName"],
        "stack_status": stack["StackStatus"],
        "last_updated_time": updated.isoformat() if updated else None,
        "outputs": stack_outputs(stack),
    }


def is_stack_missing_error(error: Exception) -> bool:
    """True for the ValidationError CloudFormation answers for a stack that does not exist."""
    response = getattr(error, "response", None) or {}
    err = response.get("Error") or {}
    return err.get("Code") == "ValidationError" and "does not exist" in str(err.get("Message", ""))


# --- failures -------------------------------------------------------------------------------


def describe_stack(cloudformation: Any, stack_name: str) -> dict[str, Any] | None:
    """The DescribeStacks entry of a stack, or None if it does not exist.

    :param cloudformation: a boto3 CloudFormation client.
    :param stack_name: stack name or stack id (ARN).
    """
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if is_stack_missing_error(error):
            return None
        raise
    return stacks[0] if stacks else None


class StackRollbackError(AirflowException):
    """The stack's last deploy did not take effect (rollback, failure or deletion); the message says why."""


class AmplifyStackNotFoundError(AirflowException):
    """The stack did not appear within the grace period."""


@dataclass(frozen=True)
class StackFailure:
    """One failed resource: where it is, what it is, and CloudFormation's reason.

    :param path: logical ids from the root stack down, e.g. ``("data7552DF31", "amplifyDataGraphQLAPI")``.
    :param stack_name: the (nested) stack the resource belongs to.
    :param resource_type: e.g. ``AWS::AppSync::GraphQLApi``.
    :param status: e.g. ``UPDATE_FAILED``.
    :param reason: ``ResourceStatusReason``.
    :param timestamp: when it failed (ISO 8601).
    """

    path: tuple[str, ...]
    stack_name: str
    resource_type: str
    status: str
    reason: str
    timestamp: str

    def describe(self) -> str:
        return f"{' > '.join(self.path)} ({self.resource_type}) {self.status}: {self.reason or 'no reason given'}"


#: Reasons CloudFormation gives to resources it stopped because something else failed.
_CANCELLED = re.compile(r"cancell?ed|^Resource (creation|update|deletion) cancelled", re.IGNORECASE)
_NESTED_STACK = "AWS::CloudFormation::Stack"


def last_operation_events(events: list[dict[str, Any]], stack_name: str) -> list[dict[str, Any]]:
    """The events of the stack's latest operation, oldest first.

    :param events: DescribeStackEvents ``StackEvents`` (newest first, as CloudFormation returns them).
    :param stack_name: the stack's name (its own events have it as ``LogicalResourceId``).
    """
    operation: list[dict[str, Any]] = []
    for event in events:
        operation.append(event)
        is_root = event.get("LogicalResourceId") == stack_name and event.get("ResourceType") == _NESTED_STACK
        if is_root and event.get("ResourceStatus") in STACK_OPERATION_START_STATUSES:
            break
    return list(reversed(operation))


def first_failures(events: list[dict[str, Any]], stack_name: str, limit: int = 5) -> list[dict[str, Any]]:
    """The first failed resources of the latest operation (causes before consequences), oldest first.

    Resources CloudFormation cancelled because another one failed are left out unless nothing else failed.

    :param events: DescribeStackEvents ``StackEvents`` (newest first).
    :param stack_name: the stack's name.
    :param limit: at most this many.
    """
    failed = [
        e
        for e in last_operation_events(events, stack_name)
        if resource_is_failed(str(e.get("ResourceStatus", ""))) and e.get("LogicalResourceId") != stack_name
    ]
    causes = [e for e in failed if not _CANCELLED.search(e.get("ResourceStatusReason") or "")]
    return (causes or failed)[:limit]


def format_failure(stack: dict[str, Any] | None, stack_name: str, failures: list[StackFailure]) -> str:
    """A message for a person: the stack, its status and reason, and the first failed resources."""
    status = stack["StackStatus"] if stack else "DELETED"
    lines = [f"CloudFormation stack {stack_name} ended in {status}."]
    if stack and stack.get("StackStatusReason"):
        lines[0] += f" Reason: {stack['StackStatusReason']}"
    if failures:
        lines.append("Root cause (first failed resources, nested stacks followed):")
        lines += [f"  - {f.describe()}" for f in failures]
    else:
        lines.append("No failed resource found in the stack events.")
    return "\n".join(lines)


class AmplifyStackHook(AwsBaseHook):
    """Read Amplify branch backend stacks: status, outputs, and why a deploy failed.

    Uses the ``cloudformation`` client and ships its own waiter (``stack_settled``,
    used by the trigger) in ``airflow_amplify/waiters/cloudformation.json``.

    Additional arguments (such as ``aws_conn_id``) may be specified and are passed down to the
    underlying AwsBaseHook.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "cloudformation"
        super().__init__(*args, **kwargs)

    @property
    def waiter_path(self) -> Path:
        return Path(__file__).resolve().parents[1] / "waiters" / "cloudformation.json"

    def describe_stack(self, stack_name: str) -> dict[str, Any] | None:
        """The stack's DescribeStacks entry, or None if it does not exist.

        :param stack_name: stack name or stack id (ARN).
        """
        return describe_stack(self.conn, stack_name)

    def delete_stack(self, stack_id: str) -> None:
        """DeleteStack (by stack id: a repeated call on a deleted stack is a no-op)."""
        self.conn.delete_stack(StackName=stack_id)

    def get_stack_status(self, stack_name: str) -> str | None:
        """The stack's status, or None if it does not exist.

        :param stack_name: stack name or stack id (ARN).
        """
        stack = self.describe_stack(stack_name)
        return stack["StackStatus"] if stack else None

    def get_stack_outputs(self, stack_name: str) -> dict[str, str]:
        """The stack's outputs as a dict; raises :class:`AmplifyStackNotFoundError` if it does not exist.

        :param stack_name: stack name or stack id (ARN).
        """
        stack = self.describe_stack(stack_name)
        if stack is None:
            raise AmplifyStackNotFoundError(f"CloudFormation stack {stack_name} does not exist.")
        return stack_outputs(stack)

    def stack_events(self, stack_name: str, max_events: int = 500) -> list[dict[str, Any]]:
        """The stack's events, newest first, until the start of its latest operation (at most ``max_events``).

        :param stack_name: stack name or stack id (ARN).
        :param max_events: stop paging after this many events.
        """
        events: list[dict[str, Any]] = []
        name = stack_name.split("/")[1] if stack_name.startswith("arn:") else stack_name
        for page in self.conn.get_paginator("describe_stack_events").paginate(StackName=stack_name):
            for event in page["StackEvents"]:
                events.append(event)
                is_root = (
                    event.get("LogicalResourceId") == name and event.get("ResourceType") == _NESTED_STACK
                )
                if (is_root and event.get("ResourceStatus") in STACK_OPERATION_START_STATUSES) or len(
                    events
                ) >= max_events:
                    return events
        return events

    def explain_failure(self, stack_name: str, max_depth: int = 5, limit: int = 5) -> list[StackFailure]:
        """The first resources that failed in the stack's latest operation, following nested stacks.

        A failed ``AWS::CloudFormation::Stack`` resource is replaced by the failures inside it (read
        with DescribeStackEvents on its ``PhysicalResourceId``), down to ``max_depth`` levels.

        :param stack_name: stack name or stack id (ARN).
        :param max_depth: how many levels of nested stacks to follow.
        :param limit: at most this many failures per stack.
        """
        return self._explain(stack_name, (), max_depth, limit)

    def _explain(self, stack_id: str, path: tuple[str, ...], depth: int, limit: int) -> list[StackFailure]:
        try:
            events = self.stack_events(stack_id)
        except ClientError as error:
            self.log.warning("Could not read the events of stack %s: %s", stack_id, error)
            return []
        if not events:
            return []
        name = events[0].get("StackName") or stack_id
        failures: list[StackFailure] = []
        for event in first_failures(events, name, limit):
            here = (*path, event["LogicalResourceId"])
            nested_id = event.get("PhysicalResourceId") or ""
            if event.get("ResourceType") == _NESTED_STACK and nested_id.startswith("arn:") and depth > 0:
                inner = self._explain(nested_id, here, depth - 1, limit)
                if inner:
                    failures += inner
                    continue
            timestamp = to_datetime(event.get("Timestamp"))
            failures.append(
                StackFailure(
                    path=here,
                    stack_name=name,
                    resource_type=event.get("ResourceType", ""),
                    status=event.get("ResourceStatus", ""),
                    reason=event.get("ResourceStatusReason", ""),
                    timestamp=timestamp.isoformat() if timestamp else "",
                )
            )
        return failures

    def failure_message(self, stack_name: str, stack: dict[str, Any] | None = None) -> str:
        """A message with the stack's status and the root cause from its events (see :meth:`explain_failure`).

        :param stack_name: stack name or stack id (ARN).
        :param stack: the stack as already read (read again if None).
        """
        if stack is None:
            stack = self.describe_stack(stack_name)
        stack_id = stack["StackId"] if stack else stack_name
        failures = self.explain_failure(stack_id)
        return format_failure(stack, stack["StackName"] if stack else stack_name, failures)
