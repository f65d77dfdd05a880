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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_amplify.hooks.ampx import (
    DEFAULT_AMPX_VERSION,
    DEFAULT_OUTPUTS_VERSION,
    AmpxHook,
    outputs_file_name,
    validate_outputs_options,
)
from airflow_amplify.links.cloudformation import AmplifyStackLink
from airflow_amplify.params import to_seconds

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Engines that can produce amplify_outputs: ``auto`` (native when it can, ampx otherwise),
#: ``native`` (Python, no Node) and ``ampx`` (the CLI).
OUTPUTS_ENGINES = ("auto", "native", "ampx")


def _require_text(value: Any, param: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{param}={value!r} is not valid; {what}.")
    return value


class _AmpxOperatorBase(AwsBaseOperator[AmpxHook]):
    """What both ampx operators share: the hook's options, on_kill, the stack link."""

    aws_hook_class = AmpxHook
    operator_extra_links = (AmplifyStackLink(),)

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

    Returns ``{"stack_name", "stack_arn", "stack_status", "outputs_file", "duration_seconds",
    "app_id", "branch_name", "region"}``.

    :param project_dir: the Amplify Gen 2 project (holds ``amplify/backend.ts`` and the lock file).
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
        "app_id",
        "branch_name",
        "outputs_out_dir",
        "outputs_version",
        "outputs_format",
        "install_command",
        "ampx_version",
        "ampx_path",
        "env",
    )
    ui_color = "#ff9900"

    def __init__(
        self,
        *,
        project_dir: str | os.PathLike[str],
        app_id: str,
        branch_name: str,
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
        wait_for_stack: bool = False,
        stack_poll_interval: float = 30.0,
        stack_max_wait: float = 3600.0,
        debug: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.project_dir = str(project_dir)
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
        self.wait_for_stack = wait_for_stack
        self.stack_poll_interval = stack_poll_interval
        self.stack_max_wait = stack_max_wait
        self.debug = debug

    def _validate(self) -> None:
        from airflow_amplify.hooks.cloudformation import validate_app_id

        validate_app_id(self.app_id)
        _require_text(self.branch_name, "branch_name", "give the Amplify branch name, e.g. 'main'")
        _require_text(self.project_dir, "project_dir", "give the path of the Amplify Gen 2 project")
        validate_outputs_options(str(self.outputs_version), self.outputs_format)
        to_seconds(self.timeout, "timeout")
        to_seconds(self.install_timeout, "install_timeout")

    def execute(self, context: Context) -> dict[str, Any]:
        self._validate()
        hook = self.hook
        hook.check_connection()
        region = hook.resolve_region()
        stack_name = hook.branch_stack_name(self.app_id, self.branch_name)
        if self.check_project:
            hook.check_project(self.project_dir, require_lockfile=self.install_dependencies)
        elif not Path(self.project_dir).is_dir():
            hook.check_project(self.project_dir)  # a missing directory is never worth running ampx for
        if self.check_node:
            self.log.info("node %s", hook.check_node())
        if self.check_cdk_bootstrap:
            self.log.info("CDK bootstrap version %s in %s", hook.check_cdk_bootstrap(), region)
        if self.check_branch:
            hook.check_branch(self.app_id, self.branch_name)
        if self.check_stack:
            hook.check_stack_not_in_progress(
                stack_name,
                wait=self.wait_for_stack,
                poll_interval=self.stack_poll_interval,
                max_wait_seconds=self.stack_max_wait,
            )
        if self.install_dependencies:
            hook.install_dependencies(
                self.project_dir,
                command=self.install_command,
                timeout=to_seconds(self.install_timeout, "install_timeout"),
            )

        self._persist_stack_link(context, stack_name)
        out_dir = self.outputs_out_dir or self.project_dir
        args = ["pipeline-deploy", "--branch", self.branch_name, "--app-id", self.app_id]
        args += ["--outputs-out-dir", str(out_dir), "--outputs-version", str(self.outputs_version)]
        if self.outputs_format:
            args += ["--outputs-format", self.outputs_format]
        if self.debug:
            args.append("--debug")
        self.log.info(
            "Deploying app %s branch %s to stack %s in %s", self.app_id, self.branch_name, stack_name, region
        )
        start = time.monotonic()
        hook.run_ampx(args, self.project_dir, timeout=to_seconds(self.timeout, "timeout"))
        duration = time.monotonic() - start

        stack = hook.describe_stack(stack_name)
        stack_arn = stack["StackId"] if stack else None
        if stack_arn:
            self._persist_stack_link(context, stack_arn)
        outputs_file = str(
            Path(out_dir, outputs_file_name(str(self.outputs_version), self.outputs_format)).resolve()
        )
        result = {
            "stack_name": stack_name,
            "stack_arn": stack_arn,
            "stack_status": stack["StackStatus"] if stack else None,
            "outputs_file": outputs_file,
            "duration_seconds": round(duration, 1),
            "app_id": self.app_id,
            "branch_name": self.branch_name,
            "region": region,
        }
        self.log.info("Deployed %s (%s) in %.0f s", stack_name, result["stack_status"], duration)
        return result


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
        self.out_dir = str(out_dir)
        self.app_id = app_id
        self.branch_name = branch_name
        self.stack_name = stack_name
        self.format = format
        self.outputs_version = outputs_version
        self.engine = engine
        self.working_dir = working_dir

    def _backend_args(self) -> tuple[list[str], str]:
        if self.stack_name:
            if self.app_id or self.branch_name:
                raise ValueError(
                    f"stack_name={self.stack_name!r} and app_id/branch_name were both given; "
                    "give either stack_name or app_id with branch_name."
                )
            from airflow_amplify.hooks.cloudformation import validate_stack_name

            validate_stack_name(self.stack_name)
            return ["--stack", self.stack_name], self.stack_name
        if not (self.app_id and self.branch_name):
            raise ValueError(
                f"app_id={self.app_id!r}, branch_name={self.branch_name!r}: give both, or stack_name instead."
            )
        from airflow_amplify.hooks.cloudformation import validate_app_id

        validate_app_id(self.app_id)
        stack_name = self.hook.branch_stack_name(self.app_id, self.branch_name)
        return ["--app-id", self.app_id, "--branch", self.branch_name], stack_name

    def _native_reason(self) -> str | None:
        """Why the native engine cannot produce this file, or None when it can."""
        from airflow_amplify.hooks.outputs import OUTPUTS_VERSIONS

        if self.format != "json":
            return f"format {self.format!r} (the native engine writes json only)"
        if str(self.outputs_version) not in OUTPUTS_VERSIONS:
            return f"outputs version {self.outputs_version} (the native engine writes {', '.join(OUTPUTS_VERSIONS)})"
        return None

    def execute(self, context: Context) -> dict[str, Any]:
        if self.engine not in OUTPUTS_ENGINES:
            raise ValueError(f"engine={self.engine!r} is not valid; use one of {', '.join(OUTPUTS_ENGINES)}.")
        validate_outputs_options(str(self.outputs_version), self.format)
        _require_text(self.out_dir, "out_dir", "give the directory to write amplify_outputs into")
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
        from airflow_amplify.hooks.native_outputs import AmplifyOutputsHook
        from airflow_amplify.hooks.outputs import NativeOutputsUnsupportedError

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
