"""The world's status events: job and stack status changes reach EventBridge rules and SQS targets in moto."""

from __future__ import annotations

import json
import time

from airflow_amplify.testing.world.events import AMPLIFY_DETAIL_TYPE, STACK_DETAIL_TYPE


def rule_to_queue(world, name="q"):
    sqs, events = world.client("sqs"), world.client("events")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.amplify", "aws.cloudformation"]}
    events.put_rule(Name=f"rule-{name}", EventPattern=json.dumps(pattern))
    events.put_targets(Rule=f"rule-{name}", Targets=[{"Id": name, "Arn": arn}])
    return sqs, url


def drain(sqs, url, until, timeout=15.0):
    """Read the queue until ``until(bodies)`` holds or ``timeout`` passes."""
    bodies: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(bodies):
        answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
        bodies += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
    return bodies


def job_statuses(bodies):
    return [b["detail"]["jobStatus"] for b in bodies if b["source"] == "aws.amplify"]


def test_every_job_status_change_reaches_a_rules_sqs_target_without_any_poll(amplify_world, staging_app):
    sqs, url = rule_to_queue(amplify_world)
    amplify_world.script_next_job(
        staging_app["app_id"], "main", created_seconds=0, pending_seconds=0, provision_seconds=0.2,
        build_seconds=0.3, deploy_seconds=0.2,
    )  # fmt: skip
    amplify = amplify_world.client("amplify")
    job_id = amplify.start_job(appId=staging_app["app_id"], branchName="main", jobType="RELEASE")[
        "jobSummary"
    ]["jobId"]
    bodies = drain(sqs, url, lambda b: "SUCCEED" in job_statuses(b))
    assert job_statuses(bodies) == ["PENDING", "PROVISIONING", "RUNNING", "SUCCEED"]
    last = bodies[-1]
    assert last["detail-type"] == AMPLIFY_DETAIL_TYPE and last["region"] == "us-east-1"
    assert last["detail"] == {
        "appId": staging_app["app_id"], "branchName": "main", "jobId": job_id, "jobStatus": "SUCCEED",
    }  # fmt: skip
    assert amplify_world.count("GetJob") == 0  # the world moved on by itself


def test_stack_status_changes_are_published_for_moto_and_time_scripted_stacks(amplify_world):
    sqs, url = rule_to_queue(amplify_world)
    cfn = amplify_world.client("cloudformation")
    template = {"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}
    stack_id = cfn.create_stack(StackName="amplify-x-main-branch-1", TemplateBody=json.dumps(template))[
        "StackId"
    ]
    amplify_world.script_stack(
        "amplify-x-main-branch-1", ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"], step_seconds=0.5
    )

    def stack_statuses(bodies):
        return [
            b["detail"]["status-details"]["status"] for b in bodies if b["source"] == "aws.cloudformation"
        ]

    bodies = drain(sqs, url, lambda b: "UPDATE_ROLLBACK_COMPLETE" in stack_statuses(b))
    assert stack_statuses(bodies)[-2:] == ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"]
    assert {b["detail"]["stack-id"] for b in bodies} == {stack_id}
    assert {b["detail-type"] for b in bodies} == {STACK_DETAIL_TYPE}


def test_event_delivery_faults_drop_or_delay_events_and_star_rules_leave_them_alone(
    amplify_world, staging_app
):
    sqs, url = rule_to_queue(amplify_world)
    amplify_world.inject_fault("500", service="*", operations=[AMPLIFY_DETAIL_TYPE])  # not for events
    amplify_world.inject_fault("drop", service="event-delivery", operations=[AMPLIFY_DETAIL_TYPE], count=2)
    amplify_world.inject_fault("delay", service="event-delivery", delay_seconds=1.5, count=1)
    amplify_world.script_next_job(
        staging_app["app_id"], "main", created_seconds=0, pending_seconds=0, provision_seconds=0.1,
        build_seconds=0.1, deploy_seconds=0.1,
    )  # fmt: skip
    amplify_world.client("amplify").start_job(
        appId=staging_app["app_id"], branchName="main", jobType="RELEASE"
    )
    bodies = drain(sqs, url, lambda b: len(job_statuses(b)) >= 2, timeout=10)
    counts = amplify_world.events()
    assert counts["dropped"] == 2 and counts["delayed"] == 1
    assert job_statuses(bodies)[-1] == "RUNNING"  # the delayed RUNNING event came after SUCCEED
    assert sorted(job_statuses(bodies)) == ["RUNNING", "SUCCEED"]
