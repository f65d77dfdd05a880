"""Deploy apps without Git: a local build directory, a zip file, or an S3 location.

:class:`AmplifyManualDeployOperator` runs CreateDeployment, uploads the zip to the presigned URL
(retried: a PUT is idempotent), runs StartDeployment, then waits for the MANUAL job with the same
machinery as frontend builds (deferrable or blocking, status changes logged, the failing step's log
in the error, the job stopped when the task is killed, re-attach on retry). An S3 source goes
straight to StartDeployment with ``sourceUrl``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_amplify.hooks.deployment import (
    SOURCE_URL_TYPES,
    SSR_PLATFORMS,
    TOP_LEVEL_FOLDER_HINT,
    AmplifyDeploymentError,
    AmplifyDeploymentHook,
    ZipLayout,
    build_directory_layout,
    check_deployment_zip,
    redact_presigned_url,
    register_presigned_url_secret,
    zip_build_directory,
)
from airflow_amplify.operators.amplify import AmplifyBaseJobOperator
from airflow_amplify.validation import (
    BOOL,
    amplify,
    check_parameters,
    count,
    custom,
    duration,
    enum,
    parse_s3_url,
    path,
    shown,
    to_seconds,
    validate_amplify_value,
)


def _source_url(param: str, value: Any) -> None:
    """An S3 or https URL Amplify reads the site from; its query (a presigned URL's signature) is never shown."""
    validate_amplify_value(param, value, "SourceUrl", required=False)
    if value and not value.startswith("s3://"):
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if "@" in parts.netloc or parts.fragment or not parts.hostname:
            raise ValueError(
                f"{param}={shown(value)} is not a URL Amplify can read: give https://host/path/site.zip with "
                "no user info or fragment (or s3://bucket/key)."
            )


if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class AmplifyManualDeployOperator(AmplifyBaseJobOperator):
    """Deploy a static site to an Amplify app that has no Git repository, and wait for the MANUAL job.

    Give exactly one source:

    - ``build_dir``: a local build output directory (``dist``, ``build``, ``out`` ...). Its
      *contents* are zipped, so they sit at the zip's root as Amplify requires.
    - ``zip_file``: a ready zip. Amplify serves the zip's root as the site's root: a zip whose only
      entry is a folder is refused (visitors would get AccessDenied at ``/``), unless
      ``allow_top_level_folder=True``. The same check applies to ``build_dir``.
    - ``source_url``: ``s3://bucket/site.zip`` (``source_url_type='ZIP'``), ``s3://bucket/prefix/``
      (``'BUCKET_PREFIX'``), or a public ``https://`` URL of a zip. Amplify reads it itself: its
      bucket policy must let Amplify read the objects.

    Apps connected to a repository, and server-side rendered apps (platform WEB_COMPUTE or
    WEB_DYNAMIC), cannot take manual deployments: the operator says so before anything changes.

    :param app_id: the Amplify app id. Templated.
    :param branch_name: the branch (the console's "environment") to deploy. Templated.
    :param build_dir: a local directory whose contents are the site. Templated.
    :param zip_file: a local zip whose root is the site's root. Templated.
    :param source_url: an S3 URL (``s3://bucket/key.zip`` or ``s3://bucket/prefix/``) or an
        ``https://`` URL of a zip. Templated.
    :param source_url_type: ``ZIP`` or ``BUCKET_PREFIX``; by default ``ZIP`` when the URL ends in
        ``.zip`` or is not an S3 URL, else ``BUCKET_PREFIX``. Templated.
    :param allow_top_level_folder: deploy a zip (or directory) whose only root entry is a folder.
    :param check_source: before StartDeployment, check that an S3 source exists (HeadObject for a
        ZIP, ListObjectsV2 for a prefix). Without permission to look, the check is skipped with a warning.
    :param upload_attempts: how many times to try the upload to the presigned URL (5xx and lost
        connections are retried; 4xx are not).
    :param upload_backoff: seconds before the second upload attempt, doubled for each later one.
    :param upload_timeout: seconds for one upload attempt.

    The waiting parameters (``wait_for_completion``, ``deferrable``, ``waiter_delay``,
    ``waiter_max_delay``, ``queued_timeout``, ``running_timeout``, ``log_tail_lines``,
    ``stop_job_on_kill``) and the AWS ones (``aws_conn_id``, ``region_name``, ``verify``,
    ``botocore_config``) are those of :class:`~airflow_amplify.operators.amplify.AmplifyBaseJobOperator`.
    """

    aws_hook_class = AmplifyDeploymentHook
    external_id_key = "amplify_manual_deployment"
    template_fields: Sequence[str] = aws_template_fields(
        "app_id", "branch_name", "build_dir", "zip_file", "source_url", "source_url_type"
    )
    parameter_kinds = {
        **AmplifyBaseJobOperator.parameter_kinds,
        "app_id": amplify("AppId"),
        "branch_name": amplify("BranchName"),
        "build_dir": path(required=False),
        "zip_file": path(required=False),
        "source_url": custom("s3:// or https:// URL, or None", _source_url),
        "source_url_type": enum(*SOURCE_URL_TYPES, allow_none=True),
        "allow_top_level_folder": BOOL,
        "check_source": BOOL,
        "upload_attempts": count(1),
        "upload_backoff": duration(allow_zero=True),
        "upload_timeout": duration(),
    }

    def __init__(
        self,
        *,
        app_id: str,
        branch_name: str,
        build_dir: str | None = None,
        zip_file: str | None = None,
        source_url: str | None = None,
        source_url_type: str | None = None,
        allow_top_level_folder: bool = False,
        check_source: bool = True,
        upload_attempts: int = 4,
        upload_backoff: float = 2.0,
        upload_timeout: float = 300,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_id = app_id
        self.branch_name = branch_name
        self.build_dir = build_dir
        self.zip_file = zip_file
        self.source_url = source_url
        self.source_url_type = source_url_type
        self.allow_top_level_folder = allow_top_level_folder
        self.check_source = check_source
        self.upload_attempts = upload_attempts
        self.upload_backoff = upload_backoff
        self.upload_timeout = upload_timeout
        check_parameters(self, at="init")

    # --- input --------------------------------------------------------------------------------

    def validate(self) -> None:
        super().validate()
        given = [name for name in ("build_dir", "zip_file", "source_url") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                "Give exactly one of build_dir (a local build directory), zip_file (a local zip) or "
                f"source_url (s3://... or https://...); got {', '.join(given) or 'none'}."
            )
        if self.build_dir:
            self._check_layout(build_directory_layout(self.build_dir), "build_dir", self.build_dir)
        elif self.zip_file:
            self._check_layout(check_deployment_zip(self.zip_file), "zip_file", self.zip_file)
        else:
            self._source_type()

    def _source_type(self) -> str:
        url = self.source_url or ""
        kind = self.source_url_type
        if kind is None:
            kind = "BUCKET_PREFIX" if url.startswith("s3://") and not url.lower().endswith(".zip") else "ZIP"
        if kind not in SOURCE_URL_TYPES:
            raise ValueError(
                f"source_url_type={kind!r} is not valid; expected one of {', '.join(SOURCE_URL_TYPES)}."
            )
        if kind == "BUCKET_PREFIX":
            parse_s3_url(url)  # a prefix can only be in S3
        elif url.startswith("s3://"):
            parse_s3_url(url, need_key=True)  # a ZIP is one object
        return kind

    def _check_layout(self, layout: ZipLayout, param: str, value: str) -> None:
        folder = layout.single_top_level_folder
        if folder and not self.allow_top_level_folder:
            suggestion = ""
            if param == "build_dir":
                suggestion = f" Did you mean build_dir={str(Path(value) / folder)!r}?"
            raise ValueError(
                f"{param}={value!r} holds only the folder {folder!r} at its root. {TOP_LEVEL_FOLDER_HINT}{suggestion}"
            )
        if "index.html" not in layout.root_entries:
            self.log.warning(
                "%s=%r has no index.html at its root: Amplify serves the root of the deployment as /.",
                param,
                value,
            )

    def _check_app_and_branch(self, hook: AmplifyDeploymentHook) -> None:
        where = f"account {hook.account_id}, region {hook.conn_region_name}"
        try:
            app = hook.get_app(self.app_id)
        except hook.conn.exceptions.NotFoundException:
            raise ValueError(f"app_id={self.app_id!r}: no such app in {where}.") from None
        if app.get("repository"):
            raise AmplifyDeploymentError(
                f"App {self.app_id} is connected to the repository {app['repository']}: Amplify builds it "
                "from Git and refuses manual deployments (CreateDeployment/StartDeployment). Deploy it with "
                "AmplifyStartJobOperator or AmplifyWebhookBuildOperator, or create an app without a "
                "repository for zip and S3 deployments."
            )
        if app.get("platform") in SSR_PLATFORMS:
            raise AmplifyDeploymentError(
                f"App {self.app_id} has platform {app['platform']} (server-side rendering): Amplify Hosting "
                "does not support manual deployments for SSR apps."
            )
        try:
            hook.get_branch(self.app_id, self.branch_name)
        except hook.conn.exceptions.NotFoundException:
            raise ValueError(
                f"branch_name={self.branch_name!r}: app {self.app_id} has no such branch in {where}. "
                "Create it first (AmplifyBranchSetupOperator with create_branch=True does)."
            ) from None

    # --- the job ------------------------------------------------------------------------------

    def start(self, context: Context) -> dict[str, Any]:
        hook: AmplifyDeploymentHook = self.hook
        self._check_app_and_branch(hook)
        if self.source_url:
            return self._start_from_url(hook)
        if self.zip_file:
            return self._deploy_zip(hook, Path(self.zip_file), f"zip file {self.zip_file}")
        with tempfile.TemporaryDirectory(prefix="amplify-deploy-") as tmp:
            archive = Path(tmp, "site.zip")
            count = zip_build_directory(self.build_dir, archive)
            self.log.info(
                "Zipped the %d files of %s (%d bytes)", count, self.build_dir, archive.stat().st_size
            )
            return self._deploy_zip(hook, archive, f"build directory {self.build_dir}")

    def _start_from_url(self, hook: AmplifyDeploymentHook) -> dict[str, Any]:
        kind = self._source_type()
        shown = self.source_url
        if "?" in shown:  # perhaps a presigned GET URL: its query is a credential
            register_presigned_url_secret(shown)
            shown = redact_presigned_url(shown)
        if self.check_source and self.source_url.startswith("s3://"):
            missing = hook.check_s3_source(self.source_url, kind)
            if missing:
                raise AmplifyDeploymentError(
                    f"source_url={shown!r} ({kind}): {missing}. Nothing was deployed."
                )
        summary = hook.start_deployment(
            self.app_id, self.branch_name, source_url=self.source_url, source_url_type=kind
        )
        self.log.info(
            "Started Amplify deployment job %s of %s/%s from %s (%s)",
            summary["jobId"],
            self.app_id,
            self.branch_name,
            shown,
            kind,
        )
        return summary

    def _deploy_zip(self, hook: AmplifyDeploymentHook, archive: Path, what: str) -> dict[str, Any]:
        job_id, upload_url = hook.create_deployment(self.app_id, self.branch_name)
        self.log.info("Created Amplify deployment job %s of %s/%s", job_id, self.app_id, self.branch_name)
        try:
            hook.upload_zip(
                upload_url,
                archive,
                attempts=self.upload_attempts,
                backoff=to_seconds(self.upload_backoff, "upload_backoff", allow_zero=True),
                timeout=to_seconds(self.upload_timeout, "upload_timeout"),
            )
        except AmplifyDeploymentError as err:
            raise AmplifyDeploymentError(
                f"{err} Deployment job {job_id} was created but not started; Amplify drops it "
                "(CreateDeployment expires after 8 hours). A retry of the task creates a new one."
            ) from None
        summary = hook.start_deployment(self.app_id, self.branch_name, job_id=job_id)
        self.log.info(
            "Started Amplify deployment job %s of %s/%s from the %s (%s)",
            job_id,
            self.app_id,
            self.branch_name,
            what,
            summary["status"],
        )
        return summary
