"""Engine ``native`` of ``amplify_outputs.json``: three AWS reads and Python, no Node on the worker.

It reads what ``ampx generate outputs --stack S`` reads (CloudFormation GetTemplateSummary and
DescribeStacks, then S3 GetObject of the model schema when the backend has data) and hands it to
the pure functions of :mod:`airflow_amplify.outputs.mapping`, which write the same bytes the CLI writes.

Use :func:`generate_outputs_native` with boto3 clients or a session (no Airflow needed), or
:class:`AmplifyOutputsHook` with an Airflow AWS connection.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from airflow_amplify.hooks._aws import OtherServiceClientsMixin
from airflow_amplify.outputs.errors import (
    AccessDeniedError,
    AmplifyOutputsError,
    CredentialsError,
    StackDoesNotExistError,
)
from airflow_amplify.outputs.mapping import generate_outputs
from airflow_amplify.outputs.versions import DEFAULT_OUTPUTS_VERSION, OUTPUTS_FILE_NAME, check_outputs_version
from airflow_amplify.validation import parse_s3_url


def _client_error_parts(error: Exception) -> tuple[str, str] | None:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    details = response.get("Error") or {}
    return str(details.get("Code") or ""), str(details.get("Message") or "")


def _translate_cloudformation_error(error: Exception, stack_name: str) -> Exception:
    parts = _client_error_parts(error)
    if parts is None:
        return error
    code, message = parts
    if message.startswith("Stack with id") and message.endswith("does not exist"):
        return StackDoesNotExistError(
            "Stack does not exist.", detail=f"Stack with id {stack_name} does not exist"
        )
    if code in ("ExpiredToken", "InvalidClientTokenId"):
        return CredentialsError("Unable to get backend outputs due to invalid credentials.", detail=message)
    if code == "AccessDenied":
        return AccessDeniedError(
            "Unable to get backend outputs due to insufficient permissions.", detail=message
        )
    return error


def read_stack(cloudformation: Any, stack_name: str) -> tuple[str | None, dict[str, Any]]:
    """GetTemplateSummary ``Metadata`` and the DescribeStacks item of a stack, in the CLI's order.

    :param cloudformation: a boto3 CloudFormation client.
    :param stack_name: the stack name or id.
    """
    try:
        summary = cloudformation.get_template_summary(StackName=stack_name)
    except Exception as err:
        translated = _translate_cloudformation_error(err, stack_name)
        if translated is err:
            raise
        raise translated from err
    metadata = summary.get("Metadata")
    # The CLI rejects a stack without Metadata before it calls DescribeStacks.
    if not isinstance(metadata, str):
        return None, {}
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name).get("Stacks") or [{}]
    except Exception as err:
        translated = _translate_cloudformation_error(err, stack_name)
        if translated is err:
            raise
        raise translated from err
    return metadata, stacks[0]


def render_outputs_native(
    stack_name: str,
    outputs_version: str = DEFAULT_OUTPUTS_VERSION,
    *,
    cloudformation: Any,
    s3: Any,
) -> str:
    """The text of ``amplify_outputs.json`` for a deployed stack.

    :param stack_name: the backend's root stack (name or id).
    :param outputs_version: one of :data:`~airflow_amplify.outputs.mapping.OUTPUTS_VERSIONS`.
    :param cloudformation: a boto3 CloudFormation client.
    :param s3: a boto3 S3 client (used only when the backend has a data model).
    """
    check_outputs_version(outputs_version)
    metadata, stack = read_stack(cloudformation, stack_name)

    def load_schema(uri: str) -> str:
        try:
            bucket, key = parse_s3_url(uri, param="amplifyApiModelSchemaS3Uri")
        except ValueError as err:
            raise AmplifyOutputsError(f"Invalid model schema URI {uri!r}: {err}") from None
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body.decode("utf-8")

    return generate_outputs(metadata, stack, outputs_version, load_schema)


def generate_outputs_native(
    stack_name: str,
    outputs_version: str = DEFAULT_OUTPUTS_VERSION,
    out_dir: str | os.PathLike[str] = ".",
    *,
    aws_conn_id: str | None = "aws_default",
    region_name: str | None = None,
    session: Any = None,
    cloudformation: Any = None,
    s3: Any = None,
    endpoint_url: str | None = None,
) -> Path:
    """Write ``<out_dir>/amplify_outputs.json`` for a stack, as ``ampx generate outputs`` does; return its path.

    Clients come from (first match): ``cloudformation``/``s3`` given; a boto3 ``session``; the Airflow
    connection ``aws_conn_id`` (through :class:`AmplifyOutputsHook`).

    :param stack_name: the backend's root stack (name or id).
    :param outputs_version: one of :data:`~airflow_amplify.outputs.mapping.OUTPUTS_VERSIONS`.
    :param out_dir: the directory to write into (created if missing).
    :param aws_conn_id: the Airflow AWS connection, used when no client or session is given.
    :param region_name: the region of the stack; defaults to the connection's or session's.
    :param session: a boto3 session to build clients from.
    :param cloudformation: a ready boto3 CloudFormation client.
    :param s3: a ready boto3 S3 client.
    :param endpoint_url: an endpoint for clients built from ``session`` (tests, local worlds).
    """
    check_outputs_version(outputs_version)
    if cloudformation is None or s3 is None:
        if session is not None:
            kwargs = {"region_name": region_name, "endpoint_url": endpoint_url}
            cloudformation = cloudformation or session.client("cloudformation", **kwargs)
            s3 = s3 or session.client("s3", **kwargs)
        else:
            hook = AmplifyOutputsHook(aws_conn_id=aws_conn_id, region_name=region_name)
            cloudformation = cloudformation or hook.conn
            s3 = s3 or hook.client_for("s3")
    text = render_outputs_native(stack_name, outputs_version, cloudformation=cloudformation, s3=s3)
    return write_outputs_file(text, out_dir)


def write_outputs_file(text: str, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``amplify_outputs.json`` (UTF-8, no trailing newline) into ``out_dir``; return its path.

    :param text: the file's content.
    :param out_dir: the directory (created if missing).
    """
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory.resolve() / OUTPUTS_FILE_NAME
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


class AmplifyOutputsHook(OtherServiceClientsMixin, AwsBaseHook):
    """Generate ``amplify_outputs.json`` natively with an Airflow AWS connection.

    Additional arguments (such as ``aws_conn_id`` and ``region_name``) are passed down to
    :class:`~airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "cloudformation"
        super().__init__(*args, **kwargs)

    def generate_outputs(
        self,
        stack_name: str,
        outputs_version: str = DEFAULT_OUTPUTS_VERSION,
        out_dir: str | os.PathLike[str] = ".",
    ) -> Path:
        """Write ``<out_dir>/amplify_outputs.json`` for ``stack_name``; return its path.

        :param stack_name: the backend's root stack (name or id).
        :param outputs_version: one of :data:`~airflow_amplify.outputs.mapping.OUTPUTS_VERSIONS`.
        :param out_dir: the directory to write into (created if missing).
        """
        return generate_outputs_native(
            stack_name, outputs_version, out_dir, cloudformation=self.conn, s3=self.client_for("s3")
        )

    def render_outputs(self, stack_name: str, outputs_version: str = DEFAULT_OUTPUTS_VERSION) -> str:
        """The text of ``amplify_outputs.json`` for ``stack_name``, without writing it.

        :param stack_name: the backend's root stack (name or id).
        :param outputs_version: one of :data:`~airflow_amplify.outputs.mapping.OUTPUTS_VERSIONS`.
        """
        return render_outputs_native(
            stack_name, outputs_version, cloudformation=self.conn, s3=self.client_for("s3")
        )
