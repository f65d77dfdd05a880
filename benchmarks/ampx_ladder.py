"""The real ``ampx pipeline-deploy`` of each ladder rung into the local world: cold, warm, update.

For each backend under ``sample-app/ladder/`` (sharing ``sample-app/node_modules``), in one run:

- **cold**: ``.amplify/`` removed (no CDK assembly or bundles from an earlier synth), a new app:
  CreateStack;
- **warm**: ``.amplify/`` kept from the cold run, another new app: CreateStack;
- **update**: the warm app deployed again: UpdateStack;
- ``generate outputs`` of the warm stack by the real CLI and by the native engine (same bytes).

Prints seconds per rung and the ratios warm/cold, update/cold and native/CLI, measured side by side.
The CLI runs with every AWS call pointed at the world (``AWS_ENDPOINT_URL``) in the production
account (assumed role), its notices served by the world.

Usage: python benchmarks/ampx_ladder.py [--rung NAME ...] [--ampx PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airflow_amplify.ampx.project import amplify_branch_stack_name
from airflow_amplify.hooks.outputs import generate_outputs_native
from airflow_amplify.testing.world.client import PRODUCTION_ACCOUNT_ID, WorldClient
from airflow_amplify.testing.world.server import WorldServer
from tests.fakes.ampx import SAMPLE_APP, real_ampx_path

RUNGS = ["none", "auth", "auth-storage", "auth-data", "auth-function", "everything"]


def cli_env(world: WorldClient) -> dict[str, str]:
    creds = world.credentials(PRODUCTION_ACCOUNT_ID)
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "CI": "1",
        "NO_COLOR": "1",
        "AMPLIFY_DISABLE_TELEMETRY": "1",
        "npm_config_user_agent": "npm/10 node/v20",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": creds["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": creds["aws_session_token"],
        "AWS_ENDPOINT_URL": world.url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AMPLIFY_BACKEND_NOTICES_ENDPOINT": f"{world.url}/_world/notices.json",
    }


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    took = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[1:3])} failed in {cwd.name}:\n{(proc.stdout + proc.stderr)[-3000:]}"
        )
    return took


def deploy(ampx: str, world: WorldClient, rung: str, app_id: str) -> float:
    project = SAMPLE_APP / "ladder" / rung
    argv = [
        ampx,
        "pipeline-deploy",
        "--branch",
        "main",
        "--app-id",
        app_id,
        "--outputs-out-dir",
        tempfile.mkdtemp(),
    ]
    return run(argv, project, cli_env(world))  # fresh credentials per run: the assumed role expires


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rung", action="append", choices=RUNGS, help="rungs to time (default: all)")
    parser.add_argument("--ampx", default=os.environ.get("AMPX_BIN"))
    args = parser.parse_args()
    ampx = args.ampx
    if not ampx:
        path, reason = real_ampx_path(install=False)
        if path is None:
            print(f"real ampx unavailable: {reason} (run scripts/install-ampx)", file=sys.stderr)
            return 2
        ampx = str(path)
    rows = []
    with WorldServer() as server, tempfile.TemporaryDirectory() as tmp:
        world = WorldClient(server.url)
        world.bootstrap_cdk(PRODUCTION_ACCOUNT_ID)
        for rung in args.rung or RUNGS:
            shutil.rmtree(SAMPLE_APP / "ladder" / rung / ".amplify", ignore_errors=True)
            cold_app = world.seed_app(f"cold-{rung}", ("main",), account_id=PRODUCTION_ACCOUNT_ID)["app_id"]
            warm_app = world.seed_app(f"warm-{rung}", ("main",), account_id=PRODUCTION_ACCOUNT_ID)["app_id"]
            cold = deploy(ampx, world, rung, cold_app)
            warm = deploy(ampx, world, rung, warm_app)
            update = deploy(ampx, world, rung, warm_app)
            stack = amplify_branch_stack_name(warm_app, "main")
            out_cli, out_native = Path(tmp, rung, "cli"), Path(tmp, rung, "native")
            out_cli.mkdir(parents=True)
            cli = run(
                [ampx, "generate", "outputs", "--stack", stack, "--out-dir", str(out_cli)],
                out_cli,
                cli_env(world),
            )
            start = time.monotonic()
            generate_outputs_native(
                stack,
                "1.5",
                str(out_native),
                cloudformation=world.client("cloudformation", PRODUCTION_ACCOUNT_ID),
                s3=world.client("s3", PRODUCTION_ACCOUNT_ID),
            )
            native = time.monotonic() - start
            same = (out_cli / "amplify_outputs.json").read_bytes() == (
                out_native / "amplify_outputs.json"
            ).read_bytes()
            rows.append((rung, cold, warm, update, cli, native, same))
            print(f"{rung}: cold {cold:.1f} s, warm {warm:.1f} s, update {update:.1f} s", flush=True)
    print()
    print(f"{'rung':<14} {'cold s':>7} {'warm s':>7} {'update s':>8} {'warm/cold':>9} {'upd/cold':>8} "
          f"{'outputs CLI s':>13} {'native s':>8} {'native/CLI':>10} same bytes")  # fmt: skip
    for rung, cold, warm, update, cli, native, same in rows:
        print(
            f"{rung:<14} {cold:7.1f} {warm:7.1f} {update:8.1f} {warm / cold:9.2f} {update / cold:8.2f} "
            f"{cli:13.2f} {native:8.3f} {native / cli:10.3f} {'yes' if same else 'NO'}"
        )
    return 0 if all(row[-1] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
