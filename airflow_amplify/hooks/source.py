"""Source checkout for deploys: a shallow fetch of one Git ref into a per-run workspace.

:class:`AmplifySourceHook` fetches ``ref`` (a branch, a tag, or a full or short commit SHA) of
``repo_url`` with ``git init`` + ``git fetch --depth 1 origin <ref>`` + ``git checkout FETCH_HEAD``
into a fresh directory, records the resolved commit (SHA, subject, time) and removes the directory
afterwards (or keeps it when the run failed, if asked).

Credentials come from an Airflow connection of type ``git`` (the fields of the Airflow git provider's
``GitHook``) or ``generic``:

- HTTPS: ``login`` (user name; default ``x-access-token``) and ``password`` (the token). git asks a
  ``GIT_ASKPASS`` helper for them; the helper prints them from its environment, so the token is
  never in a URL, an argument list (``/proc/<pid>/cmdline``), ``.git/config`` or the log.
- SSH: extra ``private_key`` (the key's text, written 0600 into a private temporary directory and
  deleted afterwards) or ``key_file`` (a path), optional ``private_key_passphrase``,
  ``strict_host_key_checking`` (default ``no``, as the git provider), ``known_hosts_file``,
  ``ssh_port``; passed to git in ``GIT_SSH_COMMAND``.

The connection's ``host`` is used as the repository URL when ``repo_url`` is not given.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow.exceptions import AirflowNotFoundException
from airflow.providers.common.compat.sdk import AirflowException, BaseHook, mask_secret

from airflow_amplify._process import ProcessRunner
from airflow_amplify.validation import (
    redact_url,
    validate_ref,
    validate_repo_url,
    validate_subdir,
)

#: Connection types whose fields this hook reads.
CONNECTION_TYPES = ("git", "generic")
#: The user name sent with a token when the connection has no login (GitHub, GitLab and
#: Bitbucket accept any user name with a token; GitHub documents ``x-access-token``).
DEFAULT_TOKEN_USER = "x-access-token"
STRICT_HOST_KEY_CHECKING = ("yes", "no", "accept-new", "off", "ask")
#: Environment variables the askpass helper reads (the helper script itself holds no secret).
_USER_VAR = "AIRFLOW_AMPLIFY_GIT_USERNAME"
_SECRET_VAR = "AIRFLOW_AMPLIFY_GIT_PASSWORD"
_PASSPHRASE_VAR = "AIRFLOW_AMPLIFY_SSH_PASSPHRASE"
_ASKPASS_SCRIPT = f"""#!/bin/sh
# GIT_ASKPASS / SSH_ASKPASS helper of airflow-provider-amplify: answers from the environment only.
case "$1" in
  *[Uu]sername*) printf '%s\\n' "${_USER_VAR}" ;;
  *[Pp]assphrase*) printf '%s\\n' "${_PASSPHRASE_VAR}" ;;
  *) printf '%s\\n' "${_SECRET_VAR}" ;;
esac
"""
_FULL_SHA = re.compile(r"^[0-9a-fA-F]{40}$|^[0-9a-fA-F]{64}$")
_SHORT_SHA = re.compile(r"^[0-9a-fA-F]{4,63}$")


# --- errors -----------------------------------------------------------------------------------


class GitSourceError(AirflowException):
    """Fetching or checking out the source failed. The message names the repository and the ref.

    :param repo_url: the repository, without credentials.
    :param ref: the ref that was asked for.
    :param message: what went wrong and what to do.
    :param output: git's (redacted) output, for the log.
    """

    def __init__(self, repo_url: str, ref: str | None, message: str, output: str = ""):
        self.repo_url = repo_url
        self.ref = ref
        self.output = output
        text = f"git: ref {ref or 'HEAD'!r} of {repo_url}: {message}"
        if output.strip():
            tail = "\n".join(f"    {line}" for line in output.strip().splitlines()[-8:])
            text += f"\n  git said:\n{tail}"
        super().__init__(text)


class GitRefNotFoundError(GitSourceError):
    """The repository has no branch, tag or commit of that name."""


class GitAuthenticationError(GitSourceError):
    """The remote refused the credentials (or asked for some and there were none)."""


class GitRemoteUnreachableError(GitSourceError):
    """The remote could not be reached, or is not a Git repository."""


# --- pure helpers -----------------------------------------------------------------------------


def is_full_sha(ref: str) -> bool:
    """Whether ``ref`` is a full commit id (40 hex digits for SHA-1, 64 for SHA-256)."""
    return bool(_FULL_SHA.match(ref))


def looks_like_short_sha(ref: str) -> bool:
    """Whether ``ref`` could be an abbreviated commit id (4 to 63 hex digits)."""
    return bool(_SHORT_SHA.match(ref)) and not is_full_sha(ref)


@dataclass
class SourceCheckout:
    """A checked-out ref.

    :param repo_url: the repository (never with credentials).
    :param ref: the ref asked for (None: the remote's default branch).
    :param commit_id: the resolved commit SHA.
    :param commit_message: the commit's subject line.
    :param commit_time: the commit time, ISO 8601 with offset.
    :param workspace: the per-run directory that holds the checkout.
    :param project_dir: ``workspace`` joined with ``subdir``.
    """

    repo_url: str
    ref: str | None
    commit_id: str
    commit_message: str
    commit_time: str
    workspace: str
    project_dir: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _GitAuth:
    """What one git run needs for credentials: environment variables and files to delete afterwards."""

    env: dict[str, str]
    secrets: list[str]


# --- the hook ---------------------------------------------------------------------------------


class AmplifySourceHook(BaseHook):
    """Fetch one ref of a Git repository into a per-run workspace, with credentials from a connection.

    :param git_conn_id: an Airflow connection of type ``git`` or ``generic`` (optional: public and
        ``file://`` repositories need none). See the module docstring for its fields.
    :param repo_url: the repository; default the connection's ``host``.
    :param timeout: seconds each git command may run before its process group is ended.
    :param env: what git gets beside the allowlisted worker environment (:mod:`airflow_amplify._process`);
        ``None`` removes a variable.
    """

    conn_name_attr = "git_conn_id"
    default_conn_name = "git_default"
    conn_type = "git"
    hook_name = "Git (Amplify source checkout)"

    def __init__(
        self,
        git_conn_id: str | None = None,
        repo_url: str | None = None,
        timeout: float = 600.0,
        env: Mapping[str, str | None] | None = None,
    ):
        super().__init__()
        self.git_conn_id = git_conn_id
        self._repo_url = repo_url
        self.timeout = timeout
        self.env_overrides = dict(env or {})
        self._runner = ProcessRunner(self.log, kill_grace_seconds=5.0)
        self._connection_fields: dict[str, Any] | None = None

    # --- connection -------------------------------------------------------------------------

    def connection_fields(self) -> dict[str, Any]:
        """The connection's login, token, host and extra (empty without ``git_conn_id``)."""
        if self._connection_fields is None:
            fields: dict[str, Any] = {"login": None, "password": None, "host": None, "extra": {}}
            if self.git_conn_id:
                try:
                    conn = self.get_connection(self.git_conn_id)
                except AirflowNotFoundException as err:
                    raise GitSourceError(
                        self._repo_url or "?",
                        None,
                        f"git_conn_id={self.git_conn_id!r}: no such Airflow connection. Create a connection "
                        "of type 'git' (or 'generic') with the token as password, or private_key/key_file "
                        "in its extra for SSH.",
                    ) from err
                if conn.conn_type and conn.conn_type not in CONNECTION_TYPES:
                    raise GitSourceError(
                        self._repo_url or conn.host or "?",
                        None,
                        f"git_conn_id={self.git_conn_id!r} is of type {conn.conn_type!r}; use a connection of "
                        f"type {' or '.join(repr(t) for t in CONNECTION_TYPES)}.",
                    )
                fields = {
                    "login": conn.login,
                    "password": conn.password,
                    "host": conn.host,
                    "extra": conn.extra_dejson or {},
                }
            self._connection_fields = fields
        return self._connection_fields

    @property
    def repo_url(self) -> str:
        """The repository address: ``repo_url``, else the connection's ``host``."""
        url = self._repo_url or self.connection_fields().get("host")
        return validate_repo_url(url)

    @contextlib.contextmanager
    def auth_env(self, private_dir: Path) -> Iterator[_GitAuth]:
        """Credential environment for git: askpass helper (HTTPS, passphrases) and ``GIT_SSH_COMMAND`` (SSH).

        Secret material lives only in the environment of git's processes and, for an inline SSH key,
        in a 0600 file under ``private_dir`` (a 0700 directory the caller deletes).
        """
        fields = self.connection_fields()
        extra = fields["extra"]
        token = fields["password"]
        key_text = extra.get("private_key")
        key_file = extra.get("key_file")
        passphrase = extra.get("private_key_passphrase")
        if key_text and key_file:
            raise GitSourceError(
                redact_url(self.repo_url),
                None,
                f"git_conn_id={self.git_conn_id!r} sets both 'private_key' and 'key_file' in its extra; keep one.",
            )
        env: dict[str, str] = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
        secrets = [s for s in (token, key_text, passphrase) if s]
        for secret in secrets:
            mask_secret(secret)
        askpass = private_dir / "askpass.sh"
        askpass.write_text(_ASKPASS_SCRIPT)
        askpass.chmod(stat.S_IRWXU)
        if token:
            env["GIT_ASKPASS"] = str(askpass)
            env[_USER_VAR] = fields["login"] or DEFAULT_TOKEN_USER
            env[_SECRET_VAR] = token

        ssh = ["ssh", "-o", "ConnectTimeout=30"]
        if key_text:
            key_path = private_dir / "id_key"
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key_text if key_text.endswith("\n") else key_text + "\n")
            ssh += ["-i", str(key_path), "-o", "IdentitiesOnly=yes"]
        elif key_file:
            ssh += ["-i", os.path.expanduser(str(key_file)), "-o", "IdentitiesOnly=yes"]
        if passphrase:  # its own variable: an HTTPS token in the same connection keeps its own
            env[_PASSPHRASE_VAR] = passphrase
            env["SSH_ASKPASS"] = str(askpass)
            env["SSH_ASKPASS_REQUIRE"] = "force"
            env.setdefault("DISPLAY", os.environ.get("DISPLAY", ":0"))
        else:
            ssh += ["-o", "BatchMode=yes"]
        checking = str(extra.get("strict_host_key_checking", "no"))
        if checking not in STRICT_HOST_KEY_CHECKING:
            raise GitSourceError(
                redact_url(self.repo_url),
                None,
                f"git_conn_id={self.git_conn_id!r}: strict_host_key_checking={checking!r} is not valid; use one "
                f"of {', '.join(STRICT_HOST_KEY_CHECKING)}.",
            )
        ssh += ["-o", f"StrictHostKeyChecking={checking}"]
        if extra.get("known_hosts_file"):
            ssh += ["-o", f"UserKnownHostsFile={os.path.expanduser(str(extra['known_hosts_file']))}"]
        elif checking == "no":
            ssh += ["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
        if extra.get("ssh_port"):
            ssh += ["-p", str(int(extra["ssh_port"]))]
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        env["GIT_SSH_VARIANT"] = "ssh"
        yield _GitAuth(env=env, secrets=secrets)

    def extra_env(self) -> dict[str, str | None]:
        """What every git run adds to the allowlisted worker environment (before the credentials)."""
        return {"LC_ALL": "C", **self.env_overrides}  # C: git's messages are parsed below

    # --- running git ------------------------------------------------------------------------

    def _git(
        self,
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        secrets: Sequence[str] = (),
        check: bool = True,
        what: str | None = None,
        ref: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run one git command in its own session; end its process group on timeout or kill."""
        # with a token from the connection, the worker's credential helpers are switched off: they
        # could answer with other credentials, or store the token on disk
        reset = ["-c", "credential.helper="] if env.get(_SECRET_VAR) and "GIT_ASKPASS" in env else []
        argv = ["git", *reset, *args]
        try:
            run = self._runner.run(
                argv,
                cwd=cwd,
                env=env,
                timeout=self.timeout,
                mask=lambda line: self._redact(line, secrets),
                merge_stderr=False,
            )
        except FileNotFoundError as err:
            raise GitSourceError(
                redact_url(self.repo_url), ref, "git is not installed on the worker (not found on PATH)."
            ) from err
        stdout, stderr = "\n".join(run.stdout), "\n".join(run.stderr)
        if run.timed_out:
            raise GitRemoteUnreachableError(
                redact_url(self.repo_url),
                ref,
                f"`git {args[0]}` did not finish within {self.timeout:.0f} s; the remote may be unreachable "
                "or very slow.",
                stderr,
            )
        if run.killed:
            raise GitSourceError(redact_url(self.repo_url), ref, "checkout ended by on_kill.")
        self.log.debug("git %s: %.1f s", args[0], run.duration)
        result = subprocess.CompletedProcess(argv, run.returncode, stdout, stderr)
        if check and result.returncode != 0:
            raise GitSourceError(
                redact_url(self.repo_url),
                ref,
                f"{what or 'git ' + args[0]} failed (exit code {result.returncode}).",
                result.stderr,
            )
        return result

    @staticmethod
    def _redact(text: str, secrets: Sequence[str]) -> str:
        for secret in secrets:
            for part in (secret, *secret.splitlines()):
                if len(part) >= 4:
                    text = text.replace(part, "***")
        return text

    def terminate(self) -> None:
        """End the running git command's process tree (for ``on_kill``)."""
        self._runner.terminate()

    def _classify(self, output: str, ref: str | None) -> GitSourceError:
        """Turn a failed fetch's output into the matching error, naming the repository and ref."""
        url = redact_url(self.repo_url)
        low = output.lower()
        conn = f"git_conn_id={self.git_conn_id!r}" if self.git_conn_id else "no git_conn_id"
        if any(
            s in low
            for s in (
                "authentication failed",
                "could not read username",
                "could not read password",
                "invalid username or password",
                "permission denied (publickey",
                "http 401",
                "the requested url returned error: 401",
                "the requested url returned error: 403",
                "terminal prompts disabled",
                "access denied",
            )
        ):
            return GitAuthenticationError(
                url,
                ref,
                f"the remote refused the credentials ({conn}). Check that the connection's token (password) "
                "or SSH key is valid and may read this repository.",
                output,
            )
        if any(
            s in low
            for s in (
                "couldn't find remote ref",
                "not our ref",
                "unadvertised object",
                "no such remote ref",
                "bad object",
                "did not match any",
            )
        ):
            return GitRefNotFoundError(
                url,
                ref,
                "no such branch, tag or commit in the repository. Check the spelling, that it was pushed, and "
                "that a commit SHA is reachable from a branch or tag.",
                output,
            )
        return GitRemoteUnreachableError(
            url,
            ref,
            "the remote could not be reached or is not a Git repository. Check the address, the worker's "
            "network access to it, and proxies.",
            output,
        )

    # --- checkout ---------------------------------------------------------------------------

    def checkout(
        self,
        ref: str | None,
        workspace: str | os.PathLike[str] | None = None,
        subdir: str | None = None,
        workspace_root: str | os.PathLike[str] | None = None,
        prefix: str = "airflow-amplify-src-",
    ) -> SourceCheckout:
        """Fetch ``ref`` shallowly and check it out; return the resolved commit.

        Branches and tags: ``git fetch --depth 1 origin <ref>``. A full SHA is fetched by SHA; when
        the server refuses that (protocol v0 without ``uploadpack.allowReachableSHA1InWant``) and for
        short SHAs, every branch and tag is fetched (``--filter=blob:none`` where the server allows it)
        and the SHA looked up among them.

        :param ref: branch, tag, commit SHA or full ref; None for the remote's default branch.
        :param workspace: the directory to check out into (created; must be empty); default a new
            directory under ``workspace_root``, removed again when the checkout fails.
        :param subdir: the app's directory inside the repository (monorepos).
        :param workspace_root: where per-run workspaces are created; default the system temp dir.
        :param prefix: name prefix of a created workspace.
        :raises GitSourceError: naming the repository and ref; never the credential.
        """
        repo_url = self.repo_url
        validate_ref(ref)
        subdir = validate_subdir(subdir)
        display_url = redact_url(repo_url)
        if workspace is None:
            root = Path(workspace_root or tempfile.gettempdir())
            root.mkdir(parents=True, exist_ok=True)
            path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
            try:
                return self.checkout(ref, workspace=path, subdir=subdir)
            except BaseException:
                self.remove_workspace(path)
                raise
        else:
            path = Path(workspace)
            path.mkdir(parents=True, exist_ok=True)
            if any(path.iterdir()):
                raise GitSourceError(display_url, ref, f"workspace {str(path)!r} is not empty.")
        self.log.info("Fetching %s of %s into %s", ref or "the default branch", display_url, path)
        start = time.monotonic()
        private = Path(tempfile.mkdtemp(prefix="airflow-amplify-git-"))  # 0700
        try:
            with self.auth_env(private) as auth:
                env = {**self.extra_env(), **auth.env}
                git = lambda *a, **kw: self._git(a, path, env, auth.secrets, ref=ref, **kw)  # noqa: E731
                git("init", "-q", ".")
                git("remote", "add", "origin", repo_url)
                target = self._fetch(git, ref)
                git("-c", "advice.detachedHead=false", "checkout", "-q", target, what="git checkout")
                info = git("log", "-1", "--format=%H%x00%s%x00%cI", "HEAD").stdout.strip().split("\x00")
        finally:
            shutil.rmtree(private, ignore_errors=True)
        commit_id, subject, commit_time = (info + ["", "", ""])[:3]
        project_dir = path / subdir if subdir else path
        if subdir and not project_dir.is_dir():
            raise GitSourceError(
                display_url,
                ref,
                f"subdir={subdir!r} does not exist in commit {commit_id[:12]}; give the app's directory relative "
                "to the repository root.",
            )
        self.log.info(
            "Checked out %s of %s at %s (%s) in %.1f s",
            ref or "HEAD",
            display_url,
            commit_id,
            subject,
            time.monotonic() - start,
        )
        return SourceCheckout(
            repo_url=display_url,
            ref=ref,
            commit_id=commit_id,
            commit_message=subject,
            commit_time=commit_time,
            workspace=str(path),
            project_dir=str(project_dir),
        )

    def _fetch(self, git, ref: str | None) -> str:
        """Fetch ``ref`` into the new repository; return what to check out."""
        shallow = ["fetch", "-q", "--no-tags", "--depth", "1", "origin"]
        if ref is None:
            result = git(*shallow, "HEAD", check=False)
            if result.returncode != 0:
                raise self._classify(result.stderr, ref)
            return "FETCH_HEAD"
        result = git(*shallow, ref, check=False)
        if result.returncode == 0:
            if is_full_sha(ref):
                return ref
            return "FETCH_HEAD"
        error = self._classify(result.stderr, ref)
        if not isinstance(error, GitRefNotFoundError) or not (is_full_sha(ref) or looks_like_short_sha(ref)):
            raise error
        # a SHA the server would not serve by id: fetch branches and tags, then look it up
        self.log.info("The remote does not serve %s by SHA: fetching its branches and tags to find it", ref)
        refspecs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
        result = git("fetch", "-q", "--filter=blob:none", "origin", *refspecs, check=False)
        if result.returncode != 0:
            raise self._classify(result.stderr, ref)
        found = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if found.returncode != 0 or not found.stdout.strip():
            raise GitRefNotFoundError(
                redact_url(self.repo_url),
                ref,
                "no branch, tag or commit of that name (looked among all branches and tags). Check the "
                "spelling, that it was pushed, and that the commit is reachable from a branch or tag.",
            )
        return found.stdout.strip()

    @staticmethod
    def remove_workspace(workspace: str | os.PathLike[str]) -> None:
        """Delete a workspace (read-only files included)."""

        def on_error(func, path, _exc):
            with contextlib.suppress(OSError):
                os.chmod(os.path.dirname(path), stat.S_IRWXU)
                os.chmod(path, stat.S_IRWXU)
                func(path)

        if Path(workspace).exists():
            if sys.version_info >= (3, 12):
                shutil.rmtree(workspace, onexc=on_error)
            else:  # onerror is deprecated from Python 3.12 on
                shutil.rmtree(workspace, onerror=on_error)

    @contextlib.contextmanager
    def checked_out(
        self,
        ref: str | None,
        subdir: str | None = None,
        workspace_root: str | os.PathLike[str] | None = None,
        keep_on_failure: bool = False,
    ) -> Iterator[SourceCheckout]:
        """Check out ``ref``, yield it, and remove the workspace afterwards (kept on failure when asked).

        :param ref: branch, tag, SHA or full ref; None for the default branch.
        :param subdir: the app's directory inside the repository.
        :param workspace_root: where the per-run workspace is created.
        :param keep_on_failure: keep the workspace when the block (or the checkout) raises.
        """
        root = Path(workspace_root or tempfile.gettempdir())
        root.mkdir(parents=True, exist_ok=True)
        workspace = Path(tempfile.mkdtemp(prefix="airflow-amplify-src-", dir=root))
        failed = True
        try:
            source = self.checkout(ref, workspace=workspace, subdir=subdir)
            yield source
            failed = False
        finally:
            if failed and keep_on_failure:
                self.log.warning(
                    "Keeping the workspace %s for debugging (keep_workspace_on_failure)", workspace
                )
            else:
                self.remove_workspace(workspace)


def read_commit(project_dir: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """The commit SHA and subject of a directory inside a Git work tree, or (None, None)."""
    if shutil.which("git") is None or not Path(project_dir).is_dir():
        return None, None
    runner = ProcessRunner(logging.getLogger(__name__), kill_grace_seconds=1.0)
    try:
        run = runner.run(
            ["git", "log", "-1", "--format=%H%x00%s", "HEAD"],
            cwd=project_dir,
            env={"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"},
            timeout=30,
            merge_stderr=False,
        )
    except OSError:
        return None, None
    text = "\n".join(run.stdout).strip()
    if run.returncode != 0 or run.timed_out or "\x00" not in text:
        return None, None
    sha, subject = text.split("\x00", 1)
    return sha, subject
