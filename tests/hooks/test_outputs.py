"""The native amplify_outputs.json mapping: pure functions, every outputs version, the CLI's errors."""

from __future__ import annotations

import json
import math

import pytest
from botocore.stub import Stubber

from airflow_amplify.hooks.outputs import AmplifyOutputsHook, generate_outputs_native
from airflow_amplify.outputs.errors import (
    AmplifyOutputsNotFoundError,
    BackendOutputSchemaError,
    DeploymentInProgressError,
    NativeOutputsUnsupportedError,
    NonAmplifyStackError,
    OutputEntryAlreadyExistsError,
    StackDoesNotExistError,
    VersionMismatchError,
)
from airflow_amplify.outputs.jscompat import (
    UNDEFINED,
    js_json_parse,
    js_json_stringify,
    js_number_to_string,
    js_parse_int,
    semver_coerce,
)
from airflow_amplify.outputs.mapping import build_outputs, generate_outputs, render_outputs
from airflow_amplify.outputs.model_introspection import (
    ModelIntrospectionError,
    model_introspection_from_schema,
)
from airflow_amplify.outputs.pluralize import plural
from airflow_amplify.outputs.versions import NATIVE_OUTPUTS_VERSIONS
from airflow_amplify.validation import parse_s3_url
from tests.hooks.outputs_shapes import AUTH_FULL, AUTH_MINIMAL, DATA, STORAGE, create_stack, shape


def stack_of(outputs: dict[str, str], status: str = "UPDATE_COMPLETE", tags=None) -> dict:
    return {
        "StackStatus": status,
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
        "Tags": tags or [],
    }


def entries(**categories: dict[str, str]) -> str:
    keys = {"auth": "AWS::Amplify::Auth", "data": "AWS::Amplify::GraphQL", "storage": "AWS::Amplify::Storage"}
    keys["custom"] = "AWS::Amplify::Custom"
    return json.dumps({keys[c]: {"version": "1", "stackOutputs": list(v)} for c, v in categories.items()})


def outputs_for(version: str, **categories: dict[str, str]) -> dict:
    merged: dict[str, str] = {}
    for values in categories.values():
        merged.update(values)
    return json.loads(generate_outputs(entries(**categories), stack_of(merged), version))


# --- serialization ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text"),
    [(1.0, "1"), (1.5, "1.5"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (1.5e-7, "1.5e-7"),
     (0.000001, "0.000001"), (-0.0, "0"), (123456789012345680000.0, "123456789012345680000"), (math.nan, "null")],
)  # fmt: skip
def test_numbers_are_written_as_javascript_writes_them(number, text):
    assert js_number_to_string(number) == text


def test_stringify_matches_json_stringify_indent_2():
    value = {"b": 1.0, "10": "x", "2": [], "a": {"u": UNDEFINED, "e": {}}, "s": 'q"\\\n\x01é\ud800'}
    assert js_json_stringify(value) == (
        '{\n  "2": [],\n  "10": "x",\n  "b": 1,\n  "a": {\n    "e": {}\n  },\n  "s": "q\\"\\\\\\n\\u0001é\\ud800"\n}'
    )
    assert js_json_stringify([UNDEFINED, 1]) == "[\n  null,\n  1\n]"


def test_json_parse_rejects_nan_and_makes_every_number_a_double():
    assert js_json_parse('{"a": 2}') == {"a": 2.0}
    with pytest.raises(ValueError):
        js_json_parse("NaN")


def test_parse_int_and_semver_coerce_follow_javascript():
    assert js_parse_int(" 12px") == 12 and js_parse_int("0x1F") == 31 and math.isnan(js_parse_int("x"))
    assert semver_coerce("1.4") == (1, 4, 0) and semver_coerce(1.5) == (1, 5, 0)
    assert semver_coerce("v2") == (2, 0, 0) and semver_coerce(True) is None and semver_coerce("x") is None


def test_plural_names_follow_the_pluralize_package():
    assert [plural(w) for w in ("Todo", "Category", "Person", "Media", "Address", "TODO", "Item2")] == [
        "Todos", "Categories", "People", "Media", "Addresses", "TODOS", "Item2s",
    ]  # fmt: skip


# --- auth ---------------------------------------------------------------------------------------


def test_auth_full_for_version_1_4_has_every_feature():
    auth = outputs_for("1.4", auth=AUTH_FULL)["auth"]
    assert list(auth)[:4] == ["user_pool_id", "aws_region", "user_pool_client_id", "identity_pool_id"]
    assert auth["mfa_methods"] == ["SMS", "TOTP"]
    assert auth["mfa_configuration"] == "OPTIONAL"
    assert auth["standard_required_attributes"] == ["email", "name"]
    assert auth["username_attributes"] == ["email"]
    assert auth["user_verification_types"] == ["email"]
    assert auth["groups"] == [{"ADMINS": {"precedence": 0}}, {"EDITORS": {"precedence": 1}}]
    assert auth["password_policy"] == {
        "min_length": 12, "require_lowercase": True, "require_numbers": True,
        "require_symbols": True, "require_uppercase": False,
    }  # fmt: skip
    assert auth["oauth"] == {
        "identity_providers": ["GOOGLE", "SIGN_IN_WITH_APPLE", "LOGIN_WITH_AMAZON"],
        "redirect_sign_in_uri": ["http://localhost:3000/", "https://app.example.com/"],
        "redirect_sign_out_uri": ["http://localhost:3000/signout"],
        "response_type": "code",
        "scopes": ["email", "openid", "profile"],
        "domain": "demo.auth.us-east-1.amazoncognito.com",
    }
    assert auth["unauthenticated_identities_enabled"] is True
    assert auth["passwordless"] == {
        "email_otp_enabled": True, "sms_otp_enabled": False,
        "web_authn": {"relying_party_id": "example.com", "user_verification": "preferred"},
        "preferred_challenge": "WEB_AUTHN",
    }  # fmt: skip


@pytest.mark.parametrize("version", NATIVE_OUTPUTS_VERSIONS)
def test_groups_from_1_3_and_passwordless_from_1_4(version):
    auth = outputs_for(version, auth=AUTH_FULL)["auth"]
    assert ("groups" in auth) is (version in ("1.3", "1.4", "1.5"))
    assert ("passwordless" in auth) is (version in ("1.4", "1.5"))


def test_mfa_off_is_none_and_default_password_policy_and_no_oauth_without_redirects():
    auth = outputs_for("1.4", auth=AUTH_MINIMAL)["auth"]
    assert auth["mfa_configuration"] == "NONE"
    assert auth["password_policy"]["min_length"] == 8 and not auth["password_policy"]["require_numbers"]
    assert "oauth" not in auth and "unauthenticated_identities_enabled" not in auth
    required = outputs_for("1.4", auth={**AUTH_MINIMAL, "mfaConfiguration": "ON"})["auth"]
    assert required["mfa_configuration"] == "REQUIRED"


# --- data and storage ---------------------------------------------------------------------------


def test_data_section_and_model_introspection_from_the_schema_loader():
    schema = "type Todo @model @auth(rules: [{allow: public}]) { content: String }"
    text = generate_outputs(entries(data=DATA), stack_of(DATA), "1.4", lambda uri: schema)
    data = json.loads(text)["data"]
    assert list(data) == ["url", "aws_region", "api_key", "default_authorization_type", "authorization_types",
                          "model_introspection"]  # fmt: skip
    assert data["authorization_types"] == ["API_KEY", "AWS_IAM"]
    assert data["default_authorization_type"] == "AMAZON_COGNITO_USER_POOLS"
    todo = data["model_introspection"]["models"]["Todo"]
    assert list(todo["fields"]) == ["id", "content", "createdAt", "updatedAt"]
    assert todo["attributes"][1]["properties"]["rules"] == [
        {"allow": "public", "operations": ["create", "update", "delete", "read"]}
    ]


@pytest.mark.parametrize("version", NATIVE_OUTPUTS_VERSIONS)
def test_storage_buckets_from_1_1_and_paths_from_1_2(version):
    storage = outputs_for(version, storage=STORAGE)["storage"]
    assert storage["bucket_name"] == "amplify-media-bucket-1"
    if version == "1":
        assert "buckets" not in storage
        return
    assert [b["name"] for b in storage["buckets"]] == ["media", "backups", "logs"]
    media = storage["buckets"][0]
    assert ("paths" in media) is (version != "1.1")
    if version != "1.1":
        assert media["paths"]["public/*"]["guest"] == ["get", "list"]
        assert list(storage["buckets"][2]["paths"]) == ["10/*", "2/*"]  # insertion order kept


# --- custom outputs merge -----------------------------------------------------------------------


def test_custom_outputs_are_merged_arrays_joined_version_kept_highest():
    custom = {
        "customOutputs": json.dumps(
            {"version": "1", "auth": {"groups": [{"OPS": {}}]}, "z": {"2": 1, "1": 2}}
        )
    }
    result = outputs_for("1.4", auth=AUTH_FULL, custom=custom)
    assert result["version"] == "1.4"
    assert result["auth"]["groups"][-1] == {"OPS": {}} and len(result["auth"]["groups"]) == 3
    text = generate_outputs(entries(custom=custom), stack_of(custom), "1.4")
    assert text.index('"1"') < text.index('"2"')
    assert list(json.loads(text)) == ["version", "auth", "z"]


def test_custom_outputs_conflicts_are_the_clis_errors():
    clash = {"customOutputs": json.dumps({"auth": {"user_pool_id": "other"}})}
    with pytest.raises(OutputEntryAlreadyExistsError, match="user_pool_id"):
        outputs_for("1.4", auth=AUTH_MINIMAL, custom=clash)
    major = {"customOutputs": json.dumps({"version": "2"})}
    with pytest.raises(VersionMismatchError):
        outputs_for("1.4", custom=major)
    newer = {"customOutputs": json.dumps({"version": "1.9"})}
    assert outputs_for("1.1", custom=newer)["version"] == "1.9"


# --- stack -> backend output: the CLI's errors ---------------------------------------------------


def test_missing_metadata_is_a_non_amplify_stack():
    with pytest.raises(NonAmplifyStackError, match="not created with Amplify"):
        generate_outputs(None, stack_of({}))


def test_in_progress_stack_is_deployment_in_progress():
    stack = stack_of(
        AUTH_MINIMAL, "UPDATE_IN_PROGRESS", [{"Key": "amplify:deployment-type", "Value": "branch"}]
    )
    with pytest.raises(DeploymentInProgressError) as err:
        generate_outputs(entries(auth=AUTH_MINIMAL), stack)
    assert "branch deployment is in progress" in err.value.detail


def test_stack_without_outputs_is_outputs_not_found():
    with pytest.raises(AmplifyOutputsNotFoundError):
        generate_outputs(entries(auth=AUTH_MINIMAL), {"StackStatus": "CREATE_COMPLETE"})


def test_empty_required_output_fails_the_schema_check_and_metadata_without_entries_gives_version_only():
    with pytest.raises(BackendOutputSchemaError, match="identityPoolId"):
        generate_outputs(entries(auth=AUTH_MINIMAL), stack_of({**AUTH_MINIMAL, "identityPoolId": ""}))
    assert (
        generate_outputs(json.dumps({"Other": {"x": 1}}), stack_of({}), "1.3") == '{\n  "version": "1.3"\n}'
    )


def test_bad_outputs_version_is_refused_before_anything_else():
    with pytest.raises(ValueError, match=r"outputs_version='2'.*1, 1.1, 1.2, 1.3, 1.4, 1.5"):
        build_outputs({}, "2")


def test_render_has_no_trailing_newline():
    assert render_outputs({"version": "1"}) == '{\n  "version": "1"\n}'


# --- model introspection ------------------------------------------------------------------------

RELATIONS = """
type Team @model { name: String members: [Member] @hasMany(references: ["teamId"]) }
type Member @model { teamId: ID team: Team @belongsTo(references: ["teamId"]) role: Role }
type Order @model { customerId: ID! @primaryKey(sortKeyFields: ["day"]) day: AWSDate! sku: String @index }
enum Role { ADMIN member }
type Address { city: String }
"""


def test_relations_keys_enums_and_non_models():
    result = model_introspection_from_schema(RELATIONS)
    assert list(result) == ["version", "models", "enums", "nonModels"]
    team, member, order = (result["models"][n] for n in ("Team", "Member", "Order"))
    assert team["fields"]["members"]["association"] == {
        "connectionType": "HAS_MANY",
        "associatedWith": ["teamId"],
    }
    assert member["fields"]["team"]["association"] == {
        "connectionType": "BELONGS_TO",
        "targetNames": ["teamId"],
    }
    assert member["fields"]["role"]["type"] == {"enum": "Role"}
    assert order["primaryKeyInfo"] == {
        "isCustomPrimaryKey": True, "primaryKeyFieldName": "customerId", "sortKeyFieldNames": ["day"],
    }  # fmt: skip
    assert json.loads(js_json_stringify(order["attributes"][1:])) == [
        {"type": "key", "properties": {"fields": ["customerId", "day"]}},
        {"type": "key", "properties": {"name": "ordersBySku", "fields": ["sku"]}},
    ]
    assert result["enums"]["Role"] == {"name": "Role", "values": ["ADMIN", "member"]}
    assert result["nonModels"]["Address"]["fields"]["city"]["type"] == "String"


def test_implicit_has_many_gets_a_foreign_key_field_and_gsi_key():
    result = model_introspection_from_schema("type P @model { cs: [C] @hasMany } type C @model { t: String }")
    c = result["models"]["C"]
    assert "pCsId" in c["fields"]
    assert {"type": "key", "properties": {"name": "gsi-P.cs", "fields": ["pCsId"]}} in c["attributes"]


@pytest.mark.parametrize(
    ("schema", "feature"),
    [
        ("type A @model { bs: [B] @manyToMany(relationName: \"AB\") } type B @model { as: [A] @manyToMany(relationName: \"AB\") }", "@manyToMany"),
        ("type Query { g: String @generation(aiModel: \"x\", systemPrompt: \"y\") }", "@generation"),
        ("type A @model { x: String } extend type A { y: String }", "type extensions"),
    ],
)  # fmt: skip
def test_unsupported_schema_features_name_the_feature(schema, feature):
    with pytest.raises(NativeOutputsUnsupportedError, match=feature) as err:
        model_introspection_from_schema(schema)
    assert feature in err.value.feature


def test_schema_errors_are_the_generators_errors():
    with pytest.raises(ModelIntrospectionError, match="Unknown type Foo"):
        model_introspection_from_schema("type A @model { x: Foo }")
    with pytest.raises(ModelIntrospectionError, match="must reference non-null"):
        model_introspection_from_schema("type A @model { k: ID @primaryKey }")


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
