"""Deploy an Amplify Gen 2 backend with ``ampx pipeline-deploy`` and write ``amplify_outputs`` with ``ampx generate outputs``.

Both operators are thin: validate input before any AWS call, run the preflight checks, call
:class:`~airflow_amplify.hooks.ampx.AmpxHook`, and shape a small return value (no secrets).

Concurrency: ``ampx pipeline-deploy`` of one app and branch must not run twice at a time (the second
fails with ``CloudFormationDeploymentError ... UPDATE_IN_PROGRESS``). Give every deploy task of a
branch the same one-slot Airflow pool (``pool="amplify-<app>-<branch>"``, created with
``airflow pools set amplify-<app>-<branch> 1 "..."``) so deploys queue inside Airflow across DAG runs
and DAGs; the preflight stack check (``check_stack=True``, on by default) catches a deploy started
outside Airflow, failing (``wait_for_stack=False``) or waiting until the stack settles
(``wait_for_stack=True``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import conf

from airflow_amplify.ampx.cache import DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, NodeModulesCache
from airflow_amplify.ampx.errors import AmpxCommandError, AmpxPreflightError
from airflow_amplify.ampx.phases import parse_ampx_phases
from airflow_amplify.hooks.ampx import DEFAULT_AMPX_VERSION, AmpxHook
from airflow_amplify.hooks.secrets import amplify_secret_prefix
from airflow_amplify.hooks.source import AmplifySourceHook, read_commit
from airflow_amplify.links.cloudformation import AmplifyStackLink
from airflow_amplify.outputs.versions import (
    DEFAULT_OUTPUTS_VERSION,
    NATIVE_OUTPUTS_VERSIONS,
    OUTPUT_FORMATS,
    OUTPUTS_VERSIONS,
    outputs_file_name,
)
from airflow_amplify.validation import (
    AWS_PARAMETER_KINDS,
    BOOL,
    BOOL_OR_NONE,
    STACK_NAME,
    amplify,
    check_parameters,
    check_path,
    check_process_environment,
    check_text,
    connection_id,
    count,
    custom,
    duration,
    enum,
    path,
    require_text,
    shown,
    to_seconds,
    validate_app_id,
    validate_outputs_options,
    validate_ref,
    validate_repo_url,
    validate_secret_names,
    validate_stack_name,
    validate_subdir,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Engines that can produce amplify_outputs: ``auto`` (native when it can, ampx otherwise),
#: ``native`` (Python, no Node) and ``ampx`` (the CLI).
OUTPUTS_ENGINES = ("auto", "native", "ampx")


def _ampx_version(param: str, value: Any) -> None:
    """An npm version or tag of @aws-amplify/backend-cli (``1.10.0``, ``latest``)."""
    check_text(param, value)
    import re

    if value.startswith("-") or not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z.+-]*", value):
        raise ValueError(f"{param}={shown(value)} is not an npm version or tag (for example '1.10.0').")


def _install_command(param: str, value: Any) -> None:
    """A shell-free command: a string split like a shell would, or a list of strings; None: by lock file."""
    if value is None:
        return
    if isinstance(value, str):
        check_text(param, value)
        return
    if not isinstance(value, list | tuple) or not value or not all(isinstance(a, str) and a for a in value):
        raise ValueError(
            f"{param}={shown(value)} is not valid; give a command as a string ('npm ci') or a list of "
            "non-empty strings (['npm', 'ci'])."
        )
    for argument in value:
        check_text(param, argument)


def _out_dir(param: str, value: Any) -> None:
    require_text(value, param, "give the directory to write amplify_outputs into")
    check_path(param, value, must="dir_or_missing")


class _AmpxOperatorBase(AwsBaseOperator[AmpxHook]):
    """What both ampx operators share: the hook's options, on_kill, the stack link."""

    aws_hook_class = AmpxHook
    operator_extra_links = (AmplifyStackLink(),)
    parameter_kinds = {
        **AWS_PARAMETER_KINDS,
        "ampx_version": custom("npm version or tag", _ampx_version),
        "ampx_path": path(required=False, must="executable_if_exists"),
        "env": custom("mapping of variable names to strings or None", check_process_environment),
        "timeout": duration(allow_none=True),
        "kill_grace_seconds": duration(allow_zero=True),
    }

    def __init__(
        self,
        *,
        ampx_version: str = DEFAULT_AMPX_VERSION,
        ampx_path: str | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float | timedelta | None = timedelta(hours=1),
        kill_grace_seconds: float = 10.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.ampx_version = ampx_version
        self.ampx_path = ampx_path
        self.env = env
        self.timeout = timeout
        self.kill_grace_seconds = kill_grace_seconds

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        return {
            **super()._hook_parameters,
            "ampx_version": self.ampx_version,
            "ampx_path": self.ampx_path,
            "env": self.env,
            "kill_grace_seconds": self.kill_grace_seconds,
        }

    def on_kill(self) -> None:
        """End ampx's whole process tree (npx, node and their children)."""
        hook = self.__dict__.get("hook")
        if hook is not None:
            hook.terminate()

    def _persist_stack_link(self, context: Context, stack_ref: str) -> None:
        AmplifyStackLink.persist(
            context=context,
            operator=self,
            region_name=self.hook.resolve_region(),
            aws_partition=self.hook.conn_partition,
            stack_id=stack_ref,
        )


class AmplifyPipelineDeployOperator(_AmpxOperatorBase):
    """Deploy an Amplify Gen 2 branch backend with ``ampx pipeline-deploy`` in the target account.

    Runs preflight checks (each can be switched off), installs the project's dependencies when
    ``node_modules`` does not match the lock file, runs ``ampx pipeline-deploy --branch B --app-id A``
    with the connection's credentials (assumed-role session credentials included) in the CLI's
    environment only, streams its output into the task log, and fails with
    :class:`~airflow_amplify.hooks.ampx.AmpxCommandError` naming ampx's error and its resolution.

    One deploy per app and branch at a time: run every deploy of a branch in a one-slot pool
    (see the module docstring); the stack check catches deploys started elsewhere.

    The source is either ``project_dir`` (checked out by other means) or ``repo_url`` + ``ref``: a
    shallow fetch of that branch, tag or commit into a per-run workspace (credentials from
    ``git_conn_id``, see :mod:`airflow_amplify.hooks.source`), removed after the deploy. Dependencies of a
    checkout come from a per-worker cache keyed by the lock file and Node version
    (:mod:`airflow_amplify.ampx.cache`), so the install runs only when the lock file changed.

    Returns ``{"stack_name", "stack_arn", "stack_status", "outputs_file", "duration_seconds",
    "phases", "app_id", "branch_name", "region", "commit_id", "commit_message", "repo_url", "ref",
    "dependencies"}``; ``phases`` lists what ampx reported done, with its times
    (``[{"phase": "Backend synthesized", "seconds": 2.38}, ...]``). ``commit_id``/``commit_message`` (the checked-out commit, or the commit of a
    ``project_dir`` inside a Git work tree; else None) are meant for a later
    ``AmplifyStartJobOperator(commit_id="{{ ti.xcom_pull(task_ids='deploy')['commit_id'] }}", ...)``.
    In checkout mode without ``outputs_out_dir`` the workspace is removed: ``outputs_file`` is then
    None and, for the json format, the file's content is returned as ``outputs``.

    :param project_dir: the Amplify Gen 2 project (holds ``amplify/backend.ts`` and the lock file);
        give it or ``repo_url``.
    :param repo_url: the Git repository to deploy from (``https://``, ``ssh://``, ``git@host:path``,
        ``file://``), instead of ``project_dir``. Never put a token in the URL: use ``git_conn_id``.
    :param ref: the branch, tag or commit SHA (full or short) to deploy; default the remote's default branch.
    :param git_conn_id: an Airflow connection of type ``git`` or ``generic``: ``password`` = HTTPS token
        (``login`` = user name), or extra ``private_key`` / ``key_file`` for SSH.
    :param subdir: the app's directory inside the repository (or inside ``project_dir``), for monorepos.
    :param keep_workspace_on_failure: keep the checkout when the task fails, for debugging (its path is logged).
    :param workspace_root: where per-run checkouts are created; default the system temp directory.
    :param git_timeout: seconds each git command may take.
    :param dependency_cache: use the per-worker ``node_modules`` cache. None (default): for checkouts
        only (a ``project_dir`` keeps its own ``node_modules``); the ``[amplify] dependency_cache``
        Airflow option (``AIRFLOW__AMPLIFY__DEPENDENCY_CACHE=False``) turns it off everywhere.
    :param cache_dir: the cache's directory; default ``$AIRFLOW_AMPLIFY_CACHE`` or ``~/.cache/airflow-amplify``.
    :param cache_max_entries: lock-file versions kept in the cache (least recently used evicted).
    :param cache_max_bytes: total size kept in the cache, in bytes.
    :param app_id: the Amplify app id in the target account.
    :param branch_name: the Amplify branch the backend belongs to.
    :param outputs_out_dir: where ampx writes ``amplify_outputs``; default ``project_dir``.
    :param outputs_version: the ``amplify_outputs`` schema version (``1.5`` default; ``0`` for legacy).
    :param outputs_format: ``json`` (default), ``json-mobile``, ``mjs``, ``ts`` or ``dart``.
    :param install_dependencies: install dependencies first unless ``node_modules`` matches the lock file.
    :param install_command: the install command (default by lock file: ``npm ci`` for ``package-lock.json``).
    :param install_timeout: seconds (or timedelta) before the install is ended.
    :param check_project: check ``amplify/backend.(ts|js|mjs|cjs)`` and a lock file exist.
    :param check_node: check ``node`` is on PATH at ``^18.19 || ^20.6 || >=22``.
    :param check_cdk_bootstrap: check SSM ``/cdk-bootstrap/hnb659fds/version`` >= 6 in the target account/region.
    :param check_branch: check the Amplify app and branch exist in the target account (GetBranch).
    :param check_stack: check the branch stack is not ``*_IN_PROGRESS``.
    :param required_secrets: secret names the backend reads with ``secret()``: a preflight checks that
        each exists on the branch path or the app's shared path in SSM and fails before ampx, naming
        the missing paths and how to set them (:class:`~airflow_amplify.operators.secrets.AmplifyBackendSecretsOperator`).
        ampx's own ``SecretNotSetError`` raises the same error. Templated.
    :param wait_for_stack: when the branch stack is in progress, wait for it instead of failing.
    :param stack_poll_interval: seconds between stack status checks while waiting.
    :param stack_max_wait: seconds to wait for the stack before failing.
    :param debug: pass ``--debug`` to ampx.
    :param ampx_version: ``@aws-amplify/backend-cli`` version run through npx when the project has no ampx.
    :param ampx_path: an ampx executable to use instead of the project's or npx.
    :param env: environment overrides for ampx (``None`` values remove a variable).
    :param timeout: seconds (or timedelta) before ampx's process tree is ended; default 1 hour.
    :param kill_grace_seconds: seconds between SIGTERM and SIGKILL when ending the process tree.
    :param aws_conn_id: the Airflow AWS connection of the target account.
    :param region_name: AWS region; default the connection's.
    :param verify: SSL certificate verification for boto3 (preflight calls).
    :param botocore_config: botocore client configuration (preflight calls).
    """

    template_fields: Sequence[str] = aws_template_fields(
        "project_dir",
        "repo_url",
        "ref",
        "git_conn_id",
        "subdir",
        "app_id",
        "branch_name",
        "outputs_out_dir",
        "outputs_version",
        "outputs_format",
        "install_command",
        "ampx_version",
        "ampx_path",
        "env",
        "required_secrets",
    )
    ui_color = "#ff9900"
    parameter_kinds = {
        **_AmpxOperatorBase.parameter_kinds,
        "app_id": amplify("AppId"),
        "branch_name": amplify("BranchName"),
        "project_dir": path(required=False),
        "repo_url": custom(
            "Git URL without credentials, or None", lambda p, v: v is None or validate_repo_url(v, p)
        ),
        "ref": custom("branch, tag or commit, or None", lambda p, v: validate_ref(v, p)),
        "git_conn_id": connection_id(),
        "subdir": custom("relative path inside the checkout, or None", lambda p, v: validate_subdir(v, p)),
        "keep_workspace_on_failure": BOOL,
        "workspace_root": path(required=False, must="dir_or_missing"),
        "git_timeout": duration(),
        "dependency_cache": BOOL_OR_NONE,
        "cache_dir": path(required=False, must="dir_or_missing"),
        "cache_max_entries": count(1),
        "cache_max_bytes": count(1, allow_none=True),
        "outputs_out_dir": path(required=False, must="dir_or_missing"),
        "outputs_version": enum(*OUTPUTS_VERSIONS),
        "outputs_format": enum(*OUTPUT_FORMATS, allow_none=True),
        "install_dependencies": BOOL,
        "install_command": custom("command string or list, or None", _install_command),
        "install_timeout": duration(allow_none=True),
        "check_project": BOOL,
        "check_node": BOOL,
        "check_cdk_bootstrap": BOOL,
        "check_branch": BOOL,
        "check_stack": BOOL,
        "wait_for_stack": BOOL,
        "stack_poll_interval": duration(),
        "stack_max_wait": duration(),
        "debug": BOOL,
        "required_secrets": custom(
            "list of backend secret names, or None", lambda p, v: v is None or validate_secret_names(v, p)
        ),
    }

    def __init__(
        self,
        *,
        app_id: str,
        branch_name: str,
        project_dir: str | os.PathLike[str] | None = None,
        repo_url: str | None = None,
        ref: str | None = None,
        git_conn_id: str | None = None,
        subdir: str | None = None,
        keep_workspace_on_failure: bool = False,
        workspace_root: str | None = None,
        git_timeout: float = 600.0,
        dependency_cache: bool | None = None,
        cache_dir: str | None = None,
        cache_max_entries: int = DEFAULT_MAX_ENTRIES,
        cache_max_bytes: int | None = DEFAULT_MAX_BYTES,
        outputs_out_dir: str | None = None,
        outputs_version: str = DEFAULT_OUTPUTS_VERSION,
        outputs_format: str | None = None,
        install_dependencies: bool = True,
        install_command: str | Sequence[str] | None = None,
        install_timeout: float | timedelta | None = timedelta(minutes=20),
        check_project: bool = True,
        check_node: bool = True,
        check_cdk_bootstrap: bool = True,
        check_branch: bool = True,
        check_stack: bool = True,
        required_secrets: Sequence[str] | None = None,
        wait_for_stack: bool = False,
        stack_poll_interval: float = 30.0,
        stack_max_wait: float = 3600.0,
        debug: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.project_dir = str(project_dir) if project_dir is not None else None
        self.repo_url = repo_url
        self.ref = ref
        self.git_conn_id = git_conn_id
        self.subdir = subdir
        self.keep_workspace_on_failure = keep_workspace_on_failure
        self.workspace_root = workspace_root
        self.git_timeout = git_timeout
        self.dependency_cache = dependency_cache
        self.cache_dir = cache_dir
        self.cache_max_entries = cache_max_entries
        self.cache_max_bytes = cache_max_bytes
        self.app_id = app_id
        self.branch_name = branch_name
        self.outputs_out_dir = outputs_out_dir
        self.outputs_version = outputs_version
        self.outputs_format = outputs_format
        self.install_dependencies = install_dependencies
        self.install_command = install_command
        self.install_timeout = install_timeout
        self.check_project = check_project
        self.check_node = check_node
        self.check_cdk_bootstrap = check_cdk_bootstrap
        self.check_branch = check_branch
        self.check_stack = check_stack
        self.required_secrets = required_secrets
        self.wait_for_stack = wait_for_stack
        self.stack_poll_interval = stack_poll_interval
        self.stack_max_wait = stack_max_wait
        self.debug = debug
        check_parameters(self, at="init")

    def _validate(self) -> None:
        check_parameters(self)
        if self.repo_url is not None and self.project_dir is not None:
            raise ValueError(
                f"project_dir={self.project_dir!r} and repo_url={self.repo_url!r} were both given; give "
                "project_dir (a directory checked out by other means) or repo_url with ref, not both."
            )
        if self.repo_url is None:
            require_text(
                self.project_dir,
                "project_dir",
                "give the path of the Amplify Gen 2 project, or repo_url and ref",
            )
            for name in ("ref", "git_conn_id"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name}={getattr(self, name)!r} is only used with repo_url; give repo_url too."
                    )
        validate_outputs_options(self.outputs_version, self.outputs_format, "outputs_format")
        check_path("ampx_path", self.ampx_path, required=False, must="executable")  # a deploy always runs it
        if self.required_secrets is not None:
            validate_secret_names(self.required_secrets, "required_secrets")
            amplify_secret_prefix(self.app_id, self.branch_name)

    def execute(self, context: Context) -> dict[str, Any]:
        self._validate()
        hook = self.hook
        hook.check_connection()
        hook.resolve_region()
        if self.repo_url is None:
            project_dir = str(Path(self.project_dir, self.subdir)) if self.subdir else str(self.project_dir)
            commit_id, commit_message = read_commit(project_dir)
            source = {"commit_id": commit_id, "commit_message": commit_message, "repo_url": None, "ref": None}
            return self._deploy(context, project_dir, source, checkout=False)
        source_hook = self.source_hook
        with source_hook.checked_out(
            self.ref,
            subdir=self.subdir,
            workspace_root=self.workspace_root,
            keep_on_failure=self.keep_workspace_on_failure,
        ) as checkout:
            source = {
                "commit_id": checkout.commit_id,
                "commit_message": checkout.commit_message,
                "repo_url": checkout.repo_url,
                "ref": self.ref,
            }
            return self._deploy(context, checkout.project_dir, source, checkout=True)

    @cached_property
    def source_hook(self) -> AmplifySourceHook:
        """The Git hook of ``repo_url`` mode (built on first use, never in ``__init__``)."""
        return AmplifySourceHook(
            git_conn_id=self.git_conn_id,
            repo_url=self.repo_url,
            timeout=to_seconds(self.git_timeout, "git_timeout"),
        )

    def on_kill(self) -> None:
        """End the running git command or ampx's whole process tree."""
        source_hook = self.__dict__.get("source_hook")
        if source_hook is not None:
            source_hook.terminate()
        super().on_kill()

    def _dependency_cache(self, checkout: bool) -> NodeModulesCache | None:

        wanted = checkout if self.dependency_cache is None else bool(self.dependency_cache)
        if not wanted:
            return None
        if not conf.getboolean("amplify", "dependency_cache", fallback=True):
            self.log.info("Dependency cache switched off ([amplify] dependency_cache = False)")
            return None
        return NodeModulesCache(
            self.cache_dir, max_entries=self.cache_max_entries, max_bytes=self.cache_max_bytes, log=self.log
        )

    def _deploy(
        self, context: Context, project_dir: str, source: dict[str, Any], checkout: bool
    ) -> dict[str, Any]:
        hook = self.hook
        region = hook.resolve_region()
        stack_name = hook.branch_stack_name(self.app_id, self.branch_name)
        try:
            if self.check_project:
                hook.check_project(project_dir, require_lockfile=self.install_dependencies)
            elif not Path(project_dir).is_dir():
                hook.check_project(project_dir)  # a missing directory is never worth running ampx for
        except AmpxPreflightError as err:
            if not checkout:
                raise
            raise AmpxPreflightError(
                err.check,
                f"{err} (in commit {source['commit_id'][:12]} of {source['repo_url']} at ref "
                f"{self.ref or 'HEAD'!r}, subdir={self.subdir!r}).",
            ) from err
        if self.check_node:
            self.log.info("node %s", hook.check_node())
        if self.check_cdk_bootstrap:
            self.log.info("CDK bootstrap version %s in %s", hook.check_cdk_bootstrap(), region)
        if self.check_branch:
            hook.check_branch(self.app_id, self.branch_name)
        if self.required_secrets:
            self._check_secrets(hook)
        if self.check_stack:
            hook.check_stack_not_in_progress(
                stack_name,
                wait=self.wait_for_stack,
                poll_interval=self.stack_poll_interval,
                max_wait_seconds=self.stack_max_wait,
            )
        dependencies = None
        if self.install_dependencies:
            hook.install_dependencies(
                project_dir,
                command=self.install_command,
                timeout=to_seconds(self.install_timeout, "install_timeout"),
                cache=self._dependency_cache(checkout),
            )
            dependencies = hook.last_install

        self._persist_stack_link(context, stack_name)
        out_dir = self.outputs_out_dir or project_dir
        args = ["pipeline-deploy", "--branch", self.branch_name, "--app-id", self.app_id]
        args += ["--outputs-out-dir", str(out_dir), "--outputs-version", str(self.outputs_version)]
        if self.outputs_format:
            args += ["--outputs-format", self.outputs_format]
        if self.debug:
            args.append("--debug")
        self.log.info(
            "Deploying app %s branch %s to stack %s in %s%s",
            self.app_id,
            self.branch_name,
            stack_name,
            region,
            f" from commit {source['commit_id']} ({source['commit_message']})" if source["commit_id"] else "",
        )
        start = time.monotonic()
        try:
            run = hook.run_ampx(args, project_dir, timeout=to_seconds(self.timeout, "timeout"))
        except AmpxCommandError as err:
            if err.error_name == "SecretNotSetError":
                self._raise_secret_not_set(err)
            raise
        duration = time.monotonic() - start

        stack = hook.describe_stack(stack_name)
        stack_arn = stack["StackId"] if stack else None
        if stack_arn:
            self._persist_stack_link(context, stack_arn)
        outputs_path = Path(
            out_dir, outputs_file_name(str(self.outputs_version), self.outputs_format)
        ).resolve()
        result: dict[str, Any] = {
            "stack_name": stack_name,
            "stack_arn": stack_arn,
            "stack_status": stack["StackStatus"] if stack else None,
            "outputs_file": str(outputs_path),
            "duration_seconds": round(duration, 1),
            "phases": parse_ampx_phases(run.output),
            "app_id": self.app_id,
            "branch_name": self.branch_name,
            "region": region,
            **source,
            "dependencies": dependencies,
        }
        if checkout and not self.outputs_out_dir:
            # the workspace is removed after the task: hand the file's content on instead of its path
            result["outputs_file"] = None
            if (self.outputs_format or "json") == "json" and outputs_path.is_file():
                result["outputs"] = json.loads(outputs_path.read_text())
        self.log.info("Deployed %s (%s) in %.0f s", stack_name, result["stack_status"], duration)
        return result

    def _check_secrets(self, hook: AmpxHook) -> None:
        from airflow_amplify.hooks.secrets import (
            AmplifySecretsMissingError,
            find_missing_secrets,
            missing_secrets_message,
        )

        names = list(self.required_secrets or ())
        missing = find_missing_secrets(hook.client_for("ssm"), self.app_id, self.branch_name, names)
        if missing:
            raise AmplifySecretsMissingError(
                missing_secrets_message(self.app_id, self.branch_name, missing), missing
            )
        self.log.info("Required secrets set (branch or shared path): %s", ", ".join(names))

    def _raise_secret_not_set(self, err: AmpxCommandError) -> None:
        from airflow_amplify.hooks.secrets import (
            AmplifySecretsMissingError,
            missing_secrets_message,
            secret_name_from_ampx_error,
        )

        name = secret_name_from_ampx_error(err.info.message if err.info else "") or "<unnamed>"
        raise AmplifySecretsMissingError(
            missing_secrets_message(self.app_id, self.branch_name, [name])
            + f"\n(ampx failed with [SecretNotSetError] {err.info.message if err.info else ''}; "
            "its output is in the task log above.)",
            [name],
        ) from err


class AmplifyGenerateOutputsOperator(_AmpxOperatorBase):
    """Write a deployed backend's ``amplify_outputs`` file with ``ampx generate outputs``.

    Identify the backend by ``app_id`` and ``branch_name`` or by ``stack_name``. Both engines read
    the stack (GetTemplateSummary, DescribeStacks, and S3 for a data model) and make no Amplify API
    call. The ``native`` engine does it in Python, with no Node, and writes the same bytes as ampx
    for the ``json`` format and outputs versions 1 to 1.5; ``auto`` (the default) uses it when it can
    and runs ampx otherwise, saying why in the log.

    Returns ``{"outputs_file", "stack_name", "format", "outputs_version", "engine"}`` and, for the
    ``json`` format, ``"outputs"``: the file's content.

    :param out_dir: the directory the file is written to (created if missing).
    :param app_id: the Amplify app id (with ``branch_name``).
    :param branch_name: the branch (with ``app_id``).
    :param stack_name: the backend's root stack, instead of ``app_id`` and ``branch_name``.
    :param format: ``json`` (default), ``json-mobile``, ``mjs``, ``ts`` or ``dart``.
    :param outputs_version: the ``amplify_outputs`` schema version (``1.5`` default; ``0`` for legacy).
    :param engine: what produces the file: ``auto`` (default), ``native`` or ``ampx``.
    :param working_dir: the directory ampx runs in (a project with its own ampx, or any directory);
        default ``out_dir``.
    :param ampx_version: ``@aws-amplify/backend-cli`` version run through npx.
    :param ampx_path: an ampx executable to use instead of npx.
    :param env: environment overrides for ampx (``None`` values remove a variable).
    :param timeout: seconds (or timedelta) before ampx's process tree is ended; default 10 minutes.
    :param kill_grace_seconds: seconds between SIGTERM and SIGKILL when ending the process tree.
    :param aws_conn_id: the Airflow AWS connection of the account that holds the stack.
    :param region_name: AWS region; default the connection's.
    :param verify: SSL certificate verification for boto3.
    :param botocore_config: botocore client configuration.
    """

    template_fields: Sequence[str] = aws_template_fields(
        "out_dir",
        "app_id",
        "branch_name",
        "stack_name",
        "format",
        "outputs_version",
        "working_dir",
        "ampx_version",
        "ampx_path",
        "env",
    )
    ui_color = "#ff9900"
    parameter_kinds = {
        **_AmpxOperatorBase.parameter_kinds,
        "out_dir": custom("directory (created if missing)", _out_dir),
        "app_id": amplify("AppId", required=False),
        "branch_name": amplify("BranchName", required=False),
        "stack_name": STACK_NAME,
        "format": enum(*OUTPUT_FORMATS),
        "outputs_version": enum(*OUTPUTS_VERSIONS),
        "engine": enum(*OUTPUTS_ENGINES),
        "working_dir": path(required=False),
    }

    def __init__(
        self,
        *,
        out_dir: str | os.PathLike[str],
        app_id: str | None = None,
        branch_name: str | None = None,
        stack_name: str | None = None,
        format: str = "json",
        outputs_version: str = DEFAULT_OUTPUTS_VERSION,
        engine: str = "auto",
        working_dir: str | None = None,
        timeout: float | timedelta | None = timedelta(minutes=10),
        **kwargs: Any,
    ):
        super().__init__(timeout=timeout, **kwargs)
        self.out_dir = os.fspath(out_dir) if isinstance(out_dir, os.PathLike) else out_dir
        self.app_id = app_id
        self.branch_name = branch_name
        self.stack_name = stack_name
        self.format = format
        self.outputs_version = outputs_version
        self.engine = engine
        self.working_dir = working_dir
        check_parameters(self, at="init")

    def _backend_args(self) -> tuple[list[str], str]:
        if self.stack_name:
            if self.app_id or self.branch_name:
                raise ValueError(
                    f"stack_name={self.stack_name!r} and app_id/branch_name were both given; "
                    "give either stack_name or app_id with branch_name."
                )

            validate_stack_name(self.stack_name)
            return ["--stack", self.stack_name], self.stack_name
        if not (self.app_id and self.branch_name):
            raise ValueError(
                f"app_id={self.app_id!r}, branch_name={self.branch_name!r}: give both, or stack_name instead."
            )

        validate_app_id(self.app_id)
        stack_name = self.hook.branch_stack_name(self.app_id, self.branch_name)
        return ["--app-id", self.app_id, "--branch", self.branch_name], stack_name

    def _native_reason(self) -> str | None:
        """Why the native engine cannot produce this file, or None when it can."""
        if self.format != "json":
            return f"format {self.format!r} (the native engine writes json only)"
        if str(self.outputs_version) not in NATIVE_OUTPUTS_VERSIONS:
            return f"outputs version {self.outputs_version} (the native engine writes {', '.join(NATIVE_OUTPUTS_VERSIONS)})"
        return None

    def execute(self, context: Context) -> dict[str, Any]:
        check_parameters(self)
        if self.engine == "ampx":
            check_path("ampx_path", self.ampx_path, required=False, must="executable")
        timeout = to_seconds(self.timeout, "timeout")
        backend_args, stack_name = self._backend_args()
        hook = self.hook
        hook.check_connection()
        reason = self._native_reason()
        if self.engine == "native" and reason:
            raise ValueError(f"engine='native' cannot write {reason}; use engine='auto' or 'ampx'.")
        working_dir = self.working_dir or self.out_dir
        if self.engine == "ampx" and not Path(working_dir).is_dir() and self.working_dir:
            raise ValueError(f"working_dir={working_dir!r} does not exist or is not a directory.")
        Path(self.out_dir).mkdir(parents=True, exist_ok=True)
        self._persist_stack_link(context, stack_name)
        engine = self.engine
        if engine == "auto" and reason:
            self.log.info("Using ampx for amplify_outputs: the native engine does not write %s", reason)
            engine = "ampx"
        path = None
        if engine in ("auto", "native"):
            path, engine = self._generate_native(stack_name)
        if path is None:
            if not Path(working_dir).is_dir():
                raise ValueError(f"working_dir={working_dir!r} does not exist or is not a directory.")
            args = ["generate", "outputs", *backend_args, "--out-dir", str(Path(self.out_dir).resolve())]
            args += ["--format", self.format, "--outputs-version", str(self.outputs_version)]
            hook.run_ampx(args, working_dir, timeout=timeout)
            path = Path(self.out_dir, outputs_file_name(str(self.outputs_version), self.format)).resolve()
            if not path.is_file():
                raise FileNotFoundError(f"ampx generate outputs succeeded but wrote no {path}.")
        result: dict[str, Any] = {
            "outputs_file": str(path),
            "stack_name": stack_name,
            "format": self.format,
            "outputs_version": str(self.outputs_version),
            "engine": engine,
        }
        if self.format == "json":
            result["outputs"] = json.loads(path.read_text())
        self.log.info("Wrote %s for stack %s (engine %s)", path, stack_name, engine)
        return result

    def _generate_native(self, stack_name: str) -> tuple[Path | None, str]:
        """Write the file natively; in ``auto`` mode, return (None, "ampx") for what only ampx supports."""
        from airflow_amplify.hooks.outputs import (
            AmplifyOutputsHook,  # the native outputs engine loads only when it runs
        )
        from airflow_amplify.outputs.errors import NativeOutputsUnsupportedError  # with the engine above

        hook = AmplifyOutputsHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )
        try:
            path = hook.generate_outputs(stack_name, str(self.outputs_version), self.out_dir)
        except NativeOutputsUnsupportedError as err:
            if self.engine == "native":
                raise
            self.log.info(
                "Using ampx for amplify_outputs: the native engine does not support %s", err.feature
            )
            return None, "ampx"
        return Path(path).resolve(), "native"
