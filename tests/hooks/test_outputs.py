"""AmplifyOutputsHook against the local world: reads the stack and the schema, calls outputs/."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from airflow_amplify.hooks.outputs import AmplifyOutputsHook, generate_outputs_native
from airflow_amplify.outputs.errors import (
    DeploymentInProgressError,
    StackDoesNotExistError,
)
from airflow_amplify.validation import parse_s3_url
from tests.outputs.shapes import AUTH_MINIMAL, create_stack, entries, shape

# --- the hook against the local world -----------------------------------------------------------


def test_generate_outputs_native_reads_the_stack_and_the_schema_from_s3(amplify_world, tmp_path):
    create_stack(amplify_world, "amplify-d1-main-branch-0123456789", shape("everything"))
    path = generate_outputs_native(
        "amplify-d1-main-branch-0123456789", "1.5", tmp_path / "out",
        cloudformation=amplify_world.client("cloudformation"), s3=amplify_world.client("s3"),
    )  # fmt: skip
    text = path.read_text()
    assert path.name == "amplify_outputs.json" and not text.endswith("\n")
    result = json.loads(text)
    assert list(result) == ["auth", "data", "storage", "version", "custom", "geo", "notifications"]
    assert set(result["data"]["model_introspection"]["models"]) >= {"Team", "Member", "Order"}
    operations = [r["operation"] for r in amplify_world.requests(service="cloudformation")]
    assert operations[-2:] == ["GetTemplateSummary", "DescribeStacks"]
    schema_reads = [
        r for r in amplify_world.requests(service="s3", method="GET") if "model-schema" in r["path"]
    ]
    assert len(schema_reads) == 1


def test_missing_stack_raises_stack_does_not_exist(amplify_world, tmp_path):
    with pytest.raises(StackDoesNotExistError) as err:
        generate_outputs_native(
            "amplify-absent-branch-0000000000", "1.4", tmp_path,
            cloudformation=amplify_world.client("cloudformation"), s3=amplify_world.client("s3"),
        )  # fmt: skip
    assert err.value.error_name == "StackDoesNotExistError"
    assert not (tmp_path / "amplify_outputs.json").exists()


def test_in_progress_stack_through_boto3_stubber(amplify_world, tmp_path):
    cfn = amplify_world.client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_response("get_template_summary", {"Metadata": entries(auth=AUTH_MINIMAL)})
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "s",
                        "CreationTime": "2024-01-01T00:00:00Z",
                        "StackStatus": "UPDATE_IN_PROGRESS",
                    }
                ]
            },
        )
        with pytest.raises(DeploymentInProgressError):
            generate_outputs_native("s", "1.4", tmp_path, cloudformation=cfn, s3=amplify_world.client("s3"))


def test_hook_uses_the_airflow_connection(amplify_world, aws_connections, tmp_path):
    create_stack(amplify_world, "amplify-d1-dev-branch-0123456789", shape("auth_storage"))
    hook = AmplifyOutputsHook(aws_conn_id=aws_connections["staging"])
    path = hook.generate_outputs("amplify-d1-dev-branch-0123456789", "1.1", tmp_path)
    assert json.loads(path.read_text())["storage"]["buckets"][1] == {
        "name": "backups", "bucket_name": "amplify-backups-bucket-2", "aws_region": "us-east-1",
    }  # fmt: skip
    assert hook.render_outputs("amplify-d1-dev-branch-0123456789", "1.1") == path.read_text()


def test_model_schema_uri_is_split_into_bucket_and_key():
    assert parse_s3_url("s3://bucket-1/a/b.graphql", "uri") == ("bucket-1", "a/b.graphql")
    with pytest.raises(ValueError, match="uri='https://bucket-1/a' is not an S3 URL"):
        parse_s3_url("https://bucket-1/a", "uri")
