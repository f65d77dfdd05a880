"""A stand-in ``ampx`` that "deploys" a branch backend into the local world: for demos and tests.

**This is not @aws-amplify/backend-cli.** A real ``ampx pipeline-deploy`` synthesizes the app's CDK
backend and deploys it to a real AWS account; the local world (moto) cannot run CDK assets. This
stand-in does what a deploy leaves behind, with boto3, using the credentials, region and endpoint
that :class:`~airflow_amplify.hooks.ampx.AmpxHook` puts into the CLI's environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``,
``AWS_ENDPOINT_URL``):

``pipeline-deploy --branch B --app-id A [--outputs-out-dir D] [--outputs-version V] [--outputs-format json]``
    1. checks the Amplify app and branch exist in the target account (GetBranch), as the real
       stack's custom resource needs them;
    2. creates or updates the branch's root stack (name from
       :func:`~airflow_amplify.ampx.project.amplify_branch_stack_name`) with a template whose
       ``Metadata`` has ``AWS::Amplify::Platform`` and ``AWS::Amplify::Auth`` entries and matching
       ``Outputs``, tagged ``created-by=amplify``, ``amplify:app-id``, ``amplify:branch-name``,
       ``amplify:deployment-type=branch``; the deployed commit (``git rev-parse HEAD`` of the working
       directory, if any) is an extra output ``deployedCommit`` and the stack's one resource, the
       SSM parameter ``/amplify-standin/<app>/<branch>/deployed-commit``;
    3. links the branch to the stack (UpdateBranch ``backend.stackArn``), as the custom resource does;
    4. writes ``amplify_outputs.json`` into ``--outputs-out-dir`` (json format only) from the stack,
       through :func:`airflow_amplify.outputs.mapping.generate_outputs`;
    5. prints ampx-like progress, and on failure an ampx-like error block, exit status 1.

``generate outputs (--app-id A --branch B | --stack S) [--out-dir D] [--outputs-version V]``
    writes ``amplify_outputs.json`` from the stack (json format only).

``STANDIN_AMPX_DEPLOY_SECONDS`` (environment) makes a deploy take that long (default 0).

Use :func:`write_world_ampx` to put it on disk as an executable and pass its path as ``ampx_path``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

# only modules that import no Airflow: a Celery worker of Airflow 3 hands a task's children
# AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=airflow-db-not-allowed:///, and importing airflow there fails
from airflow_amplify.ampx.project import amplify_branch_stack_name
from airflow_amplify.outputs.mapping import generate_outputs

BANNER = (
    "[stand-in ampx] airflow_amplify.testing.ampx_world, NOT @aws-amplify/backend-cli: it deploys a "
    "placeholder branch stack into the local world with boto3."
)
AUTH_OUTPUTS = (
    "authRegion",
    "userPoolId",
    "webClientId",
    "identityPoolId",
    "allowUnauthenticatedIdentities",
    "signupAttributes",
    "usernameAttributes",
    "verificationMechanisms",
    "passwordPolicyMinLength",
    "passwordPolicyRequirements",
    "mfaConfiguration",
    "mfaTypes",
)


class StandInError(Exception):
    """An error reported the way ampx reports it: ``[Name] message`` and a resolution."""

    def __init__(self, name: str, message: str, resolution: str = ""):
        super().__init__(message)
        self.name = name
        self.message = message
        self.resolution = resolution


def branch_template(app_id: str, branch: str, region: str, commit: str | None) -> dict[str, Any]:
    """The stand-in's root stack template: Amplify metadata, matching outputs, one harmless resource.

    :param app_id: the Amplify app id.
    :param branch: the branch name.
    :param region: the target region (part of the made-up ids).
    :param commit: the deployed commit, kept as the ``deployedCommit`` output.
    """
    digest = hashlib.sha256(f"{app_id}/{branch}".encode()).hexdigest()
    values = {
        "deploymentType": "branch",
        "region": region,
        "authRegion": region,
        "userPoolId": f"{region}_{digest[:9]}",
        "webClientId": digest[10:36],
        "identityPoolId": f"{region}:{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}",
        "allowUnauthenticatedIdentities": "true",
        "signupAttributes": json.dumps(["email"]),
        "usernameAttributes": json.dumps(["email"]),
        "verificationMechanisms": json.dumps(["email"]),
        "passwordPolicyMinLength": "8",
        "passwordPolicyRequirements": json.dumps(
            ["REQUIRES_NUMBERS", "REQUIRES_LOWERCASE", "REQUIRES_UPPERCASE", "REQUIRES_SYMBOLS"]
        ),
        "mfaConfiguration": "OFF",
        "mfaTypes": json.dumps([]),
    }
    outputs = {key: {"Value": value} for key, value in values.items()}
    outputs["deployedCommit"] = {"Value": commit or "unknown"}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Amplify Gen 2 branch backend of {app_id}/{branch} (stand-in ampx)",
        "Metadata": {
            "AWS::Amplify::Platform": {"version": "1", "stackOutputs": ["deploymentType", "region"]},
            "AWS::Amplify::Auth": {"version": "1", "stackOutputs": list(AUTH_OUTPUTS)},
        },
        "Resources": {
            "DeployedCommitParameter": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": f"/amplify-standin/{app_id}/{branch}/deployed-commit",
                    "Type": "String",
                    "Value": commit or "unknown",
                },
            }
        },
        "Outputs": outputs,
    }


def _session():
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise StandInError("InvalidCredentialError", "No AWS region in AWS_REGION.", "Set AWS_REGION.")
    return boto3.session.Session(region_name=region)


def _client(session, service: str):
    # boto3 reads AWS_ENDPOINT_URL itself; passing it keeps older boto3 versions on the world too.
    return session.client(service, endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


def _commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def write_outputs(cfn, stack_name: str, out_dir: str, outputs_version: str) -> Path:
    """Write ``amplify_outputs.json`` for a deployed stack, as ``ampx generate outputs`` does."""
    metadata = cfn.get_template_summary(StackName=stack_name).get("Metadata")
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    text = generate_outputs(metadata, stack, outputs_version)
    path = Path(out_dir, "amplify_outputs.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def pipeline_deploy(args: argparse.Namespace) -> None:
    """Create or update the branch stack, link the branch to it, write the outputs file."""
    session = _session()
    region = session.region_name
    started = time.monotonic()
    amplify = _client(session, "amplify")
    try:
        amplify.get_branch(appId=args.app_id, branchName=args.branch)
    except ClientError as err:
        raise StandInError(
            "CloudFormationDeploymentError",
            f"The CloudFormation deployment failed: the branch linker could not find branch {args.branch} "
            f"of app {args.app_id} ({err.response['Error'].get('Code')}).",
            "Create the Amplify app and branch in the target account and region first.",
        ) from None
    stack_name = amplify_branch_stack_name(args.app_id, args.branch)
    commit = _commit()
    template = json.dumps(branch_template(args.app_id, args.branch, region, commit))
    tags = [
        {"Key": "created-by", "Value": "amplify"},
        {"Key": "amplify:app-id", "Value": args.app_id},
        {"Key": "amplify:branch-name", "Value": args.branch},
        {"Key": "amplify:deployment-type", "Value": "branch"},
    ]
    cfn = _client(session, "cloudformation")
    print(f"{stack_name} | synthesizing the backend of {args.app_id}/{args.branch}", flush=True)
    try:
        existing = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError:
        existing = None
    if existing and existing["StackStatus"].endswith("_IN_PROGRESS"):
        raise StandInError(
            "CloudFormationDeploymentError",
            f"The CloudFormation deployment failed due to: Stack:{existing['StackId']} is in "
            f"{existing['StackStatus']} state and can not be updated.",
            "Wait for the stack to settle, then deploy again.",
        )
    delay = float(os.environ.get("STANDIN_AMPX_DEPLOY_SECONDS", "0") or 0)
    if existing is None or existing["StackStatus"] == "REVIEW_IN_PROGRESS":
        print(f"{stack_name} | 0/2 | CREATE_IN_PROGRESS | AWS::CloudFormation::Stack", flush=True)
        time.sleep(delay)
        arn = cfn.create_stack(
            StackName=stack_name, TemplateBody=template, Tags=tags, Capabilities=["CAPABILITY_IAM"]
        )["StackId"]
        verb = "CREATE"
    else:
        print(f"{stack_name} | 0/2 | UPDATE_IN_PROGRESS | AWS::CloudFormation::Stack", flush=True)
        time.sleep(delay)
        arn = cfn.update_stack(
            StackName=stack_name, TemplateBody=template, Tags=tags, Capabilities=["CAPABILITY_IAM"]
        )["StackId"]
        verb = "UPDATE"
    status = cfn.describe_stacks(StackName=arn)["Stacks"][0]["StackStatus"]
    print(f"{stack_name} | 2/2 | {status} | AWS::CloudFormation::Stack", flush=True)
    if status != f"{verb}_COMPLETE":
        raise StandInError("CloudFormationDeploymentError", f"Stack {stack_name} ended {status}.")
    # What the stack's branch-linker custom resource does in a real deploy.
    amplify.update_branch(appId=args.app_id, branchName=args.branch, backend={"stackArn": arn})
    print(f"Linked branch {args.branch} of app {args.app_id} to {arn}", flush=True)
    if args.outputs_out_dir and (args.outputs_format or "json") == "json":
        path = write_outputs(cfn, stack_name, args.outputs_out_dir, args.outputs_version)
        print(f"File written: {path}", flush=True)
    print(f"\n✔ Deployment completed in {time.monotonic() - started:.2f} seconds (stand-in ampx)", flush=True)


def generate(args: argparse.Namespace) -> None:
    """``generate outputs``: the outputs file of a deployed stack (json only)."""
    if args.format not in (None, "json"):
        raise StandInError("InvalidCommandInputError", f"The stand-in writes json only, not {args.format}.")
    if args.stack:
        stack_name = args.stack
    elif args.app_id and args.branch:
        stack_name = amplify_branch_stack_name(args.app_id, args.branch)
    else:
        raise StandInError("InvalidCommandInputError", "Give --stack, or --app-id and --branch.")
    cfn = _client(_session(), "cloudformation")
    path = write_outputs(cfn, stack_name, args.out_dir or ".", args.outputs_version)
    print(f"File written: {path}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ampx", description=BANNER)
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser("pipeline-deploy")
    deploy.add_argument("--branch", required=True)
    deploy.add_argument("--app-id", required=True)
    deploy.add_argument("--outputs-out-dir")
    deploy.add_argument("--outputs-version", default="1.4")
    deploy.add_argument("--outputs-format")
    deploy.add_argument("--debug", action="store_true")
    gen = commands.add_parser("generate")
    gen.add_argument("what", choices=["outputs"])
    gen.add_argument("--app-id")
    gen.add_argument("--branch")
    gen.add_argument("--stack")
    gen.add_argument("--out-dir")
    gen.add_argument("--format")
    gen.add_argument("--outputs-version", default="1.4")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = _parser().parse_args(argv)
    print(BANNER, flush=True)
    if os.environ.get("CI") in (None, "", "false"):
        print("[RunningPipelineDeployNotInCiError] It looks like this command is not run in CI.", flush=True)
        return 1
    try:
        if args.command == "pipeline-deploy":
            pipeline_deploy(args)
        else:
            generate(args)
    except StandInError as err:
        print(f"[{err.name}] {err.message}", flush=True)
        if err.resolution:
            print(f"Resolution: {err.resolution}", flush=True)
        return 1
    return 0


def write_world_ampx(directory: str | os.PathLike[str], name: str = "ampx") -> Path:
    """Write the stand-in as an executable ``ampx`` in ``directory`` (run by this Python) and return its path."""
    path = Path(directory, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"#!{sys.executable}\n# {BANNER}\n"
        "import sys\nfrom airflow_amplify.testing.ampx_world import main\nsys.exit(main())\n"
    )
    path.chmod(0o755)
    return path


if __name__ == "__main__":
    sys.exit(main())
