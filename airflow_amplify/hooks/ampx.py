"""The ampx runner: find the Amplify Gen 2 CLI, install dependencies, build its environment, stream, kill, parse errors.

``ampx`` (``@aws-amplify/backend-cli``) deploys a Gen 2 backend (``ampx pipeline-deploy``) and writes
``amplify_outputs.json`` (``ampx generate outputs``). :class:`AmpxHook` runs it as a subprocess with the
credentials of an Airflow AWS connection, passed through the environment only, and streams its output
into the task log line by line with the secrets masked. On timeout or ``on_kill`` the whole process tree
(npx, node, and whatever they started) is ended. A failed run raises :class:`AmpxCommandError`, which
names ampx's own error (``[BootstrapNotDetectedError] ...``) and its resolution.

The preflight checks (project layout, node version, CDK bootstrap, Amplify app and branch, branch stack
not in progress) catch the common failures before the CLI spends a minute synthesizing.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.common.compat.sdk import mask_secret

from airflow_amplify._process import ProcessRunner, child_env
from airflow_amplify.ampx.cache import cache_key
from airflow_amplify.ampx.errors import (
    AmpxCommandError,
    AmpxPreflightError,
    AmpxTimeoutError,
    parse_ampx_error,
    strip_ansi,
)
from airflow_amplify.ampx.project import (
    LOCK_HASH_MARKER,
    LOCKFILE_INSTALL_COMMANDS,
    SUPPORTED_NODE_RANGE,
    amplify_branch_stack_name,
    find_backend_entry,
    find_lockfile,
    lockfile_hash,
    node_version_supported,
    parse_node_version,
)
from airflow_amplify.hooks._aws import OtherServiceClientsMixin
from airflow_amplify.hooks.cloudformation import describe_stack
from airflow_amplify.statuses import stack_is_in_progress
from airflow_amplify.validation import ensure_connection_exists

if TYPE_CHECKING:
    from airflow_amplify.ampx.cache import NodeModulesCache

#: The ``@aws-amplify/backend-cli`` version run through npx when a project has no ampx of its own.
DEFAULT_AMPX_VERSION = "1.10.0"
AMPX_PACKAGE = "@aws-amplify/backend-cli"
#: ampx imports ``tsx`` at start-up without declaring it (a Gen 2 project has it as a dev dependency),
#: so an ampx run through npx outside such a project gets it beside the CLI.
TSX_PACKAGE = "tsx@4"
CDK_BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
MIN_CDK_BOOTSTRAP_VERSION = 6
#: Environment every ampx run gets unless the caller overrides (or removes, with ``None``) a key.
DEFAULT_AMPX_ENV = {"CI": "1", "NO_COLOR": "1", "AMPLIFY_DISABLE_TELEMETRY": "1"}

# --- pure helpers -----------------------------------------------------------------------------


@dataclass
class AmpxResult:
    """What a finished ampx (or install) run gives back.

    :param command: the command line, for display.
    :param returncode: the exit code.
    :param output: every line of output (masked), in order.
    :param duration: wall-clock seconds.
    """

    command: str
    returncode: int
    output: list[str]
    duration: float


# --- the hook ---------------------------------------------------------------------------------


class AmpxHook(OtherServiceClientsMixin, AwsBaseHook):
    """Run the Amplify Gen 2 CLI (``ampx``) with the credentials of an Airflow AWS connection.

    The credentials (assumed-role session credentials included) are resolved with
    :meth:`get_credentials` and reach the CLI only through its environment (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``; ``AWS_ENDPOINT_URL`` when the
    connection sets ``endpoint_url``); the secret key and session token are registered with Airflow's
    secrets masker and masked in every line logged.

    :param ampx_version: the ``@aws-amplify/backend-cli`` version run through ``npx`` when the project
        has no ``node_modules/.bin/ampx`` of its own.
    :param ampx_path: an ampx executable to use instead (for example the one ``scripts/install-ampx``
        prints); takes precedence over the project's and npx.
    :param env: environment overrides for the CLI, applied last; a value of ``None`` removes the
        variable (e.g. ``{"AMPLIFY_DISABLE_TELEMETRY": None}``).
    :param kill_grace_seconds: seconds between SIGTERM and SIGKILL when the process tree is ended.
    :param aws_conn_id: the Airflow AWS connection (passed on to ``AwsBaseHook``).
    :param region_name: AWS region; defaults to the connection's.
    """

    def __init__(
        self,
        *args: Any,
        ampx_version: str = DEFAULT_AMPX_VERSION,
        ampx_path: str | None = None,
        env: Mapping[str, str | None] | None = None,
        kill_grace_seconds: float = 10.0,
        **kwargs: Any,
    ):
        kwargs.setdefault("client_type", "sts")  # the preflight's first call; other services: client_for()
        super().__init__(*args, **kwargs)
        self.ampx_version = ampx_version
        self.ampx_path = ampx_path
        self.env_overrides = dict(env or {})
        self.kill_grace_seconds = kill_grace_seconds
        self._runner = ProcessRunner(self.log, kill_grace_seconds=kill_grace_seconds)
        #: what the last install_dependencies call did: installed, source (project/cache/install), seconds
        self.last_install: dict[str, Any] | None = None

    # --- connection and environment ---------------------------------------------------------

    def check_connection(self) -> None:
        """Fail clearly when ``aws_conn_id`` names a connection that does not exist or is not an AWS one.

        ``AwsBaseHook`` quietly falls back to the worker's own credentials in that case, which would
        deploy into whatever account the worker happens to be in.
        """
        try:
            ensure_connection_exists(self.aws_conn_id)
        except ValueError as err:
            raise AmpxPreflightError("connection", str(err)) from None

    def resolve_region(self) -> str:
        """The region the CLI deploys into: the hook's ``region_name``, else the connection's."""
        region = self.region_name or self.conn_region_name
        if not region:
            raise AmpxPreflightError(
                "connection",
                f"aws_conn_id={self.aws_conn_id!r} has no region: set region_name in its extra, "
                "or pass region_name to the task.",
            )
        return region

    def credentials_env(self) -> dict[str, str]:
        """The connection's credentials and region as environment variables (secrets masked in logs)."""
        region = self.resolve_region()
        creds = self.session.get_credentials().get_frozen_credentials()
        mask_secret(creds.secret_key)
        env = {
            "AWS_ACCESS_KEY_ID": creds.access_key,
            "AWS_SECRET_ACCESS_KEY": creds.secret_key,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
        if creds.token:
            mask_secret(creds.token)
            env["AWS_SESSION_TOKEN"] = creds.token
        endpoint_url = self.conn_config.endpoint_url
        if endpoint_url:
            env["AWS_ENDPOINT_URL"] = endpoint_url
        return env

    def extra_env(self, *, with_credentials: bool = True, direct_ampx: bool = False) -> dict[str, str | None]:
        """What an ampx (or install) run adds to the allowlisted worker environment (:mod:`airflow_amplify._process`).

        :param with_credentials: add the connection's credentials and region (not for ``npm ci``).
        :param direct_ampx: ampx is run as an executable, not through npx: set ``npm_config_user_agent``.
        """
        env: dict[str, str | None] = dict(DEFAULT_AMPX_ENV)
        if direct_ampx and "npm_config_user_agent" not in os.environ:
            env["npm_config_user_agent"] = "npm/10.0.0 node/v20.0.0 linux x64 airflow-amplify"
        if with_credentials:
            env.update(self.credentials_env())
        env.update(self.env_overrides)
        return env

    def build_env(self, *, with_credentials: bool = True, direct_ampx: bool = False) -> dict[str, str]:
        """The whole environment an ampx (or install) run gets: the allowlist, then :meth:`extra_env`."""
        return child_env(self.extra_env(with_credentials=with_credentials, direct_ampx=direct_ampx))

    # --- finding and installing -------------------------------------------------------------

    def ampx_command(self, project_dir: str | os.PathLike[str]) -> tuple[list[str], bool]:
        """The argv prefix that runs ampx for a project, and whether it runs ampx directly (not npx).

        Order: ``ampx_path``; the project's ``node_modules/.bin/ampx``; ``npx --yes
        --package=@aws-amplify/backend-cli@<ampx_version> --package=tsx@4 ampx``.
        """
        if self.ampx_path:
            if not os.access(self.ampx_path, os.X_OK):
                raise AmpxPreflightError("ampx", f"ampx_path={self.ampx_path!r} is not an executable file.")
            return [str(self.ampx_path)], True
        local = Path(project_dir, "node_modules", ".bin", "ampx")
        if os.access(local, os.X_OK):
            return [str(local)], True
        return [
            "npx",
            "--yes",
            f"--package={AMPX_PACKAGE}@{self.ampx_version}",
            f"--package={TSX_PACKAGE}",
            "ampx",
        ], False

    def install_dependencies(
        self,
        project_dir: str | os.PathLike[str],
        command: Sequence[str] | str | None = None,
        timeout: float | None = None,
        force: bool = False,
        cache: NodeModulesCache | None = None,
    ) -> bool:
        """Install the project's dependencies unless ``node_modules`` already matches the lock file.

        The lock file's SHA-256 and the command are recorded in ``node_modules/.airflow-amplify-lock-hash``
        after a successful install; the next call with the same lock file and command skips the install.
        With a ``cache``, a ``node_modules`` installed earlier on this worker from the same lock file,
        command and Node version is copied in (hard links) instead of installing; a fresh install is
        added to the cache. What happened is in ``self.last_install``.

        :param project_dir: the project directory.
        :param command: the install command; default by lock file (``npm ci`` for ``package-lock.json``).
        :param timeout: seconds before the install is ended.
        :param force: install even when the marker matches (and bypass the cache).
        :param cache: a :class:`~airflow_amplify.ampx.cache.NodeModulesCache` to use.
        :return: True when an install ran, False when it was skipped or served from the cache.
        """
        lockfile = find_lockfile(project_dir)
        if lockfile is None:
            raise AmpxPreflightError(
                "project",
                f"project_dir={str(project_dir)!r} has no lock file ({', '.join(LOCKFILE_INSTALL_COMMANDS)}); "
                "commit one so the install is reproducible.",
            )
        argv = (
            command.split()
            if isinstance(command, str)
            else list(command or LOCKFILE_INSTALL_COMMANDS[lockfile.name])
        )
        marker = Path(project_dir, "node_modules", LOCK_HASH_MARKER)
        expected = f"{lockfile_hash(lockfile)} {' '.join(argv)}"
        if not force and marker.is_file() and marker.read_text().strip() == expected:
            self.log.info(
                "Dependencies match %s (%s): skipping %s", lockfile.name, expected[:12], " ".join(argv)
            )
            self.last_install = {"installed": False, "source": "project", "seconds": 0.0}
            return False
        env = self.extra_env(with_credentials=False)
        start = time.monotonic()

        def install() -> None:
            self.log.info("Installing dependencies in %s: %s", project_dir, " ".join(argv))
            self.run_process(argv, cwd=project_dir, env=env, timeout=timeout)
            marker.parent.mkdir(exist_ok=True)
            marker.write_text(expected + "\n")

        if cache is None or force:
            install()
            self.last_install = {
                "installed": True,
                "source": "install",
                "seconds": round(time.monotonic() - start, 2),
            }
            return True

        key = cache_key(lockfile.read_bytes(), " ".join(argv), self.node_version() or "none")
        result = cache.provide(key, project_dir, install)
        self.last_install = {
            "installed": not result.hit,
            "source": "cache" if result.hit else "install",
            "cache_key": key,
            "seconds": round(result.seconds, 2),
        }
        return not result.hit

    # --- running ----------------------------------------------------------------------------

    def run_ampx(
        self,
        args: Sequence[str],
        project_dir: str | os.PathLike[str],
        timeout: float | None = None,
    ) -> AmpxResult:
        """Run ``ampx <args>`` in ``project_dir`` with the connection's credentials.

        :param args: the ampx arguments, e.g. ``["pipeline-deploy", "--branch", "main", "--app-id", "d1"]``.
        :param project_dir: the working directory (the Amplify project for pipeline-deploy).
        :param timeout: seconds before the process tree is ended and :class:`AmpxTimeoutError` raised.
        :raises AmpxCommandError: ampx exited non-zero; the message names its error and resolution.
        """
        prefix, direct = self.ampx_command(project_dir)
        env = self.extra_env(direct_ampx=direct)
        return self.run_process([*prefix, *args], cwd=project_dir, env=env, timeout=timeout)

    def run_process(
        self,
        argv: Sequence[str],
        cwd: str | os.PathLike[str],
        env: Mapping[str, str | None],
        timeout: float | None = None,
    ) -> AmpxResult:
        """Run a command on :class:`~airflow_amplify._process.ProcessRunner`; log its output as it arrives.

        stdout and stderr are merged and logged line by line, each line passed through Airflow's
        secrets masker.

        :param argv: the command.
        :param cwd: its working directory.
        :param env: what it gets beside the allowlisted worker environment (:meth:`extra_env`).
        :param timeout: seconds before its process tree is ended and :class:`AmpxTimeoutError` raised.
        """
        from airflow.providers.common.compat.sdk import redact  # the masker pulls in Airflow's config

        display = " ".join(str(a) for a in argv)
        self.log.info("Running: %s (in %s)", display, cwd)
        try:
            run = self._runner.run(
                argv,
                cwd=cwd,
                env=env,
                timeout=timeout,
                mask=lambda line: redact(strip_ansi(line)),
                on_line=lambda line: self.log.info("%s", line),
            )
        except FileNotFoundError as err:
            raise AmpxPreflightError(
                "ampx", f"cannot run {argv[0]!r}: not found on PATH ({err}). Install Node.js and npm."
            ) from err
        output = run.stdout
        if run.timed_out:
            raise AmpxTimeoutError(
                display, None, parse_ampx_error(output), output[-20:], reason=f"timed out after {timeout} s"
            )
        if run.killed:
            raise AmpxCommandError(display, None, None, output[-20:], reason="ended by on_kill")
        if run.returncode != 0:
            info = parse_ampx_error(output)
            if info is None and run.returncode == 13:
                reason = (
                    "exit code 13 with no error printed (set AMPLIFY_DISABLE_TELEMETRY=1 without internet)"
                )
            elif info is None and any(
                "can only install packages when your package.json" in x for x in output
            ):
                reason = (
                    f"exit code {run.returncode}: npm ci refused the lock file. If `npm install` wrote it and "
                    "the project depends on @aws-amplify/backend, this is npm's bundled-dependency bug "
                    "(npm/cli#9821): pass install_command='npm install --no-audit --no-fund' instead"
                )
            else:
                reason = f"exit code {run.returncode}"
            raise AmpxCommandError(display, run.returncode, info, output[-20:], reason=reason)
        self.log.info("Finished in %.1f s: %s", run.duration, display)
        return AmpxResult(command=display, returncode=run.returncode, output=output, duration=run.duration)

    def terminate(self) -> None:
        """End the running command's process tree (for ``on_kill``); the run raises AmpxCommandError."""
        self._runner.terminate()

    def node_version(self) -> str | None:
        """``node --version`` on the CLI's PATH (``v22.1.0``), or None when there is no ``node``."""
        path = self.build_env(with_credentials=False).get("PATH", os.defpath)
        node = shutil.which("node", path=path)
        if node is None:
            return None
        try:
            run = ProcessRunner(self.log, kill_grace_seconds=1.0).run(
                [node, "--version"], cwd=".", env=self.extra_env(with_credentials=False), timeout=30
            )
        except OSError as err:
            raise AmpxPreflightError("node", f"{node} --version failed: {err}") from err
        if run.timed_out:
            raise AmpxPreflightError("node", f"{node} --version did not answer within 30 s.")
        return "\n".join(run.stdout).strip()

    # --- preflight checks -------------------------------------------------------------------

    @cached_property
    def session(self):
        """One boto3 session for the whole run (one AssumeRole for an assume-role connection)."""
        return self.get_session(region_name=self.resolve_region())

    @cached_property
    def account_id(self) -> str:
        """The target account (STS GetCallerIdentity with the connection's credentials)."""
        return self.client_for("sts").get_caller_identity()["Account"]

    def check_project(self, project_dir: str | os.PathLike[str], require_lockfile: bool = True) -> Path:
        """Check that ``project_dir`` is an Amplify Gen 2 project; return its backend entry file."""
        path = Path(project_dir)
        if not path.is_dir():
            raise AmpxPreflightError(
                "project", f"project_dir={str(project_dir)!r} does not exist or is not a directory."
            )
        entry = find_backend_entry(path)
        if entry is None:
            raise AmpxPreflightError(
                "project",
                f"project_dir={str(project_dir)!r} has no amplify/backend.(ts|js|mjs|cjs): point project_dir "
                "at the root of an Amplify Gen 2 project (the directory that holds amplify/ and package.json).",
            )
        if require_lockfile and find_lockfile(path) is None:
            raise AmpxPreflightError(
                "project",
                f"project_dir={str(project_dir)!r} has no lock file ({', '.join(LOCKFILE_INSTALL_COMMANDS)}); "
                "commit one so the install is reproducible.",
            )
        return entry

    def check_node(self) -> str:
        """Check that ``node`` is on the CLI's PATH at a supported version; return its version."""
        printed = self.node_version()
        if printed is None:
            raise AmpxPreflightError(
                "node",
                f"node was not found on PATH: install Node.js {SUPPORTED_NODE_RANGE} (22 recommended) on the worker.",
            )
        node = shutil.which("node", path=self.build_env(with_credentials=False).get("PATH", os.defpath))
        version = parse_node_version(printed)
        if version is None:
            raise AmpxPreflightError("node", f"{node} --version printed {printed!r}, not a Node.js version.")
        text = "v{}.{}.{}".format(*version)
        if not node_version_supported(version):
            raise AmpxPreflightError(
                "node",
                f"node {text} at {node} is not supported by ampx, which needs {SUPPORTED_NODE_RANGE} "
                "(22 recommended): install a supported Node.js on the worker or put it first on PATH.",
            )
        return text

    def check_cdk_bootstrap(self) -> int:
        """Check that the target account and region are CDK-bootstrapped (version >= 6); return the version."""
        region = self.resolve_region()
        ssm = self.client_for("ssm")
        try:
            value = ssm.get_parameter(Name=CDK_BOOTSTRAP_PARAMETER)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            value = None
        account = self.account_id
        command = f"npx cdk bootstrap aws://{account}/{region}"
        if value is None:
            raise AmpxPreflightError(
                "cdk_bootstrap",
                f"account {account} region {region} is not CDK-bootstrapped (no SSM parameter "
                f"{CDK_BOOTSTRAP_PARAMETER}): run `{command}` with an administrator of that account "
                "(AmplifyBackendDeployFullAccess does not cover bootstrapping).",
            )
        try:
            version = int(value)
        except ValueError:
            version = 0
        if version < MIN_CDK_BOOTSTRAP_VERSION:
            raise AmpxPreflightError(
                "cdk_bootstrap",
                f"account {account} region {region} has CDK bootstrap version {value!r}, ampx needs >= "
                f"{MIN_CDK_BOOTSTRAP_VERSION}: run `{command}` to update it.",
            )
        return version

    def check_branch(self, app_id: str, branch_name: str) -> dict[str, Any]:
        """Check that the Amplify app and branch exist in the target account (GetBranch); return the branch."""
        region = self.resolve_region()
        amplify = self.client_for("amplify")
        try:
            return amplify.get_branch(appId=app_id, branchName=branch_name)["branch"]
        except amplify.exceptions.NotFoundException as err:
            message = err.response.get("Error", {}).get("Message", "")
        try:
            amplify.get_app(appId=app_id)
        except amplify.exceptions.NotFoundException:
            raise AmpxPreflightError(
                "branch",
                f"app_id={app_id!r}: no such Amplify app in account {self.account_id} region {region} "
                f"(connection {self.aws_conn_id!r}). The deployed stack links itself to the app there: "
                "create the app in that account, or use the connection of the account that has it.",
            ) from None
        raise AmpxPreflightError(
            "branch",
            f"branch_name={branch_name!r}: app {app_id} in account {self.account_id} region {region} has no "
            f"such branch ({message or 'NotFound'}). Create the branch in the Amplify app first.",
        )

    def branch_stack_name(self, app_id: str, branch_name: str) -> str:
        """The CloudFormation stack name ampx gives the branch's backend."""
        return amplify_branch_stack_name(app_id, branch_name)

    def describe_stack(self, stack_name: str) -> dict[str, Any] | None:
        """The stack's DescribeStacks entry, or None when it does not exist."""
        return describe_stack(self.client_for("cloudformation"), stack_name)

    def check_stack_not_in_progress(
        self,
        stack_name: str,
        wait: bool = False,
        poll_interval: float = 30.0,
        max_wait_seconds: float = 3600.0,
    ) -> str | None:
        """Check that the branch stack is not in a ``*_IN_PROGRESS`` state; optionally wait until it settles.

        :param stack_name: the branch stack.
        :param wait: wait for it to settle instead of failing.
        :param poll_interval: seconds between DescribeStacks calls while waiting.
        :param max_wait_seconds: how long to wait before failing.
        :return: the stack's status, or None when it does not exist yet.
        """
        deadline = time.monotonic() + max_wait_seconds
        while True:
            stack = self.describe_stack(stack_name)
            status = stack["StackStatus"] if stack else None
            if status is None or not stack_is_in_progress(status):
                return status
            if not wait:
                raise AmpxPreflightError(
                    "stack",
                    f"stack {stack_name} is {status}: another deploy of this branch is running. Wait for it "
                    "(wait_for_stack=True), or serialise deploys of a branch with an Airflow pool.",
                )
            if time.monotonic() + poll_interval > deadline:
                raise AmpxPreflightError(
                    "stack", f"stack {stack_name} is still {status} after {max_wait_seconds:.0f} s."
                )
            self.log.info("Stack %s is %s: waiting %.0f s", stack_name, status, poll_interval)
            time.sleep(poll_interval)
