"""``python -m airflow_amplify.testing.world.seed --url URL``: give a running world an app to deploy.

The docker compose ``world`` profile runs this once the world is healthy: it waits for the world,
creates an Amplify app with branches (and a webhook per branch), marks the account as
CDK-bootstrapped, and prints what it made, so a shell can hand the app id to Airflow::

    app_id=$(python -m airflow_amplify.testing.world.seed --url http://aws-world:5055 --print app_id)
    airflow variables set amplify_smoke_app_id "$app_id"

The world keeps its state in memory: after it restarts, seed it again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from airflow_amplify.testing.world.client import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID, WorldClient

ACCOUNTS = {"staging": STAGING_ACCOUNT_ID, "production": PRODUCTION_ACCOUNT_ID}


def wait_for_world(client: WorldClient, timeout: float = 60.0, interval: float = 0.5) -> dict[str, Any]:
    """Poll the world's health endpoint until it answers.

    :param client: a client for the world.
    :param timeout: seconds to wait before giving up.
    :param interval: seconds between attempts.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.health()
        except OSError as err:  # connection refused, DNS not ready yet, timeouts
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"the world at {client.url} did not answer within {timeout:g}s: {err}"
                ) from err
            time.sleep(interval)


def seed(
    client: WorldClient,
    app_name: str = "demo-app",
    branches: tuple[str, ...] | list[str] = ("main",),
    account: str = "staging",
    bootstrap_cdk: bool = True,
) -> dict[str, Any]:
    """Create an app with branches and webhooks in one account of the world; return its ids.

    :param client: a client for the world.
    :param app_name: the Amplify app's name.
    :param branches: branch names to create.
    :param account: ``staging`` (123456789012, direct credentials) or ``production`` (222222222222,
        reached by AssumeRole).
    :param bootstrap_cdk: also write the CDK bootstrap version parameter, as ``ampx`` preflight expects.
    """
    if account not in ACCOUNTS:
        raise ValueError(f"account={account!r} is not valid; use one of {', '.join(ACCOUNTS)}.")
    if not branches:
        raise ValueError("branches is empty; name at least one branch (e.g. main).")
    account_id = ACCOUNTS[account]
    result = client.seed_app(name=app_name, branches=list(branches), account_id=account_id, webhooks=True)
    if bootstrap_cdk:
        client.bootstrap_cdk(account_id=account_id)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_amplify.testing.world.seed", description=__doc__)
    parser.add_argument("--url", required=True, help="the world's URL, e.g. http://aws-world:5055")
    parser.add_argument("--app-name", default="demo-app", help="Amplify app name (default: demo-app)")
    parser.add_argument(
        "--branch", action="append", dest="branches", help="branch to create (repeatable; default: main)"
    )
    parser.add_argument("--account", choices=sorted(ACCOUNTS), default="staging", help="default: staging")
    parser.add_argument(
        "--no-bootstrap-cdk", action="store_true", help="do not mark the account bootstrapped"
    )
    parser.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for the world (default: 60)"
    )
    parser.add_argument(
        "--print",
        dest="what",
        choices=("json", "app_id"),
        default="json",
        help="what to print (default: json)",
    )
    args = parser.parse_args(argv)

    client = WorldClient(args.url)
    try:
        wait_for_world(client, timeout=args.wait)
    except TimeoutError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    result = seed(
        client,
        app_name=args.app_name,
        branches=args.branches or ["main"],
        account=args.account,
        bootstrap_cdk=not args.no_bootstrap_cdk,
    )
    print(result["app_id"] if args.what == "app_id" else json.dumps(result, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
