"""Native ``amplify_outputs.json``: pure functions over what the hook read from CloudFormation and S3.

The pipeline mirrors ``ampx generate outputs`` of the pinned CLI (@aws-amplify/backend-cli 1.10.0,
client-config 1.11, deployed-backend-client 1.8):

1. :func:`backend_output_from_stack`: template ``Metadata`` + stack ``Outputs`` -> backend output
   entries (``{"AWS::Amplify::Auth": {"version": "1", "payload": {...}}, ...}``), raising the CLI's
   errors (stack missing, deployment in progress, not an Amplify stack, no outputs).
2. :func:`validate_backend_output`: the checks the CLI's output schemas make.
3. :func:`build_outputs`: each category's contribution for the requested outputs version, deep-merged
   as the CLI merges them (arrays joined, conflicting values an error, ``version`` keeps the highest).
4. :func:`render_outputs`: ``JSON.stringify(config, null, 2)``, no trailing newline.

:func:`generate_outputs` runs all four. Nothing here talks to AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_amplify.outputs.errors import (
    AmplifyOutputsError,
    AmplifyOutputsNotFoundError,
    BackendOutputSchemaError,
    DeploymentInProgressError,
    InvalidOutputsJsonError,
    NonAmplifyStackError,
    OutputEntryAlreadyExistsError,
    VersionMismatchError,
)
from airflow_amplify.outputs.jscompat import (
    UNDEFINED,
    js_json_parse,
    js_json_stringify,
    js_parse_int,
    js_truthy,
    lodash_merge_with,
    semver_coerce,
)
from airflow_amplify.outputs.model_introspection import model_introspection_from_schema
from airflow_amplify.outputs.versions import DEFAULT_OUTPUTS_VERSION, check_outputs_version
from airflow_amplify.statuses import stack_is_in_progress

PLATFORM_KEY = "AWS::Amplify::Platform"
AUTH_KEY = "AWS::Amplify::Auth"
GRAPHQL_KEY = "AWS::Amplify::GraphQL"
STORAGE_KEY = "AWS::Amplify::Storage"
CUSTOM_KEY = "AWS::Amplify::Custom"
FUNCTION_KEY = "AWS::Amplify::Function"
AI_CONVERSATION_KEY = "AWS::Amplify::AI::Conversation"

_APPSYNC_AUTH_TYPES = ("API_KEY", "AWS_LAMBDA", "AWS_IAM", "OPENID_CONNECT", "AMAZON_COGNITO_USER_POOLS")
_IDENTITY_PROVIDERS = ("GOOGLE", "FACEBOOK", "LOGIN_WITH_AMAZON", "SIGN_IN_WITH_APPLE")
_MFA_CONFIGURATION = {"OFF": "NONE", "OPTIONAL": "OPTIONAL", "ON": "REQUIRED"}
_PASSWORD_REQUIREMENTS = {
    "REQUIRES_NUMBERS": "require_numbers",
    "REQUIRES_LOWERCASE": "require_lowercase",
    "REQUIRES_UPPERCASE": "require_uppercase",
    "REQUIRES_SYMBOLS": "require_symbols",
}

# Payload fields of each backend output entry the CLI knows: (required, optional).
_PAYLOAD_SCHEMAS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    PLATFORM_KEY: (("deploymentType", "region"), ()),
    AUTH_KEY: (
        ("authRegion", "userPoolId", "webClientId", "identityPoolId"),
        (
            "allowUnauthenticatedIdentities",
            "usernameAttributes",
            "signupAttributes",
            "passwordPolicyMinLength",
            "passwordPolicyRequirements",
            "mfaConfiguration",
            "mfaTypes",
            "verificationMechanisms",
            "socialProviders",
            "oauthCognitoDomain",
            "oauthScope",
            "oauthRedirectSignIn",
            "oauthRedirectSignOut",
            "oauthClientId",
            "oauthResponseType",
            "groups",
            "passwordlessOptions",
        ),
    ),
    GRAPHQL_KEY: (
        ("awsAppsyncRegion", "awsAppsyncApiEndpoint", "awsAppsyncAuthenticationType", "awsAppsyncApiId")
        + ("amplifyApiModelSchemaS3Uri",),
        ("awsAppsyncAdditionalAuthenticationTypes", "awsAppsyncConflictResolutionMode", "awsAppsyncApiKey"),
    ),
    STORAGE_KEY: (("bucketName", "storageRegion"), ("buckets",)),
    CUSTOM_KEY: (("customOutputs",), ()),
    FUNCTION_KEY: (("definedFunctions",), ()),
    AI_CONVERSATION_KEY: (("definedConversationHandlers",), ()),
}


# --- step 1: stack -> backend output ------------------------------------------------------------


def _is_output_entry(value: Any) -> bool:
    return isinstance(value, dict) and "version" in value and "stackOutputs" in value


def parse_stack_metadata(metadata: str | None) -> dict[str, Any]:
    """Parse GetTemplateSummary ``Metadata`` and keep the backend output entries, as the CLI does.

    :param metadata: the ``Metadata`` string (absent when the template has none).
    """
    if not isinstance(metadata, str):
        raise NonAmplifyStackError("Stack was not created with Amplify.")
    try:
        parsed = js_json_parse(metadata)
    except ValueError as err:
        raise InvalidOutputsJsonError(f"Stack template metadata is not valid JSON: {err}") from err
    if parsed is None:
        raise BackendOutputSchemaError("Stack template metadata is null.")
    if not isinstance(parsed, dict):
        return {}
    entries = {key: value for key, value in parsed.items() if _is_output_entry(value)}
    for key, entry in entries.items():
        if not isinstance(entry["version"], str):
            raise BackendOutputSchemaError(f"Metadata entry {key}: version must be a string.")
        outputs = entry["stackOutputs"]
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
            raise BackendOutputSchemaError(f"Metadata entry {key}: stackOutputs must be a list of strings.")
    return entries


def backend_output_from_stack(
    metadata: str | None,
    stack: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """Join template Metadata entries with stack Outputs into backend output entries.

    :param metadata: GetTemplateSummary ``Metadata`` (a JSON string, or None when absent).
    :param stack: one DescribeStacks ``Stacks[]`` item (``StackStatus``, ``Outputs``, ``Tags``).
    """
    entries = parse_stack_metadata(metadata)
    status = stack.get("StackStatus") or ""
    if stack_is_in_progress(status):
        tags = {t.get("Key"): t.get("Value") for t in stack.get("Tags") or []}
        deployment_type = tags.get("amplify:deployment-type") or "sandbox"
        raise DeploymentInProgressError(
            "Deployment is currently in progress.",
            detail=f"This {deployment_type} deployment is in progress. "
            "Re-run this command once the deployment completes.",
        )
    outputs = stack.get("Outputs")
    if outputs is None:
        raise AmplifyOutputsNotFoundError("Amplify outputs not found in stack metadata")
    values: dict[str, str] = {}
    for output in outputs:
        key, value = output.get("OutputKey"), output.get("OutputValue")
        if key and value:
            values[key] = value
    result: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        payload = {key: values[key] for key in entry["stackOutputs"] if values.get(key)}
        result[name] = {"version": entry["version"], "payload": payload}
    return result


# --- step 2: validation ------------------------------------------------------------------------


def validate_backend_output(backend_output: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Check the entries the CLI knows against its output schemas and drop what it does not know.

    :param backend_output: the result of :func:`backend_output_from_stack`.
    """
    validated: dict[str, dict[str, Any]] = {}
    for key, (required, optional) in _PAYLOAD_SCHEMAS.items():
        if key not in backend_output:
            continue
        entry = backend_output[key]
        if entry.get("version") != "1":
            raise BackendOutputSchemaError(
                f"{key}: unsupported output version {entry.get('version')!r}; this CLI knows version '1'."
            )
        payload = entry.get("payload") or {}
        missing = [name for name in required if not isinstance(payload.get(name), str)]
        if missing:
            raise BackendOutputSchemaError(f"{key}: required stack outputs missing or empty: {missing}.")
        if key == GRAPHQL_KEY and payload["awsAppsyncAuthenticationType"] not in _APPSYNC_AUTH_TYPES:
            raise BackendOutputSchemaError(
                f"{key}: awsAppsyncAuthenticationType {payload['awsAppsyncAuthenticationType']!r} "
                f"is not one of {list(_APPSYNC_AUTH_TYPES)}."
            )
        kept = {name: payload[name] for name in (*required, *optional) if name in payload}
        validated[key] = {"version": "1", "payload": kept}
    return validated


# --- step 3: contributions per category --------------------------------------------------------


def _json(value: str, what: str) -> Any:
    try:
        return js_json_parse(value)
    except ValueError as err:
        raise InvalidOutputsJsonError(f"Stack output {what} is not valid JSON: {err}") from err


def _js_get(obj: Any, key: str) -> Any:
    """``obj.key`` for a JSON value (undefined when missing); a TypeError for null/undefined."""
    if obj is None or obj is UNDEFINED:
        raise InvalidOutputsJsonError(f"Cannot read properties of {obj!r} (reading '{key}')")
    if isinstance(obj, dict):
        return obj.get(key, UNDEFINED)
    return UNDEFINED


def _js_iterate(value: Any, what: str) -> Iterable[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return list(value)
    raise InvalidOutputsJsonError(f"Stack output {what} is not iterable")


def auth_contribution(payload: Mapping[str, str], outputs_version: str) -> dict[str, Any]:
    """The ``auth`` section for an outputs version.

    :param payload: the ``AWS::Amplify::Auth`` payload (stack output name -> value).
    :param outputs_version: one of :data:`~airflow_amplify.outputs.versions.NATIVE_OUTPUTS_VERSIONS`.
    """
    auth: dict[str, Any] = {
        "user_pool_id": payload.get("userPoolId", UNDEFINED),
        "aws_region": payload.get("authRegion", UNDEFINED),
        "user_pool_client_id": payload.get("webClientId", UNDEFINED),
    }
    if payload.get("identityPoolId"):
        auth["identity_pool_id"] = payload["identityPoolId"]
    json_fields = [
        ("mfa_methods", "mfaTypes"),
        ("standard_required_attributes", "signupAttributes"),
        ("username_attributes", "usernameAttributes"),
        ("user_verification_types", "verificationMechanisms"),
    ]
    if outputs_version not in ("1", "1.1", "1.2"):
        json_fields.append(("groups", "groups"))
    for target, source in json_fields:
        if source in payload:
            auth[target] = _json(payload[source], source)
    mfa = payload.get("mfaConfiguration")
    if mfa and mfa in _MFA_CONFIGURATION:
        auth["mfa_configuration"] = _MFA_CONFIGURATION[mfa]
    min_length, requirements = (
        payload.get("passwordPolicyMinLength"),
        payload.get("passwordPolicyRequirements"),
    )
    if min_length or requirements:
        policy: dict[str, Any] = {
            "min_length": 8,
            "require_lowercase": False,
            "require_numbers": False,
            "require_symbols": False,
            "require_uppercase": False,
        }
        if min_length:
            policy["min_length"] = js_parse_int(min_length)
        if requirements:
            for requirement in _js_iterate(_json(requirements, "passwordPolicyRequirements"), "requirements"):
                if isinstance(requirement, str) and requirement in _PASSWORD_REQUIREMENTS:
                    policy[_PASSWORD_REQUIREMENTS[requirement]] = True
        auth["password_policy"] = policy
    sign_in, sign_out = payload.get("oauthRedirectSignIn"), payload.get("oauthRedirectSignOut")
    if sign_in and sign_out:
        providers = (
            _json(payload["socialProviders"], "socialProviders") if payload.get("socialProviders") else []
        )
        if isinstance(providers, list):
            providers = [p for p in providers if isinstance(p, str) and p in _IDENTITY_PROVIDERS]
        auth["oauth"] = {
            "identity_providers": providers,
            "redirect_sign_in_uri": sign_in.split(","),
            "redirect_sign_out_uri": sign_out.split(","),
            "response_type": payload.get("oauthResponseType", UNDEFINED),
            "scopes": _json(payload["oauthScope"], "oauthScope") if payload.get("oauthScope") else [],
            "domain": payload.get("oauthCognitoDomain", ""),
        }
    if payload.get("allowUnauthenticatedIdentities"):
        auth["unauthenticated_identities_enabled"] = payload["allowUnauthenticatedIdentities"] == "true"
    if outputs_version in ("1.4", "1.5") and payload.get("passwordlessOptions"):
        options = _json(payload["passwordlessOptions"], "passwordlessOptions")
        web_authn = _js_get(options, "webAuthn")
        passwordless: dict[str, Any] = {
            "email_otp_enabled": _js_get(options, "emailOtpEnabled"),
            "sms_otp_enabled": _js_get(options, "smsOtpEnabled"),
            "web_authn": (
                {
                    "relying_party_id": _js_get(web_authn, "relyingPartyId"),
                    "user_verification": _js_get(web_authn, "userVerification"),
                }
                if js_truthy(web_authn)
                else UNDEFINED
            ),
        }
        preferred = _js_get(options, "preferredChallenge")
        if js_truthy(preferred):
            passwordless["preferred_challenge"] = preferred
        auth["passwordless"] = passwordless
    return {"auth": auth}


def data_contribution(
    payload: Mapping[str, str], model_introspection: Callable[[str], Any] | None
) -> dict[str, Any]:
    """The ``data`` section (the same for every outputs version).

    :param payload: the ``AWS::Amplify::GraphQL`` payload.
    :param model_introspection: called with ``amplifyApiModelSchemaS3Uri``; returns the introspection
        dict (or None/UNDEFINED for none).
    """
    additional = payload.get("awsAppsyncAdditionalAuthenticationTypes")
    data: dict[str, Any] = {
        "url": payload.get("awsAppsyncApiEndpoint", UNDEFINED),
        "aws_region": payload.get("awsAppsyncRegion", UNDEFINED),
        "api_key": payload.get("awsAppsyncApiKey", UNDEFINED),
        "default_authorization_type": payload.get("awsAppsyncAuthenticationType", UNDEFINED),
        "authorization_types": additional.split(",") if additional is not None else UNDEFINED,
    }
    uri = payload.get("amplifyApiModelSchemaS3Uri")
    if uri and model_introspection is not None:
        introspection = model_introspection(uri)
        if js_truthy(introspection):
            data["model_introspection"] = introspection
    return {"data": data}


def storage_contribution(payload: Mapping[str, str], outputs_version: str) -> dict[str, Any]:
    """The ``storage`` section: no ``buckets`` in 1, buckets without ``paths`` in 1.1.

    :param payload: the ``AWS::Amplify::Storage`` payload.
    :param outputs_version: one of :data:`~airflow_amplify.outputs.versions.NATIVE_OUTPUTS_VERSIONS`.
    """
    storage: dict[str, Any] = {
        "aws_region": payload.get("storageRegion", UNDEFINED),
        "bucket_name": payload.get("bucketName", UNDEFINED),
    }
    if outputs_version != "1":
        buckets = _json(payload.get("buckets", "[]"), "buckets")
        if not isinstance(buckets, list):
            raise InvalidOutputsJsonError("Stack output buckets is not a JSON array")
        storage["buckets"] = []
        for raw in buckets:
            if not isinstance(raw, str):
                raise InvalidOutputsJsonError("Stack output buckets must hold JSON strings")
            bucket = _json(raw, "buckets[]")
            item = {
                "name": _js_get(bucket, "name"),
                "bucket_name": _js_get(bucket, "bucketName"),
                "aws_region": _js_get(bucket, "storageRegion"),
            }
            if outputs_version != "1.1":
                item["paths"] = _js_get(bucket, "paths")
            storage["buckets"].append(item)
    return {"storage": storage}


def custom_contribution(payload: Mapping[str, str]) -> Any:
    """The custom outputs (``backend.addOutput``), merged at top level.

    :param payload: the ``AWS::Amplify::Custom`` payload.
    """
    return _json(payload["customOutputs"], "customOutputs")


def _accumulate(accumulator: dict[str, Any], part: Any) -> None:
    def customizer(existing: Any, incoming: Any, key: str) -> Any:
        if isinstance(existing, list):
            return existing + incoming if isinstance(incoming, list) else [*existing, incoming]
        if js_truthy(existing) and not isinstance(existing, dict):
            if key == "version":
                incoming_version, existing_version = semver_coerce(incoming), semver_coerce(existing)
                if incoming_version and existing_version:
                    if incoming_version[0] != existing_version[0]:
                        raise VersionMismatchError(
                            "Conflicting versions of client configuration found. ",
                            detail=f"Version mismatch: Cannot accumulate new objects with version "
                            f"{incoming} with existing accumulated object with version {existing}",
                        )
                    return incoming if incoming_version >= existing_version else existing
            else:
                raise OutputEntryAlreadyExistsError(
                    f"Duplicated entry with key {key} detected in deployment outputs"
                )
        return UNDEFINED

    lodash_merge_with(accumulator, part, customizer)


def build_outputs(
    backend_output: Mapping[str, Any],
    outputs_version: str = DEFAULT_OUTPUTS_VERSION,
    model_introspection: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Build the ``amplify_outputs.json`` object for validated backend output.

    :param backend_output: the result of :func:`validate_backend_output`.
    :param outputs_version: one of :data:`~airflow_amplify.outputs.versions.NATIVE_OUTPUTS_VERSIONS`.
    :param model_introspection: turns ``amplifyApiModelSchemaS3Uri`` into the model introspection
        dict; without it, ``data.model_introspection`` is left out.
    """
    check_outputs_version(outputs_version)
    parts: list[Any] = []
    if AUTH_KEY in backend_output:
        parts.append(auth_contribution(backend_output[AUTH_KEY]["payload"], outputs_version))
    if GRAPHQL_KEY in backend_output:
        parts.append(data_contribution(backend_output[GRAPHQL_KEY]["payload"], model_introspection))
    if STORAGE_KEY in backend_output:
        parts.append(storage_contribution(backend_output[STORAGE_KEY]["payload"], outputs_version))
    parts.append({"version": outputs_version})
    if CUSTOM_KEY in backend_output:
        parts.append(custom_contribution(backend_output[CUSTOM_KEY]["payload"]))
    config: dict[str, Any] = {}
    for part in parts:
        _accumulate(config, part)
    return config


# --- step 4: serialization ---------------------------------------------------------------------


def render_outputs(config: Any) -> str:
    """Serialize as the CLI writes ``amplify_outputs.json``: two-space JSON, no trailing newline.

    :param config: the result of :func:`build_outputs`.
    """
    return js_json_stringify(config, 2)


def generate_outputs(
    metadata: str | None,
    stack: Mapping[str, Any],
    outputs_version: str = DEFAULT_OUTPUTS_VERSION,
    model_schema_loader: Callable[[str], str] | None = None,
) -> str:
    """Template Metadata + DescribeStacks item (+ the model schema) -> the text of ``amplify_outputs.json``.

    :param metadata: GetTemplateSummary ``Metadata``.
    :param stack: the DescribeStacks ``Stacks[0]`` item.
    :param outputs_version: one of :data:`~airflow_amplify.outputs.versions.NATIVE_OUTPUTS_VERSIONS`.
    :param model_schema_loader: fetches the GraphQL model schema text for an ``s3://`` URI; required
        when the backend has a data model.
    """
    check_outputs_version(outputs_version)
    backend_output = validate_backend_output(backend_output_from_stack(metadata, stack))

    def introspect(uri: str) -> Any:
        if model_schema_loader is None:
            raise ValueError("the backend has a data model: a model_schema_loader is needed")
        schema = model_schema_loader(uri)
        if not schema:
            raise AmplifyOutputsError("Error on parsing output schema")
        return model_introspection_from_schema(schema)

    return render_outputs(build_outputs(backend_output, outputs_version, introspect))
