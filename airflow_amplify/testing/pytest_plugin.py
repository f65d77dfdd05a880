"""pytest fixtures for the local AWS world. Enable with ``pytest_plugins = ["airflow_amplify.testing.pytest_plugin"]``.

- ``amplify_world_server``: the world, started once per session on a free loopback port.
- ``amplify_world``: a :class:`~airflow_amplify.testing.WorldClient`, reset before each test.
- ``aws_connections``: Airflow AWS connections ``aws_staging`` (account 123456789012, direct
  credentials) and ``aws_production`` (assume-role into 222222222222, STS routed to the world).
- ``staging_app`` / ``production_app``: an app with branches ``main`` and ``feature/x`` and a
  webhook per branch, in each account.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_amplify.testing.world.client import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID, WorldClient
from airflow_amplify.testing.world.server import WorldServer

#: Environment that keeps every AWS SDK in the test process away from real AWS and local profiles.
OFFLINE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def pytest_configure(config: pytest.Config) -> None:
    for key, value in OFFLINE_AWS_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def amplify_world_server() -> Iterator[WorldServer]:
    """The local world for the whole session."""
    with WorldServer() as server:
        yield server


@pytest.fixture
def amplify_world(amplify_world_server: WorldServer) -> Iterator[WorldClient]:
    """A client of the world, reset to empty before the test."""
    client = WorldClient(amplify_world_server.url)
    client.reset()
    yield client
    client.clear_faults()


@pytest.fixture
def aws_connections(amplify_world: WorldClient, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Airflow connections ``aws_staging`` and ``aws_production`` into the world's two accounts."""
    conns: dict[str, dict[str, Any]] = {
        "aws_staging": amplify_world.aws_connection(STAGING_ACCOUNT_ID),
        "aws_production": amplify_world.aws_connection(PRODUCTION_ACCOUNT_ID),
    }
    for conn_id, conn in conns.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return {"staging": "aws_staging", "production": "aws_production"}


@pytest.fixture
def staging_app(amplify_world: WorldClient) -> dict[str, Any]:
    """An app in the staging account with branches ``main`` and ``feature/x``, each with a webhook."""
    return amplify_world.seed_app("site", ("main", "feature/x"), account_id=STAGING_ACCOUNT_ID, webhooks=True)


@pytest.fixture
def production_app(amplify_world: WorldClient) -> dict[str, Any]:
    """An app in the production account with branches ``main`` and ``feature/x``, each with a webhook."""
    return amplify_world.seed_app(
        "site", ("main", "feature/x"), account_id=PRODUCTION_ACCOUNT_ID, webhooks=True
    )
