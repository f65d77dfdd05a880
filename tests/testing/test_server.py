"""The world's endpoint: the serve command, moto's services behind it, accounts, the control API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from airflow_amplify.testing import PRODUCTION_ACCOUNT_ID, WorldClient, WorldServer

REPO = Path(__file__).resolve().parents[2]


def test_serve_command_prints_its_url_quickly_and_stops_cleanly():
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_amplify.testing", "serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert WorldClient(url).health()["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_world/health", timeout=2)


def test_serve_on_a_chosen_port(unused_port):
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_amplify.testing", "serve", "--port", str(unused_port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == f"http://127.0.0.1:{unused_port}"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0


@pytest.fixture
def unused_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_in_process_server_leaves_no_thread_behind():
    import threading

    before = {t.name for t in threading.enumerate()}
    with WorldServer() as server:
        assert WorldClient(server.url).health()["url"] == server.url
    time.sleep(0.1)
    assert "amplify-world" not in {t.name for t in threading.enumerate()} - before


@pytest.mark.parametrize(
    ("service", "call"),
    [
        ("cloudformation", lambda c: c.list_stacks()["StackSummaries"]),
        ("sts", lambda c: c.get_caller_identity()["Account"]),
        ("s3", lambda c: c.list_buckets()["Buckets"]),
        ("ssm", lambda c: c.describe_parameters()["Parameters"]),
        ("iam", lambda c: c.list_roles()["Roles"]),
        ("sns", lambda c: c.list_topics()["Topics"]),
    ],
)
def test_moto_services_answer_behind_the_same_endpoint(amplify_world, service, call):
    call(amplify_world.client(service))
    assert amplify_world.requests(service=service)[-1]["status"] == 200


def test_assumed_role_credentials_see_only_their_account(amplify_world):
    staging_cfn = amplify_world.client("cloudformation")
    prod_cfn = amplify_world.client("cloudformation", account_id=PRODUCTION_ACCOUNT_ID)
    template = '{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}'
    prod_cfn.create_stack(StackName="prod-only", TemplateBody=template)
    assert [s["StackName"] for s in prod_cfn.describe_stacks()["Stacks"]] == ["prod-only"]
    assert f":{PRODUCTION_ACCOUNT_ID}:" in prod_cfn.describe_stacks()["Stacks"][0]["StackId"]
    with pytest.raises(ClientError):
        staging_cfn.describe_stacks(StackName="prod-only")
    assert amplify_world.client("sts", account_id=PRODUCTION_ACCOUNT_ID).get_caller_identity()["Account"] == (
        PRODUCTION_ACCOUNT_ID
    )
    amplify_world.bootstrap_cdk(account_id=PRODUCTION_ACCOUNT_ID)
    with pytest.raises(ClientError):
        amplify_world.client("ssm").get_parameter(Name="/cdk-bootstrap/hnb659fds/version")


def test_template_summary_metadata_is_json_as_real_cloudformation_sends_it(amplify_world):
    import json

    cfn = amplify_world.client("cloudformation")
    template = {
        "Metadata": {"AWS::Amplify::Auth": {"version": "1", "stackOutputs": ["userPoolId"]}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    }
    cfn.create_stack(StackName="meta", TemplateBody=json.dumps(template))
    metadata = cfn.get_template_summary(StackName="meta")["Metadata"]
    assert json.loads(metadata) == template["Metadata"]


def test_reset_forgets_amplify_and_moto_state(amplify_world, staging_app):
    amplify_world.client("s3").create_bucket(Bucket="forgotten")
    amplify_world.inject_fault("500", service="sns")
    amplify_world.reset()
    assert amplify_world.client("amplify").list_apps()["apps"] == []
    assert amplify_world.client("s3").list_buckets()["Buckets"] == []
    assert amplify_world.faults() == [] and len(amplify_world.requests()) == 2


def test_control_api_rejects_bad_scripts_with_a_reason(amplify_world, staging_app):
    with pytest.raises(RuntimeError, match="outcome must be SUCCEED or FAILED"):
        amplify_world.script_next_job(staging_app["app_id"], "main", outcome="MAYBE")
    with pytest.raises(RuntimeError, match="unknown build script fields"):
        amplify_world.script_next_job(staging_app["app_id"], "main", build_minutes=3)


def test_plain_boto3_quickstart_sees_a_webhook_build_succeed():
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "world_quickstart.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "webhook POST answered 200" in result.stdout
    assert result.stdout.strip().endswith("SUCCEED")
