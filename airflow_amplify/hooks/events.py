"""EventBridge rules and SQS queues that deliver Amplify and CloudFormation status events to triggerers."""

from __future__ import annotations

import json
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from airflow_amplify.hooks._aws import OtherServiceClientsMixin

#: The events an event-driven wait uses, as an EventBridge event pattern.
EVENT_PATTERN = {
    "source": ["aws.amplify", "aws.cloudformation"],
    "detail-type": ["Amplify Deployment Status Change", "CloudFormation Stack Status Change"],
}
#: EventBridge allows five targets per rule.
TARGETS_PER_RULE = 5


def queue_policy(queue_arn: str, rule_arns: list[str]) -> dict[str, Any]:
    """The queue policy that lets EventBridge deliver from ``rule_arns`` (and nobody else send)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AmplifyStatusEvents",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": rule_arns if len(rule_arns) > 1 else rule_arns[0]}
                },
            }
        ],
    }


class AmplifyEventsHook(OtherServiceClientsMixin, AwsBaseHook):
    """EventBridge (and, through the same connection, SQS) for status-event delivery.

    :param args: passed to ``AwsBaseHook`` (aws_conn_id, region_name, verify, config).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "events"
        super().__init__(*args, **kwargs)

    def ensure_delivery(
        self,
        rule_name: str,
        queue_names: dict[str, str],
        message_retention_seconds: int,
        log: Any,
    ) -> dict[str, Any]:
        """Make rules, queues, policies and targets match; change only what differs.

        Rule ``rule_name`` holds the first five queues as targets, ``rule_name-2`` the next five, and
        so on. Targets of these rules that are not in ``queue_names`` are removed; queues are never
        deleted.

        :param rule_name: the first rule's name.
        :param queue_names: target id (the triggerer's name) to queue name.
        :param message_retention_seconds: how long a queue keeps an event nobody read.
        :param log: where to log each change.
        :return: ``{"changes": [...], "queues": {id: url}, "rules": [arn, ...]}``.
        """
        events = self.conn
        sqs = self.client_for("sqs")
        changes: list[str] = []
        ids = list(queue_names)
        groups = [ids[i : i + TARGETS_PER_RULE] for i in range(0, len(ids), TARGETS_PER_RULE)]
        rule_names = [rule_name if i == 0 else f"{rule_name}-{i + 1}" for i in range(len(groups))]
        pattern = json.dumps(EVENT_PATTERN, sort_keys=True)
        rule_arns = []
        for name in rule_names:
            try:
                rule = events.describe_rule(Name=name)
            except events.exceptions.ResourceNotFoundException:
                rule = None
            same = (
                rule is not None
                and rule.get("State") == "ENABLED"
                and json.loads(rule.get("EventPattern") or "null") == EVENT_PATTERN
            )
            if same:
                rule_arns.append(rule["Arn"])
                continue
            arn = events.put_rule(
                Name=name,
                EventPattern=pattern,
                State="ENABLED",
                Description="Amplify and CloudFormation status events for Airflow triggerers",
            )["RuleArn"]
            rule_arns.append(arn)
            changes.append(f"rule {name} {'created' if rule is None else 'updated'}")
            log.info("EventBridge rule %s %s", name, "created" if rule is None else "updated")
        urls: dict[str, str] = {}
        arns: dict[str, str] = {}
        for target_id, queue_name in queue_names.items():
            try:
                url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
                created = False
            except sqs.exceptions.QueueDoesNotExist:
                url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
                created = True
                changes.append(f"queue {queue_name} created")
                log.info("SQS queue %s created", queue_name)
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            arn = attrs["QueueArn"]
            wanted = {
                "Policy": queue_policy(arn, rule_arns),
                "MessageRetentionPeriod": str(message_retention_seconds),
            }
            differ = {}
            if json.loads(attrs.get("Policy") or "null") != wanted["Policy"]:
                differ["Policy"] = json.dumps(wanted["Policy"])
            if attrs.get("MessageRetentionPeriod") != wanted["MessageRetentionPeriod"]:
                differ["MessageRetentionPeriod"] = wanted["MessageRetentionPeriod"]
            if differ:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=differ)
                if not created:
                    changes.append(f"queue {queue_name}: {', '.join(sorted(differ))} updated")
                    log.info("SQS queue %s: %s updated", queue_name, ", ".join(sorted(differ)))
            urls[target_id], arns[target_id] = url, arn
        for name, group in zip(rule_names, groups, strict=True):
            current = {t["Id"]: t["Arn"] for t in events.list_targets_by_rule(Rule=name).get("Targets", [])}
            missing = [{"Id": i, "Arn": arns[i]} for i in group if current.get(i) != arns[i]]
            if missing:
                events.put_targets(Rule=name, Targets=missing)
                for target in missing:
                    changes.append(f"rule {name}: target {target['Id']} set")
                    log.info("EventBridge rule %s: delivers to queue of %s", name, target["Id"])
            extra = [i for i in current if i not in group]
            if extra:
                events.remove_targets(Rule=name, Ids=extra)
                for target_id in extra:
                    changes.append(f"rule {name}: target {target_id} removed")
                    log.info("EventBridge rule %s: target %s removed", name, target_id)
        return {"changes": changes, "queues": urls, "rules": rule_arns}
