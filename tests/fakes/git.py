"""Test helpers for source checkouts: a local Git remote, an HTTP remote with Basic auth, a stand-in ssh.

- :func:`make_remote` builds a bare repository with several commits, branches and tags whose
  commits hold an Amplify Gen 2 app (at the root and in ``apps/web`` for monorepo tests).
- :class:`GitHttpServer` serves a directory of bare repositories over smart HTTP on loopback with
  ``git http-backend`` behind a small threaded WSGI server. It requires HTTP Basic auth with the
  given user and token, records every Authorization attempt, and on each request records the
  command lines (``/proc/<pid>/cmdline``) of all processes that contain the token.
- :func:`write_fake_ssh` writes an ``ssh`` executable for ``PATH`` that records its arguments and the
  identity file it was given (path, mode, directory mode, content hash) and then runs the remote
  command (``git-upload-pack '<path>'``) locally: the SSH transport without an SSH server.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from tests.fakes.ampx import write_fake_project

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": os.devnull,
    "LC_ALL": "C",
}


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **_GIT_ENV}, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@dataclass
class Remote:
    """A bare repository built by :func:`make_remote`, with the SHAs of its commits."""

    path: Path
    commits: dict[str, str] = field(default_factory=dict)  # name -> SHA
    subjects: dict[str, str] = field(default_factory=dict)  # SHA -> subject

    @property
    def url(self) -> str:
        return self.path.as_uri()


def make_remote(directory: str | os.PathLike[str], name: str = "app.git") -> Remote:
    """A bare repository with this history (``version.txt`` names the commit)::

    main:       c1 "Initial app" -- c2 "Add monorepo app" -- c3 "Release 1.1" (tag v1.1, annotated)
                                                               \\-- c4 "Main after release"
    feature/x:  c2 -- f1 "Feature work"
    tag v1.0 (lightweight) -> c1
    """
    root = Path(directory)
    work = root / "work"
    bare = root / name
    work.mkdir(parents=True)
    _git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    _git(work, "init", "-q", "-b", "main")
    remote = Remote(bare)

    def commit(label: str, subject: str) -> None:
        (work / "version.txt").write_text(label + "\n")
        _git(work, "add", "-A")
        _git(work, "commit", "-q", "-m", f"{subject}\n\nBody of {label}: not part of the subject.")
        sha = _git(work, "rev-parse", "HEAD")
        remote.commits[label] = sha
        remote.subjects[sha] = subject

    write_fake_project(work)
    commit("c1", "Initial app")
    _git(work, "tag", "v1.0")
    write_fake_project(work / "apps" / "web")
    commit("c2", "Add monorepo app")
    _git(work, "checkout", "-q", "-b", "feature/x")
    commit("f1", "Feature work")
    _git(work, "checkout", "-q", "main")
    commit("c3", "Release 1.1")
    _git(work, "tag", "-a", "v1.1", "-m", "Version 1.1")
    commit("c4", "Main after release")
    _git(work, "push", "-q", str(bare), "main", "feature/x", "v1.0", "v1.1")
    return remote


# --- HTTP remote ----------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def processes_containing(secret: str) -> list[str]:
    """Command lines (``/proc/<pid>/cmdline``) of running processes that contain ``secret``."""
    found = []
    needle = secret.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(cmdline.replace(b"\0", b" ").decode("utf-8", "replace"))
    return found


class GitHttpServer:
    """Smart-HTTP Git server for the bare repositories under ``project_root``, with Basic auth.

    :param project_root: the directory holding bare repositories (served at ``/<name>``).
    :param user: the user name it accepts (None: any).
    :param token: the password it accepts; None serves without authentication.
    """

    def __init__(
        self, project_root: str | os.PathLike[str], user: str | None = None, token: str | None = None
    ):
        self.project_root = Path(project_root)
        self.user = user
        self.token = token
        self.auth_attempts: list[tuple[str, str]] = []
        self.token_in_cmdlines: list[str] = []
        self.requests: list[str] = []
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> GitHttpServer:
        self._server = make_server(
            "127.0.0.1", 0, self._app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _app(self, environ, start_response):
        self.requests.append(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO')}")
        if self.token:
            self.token_in_cmdlines.extend(processes_containing(self.token))
        header = environ.get("HTTP_AUTHORIZATION", "")
        user = None
        if self.token is not None:
            if not header.startswith("Basic "):
                start_response(
                    "401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Length", "0")]
                )
                return [b""]
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            self.auth_attempts.append((user, password))
            if password != self.token or (self.user is not None and user != self.user):
                start_response(
                    "401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Length", "0")]
                )
                return [b""]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi_env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "GIT_PROJECT_ROOT": str(self.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_USER": user or "",
            "GIT_PROTOCOL": environ.get("HTTP_GIT_PROTOCOL", ""),
            "HTTP_CONTENT_ENCODING": environ.get("HTTP_CONTENT_ENCODING", ""),
        }
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=cgi_env, capture_output=True, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status = "200 OK"
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = value.strip()
            elif key:
                headers.append((key.strip(), value.strip()))
        start_response(status, headers)
        return [payload]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- SSH stand-in ---------------------------------------------------------------------------------

_FAKE_SSH = r"""
import hashlib, json, os, stat, subprocess, sys
args = sys.argv[1:]
record = {"argv": args, "ppid_cmdline": open(f"/proc/{os.getppid()}/cmdline", "rb").read().decode(errors="replace")}
if "-i" in args:
    key = args[args.index("-i") + 1]
    st = os.stat(key)
    record["key"] = {
        "path": key,
        "mode": oct(stat.S_IMODE(st.st_mode)),
        "dir_mode": oct(stat.S_IMODE(os.stat(os.path.dirname(key)).st_mode)),
        "sha256": hashlib.sha256(open(key, "rb").read()).hexdigest(),
    }
with open(os.environ["FAKE_SSH_LOG"], "a") as f:
    f.write(json.dumps(record) + "\n")
sys.exit(subprocess.call(["sh", "-c", args[-1]]))
"""


def write_fake_ssh(directory: str | os.PathLike[str], log_file: str | os.PathLike[str]) -> Path:
    """Write a stand-in ``ssh`` into ``directory`` (put it first on ``PATH``) that logs into ``log_file``."""
    path = Path(directory, "ssh")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"#!{sys.executable}\nimport os\nos.environ.setdefault('FAKE_SSH_LOG', {str(log_file)!r})\n{_FAKE_SSH}"
    )
    path.chmod(0o755)
    return path
