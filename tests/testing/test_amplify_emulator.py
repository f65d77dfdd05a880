"""The Amplify emulator through real botocore clients: operations, errors, pagination, accounts."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.exceptions import ClientError

from airflow_amplify.testing import PRODUCTION_ACCOUNT_ID


@pytest.fixture
def amplify(amplify_world):
    return amplify_world.client("amplify")


def _error(excinfo) -> tuple[str, int, str]:
    err = excinfo.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def _missing_required(shape, value, path="") -> list[str]:
    """Required members of a botocore output shape that a response lacks (recursively)."""
    missing = []
    if shape.type_name == "structure":
        for name in shape.required_members:
            if name not in value:
                missing.append(f"{path}.{name}")
        for name, member in shape.members.items():
            if name in value:
                missing += _missing_required(member, value[name], f"{path}.{name}")
    elif shape.type_name == "list":
        for i, item in enumerate(value):
            missing += _missing_required(shape.member, item, f"{path}[{i}]")
    return missing


def test_app_branch_and_webhook_round_trip(amplify):
    app = amplify.create_app(name="site", repository="https://github.com/example/site")["app"]
    assert app["appId"].startswith("d") and len(app["appId"]) == 14
    assert app["appArn"] == f"arn:aws:amplify:us-east-1:123456789012:apps/{app['appId']}"
    assert amplify.get_app(appId=app["appId"])["app"]["name"] == "site"
    branch = amplify.create_branch(appId=app["appId"], branchName="main", enableAutoBuild=False)["branch"]
    assert branch["enableAutoBuild"] is False and branch["totalNumberOfJobs"] == "0"
    updated = amplify.update_branch(
        appId=app["appId"], branchName="main", enableAutoBuild=True, environmentVariables={"STAGE": "prod"}
    )["branch"]
    assert updated["enableAutoBuild"] is True and updated["environmentVariables"] == {"STAGE": "prod"}
    hook = amplify.create_webhook(appId=app["appId"], branchName="main", description="airflow")["webhook"]
    assert amplify.get_webhook(webhookId=hook["webhookId"])["webhook"]["branchName"] == "main"
    assert [w["webhookId"] for w in amplify.list_webhooks(appId=app["appId"])["webhooks"]] == [
        hook["webhookId"]
    ]
    amplify.delete_webhook(webhookId=hook["webhookId"])
    assert amplify.list_webhooks(appId=app["appId"])["webhooks"] == []
    assert [a["appId"] for a in amplify.list_apps()["apps"]] == [app["appId"]]


def test_responses_carry_every_member_botocore_requires(amplify_world, amplify, staging_app):
    model = botocore.session.get_session().get_service_model("amplify")
    app_id = staging_app["app_id"]
    job = amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")["jobSummary"]
    amplify_world.settings()  # let the job advance
    calls = {
        "GetApp": {"appId": app_id},
        "ListApps": {},
        "GetBranch": {"appId": app_id, "branchName": "main"},
        "ListBranches": {"appId": app_id},
        "ListJobs": {"appId": app_id, "branchName": "main"},
        "ListWebhooks": {"appId": app_id},
        "GetWebhook": {"webhookId": staging_app["webhooks"]["main"]["id"]},
    }
    for operation, params in calls.items():
        raw = getattr(amplify, botocore.xform_name(operation))(**params)
        raw.pop("ResponseMetadata")
        assert _missing_required(model.operation_model(operation).output_shape, raw) == [], operation
    # A finished job's steps carry everything too (endTime is only sent once a step has ended).
    for _ in range(100):
        got = amplify.get_job(appId=app_id, branchName="main", jobId=job["jobId"])
        if got["job"]["summary"]["status"] == "SUCCEED":
            break
        import time

        time.sleep(0.05)
    got.pop("ResponseMetadata")
    assert _missing_required(model.operation_model("GetJob").output_shape, got) == []


def test_branch_names_with_slashes_travel_url_encoded(amplify_world, amplify, staging_app):
    app_id = staging_app["app_id"]
    branch = amplify.get_branch(appId=app_id, branchName="feature/x")["branch"]
    assert branch["branchName"] == "feature/x"
    job = amplify.start_job(appId=app_id, branchName="feature/x", jobType="RELEASE")["jobSummary"]
    assert job["jobArn"].endswith("/branches/feature/x/jobs/1")
    request = amplify_world.requests(operation="StartJob")[-1]
    assert request["path"] == f"/apps/{app_id}/branches/feature%2Fx/jobs"
    assert request["branch_name"] == "feature/x"
    assert amplify.get_job(appId=app_id, branchName="feature/x", jobId="1")["job"]["summary"]["jobId"] == "1"


@pytest.mark.parametrize(
    ("call", "code", "status", "fragment"),
    [
        (lambda a, app: a.get_app(appId="dnotthere00000"), "NotFoundException", 404, "dnotthere00000"),
        (lambda a, app: a.get_branch(appId=app, branchName="nope"), "NotFoundException", 404, "nope"),
        (lambda a, app: a.get_job(appId=app, branchName="main", jobId="42"), "NotFoundException", 404, "42"),
        (lambda a, app: a.get_webhook(webhookId="0" * 32), "NotFoundException", 404, "0" * 32),
        (lambda a, app: a.create_branch(appId=app, branchName="main"), "BadRequestException", 400, "exists"),
        (
            lambda a, app: a.start_job(appId=app, branchName="main", jobType="RETRY"),
            "BadRequestException",
            400,
            "jobId",
        ),
        (
            lambda a, app: a.stop_job(appId=app, branchName="main", jobId="9"),
            "NotFoundException",
            404,
            "9",
        ),
    ],
    ids=["app", "branch", "job", "webhook", "duplicate-branch", "retry-without-job", "stop-unknown-job"],
)
def test_errors_come_as_status_and_error_type(amplify, staging_app, call, code, status, fragment):
    with pytest.raises(ClientError) as excinfo:
        call(amplify, staging_app["app_id"])
    got_code, got_status, message = _error(excinfo)
    assert (got_code, got_status) == (code, status)
    assert fragment in message


def test_release_on_app_without_repository_is_refused(amplify):
    app = amplify.create_app(name="manual")["app"]
    amplify.create_branch(appId=app["appId"], branchName="main")
    with pytest.raises(ClientError) as excinfo:
        amplify.start_job(appId=app["appId"], branchName="main", jobType="RELEASE")
    code, status, message = _error(excinfo)
    assert (code, status) == ("BadRequestException", 400)
    assert "repository" in message


def test_retry_reuses_the_commit_of_the_job_it_retries(amplify, staging_app):
    app_id = staging_app["app_id"]
    first = amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE", commitId="abc123")[
        "jobSummary"
    ]
    retry = amplify.start_job(appId=app_id, branchName="main", jobType="RETRY", jobId=first["jobId"])[
        "jobSummary"
    ]
    assert retry["jobId"] == "2" and retry["jobType"] == "RETRY" and retry["commitId"] == "abc123"


def test_list_jobs_paginates_newest_first(amplify_world, amplify, staging_app):
    app_id = staging_app["app_id"]
    for _ in range(7):
        amplify.start_job(appId=app_id, branchName="main", jobType="RELEASE")
    first = amplify.list_jobs(appId=app_id, branchName="main", maxResults=3)
    assert [j["jobId"] for j in first["jobSummaries"]] == ["7", "6", "5"]
    assert first["nextToken"]
    pages = amplify.get_paginator("list_jobs").paginate(
        appId=app_id, branchName="main", PaginationConfig={"PageSize": 3}
    )
    ids = [j["jobId"] for page in pages for j in page["jobSummaries"]]
    assert ids == ["7", "6", "5", "4", "3", "2", "1"]
    assert len(amplify_world.requests(operation="ListJobs")) == 1 + 3


def test_list_apps_and_branches_paginate(amplify):
    app = amplify.create_app(name="many", repository="https://github.com/example/many")["app"]
    for i in range(5):
        amplify.create_branch(appId=app["appId"], branchName=f"b{i}")
    pages = amplify.get_paginator("list_branches").paginate(
        appId=app["appId"], PaginationConfig={"PageSize": 2}
    )
    assert [b["branchName"] for p in pages for b in p["branches"]] == ["b0", "b1", "b2", "b3", "b4"]


def test_resources_are_isolated_between_accounts(amplify_world, staging_app, production_app):
    staging = amplify_world.client("amplify")
    production = amplify_world.client("amplify", account_id=PRODUCTION_ACCOUNT_ID)
    assert production_app["app_id"] in production.get_app(appId=production_app["app_id"])["app"]["appArn"]
    assert f":{PRODUCTION_ACCOUNT_ID}:" in production.get_app(appId=production_app["app_id"])["app"]["appArn"]
    with pytest.raises(ClientError) as excinfo:
        production.get_app(appId=staging_app["app_id"])
    assert _error(excinfo)[0] == "NotFoundException"
    with pytest.raises(ClientError):
        staging.get_app(appId=production_app["app_id"])
    with pytest.raises(ClientError):  # webhook ids are global, but resolved per account
        staging.get_webhook(webhookId=production_app["webhooks"]["main"]["id"])
    assert [a["appId"] for a in production.list_apps()["apps"]] == [production_app["app_id"]]
    log = amplify_world.requests(operation="GetApp")
    assert {e["account_id"] for e in log} == {"123456789012", PRODUCTION_ACCOUNT_ID}


def test_resources_are_isolated_between_regions(amplify_world, staging_app):
    west = amplify_world.client("amplify", region="eu-west-1")
    with pytest.raises(ClientError):
        west.get_app(appId=staging_app["app_id"])


def test_manual_deployment_from_zip_upload(amplify_world, amplify):
    import requests

    app = amplify.create_app(name="manual")["app"]
    amplify.create_branch(appId=app["appId"], branchName="main")
    created = amplify.create_deployment(appId=app["appId"], branchName="main")
    with pytest.raises(ClientError) as excinfo:  # nothing uploaded yet
        amplify.start_deployment(appId=app["appId"], branchName="main", jobId=created["jobId"])
    assert "uploaded" in _error(excinfo)[2]
    assert (
        requests.put(created["zipUploadUrl"], data=b"PK\x05\x06" + b"\0" * 18, timeout=5).status_code == 200
    )
    job = amplify.start_deployment(appId=app["appId"], branchName="main", jobId=created["jobId"])[
        "jobSummary"
    ]
    assert job["jobType"] == "MANUAL" and job["jobId"] == created["jobId"]
    by_url = amplify.start_deployment(
        appId=app["appId"], branchName="main", sourceUrl="s3://bucket/site/", sourceUrlType="BUCKET_PREFIX"
    )["jobSummary"]
    assert by_url["sourceUrlType"] == "BUCKET_PREFIX" and by_url["jobType"] == "MANUAL"


def test_unsupported_operation_names_itself(amplify_world):
    client = amplify_world.client("amplify")
    with pytest.raises(ClientError) as excinfo:
        client.list_domain_associations(appId="d123")
    assert "ListDomainAssociations" in _error(excinfo)[2]


def test_delete_branch_removes_it_with_its_webhooks_and_keeps_other_branches(amplify_world):
    seeded = amplify_world.seed_app("site", ("main", "feature/x"), webhooks=True)
    amplify = amplify_world.client("amplify")
    deleted = amplify.delete_branch(appId=seeded["app_id"], branchName="feature/x")["branch"]
    assert deleted["branchName"] == "feature/x"
    assert [b["branchName"] for b in amplify.list_branches(appId=seeded["app_id"])["branches"]] == ["main"]
    assert [w["branchName"] for w in amplify.list_webhooks(appId=seeded["app_id"])["webhooks"]] == ["main"]
    with pytest.raises(amplify.exceptions.NotFoundException):
        amplify.delete_branch(appId=seeded["app_id"], branchName="feature/x")


def test_app_settings_and_branch_tags_are_stored_and_returned(amplify_world):
    seeded = amplify_world.seed_app("site", ("main",))
    amplify = amplify_world.client("amplify")
    app = amplify.get_app(appId=seeded["app_id"])["app"]
    assert app["jobConfig"] == {"buildComputeType": "STANDARD_8GB"}
    assert app["defaultDomain"] == f"{seeded['app_id']}.amplifyapp.com"
    app = amplify.update_app(appId=seeded["app_id"], jobConfig={"buildComputeType": "LARGE_16GB"})["app"]
    assert app["jobConfig"] == {"buildComputeType": "LARGE_16GB"}
    branch = amplify.create_branch(appId=seeded["app_id"], branchName="pr/1", tags={"k": "v"})["branch"]
    assert branch["tags"] == {"k": "v"} and branch["displayName"] == "pr-1"


def test_answers_carry_one_server_header(amplify_world):
    """moto's own Server header is dropped: a strict HTTP parser (aiohttp in asyncio debug mode)
    rejects an answer with two."""
    seen = []
    cfn = amplify_world.client("cloudformation")
    cfn.meta.events.register("after-call", lambda http_response, **_: seen.append(http_response))
    cfn.describe_stacks()
    amplify = amplify_world.client("amplify")
    amplify.meta.events.register("after-call", lambda http_response, **_: seen.append(http_response))
    amplify.list_apps()
    assert len(seen) == 2
    for response in seen:
        assert len(response.raw.headers.getlist("Server")) == 1, response.raw.headers
