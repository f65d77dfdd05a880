"""Manual deployments (CreateDeployment, presigned zip upload, StartDeployment) and branch setup calls.

:class:`AmplifyDeploymentHook` extends :class:`~airflow_amplify.hooks.amplify.AmplifyHook` with the
calls that branch setup and deployments without Git need. The zip helpers are plain functions:
Amplify serves the *root* of the zip as the site's root, so a build directory is zipped with its
contents at the root, and a zip whose only top-level entry is a folder is refused before any AWS call.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, mask_secret
from botocore.exceptions import ClientError

from airflow_amplify.hooks._aws import OtherServiceClientsMixin
from airflow_amplify.hooks.amplify import AmplifyHook, register_webhook_secret
from airflow_amplify.validation import parse_s3_url

#: Platforms whose apps cannot take manual deployments (server-side rendering).
SSR_PLATFORMS = frozenset({"WEB_COMPUTE", "WEB_DYNAMIC"})
SOURCE_URL_TYPES = ("ZIP", "BUCKET_PREFIX")


class AmplifyDeploymentError(AirflowException):
    """A manual deployment could not be prepared, uploaded or started."""


# --- zips ----------------------------------------------------------------------------------


@dataclass
class ZipLayout:
    """What a deployment zip holds at its root.

    :param files: number of files in the archive.
    :param root_entries: names at the archive's root (files, and folders with a trailing ``/``).
    """

    files: int
    root_entries: list[str]

    @property
    def single_top_level_folder(self) -> str | None:
        """The folder name when the root holds exactly one folder and no file, else None."""
        if len(self.root_entries) == 1 and self.root_entries[0].endswith("/"):
            return self.root_entries[0].rstrip("/")
        return None


TOP_LEVEL_FOLDER_HINT = (
    "Amplify serves the root of the zip as the root of the site, so a zip whose only entry is a "
    "folder publishes nothing at / (visitors get AccessDenied). Zip the folder's contents instead "
    "(cd into it and zip from there), give the folder itself as build_dir, or set "
    "allow_top_level_folder=True if the site really lives under that path."
)


def zip_layout(names: list[str]) -> ZipLayout:
    """The root entries of an archive, from its member names (``a/b.html`` gives root entry ``a/``)."""
    root: set[str] = set()
    files = 0
    for name in names:
        name = name.lstrip("/")
        if not name:
            continue
        head, sep, _ = name.partition("/")
        root.add(head + "/" if sep else head)
        if not name.endswith("/"):
            files += 1
    return ZipLayout(files=files, root_entries=sorted(root))


def check_deployment_zip(path: str | os.PathLike[str], param: str = "zip_file") -> ZipLayout:
    """Check that a file is a zip with files in it; return its layout.

    :param path: the zip file.
    :param param: the parameter that named it, for the messages.
    :raises ValueError: when the file is missing, not a zip, or holds no file.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{param}={str(path)!r}: no such file.")
    try:
        with zipfile.ZipFile(path) as archive:
            layout = zip_layout(archive.namelist())
    except zipfile.BadZipFile:
        raise ValueError(f"{param}={str(path)!r} is not a zip archive.") from None
    if layout.files == 0:
        raise ValueError(f"{param}={str(path)!r} holds no file: Amplify would publish an empty site.")
    return layout


def build_directory_layout(directory: str | os.PathLike[str], param: str = "build_dir") -> ZipLayout:
    """Check that a build directory exists and holds files; return the layout its zip would have.

    :param directory: the build output directory (for example ``dist`` or ``build``).
    :param param: the parameter that named it, for the messages.
    :raises ValueError: when the directory is missing, not a directory, or holds no file.
    """
    directory = Path(directory)
    if not directory.exists():
        raise ValueError(f"{param}={str(directory)!r}: no such directory. Did the build step run?")
    if not directory.is_dir():
        raise ValueError(
            f"{param}={str(directory)!r} is not a directory; give a zip archive as zip_file instead."
        )
    names = [name for name, _ in _walk(directory)]
    layout = zip_layout(names)
    if layout.files == 0:
        raise ValueError(
            f"{param}={str(directory)!r} holds no file: Amplify would publish an empty site. Did the build step run?"
        )
    return layout


def _walk(directory: Path):
    """(archive name, path) of every file under ``directory``, sorted, hidden files included."""
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            yield path.relative_to(directory).as_posix(), path


def zip_build_directory(directory: str | os.PathLike[str], destination: str | os.PathLike[str]) -> int:
    """Zip a build directory's contents (not the directory itself) so they sit at the zip's root.

    :param directory: the build output directory.
    :param destination: the zip file to write.
    :return: the number of files written.
    """
    count = 0
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in _walk(Path(directory)):
            archive.write(path, name)
            count += 1
    return count


def redact_presigned_url(url: str) -> str:
    """A presigned URL without its query (signature, credentials, expiry): safe to log."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def register_presigned_url_secret(url: str) -> None:
    """Mask a presigned URL, its signature and its session token in every log."""
    mask_secret(url)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    for key in ("X-Amz-Signature", "X-Amz-Security-Token", "Signature", "x-amz-security-token"):
        for value in query.get(key, []):
            mask_secret(value)


# --- app and branch settings ----------------------------------------------------------------


def setting_change(current: Any, wanted: Any) -> dict[str, Any] | None:
    """``{"from", "to"}`` when a declared setting differs from the current one, else None."""
    return None if wanted is None or current == wanted else {"from": current, "to": wanted}


# --- the hook ------------------------------------------------------------------------------


class AmplifyDeploymentHook(OtherServiceClientsMixin, AmplifyHook):
    """Amplify calls for branch setup and manual deployments (apps without a Git repository).

    Webhook URLs and presigned upload URLs are registered with the secrets masker as soon as
    they are read. Additional arguments go to :class:`~airflow_amplify.hooks.amplify.AmplifyHook`.
    """

    # apps and branches

    def get_app(self, app_id: str) -> dict[str, Any]:
        """GetApp: the app (``repository`` is empty for apps deployed without Git)."""
        return self.conn.get_app(appId=app_id)["app"]

    def update_app(self, app_id: str, **fields: Any) -> dict[str, Any]:
        """UpdateApp with only the given fields (``computeRoleArn``, ``jobConfig``, ``cacheConfig``, ...)."""
        return self.conn.update_app(appId=app_id, **fields)["app"]

    def list_branches(self, app_id: str) -> list[dict[str, Any]]:
        """Every branch of the app (ListBranches, all pages)."""
        branches: list[dict[str, Any]] = []
        for page in self.conn.get_paginator("list_branches").paginate(appId=app_id):
            branches.extend(page.get("branches", []))
        return branches

    def delete_branch(self, app_id: str, branch_name: str) -> dict[str, Any]:
        """DeleteBranch; returns the deleted branch."""
        return self.conn.delete_branch(appId=app_id, branchName=branch_name)["branch"]

    def create_branch(self, app_id: str, branch_name: str, **fields: Any) -> dict[str, Any]:
        """CreateBranch with the given fields (``enableAutoBuild``, ``environmentVariables``, ...)."""
        return self.conn.create_branch(appId=app_id, branchName=branch_name, **fields)["branch"]

    def update_branch(self, app_id: str, branch_name: str, **fields: Any) -> dict[str, Any]:
        """UpdateBranch with only the given fields (``environmentVariables`` replaces the whole map)."""
        return self.conn.update_branch(appId=app_id, branchName=branch_name, **fields)["branch"]

    # webhooks

    def list_webhooks(self, app_id: str) -> list[dict[str, Any]]:
        """Every incoming webhook of the app (all branches), oldest first; their URLs are masked."""
        webhooks: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.conn.list_webhooks(
                appId=app_id, maxResults=50, **({"nextToken": token} if token else {})
            )
            for webhook in page.get("webhooks", []):
                register_webhook_secret(webhook.get("webhookUrl", ""))
                webhooks.append(webhook)
            token = page.get("nextToken")
            if not token:
                break
        return sorted(webhooks, key=lambda w: (w.get("createTime") or 0, w["webhookId"]))

    def create_webhook(self, app_id: str, branch_name: str, description: str) -> dict[str, Any]:
        """CreateWebhook; the new URL is masked before it is returned."""
        webhook = self.conn.create_webhook(appId=app_id, branchName=branch_name, description=description)[
            "webhook"
        ]
        register_webhook_secret(webhook["webhookUrl"])
        return webhook

    def delete_webhook(self, webhook_id: str) -> None:
        """DeleteWebhook."""
        register_webhook_secret(self.conn.delete_webhook(webhookId=webhook_id)["webhook"]["webhookUrl"])

    # manual deployments

    def create_deployment(self, app_id: str, branch_name: str) -> tuple[str, str]:
        """CreateDeployment for one zip: the job id and the presigned upload URL (masked at once)."""
        answer = self.conn.create_deployment(appId=app_id, branchName=branch_name)
        register_presigned_url_secret(answer["zipUploadUrl"])
        return answer["jobId"], answer["zipUploadUrl"]

    def upload_zip(
        self,
        upload_url: str,
        path: str | os.PathLike[str],
        attempts: int = 4,
        backoff: float = 2.0,
        timeout: float = 300,
        sleep=time.sleep,
    ) -> None:
        """PUT a zip to a presigned upload URL; retry 5xx answers and lost connections.

        A PUT of the same bytes to the same URL is idempotent, so retrying is safe. 4xx answers
        (an expired or refused URL) are not retried. Logs show the URL without its query.

        :param upload_url: the presigned URL from CreateDeployment (a secret: never logged).
        :param path: the zip file.
        :param attempts: how many PUTs at most.
        :param backoff: seconds before the second attempt, doubled for each later one.
        :param timeout: seconds for one PUT.
        :param sleep: how to wait between attempts.
        :raises AmplifyDeploymentError: when every attempt failed, or the URL was refused.
        """
        register_presigned_url_secret(upload_url)
        where = redact_presigned_url(upload_url)
        size = Path(path).stat().st_size
        for attempt in range(1, attempts + 1):
            try:
                with open(path, "rb") as body:
                    request = urllib.request.Request(
                        upload_url,
                        data=body,
                        method="PUT",
                        headers={"Content-Type": "application/zip", "Content-Length": str(size)},
                    )
                    with urllib.request.urlopen(request, timeout=timeout) as answer:
                        answer.read()
                self.log.info("Uploaded %d bytes to %s (attempt %d)", size, where, attempt)
                return
            except urllib.error.HTTPError as err:
                detail = err.read(300).decode("utf-8", "replace")
                if err.code < 500 and err.code != 429:
                    raise AmplifyDeploymentError(
                        f"The upload to {where} was refused with HTTP {err.code}: {detail}"
                    ) from None
                problem = f"HTTP {err.code}"
            except (urllib.error.URLError, OSError, TimeoutError) as err:
                problem = type(getattr(err, "reason", err)).__name__
            if attempt == attempts:
                raise AmplifyDeploymentError(
                    f"The upload to {where} failed {attempts} times (last: {problem})."
                )
            delay = backoff * 2 ** (attempt - 1)
            self.log.warning(
                "Upload to %s failed (%s, attempt %d of %d); retrying in %.1f s",
                where,
                problem,
                attempt,
                attempts,
                delay,
            )
            sleep(delay)

    def start_deployment(
        self,
        app_id: str,
        branch_name: str,
        job_id: str | None = None,
        source_url: str | None = None,
        source_url_type: str | None = None,
    ) -> dict[str, Any]:
        """StartDeployment of an uploaded zip (``job_id``) or of a source URL; returns the ``jobSummary``."""
        params: dict[str, Any] = {"appId": app_id, "branchName": branch_name}
        if job_id:
            params["jobId"] = job_id
        if source_url:
            params["sourceUrl"] = source_url
            params["sourceUrlType"] = source_url_type or "ZIP"
        return self.conn.start_deployment(**params)["jobSummary"]

    # S3 sources

    def check_s3_source(self, source_url: str, source_url_type: str) -> str | None:
        """Whether an S3 source exists: the object for ZIP, at least one object under a BUCKET_PREFIX.

        :return: None when the source is there or could not be checked (no permission: logged);
            otherwise what is missing.
        """
        bucket, key = parse_s3_url(source_url)
        s3 = self.client_for("s3")
        try:
            if source_url_type == "ZIP":
                s3.head_object(Bucket=bucket, Key=key)
            else:
                listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
                if not listed.get("KeyCount"):
                    return f"no object under prefix {key!r} of bucket {bucket!r}"
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NotFound"):
                return f"no object {key!r} in bucket {bucket!r}"
            if code == "NoSuchBucket":
                return f"no bucket {bucket!r}"
            self.log.warning(
                "Could not check the S3 source %s (%s); starting the deployment anyway", source_url, code
            )
        return None
