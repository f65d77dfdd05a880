"""AmplifyEventsSetupOperator: rules, per-triggerer queues, policies and targets; idempotent; bad input refused."""

from __future__ import annotations

import json

import pytest

from airflow_amplify.hooks.events import EVENT_PATTERN
from airflow_amplify.operators.events import AmplifyEventsSetupOperator


def setup(**kw):
    return AmplifyEventsSetupOperator(task_id="events_setup", aws_conn_id="aws_staging", **kw).execute({})


def test_creates_a_rule_and_a_queue_per_triggerer_with_the_policy_that_lets_the_rule_send(
    amplify_world, aws_connections
):
    result = setup(triggerers=["triggerer-0", "triggerer-1"])
    assert result["changed"] is True
    events, sqs = amplify_world.client("events"), amplify_world.client("sqs")
    rule = events.describe_rule(Name="airflow-amplify-status-events")
    assert json.loads(rule["EventPattern"]) == EVENT_PATTERN and rule["State"] == "ENABLED"
    targets = {t["Id"]: t["Arn"] for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]}
    assert set(targets) == {"triggerer-0", "triggerer-1"}
    for name, url in result["queues"].items():
        assert url.endswith(f"/airflow-amplify-events-{name}")
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert targets[name] == attrs["QueueArn"]
        statement = json.loads(attrs["Policy"])["Statement"][0]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == rule["Arn"]
        assert attrs["MessageRetentionPeriod"] == "86400"
    template = result["connection_extra"]["amplify_events"]["queue_url"]
    assert template.replace("{triggerer}", "triggerer-1") == result["queues"]["triggerer-1"]


def test_a_rerun_changes_nothing_and_says_so(amplify_world, aws_connections, caplog, capsys):
    setup(triggerers=["a", "b"])
    amplify_world.clear_requests()
    caplog.set_level("INFO")
    again = setup(triggerers=["a", "b"])
    assert again["changed"] is False and again["changes"] == []
    assert "nothing to change" in caplog.text + capsys.readouterr().out  # stdlib (2.x) or structlog (3.x)
    writes = {"PutRule", "PutTargets", "RemoveTargets", "CreateQueue", "SetQueueAttributes"}
    assert not [r for r in amplify_world.requests() if r.get("operation") in writes]


def test_more_than_five_triggerers_get_a_second_rule_and_removed_triggerers_lose_their_target(
    amplify_world, aws_connections
):
    names = [f"t{i}" for i in range(7)]
    result = setup(triggerers=names)
    assert len(result["rules"]) == 2 and result["rules"][1].endswith("rule/airflow-amplify-status-events-2")
    events = amplify_world.client("events")
    assert len(events.list_targets_by_rule(Rule="airflow-amplify-status-events")["Targets"]) == 5
    assert len(events.list_targets_by_rule(Rule="airflow-amplify-status-events-2")["Targets"]) == 2
    shrunk = setup(triggerers=names[:6])
    assert shrunk["changes"] == ["rule airflow-amplify-status-events-2: target t6 removed"]


def test_changed_retention_is_the_only_change(amplify_world, aws_connections):
    setup(triggerers=["a"])
    result = setup(triggerers=["a"], message_retention_seconds=3600)
    assert result["changes"] == ["queue airflow-amplify-events-a: MessageRetentionPeriod updated"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"triggerers": "triggerer-0"}, "triggerers must be a list"),
        ({"triggerers": []}, "1 to 100"),
        ({"triggerers": ["a", "a"]}, "duplicate"),
        ({"triggerers": ["None\n"]}, "triggerers: 'None\\n' is not valid"),
        ({"triggerers": ["bad name"]}, "is not valid"),
        ({"queue_prefix": "x" * 41}, "queue_prefix"),
        ({"rule_name": "a/b"}, "rule_name"),
        ({"message_retention_seconds": True}, "message_retention_seconds"),
        ({"message_retention_seconds": 30}, "message_retention_seconds"),
        ({"safety_poll_interval": float("nan")}, "safety_poll_interval"),
        ({"safety_poll_interval": "300"}, "safety_poll_interval"),
    ],
)
def test_bad_input_is_refused_before_any_aws_call(amplify_world, aws_connections, kwargs, message):
    amplify_world.clear_requests()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("\\n", "\\\\n")):
        setup(**kwargs)
    assert amplify_world.requests(service="events") == [] and amplify_world.requests(service="sqs") == []
