"""Test helpers for the ampx runner: a stand-in ``ampx`` executable and the real CLI from the cache.

The stand-in is a small Python script whose behaviour is chosen by ``FAKE_AMPX_MODE`` in its
environment (pass it through ``AmpxHook(env=...)``); it writes what it saw into ``FAKE_AMPX_STATE``:

- ``ok``: prints its arguments and exits 0; with ``--out-dir D`` it writes ``D/amplify_outputs.json``.
- ``stream``: prints ``out i <time>`` to stdout and ``err i`` to stderr three times, 0.3 s apart.
- ``fail``: prints a help text, then an ampx error block (``FAKE_AMPX_ERROR`` names it), exits 1.
- ``exit``: prints nothing and exits with ``FAKE_AMPX_EXIT``.
- ``tree``: starts a child that starts a grandchild which ignores SIGTERM, writes their pids to
  ``<state>/pids``, and sleeps.
- ``env``: writes its environment and pid to ``<state>/env.json``, prints the AWS secret key and
  session token (to test masking), waits for ``<state>/release`` (at most 20 s), exits 0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-ampx"
SAMPLE_APP = REPO_ROOT / "sample-app"

FAKE_HELP = """\
ampx pipeline-deploy

Command to deploy backends in a custom CI/CD pipeline. This command is not intended to be used locally.

Options:
      --debug            Print debug logs to the console  [boolean] [default: false]
      --branch           Name of the git branch being deployed  [string] [required]
      --app-id           The app id of the target Amplify app  [string] [required]
  -h, --help             Show help  [boolean]
[not an error] lines of help text that look like errors must not be taken for the error
"""

FAKE_AMPX_SOURCE = r"""
import json, os, signal, subprocess, sys, time

mode = os.environ.get("FAKE_AMPX_MODE", "ok")
state = os.environ.get("FAKE_AMPX_STATE", ".")
args = sys.argv[1:]

if mode == "ok":
    print("fake ampx", " ".join(args), flush=True)
    if "--out-dir" in args:
        out = args[args.index("--out-dir") + 1]
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "amplify_outputs.json"), "w") as f:
            f.write(json.dumps({"version": "1.4", "custom": {"args": args}}, indent=2))
    sys.exit(0)
if mode == "stream":
    for i in range(3):
        print(f"out {i} {time.time()}", flush=True)
        print(f"err {i}", file=sys.stderr, flush=True)
        time.sleep(0.3)
    sys.exit(0)
if mode == "fail":
    sys.stdout.write(HELP)
    print("", flush=True)
    name = os.environ.get("FAKE_AMPX_ERROR", "BootstrapNotDetectedError")
    print(f"[{name}] This AWS account and region has not been bootstrapped.")
    print("  ∟ Caused by: [ToolkitError] Is account 123456789012 bootstrapped?")
    print("Resolution: Run `cdk bootstrap aws://{YOUR_ACCOUNT_ID}/{YOUR_REGION}` locally to resolve this.")
    print("", flush=True)
    sys.exit(1)
if mode == "exit":
    sys.exit(int(os.environ.get("FAKE_AMPX_EXIT", "3")))
if mode == "tree":
    grandchild = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    )
    child = (
        "import subprocess, sys, time, os\n"
        f"g = subprocess.Popen([sys.executable, '-c', {grandchild!r}])\n"
        f"open(os.path.join({state!r}, 'pids'), 'w').write(f'{{os.getpid()}} {{g.pid}}')\n"
        "time.sleep(120)\n"
    )
    subprocess.Popen([sys.executable, "-c", child])
    print("started a process tree", flush=True)
    time.sleep(120)
    sys.exit(0)
if mode == "env":
    # written whole, then renamed: a reader polling for the file never sees it half written
    with open(os.path.join(state, "env.json.part"), "w") as f:
        json.dump({"pid": os.getpid(), "env": dict(os.environ), "argv": sys.argv}, f)
    os.replace(os.path.join(state, "env.json.part"), os.path.join(state, "env.json"))
    print("secret key is", os.environ.get("AWS_SECRET_ACCESS_KEY"), flush=True)
    print("session token is", os.environ.get("AWS_SESSION_TOKEN"), flush=True)
    deadline = time.time() + 20
    while time.time() < deadline and not os.path.exists(os.path.join(state, "release")):
        time.sleep(0.05)
    sys.exit(0)
print(f"unknown FAKE_AMPX_MODE {mode}", file=sys.stderr)
sys.exit(2)
"""


def write_fake_ampx(directory: str | os.PathLike[str], name: str = "ampx") -> Path:
    """Write the stand-in ``ampx`` executable into ``directory`` and return its path."""
    path = Path(directory, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\nHELP = {FAKE_HELP!r}\n{FAKE_AMPX_SOURCE}")
    path.chmod(0o755)
    return path


def write_fake_node(directory: str | os.PathLike[str], version: str) -> Path:
    """Write a ``node`` executable that only answers ``--version`` with ``version``."""
    path = Path(directory, "node")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def write_fake_project(directory: str | os.PathLike[str], backend: str = "backend.ts") -> Path:
    """A directory that looks like an Amplify Gen 2 project to the preflight checks."""
    root = Path(directory)
    (root / "amplify").mkdir(parents=True, exist_ok=True)
    (root / "amplify" / backend).write_text("export {};\n")
    (root / "package.json").write_text('{"name": "fake", "private": true}\n')
    (root / "package-lock.json").write_text('{"name": "fake", "lockfileVersion": 3, "packages": {}}\n')
    return root


def real_ampx_path(install: bool = True) -> tuple[Path | None, str]:
    """The real ampx from ``scripts/install-ampx`` (installing it when asked), or None and the reason."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        return None, "node/npm are not installed"
    if os.environ.get("AMPX_PATH"):
        path = Path(os.environ["AMPX_PATH"])
        return (path, "") if os.access(path, os.X_OK) else (None, f"AMPX_PATH={path} is not executable")
    cache = Path(
        os.environ.get("AMPX_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "airflow-amplify", "ampx")
    )
    from airflow_amplify.hooks.ampx import DEFAULT_AMPX_VERSION

    cached = cache / DEFAULT_AMPX_VERSION / "node_modules" / ".bin" / "ampx"
    if os.access(cached, os.X_OK):
        return cached, ""
    if not install:
        return None, f"ampx is not installed at {cached}"
    try:
        result = subprocess.run(
            [str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"scripts/install-ampx failed: {err}"
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if "code" in line or "ERR" in line.upper()]
        summary = "; ".join(lines[:3]) or result.stderr.strip()[-200:]
        return None, f"scripts/install-ampx failed (npm registry unreachable?): {summary}"
    return Path(result.stdout.strip().splitlines()[-1]), ""


def sample_app_ready() -> tuple[bool, str]:
    """Whether ``sample-app/node_modules`` is installed (``make test`` installs it)."""
    if not (SAMPLE_APP / "node_modules" / "@aws-amplify" / "backend").is_dir():
        return False, f"sample-app dependencies are not installed: run `npm install --prefix {SAMPLE_APP}`"
    return True, ""
