"""CloudFormation models of the local world for AWS AppSync (moto 5.2 skips these types).

``defineData`` deploys a GraphQL API with its schema, data sources, resolvers, pipeline functions and
(with an API key authorization mode) an API key. The API, its schema and its keys are created in
moto's ``appsync`` backend (GetGraphqlApi, ListApiKeys and GetSchemaCreationStatus see them); moto
has no data sources, resolvers or functions, so those are kept in the world's stacks only, with the
ids and attributes AppSync gives them.

moto is imported inside the functions that use it: importing the world stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from airflow_amplify.testing.world.cfn_resources import WorldResource


def _appsync(account_id: str, region: str):
    from moto.appsync.models import appsync_backends

    return appsync_backends[account_id][region]


def _short_id(seed: str, length: int = 26) -> str:
    """A lowercase alphanumeric id derived from ``seed``, shaped like AppSync's."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest)[:length]


def _read_s3_location(location: str, account_id: str, region: str) -> bytes | None:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    parts = urlparse(location)
    if parts.scheme != "s3":
        return None
    try:
        key = s3_backends[account_id][get_partition(region)].get_object(parts.netloc, parts.path.lstrip("/"))
    except Exception:
        return None
    return key.value if key is not None else None


class GraphQLApi(WorldResource):
    TYPE = "AWS::AppSync::GraphQLApi"
    ATTRIBUTES = {
        "ApiId": "api_id",
        "Arn": "arn",
        "GraphQLDns": "graphql_dns",
        "GraphQLUrl": "graphql_url",
        "GraphQLEndpointArn": "arn",
        "RealtimeDns": "realtime_dns",
        "RealtimeUrl": "realtime_url",
    }

    def _create(self) -> str:
        props = self.properties
        api = _appsync(self.account_id, self.region).create_graphql_api(
            name=props.get("Name") or self.name,
            log_config=props.get("LogConfig"),
            authentication_type=props.get("AuthenticationType"),
            user_pool_config=props.get("UserPoolConfig"),
            open_id_connect_config=props.get("OpenIDConnectConfig"),
            additional_authentication_providers=props.get("AdditionalAuthenticationProviders"),
            xray_enabled=props.get("XrayEnabled") in (True, "true"),
            lambda_authorizer_config=props.get("LambdaAuthorizerConfig"),
            tags={t["Key"]: t["Value"] for t in props.get("Tags") or []},
            visibility=props.get("Visibility"),
        )
        self.api_id = api.api_id
        self.arn = api.arn
        prefix = _short_id(api.api_id)
        self.graphql_dns = f"{prefix}.appsync-api.{self.region}.amazonaws.com"
        self.realtime_dns = f"{prefix}.appsync-realtime-api.{self.region}.amazonaws.com"
        self.graphql_url = f"https://{self.graphql_dns}/graphql"
        self.realtime_url = f"wss://{self.realtime_dns}/graphql"
        return api.arn

    def _update(self, properties: dict[str, Any]) -> None:
        self.properties = properties
        _appsync(self.account_id, self.region).update_graphql_api(
            api_id=self.api_id,
            name=properties.get("Name") or self.name,
            log_config=properties.get("LogConfig"),
            authentication_type=properties.get("AuthenticationType"),
            user_pool_config=properties.get("UserPoolConfig"),
            open_id_connect_config=properties.get("OpenIDConnectConfig"),
            additional_authentication_providers=properties.get("AdditionalAuthenticationProviders"),
            xray_enabled=properties.get("XrayEnabled") in (True, "true"),
            lambda_authorizer_config=properties.get("LambdaAuthorizerConfig"),
        )

    def _delete(self) -> None:
        with contextlib.suppress(Exception):
            _appsync(self.account_id, self.region).delete_graphql_api(self.api_id)


class GraphQLSchema(WorldResource):
    TYPE = "AWS::AppSync::GraphQLSchema"

    def _create(self) -> str:
        props = self.properties
        definition = props.get("Definition")
        if definition is None and props.get("DefinitionS3Location"):
            raw = _read_s3_location(props["DefinitionS3Location"], self.account_id, self.region)
            definition = raw.decode("utf-8") if raw is not None else None
        if definition is not None:
            with contextlib.suppress(Exception):  # moto parses the schema; AppSync's own types vary
                _appsync(self.account_id, self.region).start_schema_creation(props["ApiId"], definition)
        return f"{props['ApiId']}GraphQLSchema"

    def _update(self, properties: dict[str, Any]) -> None:
        self.properties = properties
        self._create()


class _Child(WorldResource):
    """A resource of an API that moto does not keep: an ARN under the API and its attributes."""

    KIND = ""

    def _child_name(self) -> str:
        raise NotImplementedError

    def _create(self) -> str:
        api_id = self.properties["ApiId"]
        self.resource_name = self._child_name()
        self.arn = (
            f"arn:aws:appsync:{self.region}:{self.account_id}:apis/{api_id}/{self.KIND}/{self.resource_name}"
        )
        return self.arn

    def _update(self, properties: dict[str, Any]) -> None:
        self.properties = properties
        self.physical_resource_id = self._create()


class DataSource(_Child):
    TYPE = "AWS::AppSync::DataSource"
    KIND = "datasources"
    ATTRIBUTES = {"DataSourceArn": "arn", "Name": "resource_name"}

    def _child_name(self) -> str:
        return self.properties["Name"]


class Resolver(_Child):
    TYPE = "AWS::AppSync::Resolver"
    KIND = "types"
    ATTRIBUTES = {"ResolverArn": "arn", "TypeName": "type_name", "FieldName": "field_name"}

    def _child_name(self) -> str:
        self.type_name = self.properties["TypeName"]
        self.field_name = self.properties["FieldName"]
        return f"{self.type_name}/resolvers/{self.field_name}"


class FunctionConfiguration(_Child):
    TYPE = "AWS::AppSync::FunctionConfiguration"
    KIND = "functions"
    ATTRIBUTES = {
        "FunctionArn": "arn",
        "FunctionId": "function_id",
        "Name": "function_name",
        "DataSourceName": "data_source_name",
    }

    def _child_name(self) -> str:
        self.function_name = self.properties["Name"]
        self.data_source_name = self.properties.get("DataSourceName")
        self.function_id = _short_id(f"{self.properties['ApiId']}/{self.stack_id}/{self.name}")
        return self.function_id


class ApiKey(WorldResource):
    TYPE = "AWS::AppSync::ApiKey"
    ATTRIBUTES = {"ApiKey": "key_id", "ApiKeyId": "key_id", "Arn": "arn"}

    def _create(self) -> str:
        props = self.properties
        expires = props.get("Expires")
        key = _appsync(self.account_id, self.region).create_api_key(
            props["ApiId"],
            props.get("Description"),
            datetime.fromtimestamp(int(expires), UTC) if expires is not None else None,
        )
        self.api_id = props["ApiId"]
        self.key_id = key.key_id
        self.arn = f"arn:aws:appsync:{self.region}:{self.account_id}:apis/{self.api_id}/apikeys/{key.key_id}"
        return self.arn

    def _update(self, properties: dict[str, Any]) -> None:
        self.properties = properties

    def _delete(self) -> None:
        with contextlib.suppress(Exception):
            _appsync(self.account_id, self.region).delete_api_key(self.api_id, self.key_id)


MODELS = {
    model.TYPE: model
    for model in (GraphQLApi, GraphQLSchema, DataSource, Resolver, FunctionConfiguration, ApiKey)
}

__all__ = ["MODELS"]
