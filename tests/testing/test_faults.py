"""Fault injection: throttling, server errors, dropped connections and delays, seen by real botocore."""

from __future__ import annotations

import time

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError


@pytest.fixture
def single_try(amplify_world):
    """Clients that make exactly one attempt, so every injected fault surfaces."""
    import boto3

    def make(service, account_id="123456789012"):
        return boto3.client(
            service,
            endpoint_url=amplify_world.url,
            region_name="us-east-1",
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
            **amplify_world.credentials(account_id),
        )

    return make


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [
        ("429", "LimitExceededException", 429),
        ("500", "InternalFailureException", 500),
        ("503", "DependentServiceFailureException", 503),
        ("403", "ExpiredTokenException", 403),
    ],
)
def test_amplify_errors_are_shaped_like_the_service(
    amplify_world, single_try, staging_app, kind, code, status
):
    amplify = single_try("amplify")
    amplify_world.inject_fault(kind, service="amplify", operations=["GetApp"])
    with pytest.raises(ClientError) as excinfo:
        amplify.get_app(appId=staging_app["app_id"])
    assert excinfo.value.response["Error"]["Code"] == code
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    # Other operations are untouched by a rule for GetApp.
    assert amplify.list_apps()["apps"]
    entries = amplify_world.requests(operation="GetApp")
    (entry,) = entries
    assert entry["fault"] == kind and entry["status"] == status


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        ("cloudformation", lambda c: c.list_stacks(), "Throttling"),
        ("sts", lambda c: c.get_caller_identity(), "Throttling"),
        ("ssm", lambda c: c.get_parameter(Name="/x"), "ThrottlingException"),
    ],
)
def test_throttling_of_moto_services_uses_their_error_codes(amplify_world, single_try, service, call, code):
    amplify_world.inject_fault("429", service=service)
    with pytest.raises(ClientError) as excinfo:
        call(single_try(service))
    assert excinfo.value.response["Error"]["Code"] == code


def test_dropped_connection_reaches_botocore_as_connection_error(amplify_world, single_try, staging_app):
    amplify_world.inject_fault("drop", service="amplify", operations=["ListJobs"])
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        single_try("amplify").list_jobs(appId=staging_app["app_id"], branchName="main")


def test_drop_after_handles_the_request_then_drops_the_answer(amplify_world, staging_app):
    amplify_world.inject_fault("drop_after", service="amplify-webhooks", operations=["startbuild"])
    url = staging_app["webhooks"]["main"]["url"] + "&operation=startbuild"
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json={}, timeout=5)
    assert len(amplify_world.jobs()) == 1  # the build was started all the same


def test_delay_slows_the_answer(amplify_world, single_try):
    amplify_world.inject_fault("delay", service="amplify", operations=["ListApps"], delay_seconds=0.5)
    started = time.monotonic()
    assert single_try("amplify").list_apps()["apps"] == []
    assert time.monotonic() - started >= 0.5


def test_rate_and_count_limit_how_many_requests_fail(amplify_world, single_try):
    amplify_world.inject_fault("500", service="amplify", operations=["ListApps"], rate=0.5, seed=7)
    amplify = single_try("amplify")
    failures = 0
    for _ in range(200):
        try:
            amplify.list_apps()
        except ClientError:
            failures += 1
    assert 70 <= failures <= 130
    amplify_world.clear_faults()
    amplify_world.inject_fault("503", service="amplify", count=2)
    outcomes = []
    for _ in range(4):
        try:
            amplify.list_apps()
            outcomes.append("ok")
        except ClientError:
            outcomes.append("fault")
    assert outcomes == ["fault", "fault", "ok", "ok"]
    assert amplify_world.faults()[0]["injected"] == 2


def test_botocore_retries_ride_through_a_fault_rate(amplify_world, staging_app):
    amplify_world.inject_fault("429", service="amplify", operations=["GetBranch"], rate=0.3, seed=1)
    amplify = amplify_world.client("amplify")
    for _ in range(20):
        assert (
            amplify.get_branch(appId=staging_app["app_id"], branchName="main")["branch"]["branchName"]
            == "main"
        )
    log = amplify_world.requests(operation="GetBranch")
    assert len(log) > 20 and sum(1 for e in log if e.get("fault")) == len(log) - 20


def test_invalid_fault_rules_are_refused(amplify_world):
    with pytest.raises(RuntimeError, match="kind must be one of"):
        amplify_world.inject_fault("418")
    with pytest.raises(RuntimeError, match="rate must be between"):
        amplify_world.inject_fault("500", rate=2)


def test_an_expired_token_fault_is_not_transient_and_fires_count_times(amplify_world, staging_app):
    from airflow_amplify.hooks.amplify import is_transient_error

    amplify = amplify_world.client("amplify")
    amplify_world.inject_fault("403", service="amplify", operations=["GetBranch"], count=1)
    with pytest.raises(ClientError) as excinfo:  # botocore does not retry it either
        amplify.get_branch(appId=staging_app["app_id"], branchName="main")
    assert not is_transient_error(excinfo.value)
    assert (
        amplify.get_branch(appId=staging_app["app_id"], branchName="main")["branch"]["branchName"] == "main"
    )
    assert amplify_world.count("GetBranch") == 2
