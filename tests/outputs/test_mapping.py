"""The stack -> amplify_outputs.json mapping: every section, every version, the CLI's errors."""

from __future__ import annotations

import json

import pytest

from airflow_amplify.outputs.errors import (
    AmplifyOutputsNotFoundError,
    BackendOutputSchemaError,
    DeploymentInProgressError,
    NonAmplifyStackError,
    OutputEntryAlreadyExistsError,
    VersionMismatchError,
)
from airflow_amplify.outputs.mapping import build_outputs, generate_outputs, render_outputs
from airflow_amplify.outputs.versions import NATIVE_OUTPUTS_VERSIONS
from tests.outputs.shapes import AUTH_FULL, AUTH_MINIMAL, DATA, STORAGE, entries, stack_of


def outputs_for(version: str, **categories: dict[str, str]) -> dict:
    merged: dict[str, str] = {}
    for values in categories.values():
        merged.update(values)
    return json.loads(generate_outputs(entries(**categories), stack_of(merged), version))


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
