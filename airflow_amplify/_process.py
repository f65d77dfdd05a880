"""The one subprocess runner: ampx, npm and git run through it.

Every child gets its own session (so its whole tree can be ended), an *allowlisted* environment
(:func:`child_env`: nothing of the worker's own secrets, Airflow settings or AWS identity reaches it),
its output streamed line by line through a masking function, a timeout, and on timeout or
:meth:`ProcessRunner.terminate` SIGTERM then SIGKILL of the whole process group.

This module imports nothing of Airflow; the hooks pass Airflow's ``redact`` as the mask.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Variables of the worker's environment a child process may see, by exact name.
ALLOWED_ENV_NAMES = frozenset(
    {
        # where programs and the user's files are
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TMPDIR",
        "TMP",
        "TEMP",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        # locale and time zone
        "LANG",
        "LANGUAGE",
        "TZ",
        # proxies (both spellings; curl, git, npm and Node read either)
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        # CA bundles of a TLS-inspecting network
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "NODE_EXTRA_CA_CERTS",
        "REQUESTS_CA_BUNDLE",
        "AWS_CA_BUNDLE",
        "GIT_SSL_CAINFO",
        "GIT_SSL_CAPATH",
        # Node settings
        "NODE_OPTIONS",
        "NODE_PATH",
        # "this is an automated run" (ampx refuses pipeline-deploy without it); CI_* is NOT passed:
        # GitLab puts CI_JOB_TOKEN and CI_REGISTRY_PASSWORD there
        "CI",
    }
)
#: Prefixes of variables a child process may see (npm's are filtered again by :data:`_NPM_SECRET`).
ALLOWED_ENV_PREFIXES = ("LC_", "npm_config_", "NPM_CONFIG_", "COREPACK_")
#: npm settings that carry a credential: registry tokens, basic auth, client certificates and keys.
_NPM_SECRET = re.compile(r"auth|token|pass|otp|username|email|(^|_)(key|cert|keyfile|certfile)$", re.I)


def env_name_allowed(name: str) -> bool:
    """Whether a variable of the worker's environment may reach a child process."""
    if name in ALLOWED_ENV_NAMES:
        return True
    if name.startswith(("npm_config_", "NPM_CONFIG_")):
        return not _NPM_SECRET.search(name.split("_", 2)[2])
    return name.startswith(ALLOWED_ENV_PREFIXES)


def child_env(
    extra: Mapping[str, str | None] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a child process: the allowlisted part of ``base``, then ``extra``.

    :param extra: what the caller adds (credentials, settings); applied last; ``None`` removes a name.
    :param base: the environment to filter (default: this process's).
    """
    source = os.environ if base is None else base
    env = {name: value for name, value in source.items() if env_name_allowed(name)}
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


@dataclass
class ProcessResult:
    """What a finished (or ended) run gives back.

    :param command: the command line, for display.
    :param returncode: the exit code (negative: ended by that signal).
    :param stdout: the (masked) output lines; with ``merge_stderr`` the merged output.
    :param stderr: the (masked) stderr lines when not merged.
    :param duration: wall-clock seconds.
    :param timed_out: the run was ended by its timeout.
    :param killed: the run was ended by :meth:`ProcessRunner.terminate`.
    """

    command: str
    returncode: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    duration: float = 0.0
    timed_out: bool = False
    killed: bool = False


def _die_with_parent() -> None:
    """In the child, before it runs the command: SIGKILL it when the task process dies (Linux).

    The child has its own session, so that the whole tree can be ended on a timeout; a worker killed
    with SIGKILL (OOM killer, ``kill -9``) takes its task processes with it but would leave the child
    running on, orphaned. ``PR_SET_PDEATHSIG`` makes the kernel end it with its parent. Elsewhere it
    does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


class ProcessRunner:
    """Runs one command at a time in its own session, and can end it from another thread.

    :param log: a logger (``hook.log``) for start, finish and kill messages.
    :param kill_grace_seconds: seconds between SIGTERM and SIGKILL when the tree is ended.
    """

    def __init__(self, log: Any, kill_grace_seconds: float = 10.0):
        self.log = log
        self.kill_grace_seconds = kill_grace_seconds
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._killed = False

    def run(
        self,
        argv: Sequence[Any],
        *,
        cwd: str | os.PathLike[str],
        env: Mapping[str, str | None] | None = None,
        timeout: float | None = None,
        mask: Callable[[str], Any] = str,
        on_line: Callable[[str], None] | None = None,
        merge_stderr: bool = True,
    ) -> ProcessResult:
        """Run ``argv``; stream every line through ``mask`` then ``on_line``; end its tree on timeout.

        :param argv: the command.
        :param cwd: its working directory.
        :param env: what to add to the allowlisted environment (:func:`child_env`).
        :param timeout: seconds before the tree is ended (the result then has ``timed_out``).
        :param mask: applied to every line before it is kept or logged (Airflow's ``redact``).
        :param on_line: called with each masked line as it arrives (stdout and stderr alike).
        :param merge_stderr: merge stderr into stdout (ampx, npm); else keep them apart (git).
        :raises FileNotFoundError: the program does not exist.
        """
        args = [str(a) for a in argv]
        start = time.monotonic()
        deadline = start + timeout if timeout else None
        process = subprocess.Popen(
            args,
            cwd=str(cwd),
            env=child_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        with self._lock:
            self._process = process
            self._killed = False
        result = ProcessResult(command=" ".join(args), returncode=0)
        streams: dict[int, tuple[list[str], bytearray]] = {}
        assert process.stdout is not None
        streams[process.stdout.fileno()] = (result.stdout, bytearray())
        if process.stderr is not None:
            streams[process.stderr.fileno()] = (result.stderr, bytearray())

        def emit(lines: list[str], raw: bytes) -> None:
            line = str(mask(raw.decode("utf-8", "replace").rstrip("\r\n")))
            lines.append(line)
            if on_line is not None:
                on_line(line)

        exited_at: float | None = None
        with selectors.DefaultSelector() as selector:
            for fd in streams:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    result.timed_out = True
                    break
                wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - now))
                ready = selector.select(wait)
                for key, _ in ready:
                    lines, buffer = streams[key.fd]
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fd)
                        continue
                    buffer += chunk
                    *complete, rest = bytes(buffer).split(b"\n")
                    buffer[:] = rest
                    for raw in complete:
                        emit(lines, raw)
                if not ready and process.poll() is not None:
                    # the leader exited but a descendant may hold the pipe open: give it a moment
                    exited_at = exited_at or now
                    if now - exited_at > 1.0:
                        break
        for lines, buffer in streams.values():
            if buffer:
                emit(lines, bytes(buffer))
        if result.timed_out:
            self.log.error("Timed out after %.0f s: ending the process tree of %s", timeout, args[0])
        self.kill_tree(process)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        result.returncode = process.wait()
        with self._lock:
            self._process = None
            result.killed = self._killed
        result.duration = time.monotonic() - start
        return result

    def kill_tree(self, process: subprocess.Popen | None = None) -> None:
        """End a process group: SIGTERM, then SIGKILL after ``kill_grace_seconds`` for what is left.

        :param process: the group's leader (default: the running one).
        """
        process = process or self._process
        if process is None:
            return
        pgid = process.pid  # start_new_session=True: the leader's pid is the group id
        if not group_alive(pgid):
            return
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if _wait_group(process, pgid, self.kill_grace_seconds):
            return
        self.log.warning("Process group %s still alive after SIGTERM: sending SIGKILL", pgid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        if not _wait_group(process, pgid, 5.0):
            self.log.error("Process group %s survived SIGKILL", pgid)

    def terminate(self) -> None:
        """End the running command's tree (for ``on_kill``); its result then has ``killed``."""
        with self._lock:
            process = self._process
            if process is None:
                return
            self._killed = True
        self.log.info("Ending the process tree of pid %s", process.pid)
        self.kill_tree(process)


def _wait_group(process: subprocess.Popen, pgid: int, seconds: float) -> bool:
    """Wait up to ``seconds`` for the group to be gone; whether it is."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        process.poll()  # reap the leader so it does not count as alive
        if not group_alive(pgid):
            return True
        time.sleep(0.05)
    return False


def group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process of the group still exists.

    Reads ``/proc`` where there is one (a zombie that a non-reaping PID 1 leaves behind must not
    count), else asks the kernel with signal 0.
    """
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
