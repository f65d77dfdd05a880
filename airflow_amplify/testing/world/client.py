"""A client for a running local world: its control API, and boto3 clients for any of its accounts."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlencode

from airflow_amplify.testing.world.server import DEFAULT_ACCOUNT_ID, DEFAULT_REGION

#: The access key the world maps to the default account (moto's rule: unknown keys are 123456789012).
STAGING_ACCOUNT_ID = DEFAULT_ACCOUNT_ID
PRODUCTION_ACCOUNT_ID = "222222222222"
TEST_ACCESS_KEY = "testing"
TEST_SECRET_KEY = "testing"


class WorldClient:
    """Control a local world over HTTP and talk to it with real boto3 clients.

    :param url: the world's base URL, as printed by ``python -m airflow_amplify.testing serve``.
    :param region: default region for clients and seeded resources.
    """

    def __init__(self, url: str, region: str = DEFAULT_REGION):
        self.url = url.rstrip("/")
        self.region = region

    # --- control API ------------------------------------------------------------------------

    def _call(self, method: str, path: str, data: Any = None, query: dict[str, Any] | None = None) -> Any:
        url = f"{self.url}/_world{path}"
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(
            url, data=body, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise RuntimeError(
                f"world control API {method} {path}: {err.code} {err.read().decode()}"
            ) from err

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def reset(self) -> None:
        """Forget all state: Amplify, moto, faults, request log, clock speed."""
        self._call("POST", "/reset")

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """The request log, filtered by any recorded field (service, operation, app_id, account_id, ...)."""
        return self._call("GET", "/requests", query=filters)["requests"]

    def count(self, operation: str, **filters: Any) -> int:
        """How many requests of ``operation`` the world received (faulted ones included)."""
        return len(self.requests(operation=operation, **filters))

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def inject_fault(
        self,
        kind: str,
        service: str = "*",
        operations: list[str] | None = None,
        rate: float = 1.0,
        count: int | None = None,
        delay_seconds: float = 1.0,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Answer a fraction of matching requests with a fault (see :class:`~.faults.FaultRule`)."""
        rule = {
            "kind": kind,
            "service": service,
            "operations": operations or [],
            "rate": rate,
            "count": count,
            "delay_seconds": delay_seconds,
            "seed": seed,
        }
        return self._call("POST", "/faults", rule)["rule"]

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["rules"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def script_next_job(
        self,
        app_id: str,
        branch_name: str,
        account_id: str = STAGING_ACCOUNT_ID,
        region: str | None = None,
        **script,
    ) -> dict[str, Any]:
        """Script the next job on a branch, e.g. ``outcome="FAILED", fail_step="BUILD", build_seconds=3``."""
        data = {
            "account_id": account_id,
            "region": region or self.region,
            "app_id": app_id,
            "branch_name": branch_name,
            "script": script,
        }
        return self._call("POST", "/scripts", data)["script"]

    def script_stack(
        self,
        stack_name: str,
        statuses: list[str],
        events: list[dict[str, Any]] | None = None,
        status_reason: str | None = None,
        last_updated_time: str | None = None,
        account_id: str = STAGING_ACCOUNT_ID,
        region: str | None = None,
        step_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Script an existing (moto) stack: successive DescribeStacks answers show ``statuses`` in turn.

        ``events`` (oldest first) are added to its DescribeStackEvents answers; with
        ``step_seconds`` the status moves on by the world's clock instead of per answer; see
        :class:`~airflow_amplify.testing.world.cloudformation.StackScript`.
        """
        data = {
            "account_id": account_id,
            "region": region or self.region,
            "stack_name": stack_name,
            "statuses": statuses,
            "events": events or [],
            "status_reason": status_reason,
            "last_updated_time": last_updated_time,
            "step_seconds": step_seconds,
        }
        return self._call("POST", "/stacks", data)["stack"]

    def events(self) -> dict[str, Any]:
        """Status events the world published: counts (published, delivered, dropped, delayed, failed)
        and the recent events with their fate (see :mod:`airflow_amplify.testing.world.events`)."""
        return self._call("GET", "/events")

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Read, or change, world settings: concurrency_limit, default_script, webhook_lag_seconds, time_speed."""
        return self._call("PUT", "/settings", changes) if changes else self._call("GET", "/settings")

    def jobs(self, **filters: Any) -> list[dict[str, Any]]:
        """Every job in every account, as the world sees it (status, steps, merged triggers)."""
        return self._call("GET", "/jobs", query=filters)["jobs"]

    def active_jobs(self) -> list[dict[str, Any]]:
        return [j for j in self.jobs() if j["status"] not in ("SUCCEED", "FAILED", "CANCELLED")]

    # --- AWS clients ------------------------------------------------------------------------

    def credentials(self, account_id: str = STAGING_ACCOUNT_ID) -> dict[str, str]:
        """Credentials for an account of the world: direct for the default account, else by AssumeRole.

        Not cached: a reset of the world forgets assumed-role keys, and moto maps unknown keys to
        the default account.
        """
        return _credentials(self.url, self.region, account_id)

    def client(self, service: str, account_id: str = STAGING_ACCOUNT_ID, region: str | None = None):
        """A real boto3 client for ``service`` in ``account_id``, pointed at the world."""
        import boto3  # boto3 loads only for a client the test asks for

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region or self.region,
            **self.credentials(account_id),
        )

    # --- seeding ----------------------------------------------------------------------------

    def seed_app(
        self,
        name: str = "demo-app",
        branches: tuple[str, ...] | list[str] = ("main",),
        account_id: str = STAGING_ACCOUNT_ID,
        repository: str | None = "https://github.com/example/demo-app",
        webhooks: bool = False,
        enable_auto_build: bool = False,
        region: str | None = None,
    ) -> dict[str, Any]:
        """Create an app with branches (and a webhook per branch) and return their ids.

        Returns ``{"app_id", "account_id", "region", "branches": [...], "webhooks": {branch: {id, url}}}``.
        """
        amplify = self.client("amplify", account_id, region)
        app = amplify.create_app(name=name, **({"repository": repository} if repository else {}))["app"]
        result: dict[str, Any] = {
            "app_id": app["appId"],
            "account_id": account_id,
            "region": region or self.region,
            "branches": list(branches),
            "webhooks": {},
        }
        for branch in branches:
            amplify.create_branch(appId=app["appId"], branchName=branch, enableAutoBuild=enable_auto_build)
            if webhooks:
                hook = amplify.create_webhook(
                    appId=app["appId"], branchName=branch, description=f"airflow {branch}"
                )
                result["webhooks"][branch] = {
                    "id": hook["webhook"]["webhookId"],
                    "url": hook["webhook"]["webhookUrl"],
                }
        return result

    def bootstrap_cdk(
        self, account_id: str = STAGING_ACCOUNT_ID, version: int = 21, region: str | None = None
    ):
        """Bootstrap CDK in an account and region of the world, as ``cdk bootstrap`` leaves it for ampx.

        Writes the SSM parameter the toolkit reads the bootstrap version from and creates the assets
        bucket it uploads templates and Lambda code to (``cdk-hnb659fds-assets-<account>-<region>``).
        """
        region = region or self.region
        ssm = self.client("ssm", account_id, region)
        ssm.put_parameter(
            Name="/cdk-bootstrap/hnb659fds/version", Value=str(version), Type="String", Overwrite=True
        )
        s3 = self.client("s3", account_id, region)
        bucket = f"cdk-hnb659fds-assets-{account_id}-{region}"
        try:
            if region == "us-east-1":
                s3.create_bucket(Bucket=bucket)
            else:
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass

    # --- Airflow connections ----------------------------------------------------------------

    def aws_connection(
        self, account_id: str = STAGING_ACCOUNT_ID, role_name: str = "amplify-deployer"
    ) -> dict:
        """An Airflow AWS connection (as a dict for ``AIRFLOW_CONN_*`` JSON) into an account of the world.

        The default account gets direct credentials; any other account is reached by assuming a role
        there, with STS routed to the world through ``service_config``.
        """
        extra: dict[str, Any] = {"endpoint_url": self.url, "region_name": self.region}
        if account_id != STAGING_ACCOUNT_ID:
            extra["role_arn"] = f"arn:aws:iam::{account_id}:role/{role_name}"
            extra["assume_role_method"] = "assume_role"
            extra["service_config"] = {"sts": {"endpoint_url": self.url}}
        return {"conn_type": "aws", "login": TEST_ACCESS_KEY, "password": TEST_SECRET_KEY, "extra": extra}


def _credentials(url: str, region: str, account_id: str) -> dict[str, str]:
    base = {"aws_access_key_id": TEST_ACCESS_KEY, "aws_secret_access_key": TEST_SECRET_KEY}
    if account_id == STAGING_ACCOUNT_ID:
        return base
    import boto3  # boto3 loads only for a client the test asks for

    sts = boto3.client("sts", endpoint_url=url, region_name=region, **base)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/world-admin", RoleSessionName="world")
    c = creds["Credentials"]
    return {
        "aws_access_key_id": c["AccessKeyId"],
        "aws_secret_access_key": c["SecretAccessKey"],
        "aws_session_token": c["SessionToken"],
    }
