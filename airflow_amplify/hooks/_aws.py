"""What several hooks share on top of the amazon provider's ``AwsBaseHook``."""

from __future__ import annotations

from functools import cached_property
from typing import Any


class OtherServiceClientsMixin:
    """boto3 clients for services other than the hook's ``client_type``, from the same connection.

    One boto3 session per hook (one AssumeRole for an assume-role connection); each client gets the
    connection's per-service endpoint, region, SSL verification and botocore configuration. Mix into
    an ``AwsBaseHook`` subclass.
    """

    @cached_property
    def session(self) -> Any:
        """The hook's boto3 session (assumed role included)."""
        return self.get_session(region_name=self.region_name)  # type: ignore[attr-defined]

    def client_for(self, service: str) -> Any:
        """A boto3 client for ``service`` (cached on the hook).

        :param service: the boto3 service name, e.g. ``s3``.
        """
        clients = self.__dict__.setdefault("_service_clients", {})
        if service not in clients:
            clients[service] = self.session.client(
                service_name=service,
                endpoint_url=self.conn_config.get_service_endpoint_url(service),  # type: ignore[attr-defined]
                config=self.config,  # type: ignore[attr-defined]
                verify=self.verify,  # type: ignore[attr-defined]
            )
        return clients[service]
