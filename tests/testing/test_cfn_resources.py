"""The world's CloudFormation for Gen 2 stacks, through a real boto3 client (no ampx, no Node).

What real ``ampx pipeline-deploy`` relies on (tests/operators/test_ampx_ladder.py runs it): TemplateURLs
that point at the world itself, nested stacks' outputs, the Cognito and AppSync types moto skips,
custom resources answered in the world, and failures that roll a stack back naming the resource.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from airflow_amplify.testing.world import cfn_resources
from airflow_amplify.testing.world.client import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID

BUCKET = f"cdk-hnb659fds-assets-{STAGING_ACCOUNT_ID}-us-east-1"


def _put_template(world, key: str, template: dict) -> str:
    world.client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(template).encode())
    return f"{world.url}/{BUCKET}/{key}"  # what the CDK toolkit builds from the S3 endpoint


def _stack(world, name: str) -> dict:
    return world.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]


def _outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


AUTH_TEMPLATE = {
    "Resources": {
        "Pool": {
            "Type": "AWS::Cognito::UserPool",
            "Properties": {
                "UsernameAttributes": ["email"],
                "Policies": {"PasswordPolicy": {"MinimumLength": 10, "RequireNumbers": True}},
            },
        },
        "Client": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {"UserPoolId": {"Ref": "Pool"}, "GenerateSecret": False},
        },
        "Group": {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"UserPoolId": {"Ref": "Pool"}, "GroupName": "admins", "Precedence": 1},
        },
        "Identity": {
            "Type": "AWS::Cognito::IdentityPool",
            "Properties": {
                "AllowUnauthenticatedIdentities": True,
                "CognitoIdentityProviders": [
                    {"ClientId": {"Ref": "Client"}, "ProviderName": {"Fn::GetAtt": ["Pool", "ProviderName"]}}
                ],
            },
        },
        "Roles": {
            "Type": "AWS::Cognito::IdentityPoolRoleAttachment",
            "Properties": {
                "IdentityPoolId": {"Ref": "Identity"},
                "Roles": {"authenticated": "arn:aws:iam::123456789012:role/auth"},
            },
        },
    },
    "Outputs": {
        "userPoolId": {"Value": {"Ref": "Pool"}},
        "webClientId": {"Value": {"Ref": "Client"}},
        "identityPoolId": {"Value": {"Ref": "Identity"}},
        "poolArn": {"Value": {"Fn::GetAtt": ["Pool", "Arn"]}},
    },
}


def test_nested_stack_from_a_world_template_url_creates_real_cognito_resources(amplify_world):
    amplify_world.bootstrap_cdk()
    nested_url = _put_template(amplify_world, "auth.json", AUTH_TEMPLATE)
    root = {
        "Resources": {
            "auth": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": nested_url}}
        },
        "Outputs": {
            "userPoolId": {"Value": {"Fn::GetAtt": ["auth", "Outputs.userPoolId"]}},
            "identityPoolId": {"Value": {"Fn::GetAtt": ["auth", "Outputs.identityPoolId"]}},
        },
    }
    cfn = amplify_world.client("cloudformation")
    cfn.create_stack(StackName="root", TemplateURL=_put_template(amplify_world, "root.json", root))
    stack = _stack(amplify_world, "root")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = _outputs(stack)
    pool = amplify_world.client("cognito-idp").describe_user_pool(UserPoolId=outputs["userPoolId"])[
        "UserPool"
    ]
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 10
    groups = amplify_world.client("cognito-idp").list_groups(UserPoolId=outputs["userPoolId"])["Groups"]
    assert [g["GroupName"] for g in groups] == ["admins"]
    identity = amplify_world.client("cognito-identity").describe_identity_pool(
        IdentityPoolId=outputs["identityPoolId"]
    )
    assert identity["AllowUnauthenticatedIdentities"] is True
    assert identity["CognitoIdentityProviders"][0]["ProviderName"] == (
        f"cognito-idp.us-east-1.amazonaws.com/{outputs['userPoolId']}"
    )
    assert not cfn_resources.skipped_types("root")


def test_appsync_api_schema_and_key_are_real(amplify_world):
    template = {
        "Resources": {
            "Api": {
                "Type": "AWS::AppSync::GraphQLApi",
                "Properties": {"Name": "todo", "AuthenticationType": "API_KEY"},
            },
            "Schema": {
                "Type": "AWS::AppSync::GraphQLSchema",
                "Properties": {
                    "ApiId": {"Fn::GetAtt": ["Api", "ApiId"]},
                    "Definition": "type Query { a: String }",
                },
            },
            "Key": {
                "Type": "AWS::AppSync::ApiKey",
                "Properties": {"ApiId": {"Fn::GetAtt": ["Api", "ApiId"]}},
            },
            "Source": {
                "Type": "AWS::AppSync::DataSource",
                "Properties": {"ApiId": {"Fn::GetAtt": ["Api", "ApiId"]}, "Name": "NONE_DS", "Type": "NONE"},
            },
            "Fn": {
                "Type": "AWS::AppSync::FunctionConfiguration",
                "Properties": {
                    "ApiId": {"Fn::GetAtt": ["Api", "ApiId"]},
                    "Name": "f",
                    "DataSourceName": {"Fn::GetAtt": ["Source", "Name"]},
                },
            },
        },
        "Outputs": {
            "url": {"Value": {"Fn::GetAtt": ["Api", "GraphQLUrl"]}},
            "apiId": {"Value": {"Fn::GetAtt": ["Api", "ApiId"]}},
            "key": {"Value": {"Fn::GetAtt": ["Key", "ApiKey"]}},
            "source": {"Value": {"Fn::GetAtt": ["Source", "DataSourceArn"]}},
            "function": {"Value": {"Fn::GetAtt": ["Fn", "FunctionId"]}},
        },
    }
    amplify_world.client("cloudformation").create_stack(StackName="api", TemplateBody=json.dumps(template))
    outputs = _outputs(_stack(amplify_world, "api"))
    appsync = amplify_world.client("appsync")
    assert appsync.get_graphql_api(apiId=outputs["apiId"])["graphqlApi"]["name"] == "todo"
    assert [k["id"] for k in appsync.list_api_keys(apiId=outputs["apiId"])["apiKeys"]] == [outputs["key"]]
    assert outputs["url"].startswith("https://") and outputs["url"].endswith(
        ".appsync-api.us-east-1.amazonaws.com/graphql"
    )
    assert outputs["source"].endswith(f"apis/{outputs['apiId']}/datasources/NONE_DS")
    assert len(outputs["function"]) == 26


def test_branch_linker_custom_resource_links_the_branch_in_the_stacks_account(amplify_world, production_app):
    app_id = production_app["app_id"]
    template = {
        "Resources": {
            "Linker": {
                "Type": "Custom::AmplifyBranchLinkerResource",
                "Properties": {
                    "ServiceToken": "arn:aws:lambda:us-east-1:1:function:x",
                    "appId": app_id,
                    "branchName": "main",
                },
            },
            "Other": {
                "Type": "Custom::Anything",
                "Properties": {"ServiceToken": "arn:aws:lambda:us-east-1:1:function:y"},
            },
        }
    }
    cfn = amplify_world.client("cloudformation", PRODUCTION_ACCOUNT_ID)
    stack_id = cfn.create_stack(
        StackName=f"amplify-{app_id}-main-branch-0123456789", TemplateBody=json.dumps(template)
    )["StackId"]
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    branch = amplify_world.client("amplify", PRODUCTION_ACCOUNT_ID).get_branch(
        appId=app_id, branchName="main"
    )
    assert branch["branch"]["backend"]["stackArn"] == stack_id
    answered = {(r["operation"], r["emulated"]) for r in amplify_world.requests(service="custom-resource")}
    assert answered == {("Custom::AmplifyBranchLinkerResource", True), ("Custom::Anything", False)}
    assert amplify_world.requests(
        operation="UpdateBranch", account_id=PRODUCTION_ACCOUNT_ID, client="custom-resource"
    )
    cfn.delete_stack(StackName=stack_id)
    branch = amplify_world.client("amplify", PRODUCTION_ACCOUNT_ID).get_branch(
        appId=app_id, branchName="main"
    )
    assert "backend" not in branch["branch"] or not branch["branch"]["backend"].get("stackArn")


def test_table_manager_and_bucket_deployment_do_what_their_lambdas_do(amplify_world):
    amplify_world.bootstrap_cdk()
    s3 = amplify_world.client("s3")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("model-schema.json", '{"url": "<<marker:0xbaba:0>>"}')
    s3.put_object(Bucket=BUCKET, Key="asset.zip", Body=archive.getvalue())
    s3.create_bucket(Bucket="codegen")
    template = {
        "Resources": {
            "Table": {
                "Type": "Custom::AmplifyDynamoDBTable",
                "Properties": {
                    "ServiceToken": "arn:aws:lambda:us-east-1:1:function:t",
                    "tableName": "Todo-abc-NONE",
                    "attributeDefinitions": [{"attributeName": "id", "attributeType": "S"}],
                    "keySchema": [{"attributeName": "id", "keyType": "HASH"}],
                    "billingMode": "PAY_PER_REQUEST",
                    "streamSpecification": {"streamViewType": "NEW_AND_OLD_IMAGES"},
                },
            },
            "Deploy": {
                "Type": "Custom::CDKBucketDeployment",
                "Properties": {
                    "ServiceToken": "arn:aws:lambda:us-east-1:1:function:d",
                    "SourceBucketNames": [BUCKET],
                    "SourceObjectKeys": ["asset.zip"],
                    "SourceMarkers": [{"<<marker:0xbaba:0>>": "https://example.com"}],
                    "DestinationBucketName": "codegen",
                    "DestinationBucketKeyPrefix": "schemas",
                },
            },
        },
        "Outputs": {"stream": {"Value": {"Fn::GetAtt": ["Table", "TableStreamArn"]}}},
    }
    amplify_world.client("cloudformation").create_stack(StackName="data", TemplateBody=json.dumps(template))
    table = amplify_world.client("dynamodb").describe_table(TableName="Todo-abc-NONE")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert _outputs(_stack(amplify_world, "data"))["stream"].startswith(table["TableArn"] + "/stream/")
    body = s3.get_object(Bucket="codegen", Key="schemas/model-schema.json")["Body"].read()
    assert json.loads(body) == {"url": "https://example.com"}


def test_a_resource_that_fails_rolls_its_stack_and_the_parent_back_naming_it(amplify_world):
    amplify_world.bootstrap_cdk()
    failing = {
        "Resources": {"Table": {"Type": "Custom::AmplifyDynamoDBTable", "Properties": {"ServiceToken": "x"}}}
    }
    root = {
        "Resources": {
            "data": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": _put_template(amplify_world, "failing.json", failing)},
            }
        }
    }
    cfn = amplify_world.client("cloudformation")
    cfn.create_stack(StackName="broken", TemplateBody=json.dumps(root))  # accepted, as AWS accepts it
    assert _stack(amplify_world, "broken")["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="broken")["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed[0]["LogicalResourceId"] == "data"
    assert "Custom::AmplifyDynamoDBTable Table: KeyError" in failed[0]["ResourceStatusReason"]
    nested = [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"].startswith("broken-data")]
    assert [s["StackStatus"] for s in nested] == ["ROLLBACK_COMPLETE"]


def test_types_the_world_cannot_create_are_named(amplify_world):
    template = {"Resources": {"Cdn": {"Type": "AWS::NotAService::Thing", "Properties": {}}}}
    with pytest.warns(UserWarning, match="AWS::NotAService::Thing but it's not supported"):
        amplify_world.client("cloudformation").create_stack(
            StackName="unknown-types", TemplateBody=json.dumps(template)
        )
    assert cfn_resources.skipped_types("unknown-types") == {"AWS::NotAService::Thing"}


@pytest.mark.parametrize(
    ("resource_type", "limit"),
    [("AWS::StepFunctions::StateMachine", 80), ("AWS::S3::Bucket", 63), ("AWS::Lambda::Function", 64)],
)
def test_generated_names_fit_the_service_limit(resource_type, limit):
    from moto.cloudformation import parsing

    cfn_resources.install()
    name = parsing.generate_resource_name(
        resource_type,
        "amplify-d1234567890abc-main-branch-0123456789-data7552DF31-ABCDEFGHIJKL",
        "AmplifyTableWaiterStateMachine060600BC" * 2,
    )
    assert len(name) <= limit
    assert name.startswith("amplify-d1234567890")
    if resource_type == "AWS::S3::Bucket":
        assert name == name.lower()


def test_notices_endpoint_has_no_notices(amplify_world):
    import urllib.request

    with urllib.request.urlopen(f"{amplify_world.url}/_world/notices.json") as response:
        assert json.loads(response.read()) == {"notices": []}
