"""The demo: the local AWS world, seeded, and the example DAG run by ``airflow dags test``.

Run it with ``make demo``. It starts everything it needs and stops everything it started.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from airflow_amplify.testing import STAGING_ACCOUNT_ID, WorldClient, WorldServer

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / ".demo" / "airflow"


def airflow(*args: str, env: dict[str, str], capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, check=True, text=True, capture_output=capture
    )


def summary(env: dict[str, str], dag_id: str) -> list[tuple[str, str, float]]:
    db = sqlite3.connect(HOME / "airflow.db")
    run_id = db.execute(
        "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
    ).fetchone()[0]
    rows = db.execute(
        "SELECT task_id, state, duration FROM task_instance WHERE dag_id = ? AND run_id = ? ORDER BY start_date",
        (dag_id, run_id),
    ).fetchall()
    return [(task, state, duration or 0.0) for task, state, duration in rows]


def main() -> int:
    HOME.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with WorldServer() as server:
        world = WorldClient(server.url)
        print(f"Local AWS world (moto + Amplify emulator) at {server.url}")
        app = world.seed_app("demo-site", ("main",), account_id=STAGING_ACCOUNT_ID, webhooks=True)
        world.script_next_job(app["app_id"], "main", provision_seconds=1, build_seconds=3, deploy_seconds=1)
        print(f"Seeded app {app['app_id']} with branch main in account {STAGING_ACCOUNT_ID}")

        env = {
            **os.environ,
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_AWS_STAGING": json.dumps(world.aws_connection(STAGING_ACCOUNT_ID)),
            "AIRFLOW_VAR_AMPLIFY_SMOKE_APP_ID": app["app_id"],
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        print("Preparing the Airflow metadata database in .demo/airflow ...")
        airflow("db", "migrate", env=env, capture=True)
        print("Running: airflow dags test amplify_smoke_build")
        log_path = HOME.parent / "amplify_smoke_build.log"
        with log_path.open("w") as log:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", "dags", "test", "amplify_smoke_build"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        jobs = world.jobs(app_id=app["app_id"])

    print()
    print("Summary")
    print("-------")
    ok = result.returncode == 0
    for task, state, duration in summary(env, "amplify_smoke_build"):
        ok = ok and state == "success"
        print(f"  {task:<14} {state:<10} {duration:6.1f} s")
    for job in jobs:
        took = (job["end_time"] or 0) - job["created_at"]
        print(
            f"  Amplify job {job['job_id']} ({job['job_type']}) on {job['app_id']}/{job['branch_name']}: {job['status']}"
            f" after {took:.1f} s"
        )
    print(f"  Full log: {log_path.relative_to(REPO)}")
    print(f"  Demo took {time.monotonic() - started:.0f} s; the local world is stopped.")
    print("DEMO OK" if ok else "DEMO FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
