"""Bad-input table: every operator and sensor refuses a wrong value with a message that names the
parameter, the value and what would be valid, before anything changes in AWS.

Each row runs the task's real ``execute`` against the world (apps seeded in the staging and the
production account, connections ``aws_staging`` and ``aws_production``). The world's request log
before and after shows no mutating call (anything but Get*/List*/Describe*/Head*, GetCallerIdentity
and AssumeRole), and jobs, branches, webhooks and stacks are as they were.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_amplify.operators.amplify import AmplifyStartJobOperator, AmplifyWebhookBuildOperator
from airflow_amplify.operators.ampx import AmplifyGenerateOutputsOperator, AmplifyPipelineDeployOperator
from airflow_amplify.operators.app import AmplifyAppSetupOperator
from airflow_amplify.operators.branch import AmplifyBranchSetupOperator
from airflow_amplify.operators.deployment import AmplifyManualDeployOperator
from airflow_amplify.operators.events import AmplifyEventsSetupOperator
from airflow_amplify.operators.preview import AmplifyPreviewBranchOperator, AmplifyPreviewTeardownOperator
from airflow_amplify.operators.secrets import AmplifyBackendSecretsOperator
from airflow_amplify.sensors.amplify import AmplifyJobSensor
from airflow_amplify.sensors.cloudformation import AmplifyBackendStackSensor

from .report import record

READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Head")
READ_ONLY_OPERATIONS = {"GetCallerIdentity", "AssumeRole"}

SJ, WH, PD, GO = (
    AmplifyStartJobOperator,
    AmplifyWebhookBuildOperator,
    AmplifyPipelineDeployOperator,
    AmplifyGenerateOutputsOperator,
)
BS, MD, JS, SS = (
    AmplifyBranchSetupOperator,
    AmplifyManualDeployOperator,
    AmplifyJobSensor,
    AmplifyBackendStackSensor,
)
BK, AP = AmplifyBackendSecretsOperator, AmplifyAppSetupOperator
PV, PT = AmplifyPreviewBranchOperator, AmplifyPreviewTeardownOperator


def app_only(**kw):
    return lambda w: {"app_id": w.staging["app_id"], "aws_conn_id": "aws_staging", **kw}


@dataclass
class Case:
    """One row: a task class, its keyword arguments, and what its error must say.

    ``kwargs`` and ``expect`` are functions of the world (``w.staging``, ``w.production``, ``w.tmp``)
    so rows can name seeded app ids and files.
    """

    id: str
    cls: type
    kwargs: Callable[[Any], dict[str, Any]]
    expect: Callable[[Any], list[str]]
    category: str = ""
    marks: list = field(default_factory=list)
    #: Secrets (functions of the world, like ``expect``) the message must not contain.
    forbidden: Callable[[Any], list[str]] = lambda w: []


def staging(**kw):
    return lambda w: {
        "app_id": w.staging["app_id"],
        "branch_name": "main",
        "aws_conn_id": "aws_staging",
        **kw,
    }


def fixed(*fragments: str):
    return lambda w: list(fragments)


def _project(w) -> str:
    """A minimal Amplify Gen 2 project directory (backend entry and lock file)."""
    root = w.tmp / "project"
    (root / "amplify").mkdir(parents=True, exist_ok=True)
    (root / "amplify" / "backend.ts").write_text("export {};\n")
    (root / "package-lock.json").write_text("{}\n")
    return str(root)


def _nested_build_dir(w) -> str:
    root = w.tmp / "build"
    (root / "dist").mkdir(parents=True, exist_ok=True)
    (root / "dist" / "index.html").write_text("<html></html>")
    return str(root)


def _not_a_zip(w) -> str:
    path = w.tmp / "site.zip"
    path.write_text("this is not a zip")
    return str(path)


def _empty_zip(w) -> str:
    path = w.tmp / "empty.zip"
    with zipfile.ZipFile(path, "w"):
        pass
    return str(path)


def _below_a_file(w) -> str:
    """An output directory that cannot be created: a file has the name of its parent."""
    path = w.tmp / "a-file"
    path.write_text("a file")
    return str(path / "out")


def _future(w) -> str:
    import pendulum

    return pendulum.now("UTC").add(days=1).isoformat()


def _webhook(w, **kw) -> dict[str, Any]:
    return {"aws_conn_id": "aws_staging", **kw}


def _token(w) -> str:
    return w.staging["webhooks"]["main"]["url"].split("&token=")[1]


def _a_file(w) -> str:
    path = w.tmp / "outputs-file"
    path.write_text("a file, not a directory")
    return str(path)


def _deploy_with(**kw):
    """A pipeline deploy from a valid project that would deploy unless the one bad value stops it."""
    return lambda w: {
        "app_id": w.staging["app_id"],
        "branch_name": "main",
        "aws_conn_id": "aws_staging",
        "project_dir": _project(w),
        "ampx_path": "/bin/false",
        "check_node": False,
        "install_dependencies": False,
        **{key: value(w) if callable(value) else value for key, value in kw.items()},
    }


CASES = [
    # --- app ids ------------------------------------------------------------------------------
    Case("start-job app id shape", SJ, staging(app_id="not-an-app"),
         fixed("app_id='not-an-app'", "d1abcdefgh1234"), "app id"),
    Case("start-job empty app id", SJ, staging(app_id=""), fixed("app_id is required", "''"), "app id"),
    Case("start-job app id unknown in the account", SJ, staging(app_id="d0000000000000"),
         fixed("app_id='d0000000000000'", "not found in account 123456789012", "Check the app id"), "app id"),
    Case("start-job staging app id with the production connection", SJ,
         lambda w: {**staging()(w), "aws_conn_id": "aws_production"},
         lambda w: [f"app_id={w.staging['app_id']!r}", "not found in account 222222222222"], "app id"),
    Case("stack sensor app id shape", SS, lambda w: {"app_id": "D-UPPER", "branch_name": "main",
         "aws_conn_id": "aws_staging"}, fixed("app_id='D-UPPER'", "is not an Amplify app id", "d1abcdefgh1234"),
         "app id"),
    Case("generate outputs app id shape", GO, lambda w: {"app_id": "app 1", "branch_name": "main",
         "aws_conn_id": "aws_staging", "out_dir": str(w.tmp / "out")},
         fixed("app_id='app 1'", "is not an Amplify app id"), "app id"),
    Case("pipeline deploy app id shape", PD, _deploy_with(app_id="x1"), fixed("app_id='x1'", "d1abcdefgh1234"),
         "app id"),
    Case("manual deploy app id shape", MD, lambda w: {"app_id": "d!", "branch_name": "main",
         "aws_conn_id": "aws_staging", "source_url": "s3://bucket/site.zip"}, fixed("app_id='d!'", "d[a-z0-9]+"),
         "app id"),
    # --- branch names -------------------------------------------------------------------------
    Case("start-job empty branch", SJ, staging(branch_name=""), fixed("branch_name is required", "''"),
         "branch name"),
    Case("start-job branch name too long", SJ, staging(branch_name="b" * 256),
         fixed("branch_name='bbbb", "1 to 255 characters", "it has 256"), "branch name"),
    Case("start-job unknown branch", SJ, staging(branch_name="no/such-branch"),
         fixed("branch_name='no/such-branch'", "not found in account"), "branch name"),
    Case("branch setup missing branch without create_branch", BS, staging(branch_name="release", webhook=True),
         fixed("branch_name='release'", "not found", "create_branch=True"), "branch name"),
    Case("job sensor empty branch", JS, staging(branch_name=""), fixed("branch_name is required", "''"),
         "branch name"),
    Case("stack sensor app id without branch", SS, staging(branch_name=""),
         fixed("branch_name=''", "is not a branch name", "'main'"), "branch name"),
    Case("pipeline deploy unknown branch", PD, _deploy_with(branch_name="nope", check_cdk_bootstrap=False),
         fixed("branch_name='nope'", "has no such branch", "Create the branch"), "branch name"),
    # --- job types, job ids, commits, if_busy ------------------------------------------------
    Case("start-job unknown job type", SJ, staging(job_type="DEPLOY"),
         fixed("job_type='DEPLOY'", "RELEASE, RETRY, MANUAL, WEB_HOOK"), "job type"),
    Case("start-job MANUAL job type", SJ, staging(job_type="MANUAL"),
         fixed("job_type='MANUAL'", "CreateDeployment"), "job type"),
    Case("start-job RETRY without job id", SJ, staging(job_type="RETRY"),
         fixed("job_type='RETRY' needs job_id"), "job type"),
    Case("start-job RETRY with a non-numeric job id", SJ, staging(job_type="RETRY", job_id="latest"),
         fixed("job_id='latest'", "a decimal job id"), "job id"),
    Case("job sensor non-numeric job id", JS, staging(job_id="12a"), fixed("job_id='12a'", "decimal job id"),
         "job id"),
    Case("start-job commit id too long", SJ, staging(commit_id="c" * 256),
         fixed("commit_id='cccc", "0 to 255 characters"), "commit"),
    Case("start-job job reason too long", SJ, staging(job_reason="r" * 256),
         fixed("job_reason='rrrr", "0 to 255 characters"), "commit"),
    Case("start-job unknown if_busy", SJ, staging(if_busy="queue"),
         fixed("if_busy='queue'", "wait, attach, stop, fail"), "if_busy"),
    Case("webhook build if_busy of StartJob", WH, lambda w: {"webhook_conn_id": "good_webhook",
         "aws_conn_id": "aws_staging", "allow_custom_webhook_host": True, "if_busy": "wait"},
         fixed("if_busy='wait'", "trigger, attach, fail"), "if_busy"),
    # --- webhook URLs and hosts ----------------------------------------------------------------
    Case("webhook build with no webhook", WH, lambda w: {"aws_conn_id": "aws_staging"},
         fixed("webhook_conn_id=None", "webhook_id=None", "Give either"), "webhook"),
    Case("webhook build with connection and id", WH, lambda w: {"webhook_conn_id": "good_webhook",
         "webhook_id": "abc", "app_id": w.staging["app_id"], "aws_conn_id": "aws_staging"},
         fixed("webhook_conn_id='good_webhook'", "webhook_id='abc'", "Give either"), "webhook"),
    Case("webhook build unknown webhook connection", WH, lambda w: {"webhook_conn_id": "no_such_webhook",
         "aws_conn_id": "aws_staging"}, fixed("webhook_conn_id='no_such_webhook'"), "webhook"),
    Case("webhook build connection without URL", WH, lambda w: {"webhook_conn_id": "empty_webhook",
         "aws_conn_id": "aws_staging"}, fixed("webhook_conn_id='empty_webhook'", "password field"), "webhook"),
    Case("webhook build URL without token", WH, lambda w: {"webhook_conn_id": "tokenless_webhook",
         "aws_conn_id": "aws_staging", "allow_custom_webhook_host": True},
         fixed("connection 'tokenless_webhook'", "is not an Amplify incoming webhook URL", "&token=<token>"),
         "webhook"),
    Case("webhook build foreign host", WH, lambda w: {"webhook_conn_id": "foreign_webhook",
         "aws_conn_id": "aws_staging"},
         fixed("connection 'foreign_webhook'", "host 'hooks.example.com'", "webhooks.amplify.<region>.amazonaws.com",
               "allow_custom_webhook_host"), "webhook"),
    Case("webhook build emulator host without opt-in", WH, lambda w: {"webhook_conn_id": "good_webhook",
         "aws_conn_id": "aws_staging"}, fixed("host '127.0.0.1'", "scheme 'http'", "allow_custom_webhook_host=True"),
         "webhook"),
    Case("webhook build unknown webhook id", WH, lambda w: {"webhook_id": "0123456789abcdef",
         "app_id": w.staging["app_id"], "aws_conn_id": "aws_staging"},
         fixed("Webhook '0123456789abcdef'", "was not found in account 123456789012", "aws_conn_id"), "webhook"),
    Case("webhook build webhook id of another app", WH, lambda w: {"webhook_id": w.staging["webhooks"]["main"]["id"],
         "app_id": "d0000000000000", "aws_conn_id": "aws_staging"},
         lambda w: [f"webhook_id={w.staging['webhooks']['main']['id']!r}", f"belongs to app {w.staging['app_id']!r}",
                    "not app_id='d0000000000000'"], "webhook"),
    # --- connections --------------------------------------------------------------------------
    Case("start-job unknown connection", SJ, staging(aws_conn_id="aws_nowhere"),
         fixed("aws_conn_id='aws_nowhere'", "no Airflow connection", "aws_conn_id=None"), "connection"),
    Case("start-job connection of the wrong type", SJ, staging(aws_conn_id="not_aws"),
         fixed("aws_conn_id='not_aws'", "type 'http'", "'aws'"), "connection"),
    Case("job sensor unknown connection", JS, staging(aws_conn_id="aws_nowhere"),
         fixed("aws_conn_id='aws_nowhere'", "no Airflow connection"), "connection"),
    Case("stack sensor unknown connection", SS, staging(aws_conn_id="aws_nowhere"),
         fixed("aws_conn_id='aws_nowhere'", "no Airflow connection"), "connection"),
    Case("branch setup unknown connection", BS, staging(aws_conn_id="aws_nowhere", enable_auto_build=False),
         fixed("aws_conn_id='aws_nowhere'", "no Airflow connection"), "connection"),
    Case("pipeline deploy unknown connection", PD, _deploy_with(aws_conn_id="aws_nowhere"),
         fixed("aws_conn_id='aws_nowhere'", "no Airflow connection with this id"), "connection"),
    Case("pipeline deploy connection of the wrong type", PD, _deploy_with(aws_conn_id="not_aws"),
         fixed("aws_conn_id='not_aws'", "type 'http'", "'aws'"), "connection"),
    Case("generate outputs connection of the wrong type", GO, lambda w: {**staging()(w), "aws_conn_id": "not_aws",
         "out_dir": str(w.tmp / "out")}, fixed("aws_conn_id='not_aws'", "type 'http'", "'aws'"), "connection"),
    # --- paths --------------------------------------------------------------------------------
    Case("pipeline deploy missing project dir", PD, _deploy_with(project_dir=lambda w: str(w.tmp / "missing")),
         lambda w: [f"project_dir={str(w.tmp / 'missing')!r}", "does not exist or is not a directory"], "path"),
    Case("pipeline deploy project without backend", PD, _deploy_with(project_dir=lambda w: str(w.tmp)),
         lambda w: [f"project_dir={str(w.tmp)!r}", "has no amplify/backend.(ts|js|mjs|cjs)"], "path"),
    Case("pipeline deploy outputs dir is a file", PD, _deploy_with(outputs_out_dir=_a_file),
         lambda w: [f"outputs_out_dir={str(w.tmp / 'outputs-file')!r}", "not a directory"], "path"),
    Case("pipeline deploy subdir escapes the checkout", PD,
         _deploy_with(repo_url="file:///srv/git/app.git", project_dir=None, subdir="../etc"),
         fixed("subdir='../etc'", "relative to the repository root"), "path"),
    Case("generate outputs empty out dir", GO, staging(out_dir=""),
         fixed("out_dir=''", "give the directory"), "path"),
    Case("generate outputs out dir is an existing file", GO, lambda w: {**staging()(w), "out_dir": _a_file(w)},
         lambda w: [f"out_dir={str(w.tmp / 'outputs-file')!r}", "not a directory"], "path"),
    Case("manual deploy missing build dir", MD, staging(build_dir="/nonexistent/dist"),
         fixed("build_dir='/nonexistent/dist'", "no such directory"), "path"),
    Case("manual deploy build dir with one top-level folder", MD, lambda w: {**staging()(w),
         "build_dir": _nested_build_dir(w)}, lambda w: [f"build_dir={_nested_build_dir(w)!r}", "'dist'",
         "Did you mean build_dir="], "path"),
    Case("manual deploy zip that is not a zip", MD, lambda w: {**staging()(w), "zip_file": _not_a_zip(w)},
         lambda w: [f"zip_file={str(w.tmp / 'site.zip')!r}", "is not a zip archive"], "path"),
    Case("manual deploy empty zip", MD, lambda w: {**staging()(w), "zip_file": _empty_zip(w)},
         lambda w: [f"zip_file={str(w.tmp / 'empty.zip')!r}", "holds no file"], "path"),
    # --- sources, refs, repositories ----------------------------------------------------------
    Case("manual deploy two sources", MD, staging(build_dir="/tmp", source_url="s3://bucket/site.zip"),
         fixed("build_dir, source_url", "Give exactly one of"), "source"),
    Case("manual deploy ftp source url", MD, staging(source_url="ftp://example.com/site.zip"),
         fixed("source_url='ftp://example.com/site.zip'", "(s3|https|http)://"), "source"),
    Case("manual deploy unknown source url type", MD, staging(source_url="s3://bucket/site.zip",
         source_url_type="TAR"), fixed("source_url_type='TAR'", "ZIP, BUCKET_PREFIX"), "source"),
    Case("pipeline deploy project dir and repo url", PD, _deploy_with(repo_url="file:///srv/git/app.git"),
         fixed("repo_url='file:///srv/git/app.git'", "were both given"), "source"),
    Case("pipeline deploy repo url with a token", PD, _deploy_with(project_dir=None,
         repo_url="https://user:ghp_secret@github.com/org/app.git"),
         fixed("repo_url='https://user:***@github.com/org/app.git'", "git_conn_id"), "source"),
    Case("pipeline deploy option injection in ref", PD, _deploy_with(project_dir=None,
         repo_url="https://github.com/org/app.git", ref="--upload-pack=touch /tmp/x"),
         fixed("ref='--upload-pack=touch /tmp/x'", "a branch ('main')"), "source"),
    # --- versions, formats, engines -----------------------------------------------------------
    Case("pipeline deploy unknown outputs version", PD, _deploy_with(outputs_version="2"),
         fixed("outputs_version='2'", "1.4"), "version"),
    Case("pipeline deploy unknown outputs format", PD, _deploy_with(outputs_format="yaml"),
         fixed("outputs_format='yaml'", "json"), "version"),
    Case("generate outputs unknown outputs version", GO, lambda w: {**staging()(w), "out_dir": str(w.tmp),
         "outputs_version": "1.9"}, fixed("outputs_version='1.9'", "1.4"), "version"),
    Case("generate outputs unknown format", GO, lambda w: {**staging()(w), "out_dir": str(w.tmp),
         "format": "yaml"}, fixed("format='yaml'", "dart"), "version"),
    Case("generate outputs unknown engine", GO, lambda w: {**staging()(w), "out_dir": str(w.tmp),
         "engine": "node"}, fixed("engine='node'", "auto, native, ampx"), "engine"),
    Case("generate outputs native engine for dart", GO, lambda w: {**staging()(w), "out_dir": str(w.tmp),
         "engine": "native", "format": "dart"}, fixed("engine='native'", "format 'dart'", "'auto' or 'ampx'"),
         "engine"),
    Case("generate outputs stack name and app id", GO, lambda w: {**staging()(w), "out_dir": str(w.tmp),
         "stack_name": "amplify-x-main-branch-1234567890"},
         fixed("stack_name='amplify-x-main-branch-1234567890'", "give either stack_name or app_id"), "stack"),
    Case("stack sensor bad stack name", SS, lambda w: {"stack_name": "1-not a stack!",
         "aws_conn_id": "aws_staging"}, fixed("stack_name='1-not a stack!'", "starts with a letter"), "stack"),
    # --- timeouts and durations ---------------------------------------------------------------
    Case("start-job negative queued timeout", SJ, staging(queued_timeout=-1),
         fixed("queued_timeout=-1", "positive number of seconds"), "timeout"),
    Case("start-job zero running timeout", SJ, staging(running_timeout=0),
         fixed("running_timeout=0", "positive number of seconds"), "timeout"),
    Case("start-job first delay above the longest", SJ, staging(waiter_delay=60, waiter_max_delay=10),
         fixed("waiter_delay (60)", "waiter_max_delay (10)"), "timeout"),
    Case("webhook build zero webhook timeout", WH, lambda w: {"webhook_conn_id": "good_webhook",
         "aws_conn_id": "aws_staging", "allow_custom_webhook_host": True, "webhook_timeout": 0},
         fixed("webhook_timeout=0", "positive number of seconds"), "timeout"),
    Case("pipeline deploy negative timeout", PD, _deploy_with(timeout=-5),
         fixed("timeout=-5", "positive number of seconds"), "timeout"),
    Case("manual deploy zero upload attempts", MD, staging(source_url="s3://bucket/site.zip", upload_attempts=0),
         fixed("upload_attempts=0", "integer >= 1"), "timeout"),
    Case("job sensor negative queued timeout", JS, staging(queued_timeout=-30),
         fixed("queued_timeout=-30", "positive number of seconds"), "timeout"),
    Case("stack sensor negative grace period", SS, staging(missing_stack_grace_period=-60),
         fixed("missing_stack_grace_period=-60", "seconds >= 0"), "timeout"),
    Case("stack sensor changed_since not a time", SS, staging(changed_since="yesterday"),
         fixed("changed_since='yesterday'", "ISO 8601", "dag_run_start"), "changed_since"),
    # --- branch settings ----------------------------------------------------------------------
    Case("branch setup auto-build as a string", BS, staging(enable_auto_build="no"),
         fixed("enable_auto_build='no'", "True, False or None"), "branch setting"),
    Case("branch setup non-string variable", BS, staging(environment_variables={"API_URL": 3}),
         fixed("environment_variables['API_URL']", "must be a string; got int"), "branch setting"),
    # --- backend secrets ----------------------------------------------------------------------
    Case("secrets name ampx cannot read", BK, staging(secrets={"a/b": {"variable": "v"}}),
         fixed("the secret name 'a/b'", "letters, digits, '_', '.' and '-'"), "secrets"),
    Case("secrets name with a trailing newline", BK, staging(secrets={"STRIPE_KEY\n": {"variable": "v"}}),
         fixed("the secret name 'STRIPE_KEY\\n'", "letters, digits"), "secrets"),
    Case("secrets literal value", BK, staging(secrets={"K": "plain-text-value"}),
         fixed("secrets['K']", "a literal value", "{'variable': ...}"), "secrets"),
    Case("secrets unknown connection field", BK, staging(secrets={"K": {"conn_id": "aws_staging", "field": "token"}}),
         fixed("secrets['K']['field']='token'", "password, login, host, schema, extra", "extra.<key>"), "secrets"),
    Case("secrets source with both kinds", BK, staging(secrets={"K": {"conn_id": "c", "variable": "v"}}),
         fixed("secrets['K'] has keys ['conn_id', 'variable']", "{'variable': ...}"), "secrets"),
    Case("secrets empty mapping", BK, staging(secrets={}, prune=True), fixed("secrets={} with prune=True", "list the secrets to keep"),
         "secrets"),
    Case("secrets missing Variable", BK, staging(secrets={"K": {"variable": "no_such_variable"}}),
         fixed("secrets['K']", "Variable 'no_such_variable' does not exist"), "secrets"),
    Case("secrets missing connection", BK, staging(secrets={"K": {"conn_id": "no_such_conn"}}),
         fixed("secrets['K']", "connection 'no_such_conn' does not exist"), "secrets"),
    Case("secrets not a mapping", BK, staging(secrets=["STRIPE_KEY"]),
         fixed("secrets must be a mapping of secret names to sources", "got list"), "secrets"),
    Case("secrets prune as a string", BK, staging(secrets={"K": {"variable": "v"}}, prune="yes"),
         fixed("prune='yes'", "True or False"), "secrets"),
    Case("secrets KMS key id with a space", BK, staging(secrets={"K": {"variable": "v"}}, kms_key_id="my key"),
         fixed("kms_key_id='my key'", "KMS key id, key ARN or alias"), "secrets"),
    Case("secrets branch rendered as None", BK, staging(secrets={"K": {"variable": "v"}}, branch_name="None"),
         fixed("branch_name='None'", "rendered a missing value"), "rendered"),
    Case("pipeline deploy required_secrets as a string", PD, _deploy_with(required_secrets="STRIPE_KEY"),
         fixed("required_secrets='STRIPE_KEY'", "list of secret names"), "secrets"),
    Case("pipeline deploy required secret name", PD, _deploy_with(required_secrets=["bad name"]),
         fixed("required_secrets", "'bad name'", "letters, digits"), "secrets"),
    # --- preview branches ---------------------------------------------------------------------
    Case("preview of the release branch", PV, app_only(ref="main"),
         fixed("branch_name='main' is the release branch", "release_branch='main'"), "preview"),
    Case("preview of a branch made by hand", PV, app_only(ref="feature/x"),
         fixed("branch_name='feature/x'", "did not create it", "airflow-provider-amplify:preview=true"), "preview"),
    Case("preview ref with a space", PV, app_only(ref="feature x"),
         fixed("ref='feature x'", "give a branch"), "preview"),
    Case("preview branch rendered as None", PV, app_only(ref="None"),
         fixed("ref='None'", "rendered a missing value"), "rendered"),
    Case("teardown of the release branch", PT, app_only(branch_name="main"),
         fixed("branch_name='main' is the release branch"), "preview"),
    Case("teardown of a branch made by hand", PT, app_only(branch_name="feature/x"),
         fixed("branch_name='feature/x'", "did not create it", "refusing to delete it"), "preview"),
    Case("teardown release branch with a trailing newline", PT,
         app_only(branch_name="pr-1", release_branch="main\n"),
         fixed("release_branch='main\\n'", "leading or trailing whitespace"), "whitespace"),
    Case("teardown waiter delay as a string", PT, app_only(branch_name="pr-1", waiter_delay="30"),
         fixed("waiter_delay='30'", "positive number"), "timeout"),
    Case("teardown wait flag as a string", PT, app_only(branch_name="pr-1", wait_for_completion="no"),
         fixed("wait_for_completion='no'", "True or False"), "preview"),
    # --- app and branch build and runtime settings ----------------------------------------------
    Case("app setup build compute type with a trailing newline", AP, app_only(build_compute_type="LARGE_16GB\n"),
         fixed("build_compute_type='LARGE_16GB\\n'", "leading or trailing whitespace"), "whitespace"),
    Case("app setup compute type rendered as None", AP, app_only(build_compute_type="None"),
         fixed("build_compute_type='None'", "rendered a missing value"), "rendered"),
    Case("app setup compute type as a number", AP, app_only(build_compute_type=8),
         fixed("build_compute_type must be a string", "got int 8"), "type"),
    Case("app setup unknown build compute type", AP, app_only(build_compute_type="MEDIUM_4GB"),
         fixed("build_compute_type='MEDIUM_4GB'", "STANDARD_8GB, LARGE_16GB, XLARGE_72GB"), "settings"),
    Case("app setup lowercase cache config", AP, app_only(cache_config_type="amplify_managed"),
         fixed("cache_config_type='amplify_managed'", "AMPLIFY_MANAGED, AMPLIFY_MANAGED_NO_COOKIES"), "settings"),
    Case("app setup compute role not an ARN", AP, app_only(compute_role_arn="my-ssr-role"),
         fixed("compute_role_arn='my-ssr-role'", "arn:aws:iam::<account>:role/<name>"), "settings"),
    Case("app setup unknown app", AP, app_only(app_id="d0000000000000", build_compute_type="LARGE_16GB"),
         fixed("app_id='d0000000000000'", "no such app in account 123456789012"), "app id"),
    Case("branch setup skew protection as a string", BS, staging(enable_skew_protection="true"),
         fixed("enable_skew_protection='true'", "True, False or None"), "settings"),
    Case("branch setup compute role with a newline", BS,
         staging(compute_role_arn="arn:aws:iam::123456789012:role/ssr\n"),
         fixed("compute_role_arn='arn:aws:iam::123456789012:role/ssr\\n'", "leading or trailing whitespace"), "whitespace"),
    Case("branch setup replace without variables", BS, staging(replace_environment_variables=True),
         fixed("replace_environment_variables=True", "needs environment_variables"), "branch setting"),
    # --- issue #18: exact types (strings, booleans, NaN and infinity where numbers belong) -------
    Case("start-job delay as a string", SJ, staging(waiter_delay="1"),
         fixed("waiter_delay='1'", "an int or a float, not str"), "type"),
    Case("start-job delay as a boolean", SJ, staging(waiter_delay=True),
         fixed("waiter_delay=True", "not bool"), "type"),
    Case("start-job NaN queued timeout", SJ, staging(queued_timeout=float("nan")),
         fixed("queued_timeout=nan", "positive number of seconds"), "type"),
    Case("start-job infinite running timeout", SJ, staging(running_timeout=float("inf")),
         fixed("running_timeout=inf", "positive number of seconds"), "type"),
    Case("start-job negative log tail", SJ, staging(log_tail_lines=-1),
         fixed("log_tail_lines=-1", "integer >= 0"), "type"),
    Case("webhook build negative merge grace period", WH, lambda w: _webhook(w, webhook_conn_id="good_webhook",
         allow_custom_webhook_host=True, merge_grace_period=-1), fixed("merge_grace_period=-1", "seconds >= 0"), "type"),
    Case("manual deploy upload attempts as a boolean", MD, staging(source_url="s3://bucket/site.zip",
         upload_attempts=True), fixed("upload_attempts=True", "integer >= 1"), "type"),
    Case("manual deploy NaN upload backoff", MD, staging(source_url="s3://bucket/site.zip",
         upload_backoff=float("nan")), fixed("upload_backoff=nan", "seconds >= 0"), "type"),
    Case("job sensor log tail as a string", JS, staging(log_tail_lines="50"),
         fixed("log_tail_lines='50'", "integer >= 0"), "type"),
    Case("stack sensor grace period as a boolean", SS, staging(missing_stack_grace_period=True),
         fixed("missing_stack_grace_period=True", "not bool"), "type"),
    Case("pipeline deploy outputs version as a float", PD, _deploy_with(outputs_version=1.5),
         fixed("outputs_version=1.5", "use one of 0, 1, 1.1"), "type"),
    Case("pipeline deploy cache entries as a boolean", PD, _deploy_with(cache_max_entries=True),
         fixed("cache_max_entries=True", "integer >= 1"), "type"),
    Case("generate outputs NaN timeout", GO, lambda w: {**staging()(w), "out_dir": str(w.tmp / "out"),
         "timeout": float("nan")}, fixed("timeout=nan", "positive number of seconds"), "type"),
    # --- truthy strings for booleans --------------------------------------------------------
    Case("branch setup create_branch as the string 'false'", BS, staging(branch_name="release",
         create_branch="false"), fixed("create_branch='false'", "True or False"), "bool"),
    Case("branch setup replace variables as the string 'no'", BS, staging(environment_variables={"A": "1"},
         replace_environment_variables="no"), fixed("replace_environment_variables='no'", "True or False"), "bool"),
    Case("branch setup webhook as the string 'true'", BS, staging(webhook="true"),
         fixed("webhook='true'", "True, False or None"), "bool"),
    Case("start-job deferrable as the string 'false'", SJ, staging(deferrable="false"),
         fixed("deferrable='false'", "True or False"), "bool"),
    Case("start-job wait_for_completion as 0", SJ, staging(wait_for_completion=0),
         fixed("wait_for_completion=0", "True or False"), "bool"),
    Case("webhook build custom host as the string 'true'", WH, lambda w: _webhook(w, webhook_conn_id="good_webhook",
         allow_custom_webhook_host="true"), fixed("allow_custom_webhook_host='true'", "True or False"), "bool"),
    Case("manual deploy check_source as the string 'no'", MD, staging(source_url="s3://bucket/site.zip",
         check_source="no"), fixed("check_source='no'", "True or False"), "bool"),
    Case("job sensor deferrable as the string 'True'", JS, staging(deferrable="True"),
         fixed("deferrable='True'", "True or False"), "bool"),
    Case("pipeline deploy install as the string 'false'", PD, _deploy_with(install_dependencies="false"),
         fixed("install_dependencies='false'", "True or False"), "bool"),
    # --- templates that rendered nothing ------------------------------------------------------
    Case("start-job commit id rendered None", SJ, staging(commit_id="None"),
         fixed("commit_id='None'", "rendered a missing value"), "rendered"),
    Case("start-job job reason rendered None", SJ, staging(job_reason="None"),
         fixed("job_reason='None'", "rendered a missing value"), "rendered"),
    Case("start-job app id only whitespace", SJ, staging(app_id="   "),
         fixed("app_id='   '", "only whitespace"), "rendered"),
    Case("webhook build app id rendered None", WH, lambda w: _webhook(w, webhook_id=w.staging["webhooks"]["main"]["id"],
         app_id="None"), fixed("app_id='None'", "rendered a missing value"), "rendered"),
    Case("branch setup webhook description rendered None", BS, staging(webhook=True, webhook_description="None"),
         fixed("webhook_description='None'", "rendered a missing value"), "rendered"),
    Case("job sensor job id rendered None", JS, staging(job_id="None"),
         fixed("job_id='None'", "rendered a missing value"), "rendered"),
    Case("generate outputs app id rendered None", GO, lambda w: {**staging(app_id="None")(w),
         "out_dir": str(w.tmp / "out")}, fixed("app_id='None'", "rendered a missing value"), "rendered"),
    # --- whitespace and control characters ----------------------------------------------------
    Case("start-job branch with a trailing newline", SJ, staging(branch_name="main\n"),
         fixed("branch_name='main\\n'", "leading or trailing whitespace"), "whitespace"),
    Case("start-job region with a trailing newline", SJ, staging(region_name="eu-west-1\n"),
         fixed("region_name='eu-west-1\\n'", "leading or trailing whitespace"), "whitespace"),
    Case("start-job commit message with an escape sequence", SJ, staging(commit_message="\x1b[31mred"),
         fixed("commit_message=", "control characters"), "whitespace"),
    Case("manual deploy zip path with a trailing newline", MD, staging(zip_file="/tmp/site.zip\n"),
         fixed("zip_file='/tmp/site.zip\\n'", "leading or trailing whitespace"), "whitespace"),
    Case("stack sensor stack name with a trailing newline", SS, lambda w: {"stack_name": "amplify-x-main\n",
         "aws_conn_id": "aws_staging"}, fixed("stack_name='amplify-x-main\\n'", "not a CloudFormation stack name"),
         "whitespace"),
    Case("pipeline deploy ref with a trailing newline", PD, _deploy_with(project_dir=None,
         repo_url="https://github.com/org/app.git", ref="main\n"),
         fixed("ref='main\\n'", "leading or trailing whitespace"), "whitespace"),
    Case("generate outputs format with a trailing newline", GO, lambda w: {**staging()(w), "out_dir": str(w.tmp / "o"),
         "format": "json\n"}, fixed("format='json\\n'", "use one of json"), "whitespace"),
    Case("start-job region that is no region", SJ, staging(region_name="mars-1"),
         fixed("region_name='mars-1'", "not an AWS region name"), "whitespace"),
    Case("job sensor connection id with a space", JS, staging(aws_conn_id="aws staging"),
         fixed("aws_conn_id='aws staging'", "not an Airflow connection id"), "whitespace"),
    # --- URL shapes ---------------------------------------------------------------------------
    Case("webhook URL with user info", WH, lambda w: _webhook(w, webhook_conn_id="userinfo_webhook"),
         fixed("connection 'userinfo_webhook'", "user info"), "url shape", forbidden=fixed("tok3n-secret")),
    Case("webhook URL with a port", WH, lambda w: _webhook(w, webhook_conn_id="port_webhook"),
         fixed("connection 'port_webhook'", "a port"), "url shape", forbidden=fixed("tok3n-secret")),
    Case("webhook URL with a fragment", WH, lambda w: _webhook(w, webhook_conn_id="fragment_webhook"),
         fixed("connection 'fragment_webhook'", "a fragment"), "url shape", forbidden=fixed("tok3n-secret")),
    Case("webhook URL with another path", WH, lambda w: _webhook(w, webhook_conn_id="path_webhook"),
         fixed("connection 'path_webhook'", "the path '/prod/other'"), "url shape", forbidden=fixed("tok3n-secret")),
    Case("webhook URL with a repeated token", WH, lambda w: _webhook(w, webhook_conn_id="repeated_webhook"),
         fixed("connection 'repeated_webhook'", "repeated: token"), "url shape", forbidden=fixed("tok3n-secret")),
    Case("manual deploy https source with a password", MD, staging(source_url="https://u:hunter2@example.com/s.zip"),
         fixed("source_url='https://***@example.com/s.zip'", "no user info"), "url shape", forbidden=fixed("hunter2")),
    Case("pipeline deploy repo URL with a bare token", PD, _deploy_with(project_dir=None,
         repo_url="https://ghp_bare0token@github.com/org/app.git"),
         fixed("repo_url='https://***@github.com/org/app.git'", "git_conn_id"), "url shape",
         forbidden=fixed("ghp_bare0token")),
    # --- secrets where an id belongs -----------------------------------------------------------
    Case("webhook build URL where the connection id belongs", WH,
         lambda w: _webhook(w, webhook_conn_id=w.staging["webhooks"]["main"]["url"]),
         fixed("webhook_conn_id holds a URL", "not shown"), "secret", forbidden=lambda w: [_token(w)]),
    Case("webhook build URL where the webhook id belongs", WH,
         lambda w: _webhook(w, webhook_id=w.staging["webhooks"]["main"]["url"], app_id=w.staging["app_id"]),
         fixed("webhook_id holds a URL", "not shown"), "secret", forbidden=lambda w: [_token(w)]),
    Case("pipeline deploy URL where the git connection id belongs", PD, _deploy_with(project_dir=None,
         repo_url="https://github.com/org/app.git", git_conn_id="https://x:ghp_in_conn@github.com"),
         fixed("git_conn_id holds a URL"), "secret", forbidden=fixed("ghp_in_conn")),
    # --- combinations that make no sense -------------------------------------------------------
    Case("start-job job id with RELEASE", SJ, staging(job_id="1"),
         fixed("job_id='1' with job_type='RELEASE'", "only job_type='RETRY' takes a job id"), "combination"),
    Case("start-job RETRY of a job that does not exist", SJ, staging(job_type="RETRY", job_id="4242"),
         fixed("job_id='4242'", "has no such job to retry"), "combination"),
    Case("stack sensor changed_since in the future", SS, lambda w: {**staging()(w), "changed_since": _future(w)},
         fixed("changed_since=", "is in the future"), "combination"),
    Case("manual deploy ZIP source without a key", MD, staging(source_url="s3://bucket/", source_url_type="ZIP"),
         fixed("source_url='s3://bucket/'", "names no object"), "combination"),
    Case("pipeline deploy ampx path is a directory", PD, _deploy_with(ampx_path=lambda w: str(w.tmp)),
         fixed("ampx_path=", "a directory, not a file"), "combination"),
    Case("generate outputs ampx path is a directory", GO, lambda w: {**staging()(w), "out_dir": str(w.tmp / "o"),
         "ampx_path": str(w.tmp)}, fixed("ampx_path=", "a directory, not a file"), "combination"),
    Case("generate outputs out dir that cannot be created", GO, lambda w: {**staging()(w), "out_dir": _below_a_file(w)},
         fixed("out_dir=", "cannot be created"), "combination"),
    # --- values AWS refuses -------------------------------------------------------------------
    Case("branch setup variable with the AWS prefix", BS, staging(environment_variables={"AWS_REGION": "x"}),
         fixed("'AWS_REGION'", "prefix Amplify reserves"), "aws refuses"),
    Case("branch setup variable name with a space", BS, staging(environment_variables={"MY VAR": "x"}),
         fixed("'MY VAR'", "no spaces or line breaks"), "aws refuses"),
    Case("branch setup variable name with a newline", BS, staging(environment_variables={"MY_VAR\n": "x"}),
         fixed("'MY_VAR\\n'", "no spaces or line breaks"), "aws refuses"),
    Case("branch setup branch name too long to create", BS, staging(branch_name="r" * 256, create_branch=True),
         fixed("branch_name='rrrr", "1 to 255 characters"), "aws refuses"),
    Case("pipeline deploy branch too long with the branch check off", PD,
         _deploy_with(branch_name="b" * 300, check_branch=False, check_cdk_bootstrap=False),
         fixed("branch_name='bbbb", "1 to 255 characters", "it has 300"), "aws refuses"),
    Case("pipeline deploy ampx env with a bad name", PD, _deploy_with(env={"A B": "x"}),
         fixed("env: 'A B'", "not an environment variable name"), "aws refuses"),
    # --- errors that came raw -----------------------------------------------------------------
    Case("job sensor unknown job id", JS, staging(job_id="9999"),
         fixed("job_id='9999'", "has no such job", "job_id='latest'"), "raw error"),
    Case("job sensor unknown branch", JS, staging(branch_name="gone"),
         fixed("branch_name='gone'", "not found in account"), "raw error"),
    Case("stack sensor region with a space", SS, staging(region_name="us-east-1 "),
         fixed("region_name='us-east-1 '", "leading or trailing whitespace"), "raw error"),
    Case("generate outputs engine in capitals", GO, lambda w: {**staging()(w), "out_dir": str(w.tmp / "o"),
         "engine": "NATIVE"}, fixed("engine='NATIVE'", "auto, native, ampx"), "raw error"),
    Case("manual deploy region that is no region", MD, staging(source_url="s3://bucket/site.zip", region_name="EU"),
         fixed("region_name='EU'", "not an AWS region name"), "raw error"),
    Case("branch setup botocore config not a dict", BS, staging(enable_auto_build=False, botocore_config="retries"),
         fixed("botocore_config", "must be a dict"), "raw error"),
    # the events setup operator (#22): nothing reaches EventBridge or SQS
    Case("events setup triggerers as one string", AmplifyEventsSetupOperator,
         lambda w: {"aws_conn_id": "aws_staging", "triggerers": "triggerer-0"},
         fixed("triggerers must be a list of names"), "type"),
    Case("events setup a triggerer rendered as None", AmplifyEventsSetupOperator,
         lambda w: {"aws_conn_id": "aws_staging", "triggerers": ["None"]},
         fixed("triggerers[0]", "'None'"), "rendered"),
    Case("events setup a triggerer with a trailing newline", AmplifyEventsSetupOperator,
         lambda w: {"aws_conn_id": "aws_staging", "triggerers": ["triggerer-0\n"]},
         fixed("triggerers", "is not valid"), "whitespace"),
    Case("events setup retention as a bool", AmplifyEventsSetupOperator,
         lambda w: {"aws_conn_id": "aws_staging", "message_retention_seconds": True},
         fixed("message_retention_seconds=True"), "type"),
    Case("events setup safety poll NaN", AmplifyEventsSetupOperator,
         lambda w: {"aws_conn_id": "aws_staging", "safety_poll_interval": float("nan")},
         fixed("safety_poll_interval"), "type"),
    Case("events setup unknown connection", AmplifyEventsSetupOperator,
         lambda w: {"aws_conn_id": "aws_nowhere"}, fixed("aws_nowhere"), "connection"),
]  # fmt: skip


# --- the world and the checks -------------------------------------------------------------------


def is_mutating(request: dict[str, Any]) -> bool:
    operation = request.get("operation")
    if operation is None:
        return request.get("method") not in ("GET", "HEAD")
    return operation not in READ_ONLY_OPERATIONS and not operation.startswith(READ_ONLY_PREFIXES)


def world_state(world, apps: list[dict[str, Any]], clients: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """What a bad input must not change: jobs, branches, webhooks and stacks of both accounts.

    :param clients: boto3 clients by (service, account), made on first use.
    """

    def client(service: str, account: str):
        if (service, account) not in clients:
            clients[service, account] = world.client(service, account)
        return clients[service, account]

    state: dict[str, Any] = {"jobs": world.jobs()}
    for app in apps:
        amplify = client("amplify", app["account_id"])
        state[f"branches {app['app_id']}"] = amplify.list_branches(appId=app["app_id"])["branches"]
        state[f"webhooks {app['app_id']}"] = amplify.list_webhooks(appId=app["app_id"])["webhooks"]
    for account in sorted({app["account_id"] for app in apps}):
        state[f"stacks {account}"] = client("cloudformation", account).describe_stacks()["Stacks"]
    return json.loads(json.dumps(state, default=str))


@pytest.fixture
def bad_input_world(amplify_world, aws_connections, staging_app, production_app, tmp_path, monkeypatch):
    """Seeded apps in both accounts, the AWS connections, webhook connections good and bad, and
    a connection of the wrong type."""
    from airflow_amplify.testing import STAGING_ACCOUNT_ID

    url = staging_app["webhooks"]["main"]["url"]
    webhook_conns = {
        "good_webhook": url,
        "empty_webhook": "",
        "tokenless_webhook": url.split("&token=")[0],
        "foreign_webhook": "https://hooks.example.com/prod/webhooks?id=abc&token=def",
    }
    amplify_host = "https://webhooks.amplify.eu-west-1.amazonaws.com"
    for name, url in {
        "userinfo_webhook": "https://bot@webhooks.amplify.eu-west-1.amazonaws.com/prod/webhooks?id=a&token=tok3n-secret",
        "port_webhook": f"{amplify_host}:8443/prod/webhooks?id=a&token=tok3n-secret",
        "fragment_webhook": f"{amplify_host}/prod/webhooks?id=a&token=tok3n-secret#x",
        "path_webhook": f"{amplify_host}/prod/other?id=a&token=tok3n-secret",
        "repeated_webhook": f"{amplify_host}/prod/webhooks?id=a&token=tok3n-secret&token=tok3n-secret",
    }.items():
        webhook_conns[name] = url
    for conn_id, value in webhook_conns.items():
        conn = {"conn_type": "amplify_webhook", "password": value}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CONN_NOT_AWS", json.dumps({"conn_type": "http", "host": "example.com"}))
    amplify_world.bootstrap_cdk(STAGING_ACCOUNT_ID)
    # A branch stack, so "stacks unchanged" compares something.
    amplify_world.client("cloudformation").create_stack(
        StackName="amplify-existing-main-branch-0123456789",
        TemplateBody=json.dumps({"Resources": {"P": {"Type": "AWS::SSM::Parameter",
                                 "Properties": {"Name": "/existing", "Type": "String", "Value": "x"}}}}),
    )  # fmt: skip
    return SimpleNamespace(world=amplify_world, staging=staging_app, production=production_app, tmp=tmp_path)


def _run(case: Case, w, context) -> Exception | None:
    """Build the task and run its execute; the exception it raised, or None."""
    try:
        task = case.cls(task_id="bad_input", **case.kwargs(w))
        task.execute(context)
    except Exception as err:  # the table is about which error, and its message
        return err
    return None


def check_case(case: Case, w, context, clients: dict) -> list[str]:
    """Run one row; what went wrong (empty: rejected with the expected message, nothing changed)."""
    apps = [w.staging, w.production]
    before = world_state(w.world, apps, clients)
    seq = len(w.world.requests())
    error = _run(case, w, context)
    calls = w.world.requests()[seq:]
    after = world_state(w.world, apps, clients)
    if error is None:
        return [f"accepted; calls made: {[r.get('operation') for r in calls]}"]
    problems = []
    message = str(error)
    missing = [fragment for fragment in case.expect(w) if fragment not in message]
    if missing:
        problems.append(f"{type(error).__name__}: {message!r} lacks {missing}")
    leaked = [secret for secret in case.forbidden(w) if secret in message]
    if leaked:
        problems.append(f"the message shows {len(leaked)} secret(s)")
    mutating = [f"{r['method']} {r['path']} ({r.get('operation')})" for r in calls if is_mutating(r)]
    if mutating:
        problems.append(f"changes made before the error: {mutating}")
    if before != after:
        problems.append("the world's jobs, branches, webhooks or stacks changed")
    return problems


def provider_task_classes() -> set[type]:
    """Every public operator and sensor class of the provider."""
    import importlib
    import inspect
    import pkgutil

    from airflow.models import BaseOperator

    import airflow_amplify.operators
    import airflow_amplify.sensors

    classes = set()
    for package in (airflow_amplify.operators, airflow_amplify.sensors):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name, obj in inspect.getmembers(module, inspect.isclass):
                if (
                    obj.__module__ == module.__name__
                    and issubclass(obj, BaseOperator)
                    and not name.startswith("_")
                    and "Base" not in name
                ):
                    classes.add(obj)
    return classes


def test_bad_inputs_are_rejected_clearly_before_any_change(bad_input_world, task_context, tmp_path):
    """Every row of the table: an error naming the parameter, the value and what is valid; no change.

    Then two controls: the table covers every operator and sensor and every category it claims,
    and its check does see a change made before an error (so "no change" cannot pass vacuously).
    """
    w = bad_input_world
    clients: dict[tuple[str, str], Any] = {}
    failures = {}
    for n, case in enumerate(CASES):
        w.tmp = tmp_path / f"case-{n}"
        w.tmp.mkdir()
        problems = check_case(case, w, task_context(task_id=f"bad_input_{n}"), clients)
        if problems:
            failures[case.id] = problems
    record(
        "bad-input table",
        bad_inputs=len(CASES),
        bad_inputs_rejected_without_change=len(CASES) - len(failures),
    )
    assert failures == {}, json.dumps(failures, indent=1)

    # The table: at least 140 distinct rows, every operator and sensor, every category it claims.
    assert len(CASES) >= 140 and len({case.id for case in CASES}) == len(CASES)
    missing_classes = provider_task_classes() - {case.cls for case in CASES}
    assert missing_classes == set(), sorted(c.__name__ for c in missing_classes)
    assert {case.category for case in CASES} >= {
        "app id", "branch name", "job type", "job id", "webhook", "connection", "path", "source",
        "version", "engine", "timeout", "changed_since", "if_busy", "commit", "secrets", "settings", "preview",
        # issue #18's kinds
        "type", "bool", "rendered", "whitespace", "url shape", "secret", "combination", "aws refuses", "raw error",
    }  # fmt: skip
    # every kind of issue #18 on several operators and sensors, every class in them
    new_kinds = {
        "type",
        "bool",
        "rendered",
        "whitespace",
        "url shape",
        "secret",
        "combination",
        "aws refuses",
        "raw error",
    }
    new_rows = [case for case in CASES if case.category in new_kinds]
    assert len(new_rows) >= 40
    assert {case.cls for case in new_rows} == provider_task_classes()

    # The check: a task that starts a build which then fails is caught (a StartJob in the request
    # log, a new job in the world), although its error has the expected message.
    w.tmp = tmp_path / "control"
    w.world.script_next_job(w.staging["app_id"], "main", outcome="FAILED", build_seconds=0.1, log_lines=1)
    control = Case(
        "a build that fails after it started",
        SJ,
        staging(deferrable=False, waiter_delay=0.2, waiter_max_delay=0.2, log_tail_lines=0),
        fixed("FAILED"),
    )
    problems = check_case(control, w, task_context(task_id="control"), clients)
    assert any("changes made before the error" in p and "StartJob" in p for p in problems), problems
    assert any("changed" in p and "jobs" in p for p in problems), problems
    assert not any("lacks" in p for p in problems), problems
