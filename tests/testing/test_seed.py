"""Seeding a running world for docker compose, and serving it under the name other containers use."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.parse

import pytest

from airflow_amplify.testing import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID, WorldClient
from airflow_amplify.testing.world.seed import main, seed, wait_for_world


def test_seed_creates_app_branches_webhooks_and_cdk_bootstrap(amplify_world: WorldClient):
    result = seed(amplify_world, app_name="shop", branches=["main", "dev"])

    amplify = amplify_world.client("amplify")
    app = amplify.get_app(appId=result["app_id"])["app"]
    assert app["name"] == "shop"
    branches = {b["branchName"] for b in amplify.list_branches(appId=result["app_id"])["branches"]}
    assert branches == {"main", "dev"}
    assert set(result["webhooks"]) == {"main", "dev"}
    ssm = amplify_world.client("ssm")
    assert ssm.get_parameter(Name="/cdk-bootstrap/hnb659fds/version")["Parameter"]["Value"] == "21"


def test_seed_production_account_is_invisible_to_staging(amplify_world: WorldClient):
    result = seed(amplify_world, account="production", bootstrap_cdk=False)

    assert result["account_id"] == PRODUCTION_ACCOUNT_ID
    assert amplify_world.client("amplify", PRODUCTION_ACCOUNT_ID).get_app(appId=result["app_id"])
    staging_apps = amplify_world.client("amplify", STAGING_ACCOUNT_ID).list_apps()["apps"]
    assert staging_apps == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"account": "prod"}, "account='prod' is not valid"), ({"branches": []}, "branches is empty")],
)
def test_seed_rejects_bad_input_before_creating_anything(amplify_world, kwargs, message):
    with pytest.raises(ValueError, match=message):
        seed(amplify_world, **kwargs)
    assert amplify_world.client("amplify").list_apps()["apps"] == []


def test_seed_command_prints_only_the_app_id(amplify_world: WorldClient, capsys):
    assert main(["--url", amplify_world.url, "--print", "app_id", "--branch", "main"]) == 0

    app_id = capsys.readouterr().out.strip()
    assert amplify_world.client("amplify").get_branch(appId=app_id, branchName="main")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_seed_command_fails_clearly_when_the_world_does_not_answer(capsys):
    url = f"http://127.0.0.1:{_free_port()}"

    assert main(["--url", url, "--wait", "0.3"]) == 1
    assert f"the world at {url} did not answer within 0.3s" in capsys.readouterr().err


def test_wait_for_world_returns_health(amplify_world: WorldClient):
    assert wait_for_world(amplify_world, timeout=1)["status"] == "ok"


def test_serve_public_url_goes_into_health_and_webhook_urls():
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_amplify.testing",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--public-url",
            "http://aws-world:5055/",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "http://aws-world:5055"
        world = WorldClient(f"http://127.0.0.1:{port}")
        assert world.health()["url"] == "http://aws-world:5055"
        result = world.seed_app(webhooks=True)
        webhook_url = urllib.parse.urlsplit(result["webhooks"]["main"]["url"])
        assert webhook_url.netloc == "aws-world:5055"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
