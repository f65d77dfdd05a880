"""Set up the delivery of Amplify and CloudFormation status events to the triggerers, idempotently.

One EventBridge rule per five triggerers (EventBridge's target limit) matches ``Amplify Deployment
Status Change`` and ``CloudFormation Stack Status Change`` events of the account and region and
delivers each to one SQS queue per triggerer, whose policy lets only those rules send. Every
triggerer so reads every event from a queue of its own; no triggerer can consume an event that a
wait on another one needed. A second run changes nothing and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_amplify.hooks.events import AmplifyEventsHook
from airflow_amplify.validation import (
    AWS_PARAMETER_KINDS,
    check_parameters,
    count,
    custom,
    duration,
    ensure_connection_exists,
    text,
    validate_events_setup,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

DEFAULT_RULE_NAME = "airflow-amplify-status-events"
DEFAULT_QUEUE_PREFIX = "airflow-amplify-events"


class AmplifyEventsSetupOperator(AwsBaseOperator[AmplifyEventsHook]):
    """Create or update the EventBridge rule(s) and the per-triggerer SQS queues for event-driven waits.

    Returns ``{"changed", "changes", "queues", "rules", "connection_extra"}``: ``queues`` maps each
    triggerer to its queue URL; ``connection_extra`` is what to put in the AWS connection's extra
    (``{"amplify_events": {"queue_url": ".../<prefix>-{triggerer}", "safety_poll_interval": ...}}``);
    each triggerer fills ``{triggerer}`` with ``$AIRFLOW_AMPLIFY_EVENTS_TRIGGERER`` or its host
    name, so name the triggerers as they will call themselves (the official chart's triggerer
    StatefulSet pods are ``<release>-triggerer-0``, ``-1``...).

    :param triggerers: the names of the triggerers (1 to 100; letters, digits, ``-`` and ``_``). Templated.
    :param queue_prefix: queues are named ``<queue_prefix>-<triggerer>``. Templated.
    :param rule_name: the EventBridge rule (more rules get ``-2``, ``-3``... suffixes). Templated.
    :param message_retention_seconds: how long a queue keeps events (60 s to 14 days; default 1 day):
        a triggerer that was down reads what it missed when it is back.
    :param safety_poll_interval: the ``safety_poll_interval`` put in ``connection_extra`` (seconds).
    :param aws_conn_id: the Airflow AWS connection (of the account and region the builds run in).
    :param region_name: AWS region (default: the connection's).
    :param verify: SSL certificate verification.
    :param botocore_config: botocore client configuration, as a dict.
    """

    aws_hook_class = AmplifyEventsHook
    template_fields: Sequence[str] = aws_template_fields("triggerers", "queue_prefix", "rule_name")
    ui_color = "#ff9900"
    #: The kind of every parameter, checked by :func:`~airflow_amplify.validation.check_parameters`;
    #: :func:`~airflow_amplify.validation.validate_events_setup` then checks names and limits together.
    parameter_kinds = {
        **AWS_PARAMETER_KINDS,
        "triggerers": custom(
            "list of 1 to 100 triggerer names",
            lambda param, value: (
                [text().check(f"{param}[{i}]", name) for i, name in enumerate(value)]
                if isinstance(value, list | tuple)
                else text().check(param, value)
            ),
        ),
        "queue_prefix": text(),
        "rule_name": text(),
        "message_retention_seconds": count(60),
        "safety_poll_interval": duration(),
    }

    def __init__(
        self,
        *,
        triggerers: Sequence[str] = ("default",),
        queue_prefix: str = DEFAULT_QUEUE_PREFIX,
        rule_name: str = DEFAULT_RULE_NAME,
        message_retention_seconds: int = 86400,
        safety_poll_interval: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.triggerers = triggerers
        self.queue_prefix = queue_prefix
        self.rule_name = rule_name
        self.message_retention_seconds = message_retention_seconds
        self.safety_poll_interval = safety_poll_interval

    def validate(self) -> None:
        """Check every input before any AWS call."""
        validate_events_setup(
            self.triggerers,
            self.queue_prefix,
            self.rule_name,
            self.message_retention_seconds,
            self.safety_poll_interval,
        )
        check_parameters(self)
        ensure_connection_exists(self.aws_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        self.validate()
        queues = {name: f"{self.queue_prefix}-{name}" for name in self.triggerers}
        result = self.hook.ensure_delivery(self.rule_name, queues, self.message_retention_seconds, self.log)
        if not result["changes"]:
            self.log.info(
                "Status events already reach the queues of %d triggerer(s): nothing to change", len(queues)
            )
        any_url = next(iter(result["queues"].values()))
        template = f"{any_url.rsplit('/', 1)[0]}/{self.queue_prefix}-{{triggerer}}"
        return {
            "changed": bool(result["changes"]),
            "changes": result["changes"],
            "queues": result["queues"],
            "rules": result["rules"],
            "connection_extra": {
                "amplify_events": {"queue_url": template, "safety_poll_interval": self.safety_poll_interval}
            },
        }
