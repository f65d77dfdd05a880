"""CloudFormation models of the local world for Amazon Cognito (moto 5.2 skips these types).

``defineAuth`` deploys a user pool, its web client, groups, an identity pool and its role attachment.
Each model creates the resource in moto's ``cognito-idp`` or ``cognito-identity`` backend, so the
stack's ``Ref`` and ``Fn::GetAtt`` values (and the branch's outputs) are the real ids, and
DescribeUserPool, DescribeIdentityPool and friends see the resources.

moto is imported inside the functions that use it: importing the world stays cheap.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from airflow_amplify.testing.world.cfn_resources import WorldResource

# CloudFormation properties that are not CreateUserPool parameters (or are spelled differently)
_POOL_NOT_API = {"UserPoolName", "EnabledMfas", "UserPoolTags", "UserPoolTier", "UserPoolAddOns"}


def _idp(account_id: str, region: str):
    from moto.cognitoidp.models import cognitoidp_backends

    return cognitoidp_backends[account_id][region]


def _identity(account_id: str, region: str):
    from moto.cognitoidentity.models import cognitoidentity_backends

    return cognitoidentity_backends[account_id][region]


def _bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class UserPool(WorldResource):
    TYPE = "AWS::Cognito::UserPool"
    ATTRIBUTES = {
        "Arn": "arn",
        "ProviderName": "provider_name",
        "ProviderURL": "provider_url",
        "UserPoolId": "physical_resource_id",
    }

    def _config(self) -> dict[str, Any]:
        config = {k: v for k, v in self.properties.items() if k not in _POOL_NOT_API}
        if self.properties.get("UserPoolTags"):
            config["UserPoolTags"] = dict(self.properties["UserPoolTags"])
        return config

    def _create(self) -> str:
        pool = _idp(self.account_id, self.region).create_user_pool(
            self.properties.get("UserPoolName") or self.name, self._config()
        )
        self.arn = pool.arn
        self.provider_name = f"cognito-idp.{self.region}.amazonaws.com/{pool.id}"
        self.provider_url = f"https://{self.provider_name}"
        return pool.id

    def _update(self, properties: dict[str, Any]) -> None:
        self.properties = properties
        _idp(self.account_id, self.region).update_user_pool(self.physical_resource_id, self._config())

    def _delete(self) -> None:
        with contextlib.suppress(Exception):
            _idp(self.account_id, self.region).delete_user_pool(self.physical_resource_id)


class UserPoolClient(WorldResource):
    TYPE = "AWS::Cognito::UserPoolClient"
    ATTRIBUTES = {"ClientId": "physical_resource_id", "ClientSecret": "secret", "Name": "client_name"}

    def _create(self) -> str:
        props = dict(self.properties)
        pool_id = props.pop("UserPoolId")
        generate = _bool(props.pop("GenerateSecret", False))
        props.setdefault("ClientName", self.name)
        client = _idp(self.account_id, self.region).create_user_pool_client(pool_id, generate, props)
        self.pool_id = pool_id
        self.client_name = props["ClientName"]
        self.secret = client.secret if generate else None
        return client.id

    def _update(self, properties: dict[str, Any]) -> None:
        props = {k: v for k, v in properties.items() if k not in ("UserPoolId", "GenerateSecret")}
        self.properties = properties
        _idp(self.account_id, self.region).update_user_pool_client(
            self.pool_id, self.physical_resource_id, props
        )

    def _delete(self) -> None:
        with contextlib.suppress(Exception):
            _idp(self.account_id, self.region).delete_user_pool_client(
                self.pool_id, self.physical_resource_id
            )


class UserPoolGroup(WorldResource):
    TYPE = "AWS::Cognito::UserPoolGroup"

    def _create(self) -> str:
        props = self.properties
        group = _idp(self.account_id, self.region).create_group(
            props["UserPoolId"],
            props.get("GroupName") or self.name,
            props.get("Description"),
            props.get("RoleArn"),
            int(props["Precedence"]) if props.get("Precedence") is not None else None,
        )
        return group.group_name

    def _delete(self) -> None:
        with contextlib.suppress(Exception):
            _idp(self.account_id, self.region).delete_group(
                self.properties["UserPoolId"], self.physical_resource_id
            )


class UserPoolDomain(WorldResource):
    TYPE = "AWS::Cognito::UserPoolDomain"
    ATTRIBUTES = {"CloudFrontDistribution": "distribution"}

    def _create(self) -> str:
        props = self.properties
        _idp(self.account_id, self.region).create_user_pool_domain(
            props["UserPoolId"], props["Domain"], props.get("CustomDomainConfig")
        )
        self.distribution = f"{props['Domain']}.cloudfront.net"
        return props["Domain"]

    def _delete(self) -> None:
        with contextlib.suppress(Exception):
            _idp(self.account_id, self.region).delete_user_pool_domain(
                self.physical_resource_id, self.properties["UserPoolId"]
            )


class IdentityPool(WorldResource):
    TYPE = "AWS::Cognito::IdentityPool"
    ATTRIBUTES = {"Name": "pool_name", "Id": "physical_resource_id"}

    def _create(self) -> str:
        props = self.properties
        self.pool_name = props.get("IdentityPoolName") or self.name.replace("-", "_")
        answer = _identity(self.account_id, self.region).create_identity_pool(
            identity_pool_name=self.pool_name,
            allow_unauthenticated_identities=_bool(props.get("AllowUnauthenticatedIdentities", False)),
            supported_login_providers=props.get("SupportedLoginProviders") or {},
            developer_provider_name=props.get("DeveloperProviderName") or "",
            open_id_connect_provider_arns=props.get("OpenIdConnectProviderARNs") or [],
            cognito_identity_providers=props.get("CognitoIdentityProviders") or [],
            saml_provider_arns=props.get("SamlProviderARNs") or [],
            tags={t["Key"]: t["Value"] for t in props.get("IdentityPoolTags") or []},
        )
        return json.loads(answer)["IdentityPoolId"]

    def _delete(self) -> None:
        with contextlib.suppress(Exception):
            _identity(self.account_id, self.region).delete_identity_pool(self.physical_resource_id)


class IdentityPoolRoleAttachment(WorldResource):
    """Roles of an identity pool: kept with the pool (moto has no SetIdentityPoolRoles)."""

    TYPE = "AWS::Cognito::IdentityPoolRoleAttachment"

    def _create(self) -> str:
        pool_id = self.properties["IdentityPoolId"]
        pool = _identity(self.account_id, self.region).identity_pools.get(pool_id)
        if pool is not None:
            pool.roles = dict(self.properties.get("Roles") or {})
            pool.role_mappings = dict(self.properties.get("RoleMappings") or {})
        return pool_id

    def _update(self, properties: dict[str, Any]) -> None:
        self.properties = properties
        self._create()


MODELS = {
    model.TYPE: model
    for model in (
        UserPool,
        UserPoolClient,
        UserPoolGroup,
        UserPoolDomain,
        IdentityPool,
        IdentityPoolRoleAttachment,
    )
}

__all__ = ["MODELS"]
