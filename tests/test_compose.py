"""The deployment files: docker-compose.yaml's structure, and one set of pinned versions everywhere.

``docker-compose config`` needs only the ``docker-compose`` binary (Debian's v1 package works without a
Docker engine); the other checks read the files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_amplify.ampx.project import SUPPORTED_NODE_RANGE
from airflow_amplify.hooks.ampx import DEFAULT_AMPX_VERSION

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
LOCK_FILE = REPO / "requirements" / "lock-airflow-3.3.txt"
INSTALL_AMPX = REPO / "scripts" / "install-ampx"
README = REPO / "README.md"
DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
INSTALL_DOCKER_COMPOSE = "apt-get update && apt-get install -y docker-compose"


def _search(pattern: str, text: str, where: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{where}: no match for {pattern!r}"
    return match


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _default(value: str) -> str:
    """The default of a compose interpolation such as ``${AMPX_VERSION:-1.10.0}``, or the value itself."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return match.group(1) if match else value


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'")
    return values


# --- docker-compose config -------------------------------------------------------------------------


def _docker_compose_config(*args: str, env_file: str = ".env.example") -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose is not installed, so docker-compose.yaml cannot be checked. Install Debian's "
            f"package (no Docker engine needed, about 30 s): `{INSTALL_DOCKER_COMPOSE}`"
        )
    # Only .env.example feeds the file: neither a developer's .env nor their environment can change it.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "AIRFLOW_ENV_FILE": env_file}
    return subprocess.run(
        [binary, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_docker_compose_config_accepts_the_file_with_the_world_profile():
    result = _docker_compose_config("--profile", "world", "config")
    assert result.returncode == 0, result.stderr

    config = yaml.safe_load(result.stdout)
    services = config["services"]
    expected = set(AIRFLOW_SERVICES) | {"postgres", "redis", "airflow-init", "aws-world", "aws-world-seed"}
    assert expected <= set(services)
    # env_file resolved: every Airflow container gets the connections of .env.example, valid JSON.
    for name in [*AIRFLOW_SERVICES, "aws-world-seed"]:
        staging = json.loads(services[name]["environment"]["AIRFLOW_CONN_AWS_STAGING"])
        assert staging["extra"]["endpoint_url"] == "http://aws-world:5055", name


def test_docker_compose_config_names_a_missing_env_file():
    result = _docker_compose_config("config", env_file="no-such.env")
    assert result.returncode != 0
    assert "no-such.env" in result.stderr


# --- structure (read from the file) ---------------------------------------------------------------


def test_every_airflow_component_runs_from_the_built_image_with_a_healthcheck():
    services = _compose()["services"]
    image = services["airflow-init"]["image"]
    for name, command in AIRFLOW_SERVICES.items():
        service = services[name]
        assert service["command"] == command, name
        assert service["image"] == image, name
        assert service["build"]["args"]["PROVIDER_EXTRAS"] == "${PROVIDER_EXTRAS:-testing}", name
        assert service["healthcheck"]["test"], name
        assert service["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
        assert "./dags:/opt/airflow/dags" in " ".join(service["volumes"]).replace(
            "${AIRFLOW_PROJ_DIR:-.}", "."
        )
    for name in ("postgres", "redis", "aws-world"):
        assert services[name]["healthcheck"]["test"], name
    env = services["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_world_profile_serves_on_the_address_the_example_connections_use():
    services = _compose()["services"]
    world = services["aws-world"]
    assert world["profiles"] == ["world"]
    assert services["aws-world-seed"]["profiles"] == ["world"]
    assert world["image"] == services["airflow-worker"]["image"]
    command = world["command"]
    assert command[:4] == ["python", "-m", "airflow_amplify.testing", "serve"]
    host = command[command.index("--host") + 1]
    port = command[command.index("--port") + 1]
    public_url = command[command.index("--public-url") + 1]
    assert host == "0.0.0.0"
    assert public_url == f"http://aws-world:{port}"
    assert f"localhost:{port}/_world/health" in " ".join(world["healthcheck"]["test"])

    connections = {k: json.loads(v) for k, v in _env_example().items() if k.startswith("AIRFLOW_CONN_")}
    assert {"AIRFLOW_CONN_AWS_STAGING", "AIRFLOW_CONN_AWS_PRODUCTION"} <= set(connections)
    for key, conn in connections.items():
        assert conn["extra"]["endpoint_url"] == public_url, key
    production = connections["AIRFLOW_CONN_AWS_PRODUCTION"]["extra"]
    assert production["role_arn"].startswith("arn:aws:iam::222222222222:role/")
    assert production["service_config"]["sts"]["endpoint_url"] == public_url


def test_world_seed_sets_the_variable_the_example_dag_reads():
    dag_source = (REPO / "dags" / "amplify_smoke_build.py").read_text()
    variable = _search(r"var\.value\.(\w+)", dag_source, "dags/amplify_smoke_build.py").group(1)

    seed = _compose()["services"]["aws-world-seed"]
    script = "\n".join(seed["command"])
    assert "python -m airflow_amplify.testing.world.seed --url http://aws-world:5055" in script
    assert f'airflow variables set {variable} "$${{app_id}}"' in script
    assert seed["depends_on"]["aws-world"] == {"condition": "service_healthy"}
    # An AIRFLOW_VAR_ line would hide the seeded value: .env.example must not set it.
    assert f"AIRFLOW_VAR_{variable.upper()}" not in _env_example()


def test_env_file_with_secrets_is_not_committed():
    env_file = _default(_compose()["x-airflow-common"]["env_file"][0])
    assert env_file == ".env"
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", env_file], cwd=REPO, capture_output=True, text=True
    )
    assert tracked.returncode != 0, f"{env_file} is committed; only {ENV_EXAMPLE.name} should be"


# --- one set of versions -----------------------------------------------------------------------------


def _dockerfile_arg(name: str) -> str:
    return _search(rf"^ARG {name}=(\S+)$", DOCKERFILE.read_text(), "Dockerfile").group(1)


def _lock_versions() -> tuple[str, str]:
    text = LOCK_FILE.read_text()
    airflow = _search(r"^apache-airflow==(\S+)$", text, LOCK_FILE.name).group(1)
    python = _search(r"--python-version (\d+\.\d+)", text, LOCK_FILE.name).group(1)
    return airflow, python


def _node_range_admits(node_range: str, major: int) -> bool:
    """Whether a range like ``^18.19 || ^20.6 || >=22`` admits every release of a Node major version."""
    for part in (p.strip() for p in node_range.split("||")):
        if (m := re.fullmatch(r">=(\d+)(?:\.0)*", part)) and major >= int(m.group(1)):
            return True
        if (m := re.fullmatch(r"\^(\d+)(?:\.0)*", part)) and major == int(m.group(1)):
            return True
    return False


def test_airflow_version_agrees_across_lock_dockerfile_compose_and_readme():
    airflow, python = _lock_versions()

    image = _dockerfile_arg("AIRFLOW_IMAGE")
    assert image == f"apache/airflow:{airflow}-python{python}", (
        f"Dockerfile AIRFLOW_IMAGE={image}; the lock file has apache-airflow=={airflow} for Python {python}"
    )
    compose_image = _default(_compose()["x-airflow-common"]["image"])
    assert compose_image.endswith(f":{airflow}"), (
        f"docker-compose.yaml image {compose_image} is not {airflow}"
    )
    readme_row = _search(r"^\| newest \| (\S+) \|", README.read_text(), "README.md supported-versions table")
    assert readme_row.group(1) == airflow
    doc = DEPLOYMENT_DOC.read_text()
    assert set(re.findall(r"apache/airflow:([\w.]+?)-python", doc)) == {airflow}
    assert set(re.findall(r'airflowVersion: "([^"]+)"', doc)) == {airflow}


def test_ampx_version_agrees_across_hook_script_dockerfile_compose_readme_and_docs():
    version = DEFAULT_AMPX_VERSION

    assert _dockerfile_arg("AMPX_VERSION") == version
    assert (
        json.loads((REPO / "scripts" / "ampx-cli" / "package.json").read_text())["dependencies"][
            "@aws-amplify/backend-cli"
        ]
        == version
    )
    services = _compose()["services"]
    for name in ("airflow-worker", "aws-world"):
        assert _default(services[name]["build"]["args"]["AMPX_VERSION"]) == version, name
    readme = README.read_text()
    assert set(re.findall(r"`@aws-amplify/backend-cli` ([\d.]+)", readme)) == {version}
    doc = DEPLOYMENT_DOC.read_text()
    pinned = set(re.findall(r"backend-cli@([\d.]+)", doc)) | set(re.findall(r"AMPX_VERSION=([\d.]+)", doc))
    pinned |= set(re.findall(r"`@aws-amplify/backend-cli` (?:\| )?([\d.]+)", doc))
    assert pinned == {version}


def test_node_major_agrees_across_dockerfile_hook_readme_and_docs():
    node_image = _dockerfile_arg("NODE_IMAGE")
    full = _search(r"^node:(\d+)\.\d+\.\d+-", node_image, "Dockerfile NODE_IMAGE").group(0)
    major = int(full[len("node:") :].split(".")[0])

    assert _node_range_admits(SUPPORTED_NODE_RANGE, major), (
        f"ampx.py SUPPORTED_NODE_RANGE excludes Node {major}"
    )
    readme = README.read_text()
    recommended = re.search(r"Use Node (\d+) on workers", readme)
    if recommended:
        assert int(recommended.group(1)) == major
    minimum = _search(r"Node (\d+)\+", readme, "README.md (Node N+)")
    assert major >= int(minimum.group(1))
    doc = DEPLOYMENT_DOC.read_text()
    node_version = node_image.split(":")[1].split("-")[0]
    assert set(re.findall(r"node:([\d.]+)-", doc)) == {node_version}
    assert set(re.findall(r"NODE_VERSION=([\d.]+)", doc)) == {node_version}
    assert set(re.findall(r"Node\.js (\d+)", doc)) == {str(major)}


@pytest.mark.parametrize(
    ("node_range", "major", "admitted"),
    [
        ("^18.19 || ^20.6 || >=22", 22, True),
        ("^18.19 || ^20.6 || >=22", 24, True),
        ("^18.19 || ^20.6 || >=22", 21, False),
        ("^18.19 || ^20.6", 22, False),
        ("^22", 22, True),
    ],
)
def test_node_range_check(node_range, major, admitted):
    assert _node_range_admits(node_range, major) is admitted
