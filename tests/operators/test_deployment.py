"""AmplifyManualDeployOperator against the local world, through real botocore."""

from __future__ import annotations

import asyncio
import json
import zipfile

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_amplify.hooks.amplify import AmplifyJobFailedError
from airflow_amplify.hooks.deployment import AmplifyDeploymentError
from airflow_amplify.operators.deployment import AmplifyManualDeployOperator

FAST = {"waiter_delay": 0.1, "waiter_max_delay": 0.3, "upload_backoff": 0.01}


@pytest.fixture
def static_app(amplify_world):
    """An app without a repository (deployed by zip or S3), branches ``main`` and ``feature/x``."""
    amplify_world.settings(
        default_script={
            "pending_seconds": 0.05,
            "provision_seconds": 0.1,
            "build_seconds": 0.2,
            "deploy_seconds": 0.1,
        }
    )
    app = amplify_world.seed_app("static", ("main", "feature/x"), repository=None)
    amplify_world.clear_requests()  # the request log then holds only what the task did
    return app


@pytest.fixture
def site(tmp_path):
    """A build output directory: index.html and an asset at its root."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<h1>hello</h1>")
    (root / "assets" / "app.js").write_text("console.log(1)")
    (root / ".well-known").mkdir()
    (root / ".well-known" / "security.txt").write_text("Contact: x")
    return root


def deploy_op(app, **kw):
    params = {
        "task_id": "deploy",
        "app_id": app["app_id"],
        "branch_name": "main",
        "aws_conn_id": "aws_staging",
    }
    return AmplifyManualDeployOperator(**{**params, **FAST, "deferrable": False, **kw})


def run_trigger(trigger):
    async def first_event():
        async for event in trigger.run():
            return event

    return asyncio.run(first_event())


def amplify_calls(world):
    return [r["operation"] for r in world.requests() if r["service"] in ("amplify", "amplify-uploads")]


def test_build_directory_is_zipped_with_its_contents_at_the_root(
    amplify_world, aws_connections, static_app, site, task_context, task_logs
):
    context = task_context()
    result = deploy_op(static_app, build_dir=str(site)).execute(context)
    assert result["status"] == "SUCCEED" and result["job_type"] == "MANUAL" and result["job_id"] == "1"
    (job,) = amplify_world.jobs()
    assert job["uploaded_files"] == [".well-known/security.txt", "assets/app.js", "index.html"]
    assert amplify_calls(amplify_world)[:4] == ["GetApp", "GetBranch", "CreateDeployment", "PutDeploymentZip"]
    assert amplify_world.count("StartDeployment") == 1
    assert context["ti"].xcoms["amplify_job"]["job_id"] == "1"
    json.dumps(result)
    logged = task_logs()
    assert "Zipped the 3 files" in logged and "step DEPLOY SUCCEED" in logged
    assert "X-Amz-Signature" not in logged


def test_zip_file_deploys_as_is(amplify_world, aws_connections, static_app, tmp_path, task_context):
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("index.html", "<h1>zip</h1>")
    result = deploy_op(static_app, zip_file=str(archive), branch_name="feature/x").execute(task_context())
    assert result["status"] == "SUCCEED" and result["branch_name"] == "feature/x"
    assert amplify_world.jobs()[0]["uploaded_files"] == ["index.html"]


def test_zip_with_a_single_top_level_folder_is_refused_before_any_call(
    amplify_world, aws_connections, static_app, tmp_path, task_context
):
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("build/index.html", "<h1>nested</h1>")
        z.writestr("build/app.js", "1")
    with pytest.raises(ValueError, match="holds only the folder 'build'.*Amplify serves the root of the zip"):
        deploy_op(static_app, zip_file=str(archive)).execute(task_context())
    assert amplify_calls(amplify_world) == []


def test_top_level_folder_allowed_on_request(
    amplify_world, aws_connections, static_app, tmp_path, task_context
):
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("docs/index.html", "<h1>docs</h1>")
    result = deploy_op(static_app, zip_file=str(archive), allow_top_level_folder=True).execute(task_context())
    assert result["status"] == "SUCCEED"
    assert amplify_world.jobs()[0]["uploaded_files"] == ["docs/index.html"]


def test_build_directory_holding_only_a_folder_suggests_the_folder(
    amplify_world, aws_connections, static_app, tmp_path, task_context
):
    (tmp_path / "out" / "build").mkdir(parents=True)
    (tmp_path / "out" / "build" / "index.html").write_text("x")
    with pytest.raises(ValueError) as excinfo:
        deploy_op(static_app, build_dir=str(tmp_path / "out")).execute(task_context())
    assert f"Did you mean build_dir='{tmp_path / 'out' / 'build'}'?" in str(excinfo.value)
    assert amplify_calls(amplify_world) == []


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: p / "missing", "no such directory. Did the build step run?"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "holds no file"),
        (lambda p: (p / "empty" / "sub").mkdir(parents=True) or p / "empty", "holds no file"),
        (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", "is not a directory"),
    ],
    ids=["missing", "empty", "only-empty-folders", "a-file"],
)
def test_missing_or_empty_build_directory_is_a_clear_error(
    amplify_world, aws_connections, static_app, tmp_path, task_context, make, fragment
):
    path = make(tmp_path)
    with pytest.raises(ValueError, match="build_dir=") as excinfo:
        deploy_op(static_app, build_dir=str(path)).execute(task_context())
    assert fragment in str(excinfo.value)
    assert amplify_calls(amplify_world) == []


def test_not_a_zip_or_an_empty_zip_is_refused(
    amplify_world, aws_connections, static_app, tmp_path, task_context
):
    bad = tmp_path / "site.zip"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="is not a zip archive"):
        deploy_op(static_app, zip_file=str(bad)).execute(task_context())
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(ValueError, match="holds no file"):
        deploy_op(static_app, zip_file=str(empty)).execute(task_context())
    assert amplify_calls(amplify_world) == []


# --- the upload ------------------------------------------------------------------------------


def test_upload_that_fails_once_is_retried(
    amplify_world, aws_connections, static_app, site, task_context, task_logs
):
    amplify_world.inject_fault("500", service="amplify-uploads", operations=["PutDeploymentZip"], count=1)
    result = deploy_op(static_app, build_dir=str(site)).execute(task_context())
    assert result["status"] == "SUCCEED"
    puts = amplify_world.requests(operation="PutDeploymentZip")
    assert [p["status"] for p in puts] == [500, 200]
    assert amplify_world.count("CreateDeployment") == 1 and amplify_world.count("StartDeployment") == 1
    logged = task_logs()
    assert "failed (HTTP 500, attempt 1 of 4); retrying" in logged
    assert "X-Amz-Signature" not in logged and "/_amplify-uploads/" in logged


def test_dropped_upload_connection_is_retried(amplify_world, aws_connections, static_app, site, task_context):
    amplify_world.inject_fault("drop", service="amplify-uploads", operations=["PutDeploymentZip"], count=1)
    result = deploy_op(static_app, build_dir=str(site)).execute(task_context())
    assert result["status"] == "SUCCEED" and amplify_world.count("PutDeploymentZip") == 2


def test_upload_that_keeps_failing_starts_nothing(
    amplify_world, aws_connections, static_app, site, task_context
):
    amplify_world.inject_fault("503", service="amplify-uploads", operations=["PutDeploymentZip"])
    with pytest.raises(
        AmplifyDeploymentError, match="failed 2 times.*was created but not started"
    ) as excinfo:
        deploy_op(static_app, build_dir=str(site), upload_attempts=2).execute(task_context())
    assert "X-Amz-Signature" not in str(excinfo.value)
    assert amplify_world.count("PutDeploymentZip") == 2 and amplify_world.count("StartDeployment") == 0


# --- S3 and URL sources ----------------------------------------------------------------------


@pytest.fixture
def site_bucket(amplify_world):
    s3 = amplify_world.client("s3")
    s3.create_bucket(Bucket="site-artifacts")
    s3.put_object(Bucket="site-artifacts", Key="releases/42/index.html", Body=b"<h1>42</h1>")
    s3.put_object(Bucket="site-artifacts", Key="releases/42.zip", Body=b"PK")
    return "site-artifacts"


def test_s3_bucket_prefix_source(amplify_world, aws_connections, static_app, site_bucket, task_context):
    url = f"s3://{site_bucket}/releases/42/"
    result = deploy_op(static_app, source_url=url).execute(task_context())
    assert result["status"] == "SUCCEED" and result["job_type"] == "MANUAL"
    (job,) = amplify_world.jobs()
    assert job["source_url"] == url and job["source_url_type"] == "BUCKET_PREFIX"
    assert amplify_world.count("CreateDeployment") == 0
    (listing,) = amplify_world.requests(
        service="s3", method="GET"
    )  # ListObjectsV2 (moto names no S3 operation)
    assert listing["path"].startswith(f"/{site_bucket}?list-type=2&prefix=releases%2F42%2F")


def test_s3_zip_source(amplify_world, aws_connections, static_app, site_bucket, task_context):
    url = f"s3://{site_bucket}/releases/42.zip"
    result = deploy_op(static_app, source_url=url).execute(task_context())
    assert result["status"] == "SUCCEED"
    assert amplify_world.jobs()[0]["source_url_type"] == "ZIP"
    (head,) = amplify_world.requests(service="s3", method="HEAD")
    assert head["path"] == f"/{site_bucket}/releases/42.zip"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("s3://site-artifacts/releases/41/", "no object under prefix 'releases/41/'"),
        ("s3://site-artifacts/releases/41.zip", "no object 'releases/41.zip'"),
        ("s3://no-such-bucket/releases/", "no bucket 'no-such-bucket'"),
    ],
)
def test_missing_s3_source_fails_before_start(
    amplify_world, aws_connections, static_app, site_bucket, task_context, url, fragment
):
    with pytest.raises(AmplifyDeploymentError, match="Nothing was deployed") as excinfo:
        deploy_op(static_app, source_url=url).execute(task_context())
    assert fragment in str(excinfo.value)
    assert amplify_world.count("StartDeployment") == 0 and amplify_world.jobs() == []


def test_presigned_https_source_is_logged_without_its_query(
    amplify_world, aws_connections, static_app, task_context, task_logs
):
    url = "https://downloads.example.com/site.zip?X-Amz-Signature=abcdef0123456789"
    assert deploy_op(static_app, source_url=url).execute(task_context())["status"] == "SUCCEED"
    logged = task_logs()
    assert "from https://downloads.example.com/site.zip (ZIP)" in logged and "abcdef0123456789" not in logged


def test_https_zip_url_goes_straight_to_start_deployment(
    amplify_world, aws_connections, static_app, task_context
):
    url = "https://downloads.example.com/site.zip"
    result = deploy_op(static_app, source_url=url).execute(task_context())
    assert result["status"] == "SUCCEED" and amplify_world.jobs()[0]["source_url_type"] == "ZIP"


# --- apps that cannot take manual deployments ------------------------------------------------


def test_app_connected_to_a_repository_is_refused_before_any_change(
    amplify_world, aws_connections, staging_app, site, task_context
):
    with pytest.raises(
        AmplifyDeploymentError, match="connected to the repository https://github.com/example"
    ):
        deploy_op(staging_app, build_dir=str(site)).execute(task_context())
    assert amplify_world.count("CreateDeployment") == 0 and amplify_world.jobs() == []


def test_server_side_rendered_app_is_refused(amplify_world, aws_connections, site, task_context):
    amplify = amplify_world.client("amplify")
    app = amplify.create_app(name="ssr", platform="WEB_COMPUTE")["app"]
    amplify.create_branch(appId=app["appId"], branchName="main")
    with pytest.raises(AmplifyDeploymentError, match="WEB_COMPUTE.*does not support manual deployments"):
        deploy_op({"app_id": app["appId"]}, build_dir=str(site)).execute(task_context())
    assert amplify_world.count("CreateDeployment") == 0


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({}, "Give exactly one of build_dir"),
        ({"build_dir": "dist", "source_url": "s3://b/p/"}, "got build_dir, source_url"),
        ({"source_url": "ftp://x/site.zip"}, "source_url='ftp://x/site.zip' does not match"),
        ({"source_url": "s3://b/site.zip", "source_url_type": "TAR"}, "source_url_type='TAR' is not valid"),
        ({"source_url": "https://x/p/", "source_url_type": "BUCKET_PREFIX"}, "is not an S3 URL"),
        ({"source_url": "s3://b/p/", "app_id": "Bad"}, "app_id='Bad' does not match"),
        ({"source_url": "s3://b/p/", "upload_attempts": 0}, "upload_attempts=0 is not valid"),
        ({"source_url": "s3://b/p/", "branch_name": "nope"}, "create_branch=True"),
        ({"source_url": "s3://b/p/", "app_id": "d0000000000000"}, "no such app in account 123456789012"),
        ({"source_url": "s3://b/p/", "aws_conn_id": "no_such_conn"}, "no_such_conn"),
    ],
)
def test_bad_input_fails_clearly_before_any_change(
    amplify_world, aws_connections, static_app, task_context, overrides, fragment
):
    with pytest.raises(ValueError) as excinfo:
        deploy_op(static_app, **overrides).execute(task_context())
    assert fragment in str(excinfo.value)
    assert amplify_world.count("CreateDeployment") == 0 and amplify_world.count("StartDeployment") == 0


# --- waiting ---------------------------------------------------------------------------------


def test_deferrable_defers_and_completes(amplify_world, aws_connections, static_app, site, task_context):
    context = task_context()
    op = deploy_op(static_app, build_dir=str(site), deferrable=True)
    with pytest.raises(TaskDeferred) as excinfo:
        op.execute(context)
    assert excinfo.value.method_name == "execute_complete"
    classpath, kwargs = excinfo.value.trigger.serialize()
    assert classpath == "airflow_amplify.triggers.amplify.AmplifyJobTrigger" and kwargs["job_id"] == "1"
    json.dumps(kwargs)
    event = run_trigger(excinfo.value.trigger)
    result = op.execute_complete(context, event.payload, **excinfo.value.kwargs or {})
    assert result["status"] == "SUCCEED" and result["job_type"] == "MANUAL"


def test_failed_deployment_carries_the_deploy_log(
    amplify_world, aws_connections, static_app, site, task_context
):
    amplify_world.script_next_job(
        static_app["app_id"], "main", outcome="FAILED", fail_step="DEPLOY", status_reason="Access Denied"
    )
    with pytest.raises(AmplifyJobFailedError, match=r"(?s)step DEPLOY FAILED: Access Denied.*DEPLOY log"):
        deploy_op(static_app, build_dir=str(site)).execute(task_context())


def test_retry_reattaches_to_the_started_deployment(
    amplify_world, aws_connections, static_app, site, task_context
):
    amplify_world.script_next_job(static_app["app_id"], "main", build_seconds=1.0)
    context = task_context()
    with pytest.raises(TaskDeferred):
        deploy_op(static_app, build_dir=str(site), deferrable=True).execute(context)
    context["ti"].try_number = 2
    result = deploy_op(static_app, build_dir=str(site)).execute(context)
    assert result["job_id"] == "1" and result["status"] == "SUCCEED"
    assert amplify_world.count("CreateDeployment") == 1 and amplify_world.count("PutDeploymentZip") == 1


def test_on_kill_stops_the_deployment(amplify_world, aws_connections, static_app, site, task_context):
    import threading
    import time

    amplify_world.script_next_job(static_app["app_id"], "main", build_seconds=30)
    op = deploy_op(static_app, build_dir=str(site))

    def kill_when_started():
        deadline = time.monotonic() + 20
        while not op._job_ref and time.monotonic() < deadline:
            time.sleep(0.05)
        op.on_kill()

    killer = threading.Thread(target=kill_when_started, daemon=True)
    killer.start()
    with pytest.raises(AmplifyJobFailedError, match="CANCELLED"):
        op.execute(task_context())
    killer.join(5)
    assert amplify_world.count("StopJob") == 1
