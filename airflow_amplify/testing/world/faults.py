"""Fault injection for the local world: throttling, server errors, dropped connections, delays.

A rule picks requests by service and operation and answers a fraction of them with a fault.
Randomness comes from the rule's own seeded generator, so a run can be repeated exactly.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("429", "500", "503", "drop", "delay", "drop_after", "403")


@dataclass
class FaultRule:
    """One fault rule.

    :param kind: ``429`` (throttled), ``500``, ``503``, ``drop`` (connection closed with no answer),
        ``delay`` (answered after ``delay_seconds``), ``drop_after`` (handled, then the connection is
        closed before the answer: the client cannot know the request took effect), ``403`` (the
        request's security token has expired: a non-transient error, as when an assumed role's
        session runs out during a long wait).
    :param service: ``amplify``, ``amplify-webhooks``, ``cloudformation``, ``sts``, ... or ``*``;
        ``event-delivery`` (never matched by ``*``) for the world's status events, with the detail
        type (``Amplify Deployment Status Change``) as operation and ``drop`` or ``delay``.
    :param operations: operation names (``GetJob``, ``DescribeStacks``, ``startbuild``); empty for all.
    :param rate: fraction of matching requests that get the fault, 0 to 1.
    :param count: at most this many faults from this rule (None: no limit).
    :param delay_seconds: the delay for ``delay``.
    :param seed: seed of the rule's random generator.
    """

    kind: str
    service: str = "*"
    operations: list[str] = field(default_factory=list)
    rate: float = 1.0
    count: int | None = None
    delay_seconds: float = 1.0
    seed: int = 0
    injected: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate must be between 0 and 1, got {self.rate!r}")
        self._random = random.Random(self.seed)

    def matches(self, service: str, operation: str | None) -> bool:
        if self.service not in ("*", service):
            return False
        return not self.operations or operation in self.operations

    def fire(self) -> bool:
        if self.count is not None and self.injected >= self.count:
            return False
        if self._random.random() >= self.rate:
            return False
        self.injected += 1
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "service": self.service,
            "operations": self.operations,
            "rate": self.rate,
            "count": self.count,
            "delay_seconds": self.delay_seconds,
            "seed": self.seed,
            "injected": self.injected,
        }


class FaultInjector:
    """The world's fault rules; the first rule that matches and fires decides a request's fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules = []

    def pick(self, service: str, operation: str | None, explicit: bool = False) -> FaultRule | None:
        """The fault for one request, if any.

        :param explicit: only rules naming ``service`` itself apply (not ``*``).
        """
        with self._lock:
            for rule in self.rules:
                if explicit and rule.service != service:
                    continue
                if rule.matches(service, operation) and rule.fire():
                    return rule
        return None


# Error bodies per protocol, as each service family sends them.
_QUERY_CODES = {"429": ("Throttling", "Rate exceeded"), "500": ("InternalFailure", "Internal failure"),
                "503": ("ServiceUnavailable", "Service unavailable"),
                "403": ("ExpiredToken", "The security token included in the request is expired")}  # fmt: skip
_AMPLIFY_TYPES = {
    "429": ("LimitExceededException", "Rate exceeded"),
    "500": ("InternalFailureException", "Internal failure (injected)"),
    "503": ("DependentServiceFailureException", "Dependent service failure (injected)"),
    "403": ("ExpiredTokenException", "The security token included in the request is expired (injected)"),
}
_JSON_TYPES = {
    "429": "ThrottlingException",
    "500": "InternalServerError",
    "503": "ServiceUnavailable",
    "403": "ExpiredTokenException",
}


def fault_response(kind: str, service: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an injected error, shaped like ``service``'s own errors."""
    status = int(kind)
    if service in ("amplify", "amplify-webhooks", "amplify-logs"):
        error_type, message = _AMPLIFY_TYPES[kind]
        return (
            status,
            {"x-amzn-ErrorType": f"{error_type}:", "Content-Type": "application/json"},
            (b'{"message": "' + message.encode() + b'"}'),
        )
    if service in ("ssm", "logs", "secretsmanager"):
        body = json.dumps({"__type": _JSON_TYPES[kind], "message": "injected fault"})
        return status, {"Content-Type": "application/x-amz-json-1.1"}, body.encode()
    if service == "s3":
        code = {"429": "SlowDown", "500": "InternalError", "503": "SlowDown", "403": "ExpiredToken"}[kind]
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>injected</Message></Error>"
        return (503 if kind == "429" else status), {"Content-Type": "application/xml"}, body.encode()
    code, message = _QUERY_CODES[kind]
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
    )
    return status, {"Content-Type": "text/xml"}, body.encode()
