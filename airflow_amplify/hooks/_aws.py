"""What several hooks share on top of the amazon provider's ``AwsBaseHook``."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook


def client_like(hook: AwsBaseHook, client_type: str) -> Any:
    """A boto3 client for another service from the same connection as ``hook``.

    Same credentials (assumed role included), per-service endpoints, region, SSL verification and
    botocore configuration.

    :param hook: the hook whose connection to reuse.
    :param client_type: the boto3 service name, e.g. ``s3``.
    """
    return AwsBaseHook(
        aws_conn_id=hook.aws_conn_id,
        region_name=hook.region_name,
        verify=hook.verify,
        config=hook.config,
        client_type=client_type,
    ).conn
