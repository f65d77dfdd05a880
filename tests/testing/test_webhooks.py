"""The incoming-webhook endpoint: answers like the real one, refuses wrong tokens, starts WEB_HOOK jobs."""

from __future__ import annotations

import requests


def test_webhook_url_points_at_the_world(amplify_world, staging_app):
    url = staging_app["webhooks"]["main"]["url"]
    assert url.startswith(f"{amplify_world.url}/prod/webhooks?id=")
    assert "&token=" in url


def test_webhook_post_starts_a_web_hook_job_without_job_id_in_answer(amplify_world, staging_app):
    url = staging_app["webhooks"]["main"]["url"] + "&operation=startbuild"
    answer = requests.post(url, json={}, headers={"Content-Type": "application/json"}, timeout=5)
    assert answer.status_code == 200
    body = answer.json()
    assert "SendMessageResponse" in body and "jobId" not in answer.text
    (job,) = amplify_world.client("amplify").list_jobs(appId=staging_app["app_id"], branchName="main")[
        "jobSummaries"
    ]
    assert job["jobType"] == "WEB_HOOK" and job["commitId"] == "HEAD"


def test_wrong_token_is_refused_and_starts_nothing(amplify_world, staging_app):
    url = staging_app["webhooks"]["main"]["url"]
    bad = url.rsplit("token=", 1)[0] + "token=wrong&operation=startbuild"
    answer = requests.post(bad, json={}, timeout=5)
    assert answer.status_code == 403
    assert amplify_world.jobs() == []


def test_unknown_operation_and_get_are_refused(amplify_world, staging_app):
    url = staging_app["webhooks"]["main"]["url"]
    assert requests.post(url + "&operation=deleteapp", json={}, timeout=5).status_code == 400
    assert requests.get(url + "&operation=startbuild", timeout=5).status_code == 403
    assert amplify_world.jobs() == []


def test_request_log_never_holds_the_token(amplify_world, staging_app):
    url = staging_app["webhooks"]["main"]["url"]
    token = url.rsplit("token=", 1)[1]
    requests.post(url + "&operation=startbuild", json={}, timeout=5)
    (entry,) = amplify_world.requests(service="amplify-webhooks")
    assert entry["webhook_id"] == staging_app["webhooks"]["main"]["id"]
    assert token not in str(amplify_world.requests())
    assert "token=REDACTED" in entry["path"]


def test_webhook_lag_delays_the_job_until_it_appears(amplify_world, staging_app):
    import time

    amplify_world.settings(webhook_lag_seconds=0.4)
    url = staging_app["webhooks"]["main"]["url"] + "&operation=startbuild"
    requests.post(url, json={}, timeout=5)
    amplify = amplify_world.client("amplify")
    assert amplify.list_jobs(appId=staging_app["app_id"], branchName="main")["jobSummaries"] == []
    time.sleep(0.5)
    assert len(amplify.list_jobs(appId=staging_app["app_id"], branchName="main")["jobSummaries"]) == 1
