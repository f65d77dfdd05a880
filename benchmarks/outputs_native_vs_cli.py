"""Native amplify_outputs.json against the real ``ampx generate outputs`` on the same stack.

Starts the local world, creates a backend stack with auth, data (model schema in S3), storage and
custom outputs, then times N runs of each engine in the same process and prints the medians and
the ratio. The native timing includes its three AWS reads (through boto3 clients made once, as a
hook holds them) and writing the file; the CLI timing is one ``ampx`` process per run.

Usage: python benchmarks/outputs_native_vs_cli.py [--runs N] [--outputs-version 1.4] [--ampx PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airflow_amplify.hooks.outputs import generate_outputs_native
from airflow_amplify.testing.world.client import WorldClient
from airflow_amplify.testing.world.server import WorldServer
from tests.outputs.shapes import create_stack, shape

STACK = "amplify-bench-main-branch-0123456789"


def default_ampx() -> str:
    cache = os.environ.get("AMPX_CACHE_DIR") or os.path.expanduser("~/.cache/airflow-amplify/ampx")
    return os.path.join(cache, "1.10.0", "node_modules", ".bin", "ampx")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--outputs-version", default="1.4")
    parser.add_argument("--ampx", default=os.environ.get("AMPX_BIN") or default_ampx())
    args = parser.parse_args()
    if not os.access(args.ampx, os.X_OK):
        print(f"ampx not found at {args.ampx}: run scripts/install-ampx", file=sys.stderr)
        return 2
    with WorldServer() as server, tempfile.TemporaryDirectory() as tmp:
        world = WorldClient(server.url)
        create_stack(world, STACK, shape("everything"))
        cfn, s3 = world.client("cloudformation"), world.client("s3")
        env = dict(
            os.environ, CI="1", NO_COLOR="1", AMPLIFY_DISABLE_TELEMETRY="1",
            npm_config_user_agent="npm/10 node/v20", AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=server.url,
        )  # fmt: skip
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
        native_times, cli_times = [], []
        native_bytes = cli_bytes = b""
        generate_outputs_native(STACK, args.outputs_version, tmp + "/warm", cloudformation=cfn, s3=s3)
        for run in range(args.runs):
            out = f"{tmp}/native{run}"
            start = time.perf_counter()
            path = generate_outputs_native(STACK, args.outputs_version, out, cloudformation=cfn, s3=s3)
            native_times.append(time.perf_counter() - start)
            native_bytes = path.read_bytes()
            out = f"{tmp}/cli{run}"
            cmd = [args.ampx, "generate", "outputs", "--stack", STACK, "--outputs-version", args.outputs_version,
                   "--out-dir", out]  # fmt: skip
            start = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=tmp)
            cli_times.append(time.perf_counter() - start)
            cli_bytes = Path(out, "amplify_outputs.json").read_bytes()
    native, cli = statistics.median(native_times), statistics.median(cli_times)
    print(
        f"stack shape: auth + data (model introspection from S3) + storage + custom; outputs {args.outputs_version}"
    )
    print(f"runs: {args.runs}")
    print(f"native median: {native * 1000:.1f} ms")
    print(f"ampx   median: {cli * 1000:.1f} ms")
    print(f"ratio (ampx / native): {cli / native:.1f}x")
    print(f"byte-identical: {native_bytes == cli_bytes}")
    return 0 if native_bytes == cli_bytes else 1


if __name__ == "__main__":
    raise SystemExit(main())
