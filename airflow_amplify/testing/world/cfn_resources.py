"""CloudFormation in the local world for real Amplify Gen 2 backends: what moto 5.2 cannot deploy alone.

``ampx pipeline-deploy`` hands CloudFormation a root stack whose resources moto partly skips. This
module teaches moto's CloudFormation, once, on the world's first CloudFormation request (importing
the world stays cheap):

- **TemplateURLs of the world itself.** The CDK toolkit builds a stack's ``TemplateURL`` from the S3
  endpoint it was given (``http://127.0.0.1:PORT/bucket/key``); moto reads the host's first label as
  the bucket. A URL whose host is an IP address or a single label is read path-style, as S3 does.
- **Nested stacks' outputs.** ``Fn::GetAtt [Nested, Outputs.X]`` resolves to the nested stack's output.
- **Resource types moto skips** that Gen 2 backends use: Cognito user pools, clients, groups, identity
  pools and their role attachments; AppSync APIs, schemas, data sources, resolvers, functions and API
  keys (:mod:`airflow_amplify.testing.world.cfn_appsync`); S3 bucket policies. Each creates the real
  resource in moto's backend for that service, so ``Ref``, ``Fn::GetAtt`` and the stack's outputs are
  what AWS gives, and the services' own APIs see the resources.
- **Lambda-backed custom resources** are answered inside the world without running their Lambda
  (moto would run it in Docker): see :mod:`airflow_amplify.testing.world.custom_resources`.

Every resource type moto still skips is recorded (:func:`skipped_types`) so a test can name it.

moto is imported inside the functions that use it: importing the world stays cheap.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)

_installed = False
_install_lock = threading.Lock()
_skipped: dict[str, set[str]] = {}
_skipped_lock = threading.Lock()

#: CloudFormation type -> model class, consulted before moto's own map.
MODELS: dict[str, type] = {}


def skipped_types(stack_name_prefix: str = "") -> set[str]:
    """Resource types moto skipped in stacks whose name starts with ``stack_name_prefix``."""
    with _skipped_lock:
        return {t for name, types in _skipped.items() if name.startswith(stack_name_prefix) for t in types}


def clear_skipped() -> None:
    with _skipped_lock:
        _skipped.clear()


def _path_style(template_url: str) -> bool:
    host = urlparse(template_url).hostname or ""
    if "." not in host:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _wrap_template_url(original: Callable[..., str]) -> Callable[..., str]:
    def get_stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
        if _path_style(template_url):
            from moto.s3.models import s3_backends

            bucket, key = urlparse(template_url).path.lstrip("/").split("/", 1)
            return s3_backends[account_id][partition].get_object(bucket, key).value.decode("utf-8")
        return original(template_url, account_id=account_id, partition=partition)

    get_stack_from_s3_url.__wrapped__ = original  # type: ignore[attr-defined]
    return get_stack_from_s3_url


def _stack_output_attribute(self, attribute_name: str) -> Any:
    if attribute_name.startswith("Outputs."):
        key = attribute_name.removeprefix("Outputs.")
        output = self.output_map[key] if key in self.output_map.outputs else None
        if output is not None:
            return output.value
        log.warning("Fn::GetAtt %s of stack %s: the stack has no such output", attribute_name, self.name)
        return None
    if attribute_name == "Arn" or attribute_name == "StackId":
        return self.stack_id
    raise NotImplementedError(f"Fn::GetAtt {attribute_name} of a nested stack")


def install() -> None:
    """Teach moto's CloudFormation the world's extensions (idempotent, thread safe)."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        from moto.cloudformation import models, parsing, responses, utils

        # the models import this module, and they import moto: both only once CloudFormation is used
        from airflow_amplify.testing.world import cfn_appsync, cfn_cognito, custom_resources

        wrapped = _wrap_template_url(utils.get_stack_from_s3_url)
        for module in (utils, models, responses):
            module.get_stack_from_s3_url = wrapped

        models.Stack.get_cfn_attribute = _stack_output_attribute

        MODELS.update(cfn_cognito.MODELS)
        MODELS.update(cfn_appsync.MODELS)
        MODELS.update(_MISC_MODELS)
        original_class_from_type = parsing.resource_class_from_type
        original_name_property = parsing.resource_name_property_from_type

        def resource_class_from_type(resource_type: str):
            if resource_type in MODELS:
                return MODELS[resource_type]
            if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
                return custom_resources.WorldCustomResource
            return original_class_from_type(resource_type)

        def resource_name_property_from_type(resource_type: str):
            if resource_type in MODELS:
                return MODELS[resource_type].cloudformation_name_type() or None
            return original_name_property(resource_type)

        parsing.resource_class_from_type = resource_class_from_type
        parsing.resource_name_property_from_type = resource_name_property_from_type

        original_parse_resource = parsing.parse_resource

        def parse_resource(resource_json: dict[str, Any], resources_map: Any):
            result = original_parse_resource(resource_json, resources_map)
            if not result and resource_json.get("Type") not in parsing.NULL_MODELS:
                name = str(resources_map["AWS::StackName"])
                with _skipped_lock:
                    _skipped.setdefault(name, set()).add(resource_json["Type"])
                log.warning("the world cannot create %s (stack %s)", resource_json["Type"], name)
            return result

        parsing.parse_resource = parse_resource
        _install_failures(models, parsing)
        _install_name_limits(parsing)
        _install_tag_shapes()
        _installed = True


class ResourceCreateFailed(Exception):
    """A resource of a stack could not be created; the stack rolls back, as CloudFormation's does."""

    def __init__(self, logical_id: str, resource_type: str, reason: str):
        super().__init__(f"{resource_type} {logical_id}: {reason}")
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason


def _install_failures(models: Any, parsing: Any) -> None:
    """A resource that fails to create fails its stack (ROLLBACK_COMPLETE) instead of the request.

    moto raises the error out of CreateStack (an HTTP 500 the CDK toolkit retries into
    AlreadyExistsException). CloudFormation instead accepts the stack, reports ``CREATE_FAILED`` for
    the resource with the reason, rolls back, and fails the parent of a nested stack in turn.
    Template errors (moto's ValidationError) still fail the request, as they do in AWS.
    """
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import Event

    original_create = parsing.parse_and_create_resource

    def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):
        try:
            return original_create(logical_id, resource_json, resources_map, account_id, region_name)
        except (ValidationError, ResourceCreateFailed):
            raise
        except Exception as err:
            raise ResourceCreateFailed(
                logical_id, resource_json.get("Type", "?"), f"{type(err).__name__}: {err}"
            ) from err

    parsing.parse_and_create_resource = parse_and_create_resource

    def roll_back(stack: Any, failure: ResourceCreateFailed) -> None:
        log.warning("stack %s failed: %s", stack.name, failure)
        stack.events.append(
            Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=failure.logical_id,
                physical_resource_id="",
                resource_type=failure.resource_type,
                resource_status="CREATE_FAILED",
                resource_status_reason=failure.reason,
                resource_properties=None,
            )
        )
        stack.world_failure = failure
        # a rolled-back stack has no resources and no outputs; moto's lazy maps would retry them
        stack.resource_map._resource_json_map = {}
        stack.output_map = parsing.OutputMap(stack.resource_map, {"Outputs": {}}, stack.stack_id)
        stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=str(failure))
        stack._add_stack_event("ROLLBACK_COMPLETE")
        stack.status = "ROLLBACK_COMPLETE"

    original_create_stack = models.CloudFormationBackend.create_stack

    def create_stack(self, name: str, *args: Any, **kwargs: Any):
        try:
            return original_create_stack(self, name, *args, **kwargs)
        except ResourceCreateFailed as failure:  # moto evaluates exports before it creates resources
            stack = next((s for s in self.stacks.values() if s.name == name), None)
            if stack is None:
                raise
            if getattr(stack, "world_failure", None) is None:
                roll_back(stack, failure)
            return stack

    models.CloudFormationBackend.create_stack = create_stack

    original_resources = models.Stack.create_resources

    def create_resources(self) -> None:
        try:
            original_resources(self)
        except ResourceCreateFailed as failure:
            roll_back(self, failure)

    models.Stack.create_resources = create_resources

    original_nested = models.Stack.create_from_cloudformation_json.__func__

    def create_nested(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        stack = original_nested(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        failure = getattr(stack, "world_failure", None)
        if failure is not None:
            raise ResourceCreateFailed(
                kwargs.get("LogicalId", resource_name),
                "AWS::CloudFormation::Stack",
                f"Embedded stack {stack.stack_id} was not successfully created: {failure}",
            )
        return stack

    models.Stack.create_from_cloudformation_json = classmethod(create_nested)


#: Longest names CloudFormation generates per resource type (the service's own limit).
NAME_LIMITS = {
    "AWS::S3::Bucket": 63,
    "AWS::StepFunctions::StateMachine": 80,
    "AWS::Lambda::Function": 64,
    "AWS::IAM::Role": 64,
    "AWS::IAM::ManagedPolicy": 128,
    "AWS::SQS::Queue": 80,
    "AWS::SNS::Topic": 256,
    "AWS::CloudFormation::Stack": 128,
    "AWS::Events::Rule": 64,
}


def _install_name_limits(parsing: Any) -> None:
    """Generated physical names fit the service's limit, as CloudFormation's do (moto's may not).

    CloudFormation shortens the stack-name part and keeps the logical id's start and the random
    suffix, so a nested stack's state machine gets a valid name however deep it sits.
    """
    original = parsing.generate_resource_name

    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        name = original(resource_type, stack_name, logical_id)
        limit = NAME_LIMITS.get(resource_type)
        if limit is None or len(name) <= limit:
            return name
        suffix = name.rsplit("-", 1)[-1]
        room = limit - len(suffix) - 2
        stack_part = stack_name[: max(room // 2, 1)]
        logical_part = logical_id[: max(room - len(stack_part), 1)]
        shortened = f"{stack_part}-{logical_part}-{suffix}"[:limit]
        return shortened.lower() if resource_type == "AWS::S3::Bucket" else shortened

    parsing.generate_resource_name = generate_resource_name


def _install_tag_shapes() -> None:
    """``AWS::SSM::Parameter`` takes ``Tags`` as a map in CloudFormation; moto's model wants a list."""
    from moto.ssm.models import Parameter

    original = Parameter.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        tags = (cloudformation_json.get("Properties") or {}).get("Tags")
        if isinstance(tags, dict):
            cloudformation_json = dict(cloudformation_json)
            properties = dict(cloudformation_json["Properties"])
            properties["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
            cloudformation_json["Properties"] = properties
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    Parameter.create_from_cloudformation_json = classmethod(create)


# --- the shape every world model has ------------------------------------------------------------


class WorldResource:
    """A resource of a world CloudFormation model: what moto's stack code reads from a resource.

    Subclasses set ``TYPE``, ``ATTRIBUTES`` (``Fn::GetAtt`` name -> instance attribute) and implement
    ``_create`` (returns the physical id) and optionally ``_update`` and ``_delete``.
    """

    TYPE = ""
    ATTRIBUTES: dict[str, str] = {}

    def __init__(self, properties: dict[str, Any], account_id: str, region: str, name: str, stack_id: str):
        self.properties = properties
        self.account_id = account_id
        self.region = region
        self.name = name
        self.stack_id = stack_id
        self.physical_resource_id = ""

    # moto's ResourceMap and stack answers read these
    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def is_created(self) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.ATTRIBUTES:
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()
        return getattr(self, self.ATTRIBUTES[attribute_name])

    def _create(self) -> str:
        raise NotImplementedError

    def _update(self, properties: dict[str, Any]) -> None:
        """Apply new properties in place (default: delete, then create anew)."""
        self._delete()
        self.properties = properties
        self.physical_resource_id = self._create()

    def _delete(self) -> None:
        return None

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kw
    ):
        resource = cls(
            cloudformation_json.get("Properties") or {},
            account_id,
            region_name,
            resource_name,
            kw.get("StackId"),
        )
        resource.physical_resource_id = resource._create()
        return resource

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        original_resource._update(cloudformation_json.get("Properties") or {})
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        return None  # resources are deleted through delete() below, which knows its own state

    def delete(self, account_id: str, region_name: str) -> None:
        self._delete()


class _BucketPolicy(WorldResource):
    """``AWS::S3::BucketPolicy``: the policy is put on the bucket in moto's S3."""

    TYPE = "AWS::S3::BucketPolicy"

    def _s3(self):
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        return s3_backends[self.account_id][get_partition(self.region)]

    def _create(self) -> str:
        bucket = self.properties["Bucket"]
        self._s3().put_bucket_policy(bucket, json.dumps(self.properties["PolicyDocument"]).encode())
        return bucket

    def _update(self, properties: dict[str, Any]) -> None:
        self.properties = properties
        self.physical_resource_id = self._create()

    def _delete(self) -> None:
        with contextlib.suppress(Exception):  # the bucket went first
            self._s3().delete_bucket_policy(self.physical_resource_id)


class _CdkMetadata(WorldResource):
    """``AWS::CDK::Metadata``: the toolkit's analytics record; nothing to create."""

    TYPE = "AWS::CDK::Metadata"

    def _create(self) -> str:
        return f"{self.name}-cdk-metadata"


_MISC_MODELS: dict[str, type] = {model.TYPE: model for model in (_BucketPolicy, _CdkMetadata)}

__all__ = ["MODELS", "ResourceCreateFailed", "WorldResource", "clear_skipped", "install", "skipped_types"]
