"""AmplifyGenerateOutputsOperator's engines: native (no Node), auto (native, else ampx, saying why), ampx."""

from __future__ import annotations

import json

import pytest

from airflow_amplify.operators.ampx import AmplifyGenerateOutputsOperator
from airflow_amplify.outputs.errors import AmplifyOutputsError
from airflow_amplify.outputs.mapping import generate_outputs
from tests.fakes.ampx import write_fake_ampx
from tests.outputs.shapes import create_stack, shape

STACK = "amplify-d1abcdefgh1234-main-branch-823652aa49"


def op(tmp_path, **kw):
    params = dict(
        task_id="outputs", out_dir=str(tmp_path / "out"), stack_name=STACK, aws_conn_id="aws_staging"
    )
    return AmplifyGenerateOutputsOperator(**{**params, **kw})


def test_native_engine_writes_the_file_without_running_any_cli(
    amplify_world, aws_connections, tmp_path, task_context
):
    create_stack(amplify_world, STACK, shape("auth_storage"))
    amplify_world.clear_requests()
    result = op(tmp_path, engine="native", ampx_path=str(tmp_path / "no-such-ampx")).execute(task_context())
    assert result["engine"] == "native"
    text = (tmp_path / "out" / "amplify_outputs.json").read_text()
    assert json.loads(text) == result["outputs"]
    assert result["outputs"]["auth"]["user_pool_id"] == "us-east-1_Min1"
    assert not text.endswith("\n")  # as JSON.stringify(config, null, 2) writes it
    operations = {r["operation"] for r in amplify_world.requests(service="cloudformation")}
    assert operations == {"GetTemplateSummary", "DescribeStacks"}


def test_auto_is_native_when_it_can(amplify_world, aws_connections, tmp_path, task_context):
    create_stack(amplify_world, STACK, shape("auth_data"))
    result = op(tmp_path, ampx_path=str(tmp_path / "no-such-ampx")).execute(task_context())
    assert result["engine"] == "native" and result["outputs"]["data"]["model_introspection"]["models"]


def test_auto_falls_back_to_ampx_for_an_unsupported_schema_and_says_why(
    amplify_world, aws_connections, tmp_path, task_context, task_logs
):
    data = shape("auth_data")
    data["schema"] = (
        'type Post @model { id: ID! tags: [Tag] @manyToMany(relationName: "PostTags") }\n'
        'type Tag @model { id: ID! posts: [Post] @manyToMany(relationName: "PostTags") }\n'
    )
    create_stack(amplify_world, STACK, data)
    fake = write_fake_ampx(tmp_path / "bin")
    result = op(tmp_path, ampx_path=str(fake), env={"FAKE_AMPX_MODE": "ok"}).execute(task_context())
    assert result["engine"] == "ampx"
    assert result["outputs"]["custom"]["args"][:4] == ["generate", "outputs", "--stack", STACK]
    assert "native engine does not support" in task_logs() and "manyToMany" in task_logs()


def test_auto_uses_ampx_for_formats_the_native_engine_does_not_write(
    amplify_world, aws_connections, tmp_path, task_context, task_logs
):
    fake = write_fake_ampx(tmp_path / "bin")
    result = op(tmp_path, format="json-mobile", ampx_path=str(fake), env={"FAKE_AMPX_MODE": "ok"}).execute(
        task_context()
    )
    assert result["engine"] == "ampx" and "format 'json-mobile'" in task_logs()
    assert amplify_world.requests(service="cloudformation") == []


def test_native_engine_refuses_what_it_cannot_write_before_any_call(
    amplify_world, aws_connections, tmp_path, task_context
):
    with pytest.raises(ValueError, match="engine='native' cannot write format 'dart'"):
        op(tmp_path, engine="native", format="dart").execute(task_context())
    assert amplify_world.requests() == []


def test_the_clis_errors_come_from_the_native_engine_too(
    amplify_world, aws_connections, tmp_path, task_context
):
    with pytest.raises(AmplifyOutputsError) as excinfo:
        op(tmp_path).execute(task_context())
    assert excinfo.value.error_name == "StackDoesNotExistError"


def test_native_output_equals_the_pure_mapping(amplify_world, aws_connections, tmp_path, task_context):
    everything = shape("custom")
    create_stack(amplify_world, STACK, everything)
    result = op(tmp_path, engine="native", outputs_version="1.3").execute(task_context())
    text = (tmp_path / "out" / "amplify_outputs.json").read_text()
    assert text == render_outputs_for(everything, "1.3")
    assert result["outputs_version"] == "1.3"


def render_outputs_for(shape_, version):
    stack = {
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in shape_["outputs"].items()],
    }
    return generate_outputs(json.dumps(shape_["metadata"]), stack, version, lambda uri: shape_["schema"])
