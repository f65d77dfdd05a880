"""CloudFormation extensions of the local world: what moto's stacks cannot show on their own.

moto completes every stack operation at once and never sets ``LastUpdatedTime``. Real branch
stacks spend minutes in ``*_IN_PROGRESS``, roll back, fail inside nested stacks and carry
``LastUpdatedTime`` after every update. This module rewrites moto's wire answers so a real botocore
or aiobotocore client sees that:

- ``LastUpdatedTime`` on every stack moto has updated (the time of its latest ``UPDATE_IN_PROGRESS``
  root event, as CloudFormation reports it);
- scripted stacks (:meth:`StackOverlay.script`): a real moto stack whose ``StackStatus`` follows a
  list of statuses, one step per DescribeStacks answer that contains it (the last one stays), with an
  optional ``StackStatusReason`` and ``LastUpdatedTime``, and with extra events (resource failures,
  nested stacks) merged into its DescribeStackEvents answers.

Only DescribeStacks and DescribeStackEvents answers are touched; every other call goes to moto as is.
"""

from __future__ import annotations

import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

_NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
ET.register_namespace("", _NS)


def _tag(name: str) -> str:
    return f"{{{_NS}}}{name}"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class StackScript:
    """The scripted view of one stack.

    :param statuses: the ``StackStatus`` of successive DescribeStacks answers; the last one stays.
    :param status_reason: ``StackStatusReason`` to show (None: none).
    :param last_updated_time: ``LastUpdatedTime`` to show (ISO 8601); None: the time the script was set.
    :param events: extra events (dicts with ``LogicalResourceId``, ``ResourceType``, ``ResourceStatus``,
        optional ``ResourceStatusReason``, ``PhysicalResourceId``, ``Timestamp``), oldest first.
    :param step_seconds: when set, the status moves on by time (one status per ``step_seconds`` of
        the world's clock since the script was set) instead of per answer, as a stack that nobody
        polls does (an event-driven wait).
    :param started_at: the world time the script was set (for ``step_seconds``).
    """

    statuses: list[str]
    status_reason: str | None = None
    last_updated_time: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    served: int = 0
    step_seconds: float | None = None
    started_at: float = 0.0

    def status_at(self, now: float) -> str | None:
        """The status an answer would show now (None: per-answer script not yet answered)."""
        if self.step_seconds:
            index = int((now - self.started_at) // self.step_seconds)
        elif self.served:
            index = self.served - 1
        else:
            return None
        return self.statuses[min(index, len(self.statuses) - 1)]

    def next_status(self, now: float) -> str:
        if self.step_seconds:
            return self.status_at(now)  # type: ignore[return-value]
        status = self.statuses[min(self.served, len(self.statuses) - 1)]
        self.served += 1
        return status


class StackOverlay:
    """Scripted stacks of the world, by account, region and stack name."""

    def __init__(self, now: Any = None) -> None:
        import time

        self._lock = threading.Lock()
        self._scripts: dict[tuple[str, str, str], StackScript] = {}
        self._now = now or time.time

    def visible_status(self, account_id: str, region: str, stack_name: str) -> str | None:
        """What a scripted stack shows now (None: not scripted, or not answered yet)."""
        with self._lock:
            script = self._scripts.get((account_id, region, stack_name))
            return script.status_at(self._now()) if script else None

    def reset(self) -> None:
        with self._lock:
            self._scripts = {}

    def script(self, account_id: str, region: str, stack_name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Script a stack (see :class:`StackScript`); returns the script as stored."""
        now = datetime.now(UTC)
        events = []
        for index, event in enumerate(data.get("events") or []):
            event = dict(event)
            event.setdefault("Timestamp", _iso(now + _ms(index + 1)))
            events.append(event)
        script = StackScript(
            statuses=list(data["statuses"]),
            status_reason=data.get("status_reason"),
            last_updated_time=data.get("last_updated_time") or _iso(now),
            events=events,
            step_seconds=float(data["step_seconds"]) if data.get("step_seconds") else None,
            started_at=self._now(),
        )
        if not script.statuses:
            raise ValueError("statuses must name at least one stack status")
        with self._lock:
            self._scripts[(account_id, region, stack_name)] = script
        return {"stack_name": stack_name, "statuses": script.statuses, "events": len(events)}

    # --- wire rewriting ---------------------------------------------------------------------

    def rewrite(
        self, operation: str, account_id: str, region: str, request_body: bytes, body: bytes
    ) -> bytes:
        """Rewrite moto's answer to ``operation`` (DescribeStacks or DescribeStackEvents)."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return body
        if root.find(f".//{_tag('Error')}") is not None:
            return body
        if operation == "DescribeStacks":
            self._rewrite_stacks(root, account_id, region)
        elif operation == "DescribeStackEvents":
            form = parse_qs(request_body.decode("utf-8", "replace"))
            requested = (form.get("StackName") or [""])[0]
            self._rewrite_events(root, account_id, region, requested)
        return ET.tostring(root, encoding="utf-8", xml_declaration=False)

    def _rewrite_stacks(self, root: ET.Element, account_id: str, region: str) -> None:
        for member in root.iter(_tag("member")):
            name_el = member.find(_tag("StackName"))
            status_el = member.find(_tag("StackStatus"))
            if name_el is None or status_el is None:
                continue
            stack_id = member.findtext(_tag("StackId")) or ""
            with self._lock:
                script = self._scripts.get((account_id, region, name_el.text or ""))
                status = script.next_status(self._now()) if script else None
            if script is not None:
                status_el.text = status
                if script.status_reason:
                    _set_after(member, "StackStatusReason", script.status_reason, after="StackStatus")
                _set_after(member, "LastUpdatedTime", script.last_updated_time or "", after="CreationTime")
            elif member.find(_tag("LastUpdatedTime")) is None:
                updated = _moto_last_update(account_id, region, stack_id)
                if updated is not None:
                    _set_after(member, "LastUpdatedTime", _iso(updated), after="CreationTime")

    def _rewrite_events(self, root: ET.Element, account_id: str, region: str, requested: str) -> None:
        container = root.find(f".//{_tag('StackEvents')}")
        if container is None:
            return
        members = list(container)
        stack_id = members[0].findtext(_tag("StackId")) if members else requested
        stack_name = members[0].findtext(_tag("StackName")) if members else requested
        with self._lock:
            script = self._scripts.get((account_id, region, stack_name or ""))
            extra = list(script.events) if script else []
        if not extra:
            return
        for event in extra:
            member = ET.Element(_tag("member"))
            values = {
                "StackId": stack_id,
                "EventId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{stack_id}/{event['Timestamp']}/{event}")),
                "StackName": stack_name,
                "LogicalResourceId": event["LogicalResourceId"],
                "PhysicalResourceId": event.get("PhysicalResourceId", ""),
                "ResourceType": event["ResourceType"],
                "Timestamp": event["Timestamp"],
                "ResourceStatus": event["ResourceStatus"],
                "ResourceStatusReason": event.get("ResourceStatusReason"),
            }
            for key, value in values.items():
                if value is not None:
                    ET.SubElement(member, _tag(key)).text = value
            members.append(member)
        members.sort(key=lambda m: m.findtext(_tag("Timestamp")) or "", reverse=True)  # newest first
        for child in list(container):
            container.remove(child)
        container.extend(members)


def _ms(milliseconds: int):
    return timedelta(milliseconds=milliseconds)


def _set_after(member: ET.Element, name: str, text: str, after: str) -> None:
    existing = member.find(_tag(name))
    if existing is not None:
        existing.text = text
        return
    children = list(member)
    anchor = member.find(_tag(after))
    index = children.index(anchor) + 1 if anchor is not None else len(children)
    element = ET.Element(_tag(name))
    element.text = text
    member.insert(index, element)


def _moto_last_update(account_id: str, region: str, stack_id: str) -> datetime | None:
    """The time of the latest update moto made to a stack (its newest root UPDATE_IN_PROGRESS event)."""
    from moto.cloudformation.models import (
        cloudformation_backends,  # moto is heavy: loaded when the world starts
    )

    try:
        stack = cloudformation_backends[account_id][region].get_stack(stack_id)
    except Exception:
        return None
    times = [
        e.timestamp
        for e in stack.events
        if e.resource_status == "UPDATE_IN_PROGRESS" and e.logical_resource_id == stack.name
    ]
    if not times:
        return None
    latest = max(times)
    return latest if latest.tzinfo else latest.replace(tzinfo=UTC)


__all__ = ["StackOverlay", "StackScript"]
