"""Lambda-backed custom resources of Amplify Gen 2 stacks, answered inside the local world.

moto's CloudFormation runs a custom resource's Lambda in Docker and waits for its answer on a
response URL; the world has no Docker, so a stack with any custom resource would stay
``CREATE_IN_PROGRESS`` for ever. Here the world answers each custom resource itself, at once, while
the stack operation runs:

- ``Custom::AmplifyBranchLinkerResource`` (every Gen 2 branch stack): what its Lambda does, an Amplify
  ``UpdateBranch`` of ``appId``/``branchName`` with ``backend.stackArn`` = the stack's id (Delete:
  the link is removed), in the stack's account and region;
- ``Custom::AmplifyDynamoDBTable`` (the data category's table manager): the DynamoDB table, created in
  moto with the requested keys, indexes, billing mode and stream, and the attributes the stack reads
  (``TableArn``, ``TableStreamArn``, ``TableName``);
- ``Custom::CDKBucketDeployment`` (the data category's model schema, storage seeds): the source zips
  unpacked into the destination bucket under its key prefix, with the deployment's markers replaced;
- ``Custom::ImportedAmplifyDynamoDBTable`` and any other type: SUCCESS with no data, logged.

Each answer is recorded in the world's request log (``service`` ``custom-resource``, ``operation``
the resource type, ``emulated`` whether the world did what the Lambda does) so tests can see it.

moto is imported inside the functions that use it: importing the world stays cheap.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: The world whose Amplify emulator and request log the handlers use (set by the world).
_world: Any = None
_world_lock = threading.Lock()


def bind(world: Any) -> None:
    """Make ``world`` (a :class:`~airflow_amplify.testing.server.WorldApp`) the one handlers act in."""
    global _world
    with _world_lock:
        _world = world


def _record(resource_type: str, request_type: str, account_id: str, region: str, **extra: Any) -> None:
    world = _world
    if world is None:
        return
    entry = {
        "time": time.time(),
        "method": "INVOKE",
        "path": f"custom-resource/{resource_type}",
        "service": "custom-resource",
        "operation": resource_type,
        "request_type": request_type,
        "account_id": account_id,
        "region": region,
        "status": 200,
        "client": "world",
    }
    entry.update(extra)
    world.requests.add(entry)


# --- handlers: (request type, properties, context) -> (physical id or None, data) --------------


def _branch_linker(request_type: str, props: dict[str, Any], ctx: dict[str, Any]) -> tuple[str | None, dict]:
    world = _world
    if world is None:
        raise RuntimeError("no world is bound to answer Custom::AmplifyBranchLinkerResource")
    account_id, region = ctx["account_id"], ctx["region"]
    stack_arn = ctx["stack_id"] if request_type != "Delete" else None
    world.amplify.update_branch(
        account_id, region, props["appId"], props["branchName"], backend={"stackArn": stack_arn}
    )
    world.requests.add(
        {
            "time": time.time(),
            "method": "POST",
            "path": f"/apps/{props['appId']}/branches/{props['branchName']}",
            "service": "amplify",
            "operation": "UpdateBranch",
            "app_id": props["appId"],
            "branch_name": props["branchName"],
            "account_id": account_id,
            "region": region,
            "status": 200,
            "client": "custom-resource",
        }
    )
    return f"{props['appId']}-{props['branchName']}-branch-linker", {}


def _dynamodb_table(request_type: str, props: dict[str, Any], ctx: dict[str, Any]) -> tuple[str | None, dict]:
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[ctx["account_id"]][ctx["region"]]
    props = _pascal(props)  # the table manager takes DynamoDB's shapes in camelCase
    props["tableName"] = props.pop("TableName")
    name = props["tableName"]
    if request_type == "Delete":
        if name in backend.tables:
            backend.delete_table(name)
        return name, {}
    table = backend.tables.get(name)
    if table is None:
        stream = props.get("StreamSpecification") or {}
        table = backend.create_table(
            name,
            schema=props["KeySchema"],
            throughput=props.get("ProvisionedThroughput")
            or {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
            attr=props["AttributeDefinitions"],
            global_indexes=props.get("GlobalSecondaryIndexes") or [],
            indexes=props.get("LocalSecondaryIndexes") or [],
            streams={"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
            if stream.get("StreamViewType")
            else None,
            billing_mode=props.get("BillingMode") or "PAY_PER_REQUEST",
            sse_specification=None,
            tags=[],
            deletion_protection_enabled=_truthy(props.get("DeletionProtectionEnabled")),
            warm_throughput=None,
        )
    data = {"TableArn": table.table_arn, "TableName": name}
    if table.latest_stream_label:
        data["TableStreamArn"] = f"{table.table_arn}/stream/{table.latest_stream_label}"
    return name, data


def _bucket_deployment(
    request_type: str, props: dict[str, Any], ctx: dict[str, Any]
) -> tuple[str | None, dict]:
    """``Custom::CDKBucketDeployment``: unzip the source assets into the destination bucket."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    s3 = s3_backends[ctx["account_id"]][get_partition(ctx["region"])]
    destination = props["DestinationBucketName"]
    prefix = props.get("DestinationBucketKeyPrefix") or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    keys = list(props.get("SourceObjectKeys") or [])
    if request_type != "Delete":
        markers = props.get("SourceMarkers") or [{} for _ in keys]
        for bucket, key, marker in zip(props.get("SourceBucketNames") or [], keys, markers, strict=False):
            archive = zipfile.ZipFile(io.BytesIO(s3.get_object(bucket, key).value))
            for member in archive.infolist():
                if member.is_dir():
                    continue
                content = archive.read(member)
                for token, value in (marker or {}).items():
                    content = content.replace(token.encode(), str(value).encode())
                s3.put_object(destination, prefix + member.filename, content)
    physical_id = f"aws.cdk.s3deployment.{destination}/{prefix}"
    return physical_id, {"DestinationBucketArn": props.get("DestinationBucketArn"), "SourceObjectKeys": keys}


def _pascal(value: Any) -> Any:
    """``{"keySchema": [{"attributeName": ...}]}`` -> ``{"KeySchema": [{"AttributeName": ...}]}``."""
    if isinstance(value, dict):
        return {(k[:1].upper() + k[1:]): _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


HANDLERS: dict[str, Callable[[str, dict[str, Any], dict[str, Any]], tuple[str | None, dict]]] = {
    "Custom::AmplifyBranchLinkerResource": _branch_linker,
    "Custom::AmplifyDynamoDBTable": _dynamodb_table,
    "Custom::CDKBucketDeployment": _bucket_deployment,
}


def _answer(resource_type: str, request_type: str, props: dict[str, Any], ctx: dict[str, Any]):
    handler = HANDLERS.get(resource_type)
    clean = {k: v for k, v in props.items() if k != "ServiceToken"}
    if handler is None:
        log.info("custom resource %s (%s) answered SUCCESS without emulation", resource_type, request_type)
        _record(resource_type, request_type, ctx["account_id"], ctx["region"], emulated=False)
        return None, {}
    physical_id, data = handler(request_type, clean, ctx)
    _record(resource_type, request_type, ctx["account_id"], ctx["region"], emulated=True)
    return physical_id, data


class WorldCustomResource:
    """A custom resource whose answer the world gives at once (see the module docstring)."""

    def __init__(self, logical_id: str, resource_type: str, physical_id: str, data: dict[str, Any], ctx):
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.resource_name = physical_id
        self.data = data
        self.ctx = ctx
        self.properties: dict[str, Any] = {}
        self.request_id = str(uuid.uuid4())

    @property
    def physical_resource_id(self) -> str:
        return self.resource_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "Custom::*"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def is_created(self) -> bool:
        return True

    def set_data(self, data: dict[str, Any]) -> None:  # moto's response URL, should anything use it
        self.data = data

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.data.get(attribute_name)

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kw
    ) -> WorldCustomResource:
        props = cloudformation_json.get("Properties") or {}
        resource_type = kw.get("ResourceType") or cloudformation_json.get("Type", "Custom::Unknown")
        ctx = {"account_id": account_id, "region": region_name, "stack_id": kw.get("StackId")}
        physical_id, data = _answer(resource_type, "Create", props, ctx)
        resource = cls(
            kw.get("LogicalId", resource_name), resource_type, physical_id or resource_name, data, ctx
        )
        resource.properties = props
        _attach(resource, account_id, region_name, kw.get("StackId"))
        return resource

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ) -> WorldCustomResource:
        props = cloudformation_json.get("Properties") or {}
        ctx = dict(original_resource.ctx)
        physical_id, data = _answer(original_resource.resource_type, "Update", props, ctx)
        original_resource.properties = props
        original_resource.data = data
        if physical_id:
            original_resource.resource_name = physical_id
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        resource_type = cloudformation_json.get("Type", "Custom::Unknown")
        props = cloudformation_json.get("Properties") or {}
        _answer(
            resource_type,
            "Delete",
            props,
            {"account_id": account_id, "region": region_name, "stack_id": None},
        )

    def delete(self, account_id: str, region_name: str) -> None:
        _answer(self.resource_type, "Delete", self.properties, self.ctx)


def _attach(resource: WorldCustomResource, account_id: str, region: str, stack_id: str | None) -> None:
    """Register the resource with its moto stack, as moto's own custom resources are."""
    if not stack_id:
        return
    from moto.cloudformation import cloudformation_backends

    try:
        stack = cloudformation_backends[account_id][region].get_stack(stack_id)
    except Exception:
        return
    stack.custom_resources[resource.logical_id] = resource


__all__ = ["HANDLERS", "WorldCustomResource", "bind"]
