"""Secret scan: after the example DAGs ran against the world, no secret they handled is anywhere it
could be read.

The runs: ``amplify_nightly_cms_rebuild`` with a StartJob site and a webhook site (the webhook URL
carries a token), then ``amplify_cross_account_release`` whose production stage assumes a role
(STS hands out a secret key and a session token, which the deploy gives to ampx).

The secrets: the AWS secret access keys of the connections (random per run, not the world's usual
``testing``), the webhook tokens, and every secret key and session token STS issued during the test,
read from the world's moto STS backend (the world runs in this process; its request log redacts them).

The places: the ``airflow dags test`` output, every file under ``AIRFLOW_HOME/logs``, the metadata
database (the ``xcom`` and ``rendered_task_instance_fields`` tables, and every other table too),
the world's raw request log and its job records, what the world holds afterwards (stacks, SSM
parameters, branches), and the command lines of the ``ampx`` and ``git`` child processes (recorded
by wrappers put in their place).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from .report import record

DAGS = Path(__file__).resolve().parents[2] / "dags"
CMS_DAG = "amplify_nightly_cms_rebuild"
RELEASE_DAG = "amplify_cross_account_release"


# --- the scanner -------------------------------------------------------------------------------


def secret_forms(value: str) -> set[str]:
    """The strings whose presence means ``value`` leaked: as is, URL-encoded, JSON-escaped, and
    (for long values) 24-character slices of its start, middle and end, so a truncated copy counts."""
    forms = {value, quote(value, safe=""), json.dumps(value)[1:-1], value.replace("/", "\\/")}
    if len(value) >= 32:
        middle = (len(value) - 24) // 2
        forms |= {value[:24], value[middle : middle + 24], value[-24:]}
    return {f for f in forms if f}


def scan(places: list[tuple[str, str, str]], secret_values: dict[str, str]) -> list[dict[str, str]]:
    """Every (secret, place) where a form of the secret occurs.

    :param places: ``(kind, name, text)`` of everything looked at.
    :param secret_values: label -> secret value.
    """
    found = []
    wanted = {label: secret_forms(value) for label, value in secret_values.items()}
    for kind, name, text in places:
        for label, forms in wanted.items():
            hit = next((f for f in forms if f in text), None)
            if hit is not None:
                at = text.index(hit)
                found.append(
                    {"secret": label, "kind": kind, "place": name, "context": text[max(0, at - 80) : at]}
                )
    return found


def _text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def database_places(db_path: Path) -> list[tuple[str, str, str]]:
    """One place per row of every table of the metadata database; XComs and rendered fields by name."""
    kinds = {"xcom": "xcom", "rendered_task_instance_fields": "rendered_fields"}
    places = []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for i, row in enumerate(db.execute(f'SELECT * FROM "{table}"')):
                places.append(
                    (kinds.get(table, "database"), f"{table}[{i}]", " | ".join(_text(v) for v in row))
                )
    finally:
        db.close()
    return places


def world_places(world) -> list[tuple[str, str, str]]:
    """The world's raw request log (one place per entry), its job records, and what it holds afterwards."""
    from airflow_amplify.testing import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID

    places = []
    with urllib.request.urlopen(f"{world.url}/_world/requests", timeout=30) as answer:
        raw = answer.read().decode()
    places.append(("request_log", "request log (raw JSON)", raw))
    for entry in json.loads(raw)["requests"]:
        places.append(("request_log", f"request {entry['seq']}", json.dumps(entry)))
    with urllib.request.urlopen(f"{world.url}/_world/jobs", timeout=30) as answer:
        places.append(("world_state", "jobs", answer.read().decode()))
    for account in (STAGING_ACCOUNT_ID, PRODUCTION_ACCOUNT_ID):
        cfn = world.client("cloudformation", account)
        places.append(("world_state", f"stacks of {account}", json.dumps(cfn.describe_stacks(), default=str)))
        ssm = world.client("ssm", account)
        params = ssm.get_parameters_by_path(Path="/", Recursive=True, WithDecryption=True)
        places.append(("world_state", f"SSM parameters of {account}", json.dumps(params, default=str)))
        amplify = world.client("amplify", account)
        for app in amplify.list_apps()["apps"]:
            branches = amplify.list_branches(appId=app["appId"])
            places.append(("world_state", f"branches of {app['appId']}", json.dumps(branches, default=str)))
    return places


def issued_sts_credentials() -> dict[str, str]:
    """Every secret key and session token the world's STS (moto, in this process) has handed out."""
    from moto.sts.models import sts_backends

    issued = {}
    for account_id, regions in sts_backends.items():
        for region, backend in regions.items():
            for n, role in enumerate(backend.assumed_roles):
                where = f"{account_id}/{region}/{role.session_name}/{n}"
                issued[f"STS secret key {where}"] = role.secret_access_key
                issued[f"STS session token {where}"] = role.session_token
    return issued


# --- the runs ----------------------------------------------------------------------------------


def _wrapper(path: Path, real: str, log: Path, print_credentials: bool = False) -> Path:
    """An executable that appends its command line to ``log`` (NUL-separated arguments), then runs ``real``.

    :param print_credentials: first print the AWS credentials of its environment, as a careless
        CLI in debug mode would: the task log must show them masked.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    loud = (
        'echo "debug credentials: AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY '
        'AWS_SESSION_TOKEN=${AWS_SESSION_TOKEN:-none}"\n'
        if print_credentials
        else ""
    )
    path.write_text(
        f"#!/bin/sh\nprintf '%s\\0' \"$0\" \"$@\" >> '{log}'\nprintf '\\n' >> '{log}'\n{loud}exec '{real}' \"$@\"\n"
    )
    path.chmod(0o755)
    return path


def own_airflow_home(home: Path) -> dict[str, str]:
    """A copy of the session's migrated metadata database (and config) in ``home``: the run's logs
    and database are its own, and two runs can go side by side without SQLite locks."""
    source = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True)
    with sqlite3.connect(source / "airflow.db") as src, sqlite3.connect(home / "airflow.db") as dst:
        src.backup(dst)
    if (source / "airflow.cfg").is_file():
        shutil.copy(source / "airflow.cfg", home / "airflow.cfg")  # the same Fernet key
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    }


def _dags_test(dag_id: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``airflow dags test`` with its output in ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "airflow", "dags", "test", dag_id],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


class _Records(logging.Handler):
    """Everything logged in this process (the world's thread included) while the DAGs run."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


@pytest.mark.slow
def test_example_dag_runs_leave_no_secret_in_logs_xcoms_rendered_fields_or_the_world(
    amplify_world, tmp_path, airflow_db
):
    from airflow_amplify.testing import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID
    from airflow_amplify.testing.ampx_world import write_world_ampx
    from tests.fakes.git import make_remote

    started = time.monotonic()
    # AWS secret keys of the connections: random, so any copy of them is a leak, never a coincidence.
    staging_conn = amplify_world.aws_connection(STAGING_ACCOUNT_ID)
    production_conn = amplify_world.aws_connection(PRODUCTION_ACCOUNT_ID)
    staging_conn["password"] = secrets.token_urlsafe(30)
    production_conn["password"] = secrets.token_urlsafe(30)

    blog = amplify_world.seed_app("blog", ("main",))
    docs = amplify_world.seed_app("docs", ("main",), webhooks=True)
    webhook_url = docs["webhooks"]["main"]["url"]
    staging = amplify_world.seed_app("shop", ("main",), account_id=STAGING_ACCOUNT_ID, webhooks=True)
    production = amplify_world.seed_app("shop", ("main",), account_id=PRODUCTION_ACCOUNT_ID, webhooks=True)
    for app in (blog, docs, staging):
        amplify_world.script_next_job(app["app_id"], "main", build_seconds=1.0)
    amplify_world.script_next_job(
        production["app_id"], "main", account_id=PRODUCTION_ACCOUNT_ID, build_seconds=1.0
    )
    amplify_world.bootstrap_cdk(STAGING_ACCOUNT_ID)
    amplify_world.bootstrap_cdk(PRODUCTION_ACCOUNT_ID)
    remote = make_remote(tmp_path / "git")

    # ampx and git run through wrappers that record their command lines.
    commands_log = tmp_path / "child-command-lines.log"
    # The ampx wrapper also prints the credentials it was given, as a CLI in debug mode might.
    standin = str(write_world_ampx(tmp_path / "standin"))
    ampx = _wrapper(tmp_path / "bin" / "ampx", standin, commands_log, print_credentials=True)
    _wrapper(tmp_path / "bin" / "git", shutil.which("git"), commands_log)

    sites = [
        {"name": "blog", "app_id": blog["app_id"], "branch_name": "main", "aws_conn_id": "aws_staging"},
        {"name": "docs", "webhook_conn_id": "docs_webhook", "aws_conn_id": "aws_staging",
         "allow_custom_webhook_host": True},
    ]  # fmt: skip
    # The backend's secrets of each stage (set_secrets reads them from the stage's connection).
    backend_secrets = {stage: secrets.token_urlsafe(24) for stage in ("staging", "production")}
    env = {
        **os.environ,
        "AIRFLOW_VAR_AMPLIFY_RELEASE_SECRET_NAMES": json.dumps(["STRIPE_KEY"]),
        **{
            f"AIRFLOW_CONN_AMPLIFY_RELEASE_{stage.upper()}_SECRETS": json.dumps(
                {"conn_type": "generic", "extra": {"STRIPE_KEY": value}}
            )
            for stage, value in backend_secrets.items()
        },
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "NO_PROXY": "127.0.0.1,localhost",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW_CONN_AWS_STAGING": json.dumps(staging_conn),
        "AIRFLOW_CONN_AWS_PRODUCTION": json.dumps(production_conn),
        "AIRFLOW_CONN_DOCS_WEBHOOK": json.dumps({"conn_type": "amplify_webhook", "password": webhook_url}),
        "AIRFLOW_VAR_AMPLIFY_CMS_SITES": json.dumps(sites),
        "AIRFLOW_VAR_AMPLIFY_RELEASE_REPO_URL": remote.url,
        "AIRFLOW_VAR_AMPLIFY_RELEASE_STAGING_APP_ID": staging["app_id"],
        "AIRFLOW_VAR_AMPLIFY_RELEASE_PRODUCTION_APP_ID": production["app_id"],
        "AIRFLOW_VAR_AMPLIFY_RELEASE_OUTPUTS_DIR": str(tmp_path / "outputs"),
        "AIRFLOW_VAR_AMPLIFY_AMPX_PATH": str(ampx),
        "AIRFLOW_AMPLIFY_EXAMPLE_RETRY_DELAY": "0.5",
        "AIRFLOW_AMPLIFY_EXAMPLE_RETRIES": "1",
        "AIRFLOW_AMPLIFY_EXAMPLE_POLL_INTERVAL": "1",
        "AIRFLOW_AMPLIFY_RELEASE_INSTALL_DEPENDENCIES": "false",
    }
    # Both DAGs run side by side, each with its own copy of the metadata database.
    homes = {dag_id: tmp_path / f"home-{dag_id}" for dag_id in (CMS_DAG, RELEASE_DAG)}
    records = _Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(records)
    root.setLevel(logging.INFO)
    try:
        processes = {
            dag_id: _dags_test(dag_id, {**env, **own_airflow_home(home)}, tmp_path / f"{dag_id}.log")
            for dag_id, home in homes.items()
        }
        returncodes = {dag_id: process.wait(timeout=300) for dag_id, process in processes.items()}
    finally:
        root.removeHandler(records)
        root.setLevel(old_level)
    print(f"DAG runs: {time.monotonic() - started:.1f} s")
    outputs = {dag_id: (tmp_path / f"{dag_id}.log").read_text() for dag_id in homes}
    for dag_id, returncode in returncodes.items():
        assert returncode == 0, outputs[dag_id][-5000:]
    # The runs did what the scan is about: a webhook build, StartJob builds, a cross-account deploy,
    # and their task logs (with ampx's output streamed into them) are in the output scanned.
    assert "rebuilt: blog (job 1), docs (job 1)" in outputs[CMS_DAG], outputs[CMS_DAG][-3000:]
    assert "Triggering the incoming webhook" in outputs[CMS_DAG]
    assert "[stand-in ampx]" in outputs[RELEASE_DAG] and "Started Amplify RELEASE job" in outputs[RELEASE_DAG]
    # ampx printed its credentials in both stages; the task log shows them masked.
    printed = set(
        re.findall(
            r"debug credentials: (AWS_SECRET_ACCESS_KEY=\S+ AWS_SESSION_TOKEN=\S+)", outputs[RELEASE_DAG]
        )
    )
    assert printed == {  # staging: direct keys; production: assumed-role keys and a session token
        "AWS_SECRET_ACCESS_KEY=*** AWS_SESSION_TOKEN=none",
        "AWS_SECRET_ACCESS_KEY=*** AWS_SESSION_TOKEN=***",
    }, printed
    assert amplify_world.count("startbuild") == 1
    assert amplify_world.count("AssumeRole") >= 1
    assert {j["app_id"] for j in amplify_world.jobs() if j["status"] == "SUCCEED"} == {
        blog["app_id"], docs["app_id"], staging["app_id"], production["app_id"]
    }  # fmt: skip

    # --- what to look for
    secret_values = {
        "aws_staging secret key": staging_conn["password"],
        "aws_production secret key": production_conn["password"],
    }
    for app in (docs, staging, production):
        for branch, hook in app["webhooks"].items():
            (token,) = parse_qs(urlsplit(hook["url"]).query)["token"]
            secret_values[f"webhook token of {app['app_id']}/{branch}"] = token
    sts = issued_sts_credentials()
    assert sts, "STS issued no credentials: the production stage did not assume its role"
    secret_values.update(sts)

    # --- where to look
    places = [("dags_test_output", dag_id, text) for dag_id, text in outputs.items()]
    for home in homes.values():
        for path in sorted((home / "logs").rglob("*")):
            if path.is_file():
                places.append(
                    ("log_file", str(path.relative_to(tmp_path)), path.read_text("utf-8", "replace"))
                )
        places += database_places(home / "airflow.db")
    places += world_places(amplify_world)
    places.append(("world_log", "what this process logged during the runs", "\n".join(records.lines)))
    command_lines = [line for line in commands_log.read_text().splitlines() if line]
    places += [
        ("command_line", f"child {i}", line.replace("\0", " ")) for i, line in enumerate(command_lines)
    ]

    found = scan(places, secret_values)
    # The backend's secrets belong in SSM (the world's state); anywhere else they are a leak.
    elsewhere = [p for p in places if not (p[0] == "world_state" and p[1].startswith("SSM parameters"))]
    found += scan(elsewhere, {f"backend secret of {stage}": v for stage, v in backend_secrets.items()})
    stored = scan(places, {f"backend secret of {stage}": v for stage, v in backend_secrets.items()})
    assert {hit["place"] for hit in stored} == {  # the control: each is in its account's SSM
        "SSM parameters of 123456789012",
        "SSM parameters of 222222222222",
    }, stored
    kinds = Counter(kind for kind, _, _ in places)
    print(f"scanned {len(secret_values)} secrets in {len(places)} places: {dict(kinds)}")
    record(
        "secret scan of the example DAG runs",
        dag_runs=2,
        secrets_scanned=len(secret_values) + len(backend_secrets),
        places_scanned=len(places),
        secrets_found=len(found),
    )
    assert found == [], found[:5]

    # --- positive controls: the scan reads every kind of place, and finds a secret that is there.
    assert {
        "dags_test_output",
        "xcom",
        "rendered_fields",
        "request_log",
        "world_state",
        "command_line",
    } <= set(kinds)
    assert any(" pipeline-deploy " in line.replace("\0", " ") for line in command_lines)
    # The app id of the production stage is in every kind of place (it is no secret): found there.
    marker = {"production app id": production["app_id"]}
    seen = {hit["kind"] for hit in scan(places, marker)}
    assert {"dags_test_output", "xcom", "rendered_fields", "request_log", "command_line"} <= seen, seen
    # A real secret, planted in a task log line, a JSON value and a URL, is found in each.
    token = secret_values[f"webhook token of {docs['app_id']}/main"]
    session_token = next(v for k, v in sts.items() if k.startswith("STS session token"))
    planted = [
        ("log_file", "planted log", f"[2026-01-01] INFO - posting to {webhook_url}&operation=startbuild"),
        ("xcom", "planted xcom", json.dumps({"credentials": {"SessionToken": session_token}})),
        ("command_line", "planted argv", f"ampx --token {quote(token, safe='')}"),
        ("log_file", "planted truncated log", f"token starts {session_token[:30]}..."),
    ]
    hits = scan(planted, {"webhook token": token, "session token": session_token})
    assert sorted(h["place"] for h in hits) == sorted(p[1] for p in planted), hits
