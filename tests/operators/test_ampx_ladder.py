"""The ladder: real ``ampx pipeline-deploy`` of Gen 2 backends into the local world, through the operator.

Each rung under ``sample-app/ladder/`` (no resources; auth; auth + storage; auth + data; auth +
function; everything) is deployed once per module by :class:`AmplifyPipelineDeployOperator` with
every preflight check on, into the production account reached by assume-role. The rungs have no
dependencies of their own: their imports resolve from ``sample-app/node_modules`` (one install for
the whole ladder). For each rung the tests check that the stack settled, the branch is linked to it,
the resources exist in the services' own APIs, and that ``ampx generate outputs`` (the real CLI) and
the native engine write the same bytes, which are also what pipeline-deploy itself wrote.

Where a rung cannot be deployed, its test fails naming the resource types the world skipped or the
resource whose creation failed (``CREATE_FAILED`` events), so the gap is explicit.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from airflow_amplify.ampx.errors import AmpxCommandError
from airflow_amplify.ampx.project import amplify_branch_stack_name
from airflow_amplify.operators.ampx import AmplifyGenerateOutputsOperator, AmplifyPipelineDeployOperator
from airflow_amplify.testing.world.client import PRODUCTION_ACCOUNT_ID, WorldClient
from tests.conftest import DictTaskStateStore, StubTaskInstance, airflow_has_task_state_store
from tests.fakes.ampx import SAMPLE_APP, real_ampx_path, sample_app_ready

# the module's fixture deploys seven backends with the real CLI (about 2.5 minutes of CPU; far longer
# on a loaded machine): its first test gets the time for all of them
pytestmark = [pytest.mark.ampx, pytest.mark.timeout(1500)]

LADDER = SAMPLE_APP / "ladder"
RUNGS = ["none", "auth", "auth-storage", "auth-data", "auth-function", "everything"]
#: not a rung: a backend whose nested stack holds a resource the world fails to create
BROKEN = "broken"
#: the categories each rung's amplify_outputs.json holds besides "version"
CATEGORIES = {
    "none": set(),
    "auth": {"auth"},
    "auth-storage": {"auth", "storage"},
    "auth-data": {"auth", "data"},
    "auth-function": {"auth"},
    "everything": {"auth", "data", "storage"},
}


def _context(task_id: str) -> dict[str, Any]:
    ti = StubTaskInstance("ladder", task_id, "manual__1")
    context: dict[str, Any] = {"ti": ti, "task_instance": ti, "run_id": "manual__1"}
    if airflow_has_task_state_store():
        context["task_state_store"] = DictTaskStateStore()
    return context


def _failures(world: WorldClient, stack_name: str) -> list[str]:
    """What blocked a rung: CREATE_FAILED events of its stacks, and resource types the world skipped."""
    from airflow_amplify.testing.world import cfn_resources

    cfn = world.client("cloudformation", PRODUCTION_ACCOUNT_ID)
    reasons = []
    for stack in cfn.describe_stacks()["Stacks"]:
        if not stack["StackName"].startswith(stack_name):
            continue
        for event in cfn.describe_stack_events(StackName=stack["StackId"])["StackEvents"]:
            if (
                event["ResourceStatus"] == "CREATE_FAILED"
                and event["ResourceType"] != "AWS::CloudFormation::Stack"
            ):
                reasons.append(
                    f"{event['ResourceType']} {event['LogicalResourceId']}: {event.get('ResourceStatusReason')}"
                )
    reasons += [f"{t}: not supported by the world" for t in sorted(cfn_resources.skipped_types(stack_name))]
    return reasons


def _deploy_rung(world: WorldClient, ampx: Path, rung: str, app: dict[str, Any], out: Path) -> dict[str, Any]:
    project = LADDER / rung
    record: dict[str, Any] = {"rung": rung, "app_id": app["app_id"]}
    deploy = AmplifyPipelineDeployOperator(
        task_id=f"deploy_{rung}",
        project_dir=str(project),
        app_id=app["app_id"],
        branch_name="main",
        aws_conn_id="aws_production",
        install_dependencies=False,  # the ladder shares sample-app/node_modules
        outputs_out_dir=str(out / "deploy"),
        ampx_path=str(ampx),
        env={"AMPLIFY_BACKEND_NOTICES_ENDPOINT": f"{world.url}/_world/notices.json"},
        timeout=900,
    )
    start = time.monotonic()
    try:
        record["deploy"] = deploy.execute(_context(f"deploy_{rung}"))
    except AmpxCommandError as err:
        record["error"] = err
        return record
    finally:
        record["seconds"] = round(time.monotonic() - start, 1)
    stack_name = record["deploy"]["stack_name"]
    for engine in ("ampx", "native"):
        result = AmplifyGenerateOutputsOperator(
            task_id=f"outputs_{rung}_{engine}",
            out_dir=str(out / engine),
            stack_name=stack_name,
            aws_conn_id="aws_production",
            ampx_path=str(ampx),
            engine=engine,
            working_dir=str(project),
        ).execute(_context(f"outputs_{rung}_{engine}"))
        record[engine] = Path(result["outputs_file"]).read_bytes()
        record[f"{engine}_engine"] = result["engine"]
    return record


@pytest.fixture(scope="module")
def ladder(amplify_world_server, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Deploy every rung once (two at a time), then write its outputs with both engines."""
    ampx, reason = real_ampx_path()
    if ampx is None:
        pytest.skip(f"real ampx unavailable: {reason}")
    ready, reason = sample_app_ready()
    if not ready:
        pytest.skip(reason)
    world = WorldClient(amplify_world_server.url)
    world.reset()
    world.bootstrap_cdk(PRODUCTION_ACCOUNT_ID)
    apps = {
        rung: world.seed_app(f"ladder-{rung}", ("main",), account_id=PRODUCTION_ACCOUNT_ID, repository=None)
        for rung in [*RUNGS, BROKEN]
    }
    base = tmp_path_factory.mktemp("ladder")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_AWS_PRODUCTION", json.dumps(world.aws_connection(PRODUCTION_ACCOUNT_ID)))
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                rung: pool.submit(_deploy_rung, world, ampx, rung, apps[rung], base / rung)
                for rung in [*RUNGS, BROKEN]
            }
            records = {rung: future.result() for rung, future in futures.items()}
    for record in records.values():
        if "error" in record:
            record["blocked_by"] = _failures(world, amplify_branch_stack_name(record["app_id"], "main"))
    return records


@pytest.fixture(scope="module")
def world(amplify_world_server, ladder) -> WorldClient:
    return WorldClient(amplify_world_server.url)


def _deployed(ladder: dict[str, dict[str, Any]], rung: str) -> dict[str, Any]:
    record = ladder[rung]
    if "error" in record:
        pytest.fail(
            f"rung {rung!r} did not deploy: {record['error']}; blocked by: "
            + ("; ".join(record["blocked_by"]) or "nothing the world recorded")
        )
    return record


@pytest.mark.parametrize("rung", RUNGS)
def test_rung_deploys_links_the_branch_and_both_engines_write_the_same_bytes(ladder, world, rung):
    record = _deployed(ladder, rung)
    deploy = record["deploy"]
    assert deploy["stack_status"] == "CREATE_COMPLETE"
    branch = world.client("amplify", PRODUCTION_ACCOUNT_ID).get_branch(
        appId=record["app_id"], branchName="main"
    )
    assert branch["branch"]["backend"]["stackArn"] == deploy["stack_arn"]
    # the CLI's phases as the operator reports them
    phases = [p["phase"] for p in deploy["phases"]]
    assert "Backend synthesized" in phases and "Deployment completed" in phases, phases
    # generate outputs (real CLI) and the native engine: the same bytes, and what pipeline-deploy wrote
    assert record["ampx_engine"] == "ampx" and record["native_engine"] == "native"
    assert record["ampx"] == record["native"]
    assert record["ampx"] == Path(deploy["outputs_file"]).read_bytes()
    outputs = json.loads(record["ampx"])
    assert set(outputs) - {"version"} == CATEGORIES[rung]
    assert outputs["version"] == "1.5"


@pytest.mark.parametrize("rung", [r for r in RUNGS if "auth" in CATEGORIES[r]])
def test_auth_outputs_name_the_real_user_pool_client_and_identity_pool(ladder, world, rung):
    auth = json.loads(_deployed(ladder, rung)["ampx"])["auth"]
    idp = world.client("cognito-idp", PRODUCTION_ACCOUNT_ID)
    pool = idp.describe_user_pool(UserPoolId=auth["user_pool_id"])["UserPool"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == auth["password_policy"]["min_length"]
    client = idp.describe_user_pool_client(
        UserPoolId=auth["user_pool_id"], ClientId=auth["user_pool_client_id"]
    )
    assert client["UserPoolClient"]["ClientId"] == auth["user_pool_client_id"]
    identity = world.client("cognito-identity", PRODUCTION_ACCOUNT_ID)
    assert identity.describe_identity_pool(IdentityPoolId=auth["identity_pool_id"])[
        "AllowUnauthenticatedIdentities"
    ]
    assert auth["username_attributes"] == ["email"]


@pytest.mark.parametrize("rung", ["auth-storage", "everything"])
def test_storage_bucket_exists_with_its_policy(ladder, world, rung):
    storage = json.loads(_deployed(ladder, rung)["ampx"])["storage"]
    s3 = world.client("s3", PRODUCTION_ACCOUNT_ID)
    s3.head_bucket(Bucket=storage["bucket_name"])
    assert "Statement" in json.loads(s3.get_bucket_policy(Bucket=storage["bucket_name"])["Policy"])
    assert storage["buckets"][0]["paths"]["public/*"]["guest"] == ["get", "list"]


@pytest.mark.parametrize("rung", ["auth-data", "everything"])
def test_data_api_and_model_table_exist(ladder, world, rung):
    data = json.loads(_deployed(ladder, rung)["ampx"])["data"]
    assert data["default_authorization_type"] == "AMAZON_COGNITO_USER_POOLS"
    assert set(data["model_introspection"]["models"]) == {"Todo"}
    apis = world.client("appsync", PRODUCTION_ACCOUNT_ID).list_graphql_apis()["graphqlApis"]
    assert any(api["authenticationType"] == "AMAZON_COGNITO_USER_POOLS" for api in apis)
    tables = world.client("dynamodb", PRODUCTION_ACCOUNT_ID).list_tables()["TableNames"]
    assert any(t.startswith("Todo-") for t in tables), tables


@pytest.mark.parametrize("rung", ["auth-function", "everything"])
def test_function_is_a_lambda_in_the_account(ladder, world, rung):
    record = _deployed(ladder, rung)
    names = [
        f["FunctionName"] for f in world.client("lambda", PRODUCTION_ACCOUNT_ID).list_functions()["Functions"]
    ]
    stack = record["deploy"]["stack_name"]
    assert any(stack[:20] in n and "sayhello" in n for n in names), names


def test_a_backend_the_world_cannot_deploy_fails_naming_the_resource(ladder, world):
    record = ladder[BROKEN]
    assert isinstance(record.get("error"), AmpxCommandError), record
    # what the operator raises is the CLI's own error; the stack's events name the blocking resource
    assert record["blocked_by"] and record["blocked_by"][0].startswith(
        "Custom::AmplifyDynamoDBTable Broken: KeyError"
    )
    stack_name = amplify_branch_stack_name(record["app_id"], "main")
    stack = world.client("cloudformation", PRODUCTION_ACCOUNT_ID).describe_stacks(StackName=stack_name)
    assert stack["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
