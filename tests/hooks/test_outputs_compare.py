"""Native engine against the real ``ampx generate outputs`` on the same stacks: byte for byte.

Stacks of several shapes are created once per module in the local world (moto behind one endpoint;
the world returns GetTemplateSummary Metadata as JSON, as AWS does). The real CLI runs against the
world through ``AWS_ENDPOINT_URL`` (the JS SDK honours it; S3 goes path-style because the endpoint
is an IP address), the native engine through boto3. Needs the CLI (``scripts/install-ampx``); the
tests skip, saying so, only when it is not installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from airflow_amplify.hooks.outputs import generate_outputs_native
from airflow_amplify.outputs.errors import AmplifyOutputsError
from airflow_amplify.testing.world.client import WorldClient
from tests.outputs.shapes import create_stack, shape

AMPX_VERSION = "1.10.0"


def find_ampx() -> str | None:
    """The ampx executable: ``AMPX_BIN``, else where ``scripts/install-ampx`` puts it."""
    explicit = os.environ.get("AMPX_BIN")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    cache = os.environ.get("AMPX_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "airflow-amplify", "ampx"
    )
    path = os.path.join(cache, AMPX_VERSION, "node_modules", ".bin", "ampx")
    return path if os.access(path, os.X_OK) else None


AMPX = find_ampx()
pytestmark = [
    pytest.mark.ampx,
    pytest.mark.skipif(AMPX is None, reason="ampx CLI not installed: run scripts/install-ampx (CI does)"),
]

# (case id, shape, outputs version). Each CLI run costs seconds (Node start-up), so every outputs
# version is covered once across the shapes; the pure mapping is tested per version in test_outputs.py.
CASES = [
    *[("everything", "everything", v) for v in ("1", "1.1", "1.3", "1.5")],
    ("auth_only", "auth_only", "1.4"),
    ("auth_storage", "auth_storage", "1.2"),
    ("auth_data", "auth_data", "1.4"),
    ("custom", "custom", "1.2"),
]
ERROR_CASES = ["missing_stack", "no_metadata"]


def run_cli(world_url: str, stack_name: str, version: str, out_dir: str) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "CI": "1",
        "NO_COLOR": "1",
        "AMPLIFY_DISABLE_TELEMETRY": "1",
        "npm_config_user_agent": "npm/10 node/v20",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": world_url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    cmd = [
        AMPX,
        "generate",
        "outputs",
        "--stack",
        stack_name,
        "--outputs-version",
        version,
        "--out-dir",
        out_dir,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=out_dir)
    path = Path(out_dir) / "amplify_outputs.json"
    error = re.findall(r"^\[(\w+)\]", proc.stdout + proc.stderr, re.MULTILINE)
    return {
        "returncode": proc.returncode,
        "bytes": path.read_bytes() if proc.returncode == 0 and path.exists() else None,
        "error": error[0] if error else None,
        "output": proc.stdout + proc.stderr,
    }


def run_native(world: WorldClient, stack_name: str, version: str, out_dir: str) -> dict[str, Any]:
    try:
        path = generate_outputs_native(
            stack_name, version, out_dir, cloudformation=world.client("cloudformation"), s3=world.client("s3")
        )
    except AmplifyOutputsError as err:
        return {"bytes": None, "error": err.error_name}
    return {"bytes": path.read_bytes(), "error": None}


@pytest.fixture(scope="module")
def compared(amplify_world_server) -> dict[Any, dict[str, Any]]:
    """Create every stack once, run the CLI (two at a time) and the native engine on each."""
    world = WorldClient(amplify_world_server.url)
    world.reset()
    jobs: list[tuple[Any, str, str]] = []
    for name in sorted({s for _, s, _ in CASES}):
        create_stack(world, f"amplify-cmp-{name.replace('_', '')}-branch-0000000000", shape(name))
    for case_id, shape_name, version in CASES:
        jobs.append(
            ((case_id, version), f"amplify-cmp-{shape_name.replace('_', '')}-branch-0000000000", version)
        )
    create_stack(world, "amplify-cmp-nometadata-branch-0000000000", shape("auth_only"), with_metadata=False)
    names = {
        "missing_stack": "amplify-cmp-absent-branch-0000000000",
        "no_metadata": "amplify-cmp-nometadata-branch-0000000000",
    }
    jobs += [(case, names[case], "1.4") for case in ERROR_CASES]
    results: dict[Any, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        futures = {}
        for key, stack_name, version in jobs:
            cli_dir = tempfile.mkdtemp(dir=tmp)
            futures[key] = pool.submit(run_cli, amplify_world_server.url, stack_name, version, cli_dir)
            results[key] = {"native": run_native(world, stack_name, version, tempfile.mkdtemp(dir=tmp))}
        for key, future in futures.items():
            results[key]["cli"] = future.result()
    return results


@pytest.mark.parametrize(
    ("case_id", "version"), [(c, v) for c, _, v in CASES], ids=[f"{c}-{v}" for c, _, v in CASES]
)
def test_native_outputs_are_byte_identical_to_ampx(compared, case_id, version):
    result = compared[(case_id, version)]
    cli, native = result["cli"], result["native"]
    assert cli["returncode"] == 0, cli["output"]
    assert native["error"] is None
    assert native["bytes"] == cli["bytes"]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_native_raises_the_error_ampx_reports(compared, case):
    cli, native = compared[case]["cli"], compared[case]["native"]
    assert cli["returncode"] != 0
    assert cli["error"] is not None, cli["output"]
    assert native["error"] == cli["error"]
