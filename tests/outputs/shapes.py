"""Backend shapes for the native-vs-CLI outputs comparison: template Metadata, stack Outputs, model schema."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA_BUCKET = "amplify-modelschema-bucket"
SCHEMA_KEY = "model-schema.graphql"
SCHEMA_URI = f"s3://{SCHEMA_BUCKET}/{SCHEMA_KEY}"

AUTH_FULL = {
    "authRegion": "us-east-1",
    "userPoolId": "us-east-1_AbCdEf123",
    "webClientId": "5s1cl1ent1d",
    "identityPoolId": "us-east-1:2f6a1c57-1111-2222-3333-444455556666",
    "allowUnauthenticatedIdentities": "true",
    "usernameAttributes": '["email"]',
    "signupAttributes": '["email","name"]',
    "verificationMechanisms": '["email"]',
    "passwordPolicyMinLength": "12",
    "passwordPolicyRequirements": '["REQUIRES_NUMBERS","REQUIRES_LOWERCASE","REQUIRES_SYMBOLS"]',
    "mfaConfiguration": "OPTIONAL",
    "mfaTypes": '["SMS","TOTP"]',
    "socialProviders": '["GOOGLE","SIGN_IN_WITH_APPLE","OIDC_PROVIDER","LOGIN_WITH_AMAZON"]',
    "oauthCognitoDomain": "demo.auth.us-east-1.amazoncognito.com",
    "oauthScope": '["email","openid","profile"]',
    "oauthRedirectSignIn": "http://localhost:3000/,https://app.example.com/",
    "oauthRedirectSignOut": "http://localhost:3000/signout",
    "oauthClientId": "5s1cl1ent1d",
    "oauthResponseType": "code",
    "groups": '[{"ADMINS":{"precedence":0}},{"EDITORS":{"precedence":1}}]',
    "passwordlessOptions": json.dumps(
        {"emailOtpEnabled": True, "smsOtpEnabled": False, "webAuthn": {"relyingPartyId": "example.com",
         "userVerification": "preferred"}, "preferredChallenge": "WEB_AUTHN"}
    ),
}  # fmt: skip
AUTH_KEYS = list(AUTH_FULL)
AUTH_MINIMAL = {
    "authRegion": "us-east-1",
    "userPoolId": "us-east-1_Min1",
    "webClientId": "minclient",
    "identityPoolId": "us-east-1:00000000-aaaa-bbbb-cccc-000000000000",
    "passwordPolicyMinLength": "8",
    "mfaConfiguration": "OFF",
    "socialProviders": "",
}


def _bucket(name: str, bucket: str, paths: dict[str, Any]) -> str:
    return json.dumps({"name": name, "bucketName": bucket, "storageRegion": "us-east-1", "paths": paths})


STORAGE = {
    "bucketName": "amplify-media-bucket-1",
    "storageRegion": "us-east-1",
    "buckets": json.dumps(
        [
            _bucket("media", "amplify-media-bucket-1", {
                "public/*": {"guest": ["get", "list"], "authenticated": ["get", "list", "write", "delete"]},
                "private/{entity_id}/*": {"entityidentity": ["get", "list", "write", "delete"]},
            }),
            _bucket("backups", "amplify-backups-bucket-2", {"admin/*": {"groupsADMINS": ["get", "write"]}}),
            _bucket("logs", "amplify-logs-bucket-3", {"10/*": {"authenticated": ["read"]}, "2/*": {"guest": ["get"]}}),
        ]
    ),
}  # fmt: skip

DATA = {
    "awsAppsyncApiId": "abcdefghijklmnopqrstuvwxyz",
    "awsAppsyncApiEndpoint": "https://abc.appsync-api.us-east-1.amazonaws.com/graphql",
    "awsAppsyncRegion": "us-east-1",
    "awsAppsyncAuthenticationType": "AMAZON_COGNITO_USER_POOLS",
    "awsAppsyncAdditionalAuthenticationTypes": "API_KEY,AWS_IAM",
    "awsAppsyncConflictResolutionMode": "",
    "awsAppsyncApiKey": "da2-fakeapikey00000000000000",
    "amplifyApiModelSchemaS3Uri": SCHEMA_URI,
}

CUSTOM = {
    "customOutputs": json.dumps(
        {
            "version": "1",
            "custom": {"apiUrl": "https://api.example.com", "3": "three", "flags": [1, 2.5, 1e21], "nested": {"b": None, "a": True}},
            "auth": {"groups": [{"OPS": {"precedence": 2}}]},
            "geo": {"aws_region": "us-east-1", "maps": {"items": {"map1": {"style": "VectorEsriStreets"}}, "default": "map1"}},
            "notifications": {"amazon_pinpoint_app_id": "pinpoint1", "channels": ["IN_APP_MESSAGING"], "aws_region": "us-east-1"},
        }
    )
}  # fmt: skip
PLATFORM = {"deploymentType": "branch", "region": "us-east-1"}
FUNCTIONS = {"definedFunctions": '["amplify-app-main-branch-fn1"]'}


def _entry(values: dict[str, str]) -> dict[str, Any]:
    return {"version": "1", "stackOutputs": list(values)}


def shape(name: str) -> dict[str, Any]:
    """A backend shape: ``metadata`` (template Metadata), ``outputs`` (name -> value), ``schema`` (or None)."""
    metadata: dict[str, Any] = {}
    outputs: dict[str, str] = {}
    schema = None

    def add(key: str, values: dict[str, str]) -> None:
        metadata[key] = _entry(values)
        outputs.update(values)

    if name == "auth_only":
        add("AWS::Amplify::Auth", AUTH_FULL)
    elif name == "auth_storage":
        add("AWS::Amplify::Auth", AUTH_MINIMAL)
        add("AWS::Amplify::Storage", STORAGE)
    elif name == "auth_data":
        add("AWS::Amplify::Auth", AUTH_MINIMAL)
        add("AWS::Amplify::GraphQL", DATA)
        schema = (FIXTURES / "relations_enums.graphql").read_text()
    elif name == "custom":
        add("AWS::Amplify::Auth", AUTH_FULL)
        add("AWS::Amplify::Custom", CUSTOM)
    elif name == "everything":
        add("AWS::Amplify::Platform", PLATFORM)
        add("AWS::Amplify::Auth", AUTH_FULL)
        add("AWS::Amplify::GraphQL", DATA)
        add("AWS::Amplify::Storage", STORAGE)
        add("AWS::Amplify::Function", FUNCTIONS)
        add("AWS::Amplify::Custom", CUSTOM)
        metadata["AWS::CDK::Something"] = {"note": "not a backend output entry"}
        schema = (FIXTURES / "relations_enums.graphql").read_text()
    else:
        raise ValueError(f"unknown shape {name!r}")
    return {"metadata": metadata, "outputs": outputs, "schema": schema}


def template(shape_: dict[str, Any] | None, with_metadata: bool = True, with_outputs: bool = True) -> str:
    """A CloudFormation template that moto can create and that carries the shape's Metadata and Outputs."""
    body: dict[str, Any] = {"Resources": {"Marker": {"Type": "AWS::SNS::Topic"}}}
    if shape_ is not None and with_metadata:
        body["Metadata"] = shape_["metadata"]
    if shape_ is not None and with_outputs:
        body["Outputs"] = {key: {"Value": value} for key, value in shape_["outputs"].items()}
    return json.dumps(body)


def create_stack(world: Any, stack_name: str, shape_: dict[str, Any] | None, **kwargs: bool) -> None:
    """Create the stack (and put the model schema in S3) in the world's default account."""
    if shape_ is not None and shape_["schema"] is not None:
        s3 = world.client("s3")
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=SCHEMA_BUCKET)
        s3.put_object(Bucket=SCHEMA_BUCKET, Key=SCHEMA_KEY, Body=shape_["schema"].encode())
    world.client("cloudformation").create_stack(
        StackName=stack_name,
        TemplateBody=template(shape_, **kwargs),
        Tags=[{"Key": "amplify:deployment-type", "Value": "branch"}],
    )


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
