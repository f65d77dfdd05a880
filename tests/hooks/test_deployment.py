"""AmplifyDeploymentHook and the deployment zip helpers."""

from __future__ import annotations

import zipfile

import pytest
from airflow.providers.common.compat.sdk import redact

from airflow_amplify.hooks.deployment import (
    AmplifyDeploymentError,
    AmplifyDeploymentHook,
    check_deployment_zip,
    redact_presigned_url,
    zip_build_directory,
    zip_layout,
)


@pytest.mark.parametrize(
    ("names", "root", "folder"),
    [
        (["index.html", "assets/app.js"], ["assets/", "index.html"], None),
        (["build/", "build/index.html"], ["build/"], "build"),
        (["build/index.html", "build/css/a.css"], ["build/"], "build"),
        (["index.html"], ["index.html"], None),
        (["/abs/index.html"], ["abs/"], "abs"),
    ],
)
def test_zip_layout_finds_a_single_top_level_folder(names, root, folder):
    layout = zip_layout(names)
    assert layout.root_entries == root and layout.single_top_level_folder == folder


def test_build_directory_zip_has_the_contents_at_its_root(tmp_path):
    (tmp_path / "dist" / "a" / "b").mkdir(parents=True)
    (tmp_path / "dist" / "index.html").write_text("x")
    (tmp_path / "dist" / "a" / "b" / "deep.txt").write_text("y")
    archive = tmp_path / "site.zip"
    assert zip_build_directory(tmp_path / "dist", archive) == 2
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == ["a/b/deep.txt", "index.html"]
    assert check_deployment_zip(archive).root_entries == ["a/", "index.html"]


def test_presigned_url_is_logged_without_its_query_and_masked():
    url = "https://bucket.s3.amazonaws.com/key/site.zip?X-Amz-Security-Token=tok123&X-Amz-Signature=sig456abc"
    assert redact_presigned_url(url) == "https://bucket.s3.amazonaws.com/key/site.zip"
    from airflow_amplify.hooks.deployment import register_presigned_url_secret

    register_presigned_url_secret(url)
    masked = redact("signature sig456abc token tok123")
    assert "sig456abc" not in masked and "tok123" not in masked


@pytest.fixture
def hook(aws_connections):
    return AmplifyDeploymentHook(aws_conn_id="aws_staging")


@pytest.fixture
def deployment(amplify_world, hook):
    app = amplify_world.seed_app("static", ("main",), repository=None)
    job_id, url = hook.create_deployment(app["app_id"], "main")
    return app, job_id, url


def test_upload_refused_with_4xx_is_not_retried(amplify_world, hook, deployment, tmp_path):
    _, _, url = deployment
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("index.html", "x")
    wrong = url.replace("/_amplify-uploads/", "/_amplify-uploads/0")
    sleeps = []
    with pytest.raises(AmplifyDeploymentError, match="refused with HTTP 404") as excinfo:
        hook.upload_zip(wrong, archive, sleep=sleeps.append)
    assert "X-Amz-Signature" not in str(excinfo.value) and sleeps == []
    assert amplify_world.count("PutDeploymentZip") == 1


def test_upload_backs_off_between_attempts(amplify_world, hook, deployment, tmp_path):
    app, job_id, url = deployment
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("index.html", "x")
    amplify_world.inject_fault("500", service="amplify-uploads", count=2)
    sleeps = []
    hook.upload_zip(url, archive, backoff=1.5, sleep=sleeps.append)
    assert sleeps == [1.5, 3.0] and amplify_world.count("PutDeploymentZip") == 3
    summary = hook.start_deployment(app["app_id"], "main", job_id=job_id)
    assert summary["jobId"] == job_id and summary["jobType"] == "MANUAL"


def test_start_deployment_without_upload_is_refused_by_amplify(amplify_world, hook, deployment):
    app, job_id, _ = deployment
    with pytest.raises(hook.conn.exceptions.BadRequestException, match="No file was uploaded"):
        hook.start_deployment(app["app_id"], "main", job_id=job_id)


def test_a_file_that_is_no_zip_fails_the_job_at_deploy(amplify_world, hook, deployment, tmp_path):
    app, job_id, url = deployment
    junk = tmp_path / "site.zip"
    junk.write_bytes(b"not a zip")
    hook.upload_zip(url, junk)
    hook.start_deployment(app["app_id"], "main", job_id=job_id)
    (job,) = amplify_world.jobs()
    assert job["uploaded_files"] == []
    import time

    deadline = time.monotonic() + 20
    while amplify_world.jobs()[0]["status"] not in ("FAILED", "SUCCEED") and time.monotonic() < deadline:
        time.sleep(0.1)
    (job,) = amplify_world.jobs()
    assert job["status"] == "FAILED" and job["steps"][-1]["status_reason"].startswith(
        "The uploaded deployment file"
    )
