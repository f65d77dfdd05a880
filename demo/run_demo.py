"""The demo: the local AWS world with two accounts, seeded, and the example DAGs run by ``airflow dags test``.

Run it with ``make demo``. It starts everything it needs and stops everything it started:

1. the local AWS world (moto + an Amplify emulator) on a loopback port;
2. two accounts: staging (123456789012, direct credentials) and production (222222222222, reached
   by assuming a role), each with the Amplify app ``shop`` (branch ``main``, incoming webhook),
   the CDK bootstrap parameter, and CMS sites (``blog`` in staging, ``docs`` in production);
3. a local Git repository holding ``sample-app/`` (without ``node_modules``);
4. Airflow Variables and Connections in the environment (``AIRFLOW_VAR_*``, ``AIRFLOW_CONN_*``);
5. ``airflow dags test`` of ``amplify_cross_account_release`` and ``amplify_nightly_cms_rebuild``
   (``DEMO_DAGS=amplify_smoke_build,...`` adds the smoke DAG), then a summary: each task's state and duration, the Amplify jobs,
   the branch stacks and the ``amplify_outputs.json`` files.

The backend deploy runs the **real** ``ampx pipeline-deploy`` (``@aws-amplify/backend-cli`` from
``scripts/install-ampx``) against the world: CDK synthesis, asset publishing to the bootstrap bucket,
CloudFormation (the branch linker answered in the world), ``amplify_outputs.json``. The checkout's
``node_modules`` comes from the operator's dependency cache, which the demo fills from
``sample-app/node_modules`` (``make test-setup`` installs it), so no install runs. The summary shows
the CLI's phases and times. Where Node, npm, the CLI or ``sample-app/node_modules`` is missing the
demo falls back, loudly, to a **stand-in for ampx** (``airflow_amplify.testing.ampx_world``) that
creates the branch stack with boto3 and links the branch, and skips ``npm install``.

``DEMO_DAGS`` (environment; comma-separated) runs only some of the DAGs; ``DEMO_AMPX=stand-in`` uses
the stand-in even where the real CLI could run (the smoke tier does: it tests Airflow lines, and the
real CLI is tested on the newest line). ``DEMO_DIR`` (environment)
puts the logs, the metadata database and the outputs elsewhere than ``.demo/`` (the smoke tier runs
several demos at once).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from airflow_amplify.testing import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID, WorldClient, WorldServer

REPO = Path(__file__).resolve().parent.parent
DEMO = Path(os.environ.get("DEMO_DIR") or REPO / ".demo").resolve()
HOME = DEMO / "airflow"
DAG_IDS = ("amplify_cross_account_release", "amplify_nightly_cms_rebuild")
# Also runnable: DEMO_DAGS=amplify_smoke_build,amplify_cross_account_release,amplify_nightly_cms_rebuild
STAND_IN_NOTE = (
    "NOTE: the backend deploy runs a local STAND-IN for ampx (airflow_amplify.testing.ampx_world), not the\n"
    "      real @aws-amplify/backend-cli: a real pipeline-deploy needs a real AWS account. The stand-in\n"
    "      creates the branch stack in the local world with boto3 and links the branch to it."
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Demo",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "Demo",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
}


REAL_CLI_NOTE = (
    "The backend deploy runs the REAL ampx pipeline-deploy (@aws-amplify/backend-cli) against the local\n"
    "world; the checkout's node_modules comes from the dependency cache, filled from sample-app/."
)


def real_cli() -> tuple[Path | None, str]:
    """The real ampx (``scripts/install-ampx``'s cache) and a ready ``sample-app/node_modules``, or None and why not."""
    from airflow_amplify.hooks.ampx import DEFAULT_AMPX_VERSION

    if os.environ.get("DEMO_AMPX") == "stand-in":
        return None, "DEMO_AMPX=stand-in asks for it"
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None, "node/npm are not installed"
    cache = Path(
        os.environ.get("AMPX_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "airflow-amplify", "ampx")
    )
    ampx = cache / DEFAULT_AMPX_VERSION / "node_modules" / ".bin" / "ampx"
    if not os.access(ampx, os.X_OK):
        return None, f"ampx is not installed at {ampx} (scripts/install-ampx installs it)"
    modules = REPO / "sample-app" / "node_modules"
    if not (modules / "@aws-amplify" / "backend").is_dir():
        return None, f"{shown(modules)} is not installed (make test-setup installs it)"
    return ampx, ""


def fill_dependency_cache(cache_dir: Path) -> None:
    """Publish ``sample-app/node_modules`` as the cache entry a checkout of sample-app/ will ask for."""
    from airflow_amplify.ampx.cache import NodeModulesCache, cache_key, copy_tree
    from airflow_amplify.ampx.project import LOCKFILE_INSTALL_COMMANDS

    lock = REPO / "sample-app" / "package-lock.json"
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    key = cache_key(lock.read_bytes(), " ".join(LOCKFILE_INSTALL_COMMANDS[lock.name]), node or "none")
    staging = DEMO / "cache-source"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    copy_tree(REPO / "sample-app" / "node_modules", staging / "node_modules")  # hard links: seconds
    NodeModulesCache(cache_dir).provide(key, staging, lambda: None)


def deploy_results(dag_id: str) -> list[tuple[str, dict]]:
    """(task, result) of the DAG's deploy tasks, from their XCom return values (phases, times, commit)."""
    db = sqlite3.connect(HOME / "airflow.db")
    try:
        rows = db.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = ? AND key = 'return_value' "
            "AND task_id LIKE '%deploy_backend' AND run_id = (SELECT run_id FROM dag_run WHERE dag_id = ? "
            "ORDER BY id DESC LIMIT 1) ORDER BY task_id DESC",
            (dag_id, dag_id),
        ).fetchall()
    except sqlite3.Error:
        return []
    found = []
    for task, value in rows:
        try:
            data = json.loads(value.decode() if isinstance(value, bytes) else value)
        except (ValueError, AttributeError):
            continue
        if isinstance(data, str):  # some Airflow lines store the JSON text as a JSON string
            data = json.loads(data)
        if isinstance(data, dict):
            found.append((task, data))
    return found


def shown(path: Path) -> Path:
    """A path as printed: relative to the checkout when it is inside it."""
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def airflow(*args: str, env: dict[str, str], capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, check=True, text=True, capture_output=capture
    )


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True, text=True, capture_output=True
    )
    return result.stdout.strip()


def sample_app_repository() -> tuple[str, str]:
    """A bare Git repository (``.demo/git/sample-app.git``) whose ``main`` holds ``sample-app/``."""
    root = DEMO / "git"
    shutil.rmtree(root, ignore_errors=True)
    work, bare = root / "work", root / "sample-app.git"
    shutil.copytree(
        REPO / "sample-app",
        work,
        ignore=shutil.ignore_patterns("node_modules", ".amplify", "amplify_outputs*"),
    )
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Sample app for the demo")
    git(work, "push", "-q", str(bare), "main")
    return bare.as_uri(), git(work, "rev-parse", "HEAD")


def run_dag(dag_id: str, env: dict[str, str]) -> tuple[int, Path, float]:
    log_path = DEMO / f"{dag_id}.log"
    print(f"Running: airflow dags test {dag_id}   (log: {shown(log_path)})", flush=True)
    started = time.monotonic()
    with log_path.open("w") as log:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", dag_id],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return result.returncode, log_path, time.monotonic() - started


def summary(dag_id: str) -> list[tuple[str, str, float]]:
    """(task, state, duration) of the DAG's latest run, from the metadata database."""
    db = sqlite3.connect(HOME / "airflow.db")
    row = db.execute(
        "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
    ).fetchone()
    if row is None:
        return []
    rows = db.execute(
        "SELECT task_id, map_index, state, duration, try_number FROM task_instance "
        "WHERE dag_id = ? AND run_id = ? ORDER BY start_date IS NULL, start_date, task_id, map_index",
        (dag_id, row[0]),
    ).fetchall()
    tasks = []
    for task, map_index, state, duration, try_number in rows:
        name = task if map_index < 0 else f"{task}[{map_index}]"
        if (try_number or 0) > 1:
            state = f"{state} (try {try_number})"
        tasks.append((name, state or "none", duration or 0.0))
    return tasks


def seed(world: WorldClient) -> dict:
    """Apps, branches, webhooks, scripted builds and the CDK bootstrap in both accounts."""
    apps = {}
    for stage, account in (("staging", STAGING_ACCOUNT_ID), ("production", PRODUCTION_ACCOUNT_ID)):
        world.bootstrap_cdk(account)
        apps[stage] = world.seed_app("shop", ("main",), account_id=account, webhooks=True)
        world.script_next_job(
            apps[stage]["app_id"],
            "main",
            account_id=account,
            provision_seconds=1,
            build_seconds=2,
            deploy_seconds=1,
        )
        print(f"Seeded {stage:<10} account {account}: app shop {apps[stage]['app_id']}, branch main, webhook")
    apps["smoke"] = world.seed_app("demo-site", ("main",), account_id=STAGING_ACCOUNT_ID)
    world.script_next_job(
        apps["smoke"]["app_id"], "main", provision_seconds=1, build_seconds=2, deploy_seconds=1
    )
    apps["blog"] = world.seed_app("blog", ("main",), account_id=STAGING_ACCOUNT_ID)
    apps["docs"] = world.seed_app("docs", ("main",), account_id=PRODUCTION_ACCOUNT_ID, webhooks=True)
    world.script_next_job(apps["blog"]["app_id"], "main", build_seconds=2)
    world.script_next_job(apps["docs"]["app_id"], "main", account_id=PRODUCTION_ACCOUNT_ID, build_seconds=2)
    print(
        f"Seeded CMS sites: blog {apps['blog']['app_id']} (staging account, StartJob API), "
        f"docs {apps['docs']['app_id']} (production account, incoming webhook)"
    )
    return apps


def main() -> int:
    from airflow_amplify.testing.ampx_world import write_world_ampx

    wanted = [d for d in os.environ.get("DEMO_DAGS", ",".join(DAG_IDS)).split(",") if d]
    HOME.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    outputs_dir = DEMO / "outputs"
    shutil.rmtree(outputs_dir, ignore_errors=True)
    ampx, why_not = real_cli()
    if ampx is None:
        print(f"WARNING: the real ampx cannot run here ({why_not}): falling back to the stand-in.")
    note = REAL_CLI_NOTE if ampx is not None else STAND_IN_NOTE
    print(note)
    results: dict[str, tuple[int, Path, float]] = {}
    with WorldServer() as server:
        world = WorldClient(server.url)
        print(f"Local AWS world (moto + Amplify emulator) at {server.url}")
        apps = seed(world)
        repo_url, commit = sample_app_repository()
        print(f"Git repository {repo_url} holds sample-app/ at commit {commit[:12]} (branch main)")
        cache_dir = DEMO / "cache"
        if ampx is not None:
            fill_dependency_cache(cache_dir)
            print(f"Dependency cache {shown(cache_dir)} holds sample-app/node_modules (hard links)")
        else:
            ampx = write_world_ampx(DEMO / "bin")
        real = note is REAL_CLI_NOTE

        sites = [
            {"name": "blog", "app_id": apps["blog"]["app_id"], "branch_name": "main", "aws_conn_id": "aws_staging"},
            {"name": "docs", "webhook_conn_id": "docs_webhook", "aws_conn_id": "aws_production",
             "allow_custom_webhook_host": True},
        ]  # fmt: skip
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "NO_PROXY": "127.0.0.1,localhost",
            # Connections: one per account (production through an assumed role) and a webhook.
            "AIRFLOW_CONN_AWS_STAGING": json.dumps(world.aws_connection(STAGING_ACCOUNT_ID)),
            "AIRFLOW_CONN_AWS_PRODUCTION": json.dumps(world.aws_connection(PRODUCTION_ACCOUNT_ID)),
            "AIRFLOW_CONN_DOCS_WEBHOOK": json.dumps(
                {"conn_type": "amplify_webhook", "password": apps["docs"]["webhooks"]["main"]["url"]}
            ),
            # Variables of the example DAGs.
            "AIRFLOW_VAR_AMPLIFY_SMOKE_APP_ID": apps["smoke"]["app_id"],
            "AIRFLOW_VAR_AMPLIFY_RELEASE_REPO_URL": repo_url,
            "AIRFLOW_VAR_AMPLIFY_RELEASE_STAGING_APP_ID": apps["staging"]["app_id"],
            "AIRFLOW_VAR_AMPLIFY_RELEASE_PRODUCTION_APP_ID": apps["production"]["app_id"],
            "AIRFLOW_VAR_AMPLIFY_RELEASE_OUTPUTS_DIR": str(outputs_dir),
            "AIRFLOW_VAR_AMPLIFY_AMPX_PATH": str(ampx),
            "AIRFLOW_VAR_AMPLIFY_CMS_SITES": json.dumps(sites),
            # Quick polls and retries for a local world, applied by the cluster policy in
            # demo/settings/airflow_local_settings.py (on PYTHONPATH), not by the DAG files.
            "PYTHONPATH": os.pathsep.join(
                p
                for p in (str(Path(__file__).resolve().parent / "settings"), os.environ.get("PYTHONPATH"))
                if p
            ),
            "AIRFLOW_AMPLIFY_EXAMPLE_RETRY_DELAY": "1",
            "AIRFLOW_AMPLIFY_EXAMPLE_RETRIES": "1",
            "AIRFLOW_AMPLIFY_EXAMPLE_POLL_INTERVAL": "1",
            "AIRFLOW_AMPLIFY_RELEASE_INSTALL_DEPENDENCIES": "true" if real else "false",
            "AIRFLOW_AMPLIFY_AMPX_ENV": json.dumps(
                {"AMPLIFY_BACKEND_NOTICES_ENDPOINT": f"{server.url}/_world/notices.json"}
            ),
            "AIRFLOW_AMPLIFY_CACHE": str(cache_dir),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        print("Preparing the Airflow metadata database in .demo/airflow ...", flush=True)
        airflow("db", "migrate", env=env, capture=True)
        if "--ui" in sys.argv:
            return serve_ui(env)
        for dag_id in wanted:
            results[dag_id] = run_dag(dag_id, env)
        jobs = world.jobs()
        stacks = []
        for account in (STAGING_ACCOUNT_ID, PRODUCTION_ACCOUNT_ID):
            for stack in world.client("cloudformation", account).describe_stacks()["Stacks"]:
                outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
                stacks.append((account, stack["StackName"], stack["StackStatus"], outputs))
        labels = {
            "staging": "shop",
            "production": "shop",
            "smoke": "demo-site",
            "blog": "blog",
            "docs": "docs",
        }
        names = {a["app_id"]: f"{labels[key]} in {a['account_id']}" for key, a in apps.items()}

    print()
    print("Summary")
    print("=======")
    ok = True
    commits: dict[str, str | None] = {}
    for dag_id, (code, log_path, took) in results.items():
        print(f"{dag_id}: airflow dags test exited {code} after {took:.0f} s (log {shown(log_path)})")
        ok = ok and code == 0
        for task, state, duration in summary(dag_id):
            ok = ok and (state.startswith("success") or state.startswith("skipped"))
            print(f"  {task:<34} {state:<18} {duration:6.1f} s")
        for task, deployed in deploy_results(dag_id):
            shown_phases = ", ".join(
                f"{p['phase']} {p['seconds']:.1f} s" if p.get("seconds") is not None else p["phase"]
                for p in deployed.get("phases") or []
            )
            print(
                f"  {task}: ampx ran {deployed.get('duration_seconds')} s, commit "
                f"{(deployed.get('commit_id') or '')[:12]}; phases: {shown_phases or 'none reported'}"
            )
            commits[task] = deployed.get("commit_id")
    print("Amplify jobs")
    for job in jobs:
        took = (job["end_time"] or 0) - job["created_at"]
        commit_id = job.get("commit_id") or ""
        print(
            f"  job {job['job_id']} ({job['job_type']}) of {names.get(job['app_id'], job['app_id'])}/"
            f"{job['branch_name']}: {job['status']} after {took:.1f} s, commit {commit_id[:12]}"
        )
    print(f"Branch stacks (deployed by {'the real ampx' if real else 'the ampx STAND-IN'})")
    for account, name, status, outputs in stacks:
        print(f"  {account} {name}: {status}, {len(outputs)} outputs")
    if len(commits) == 2:
        same = set(commits.values())
        print(
            f"  both accounts run the same commit: {'yes' if len(same) == 1 and None not in same else 'NO'}"
        )
    print("Outputs files")
    for path in sorted(outputs_dir.rglob("amplify_outputs.json")):
        print(f"  {shown(path)}")
    print(note)
    print(f"Demo took {time.monotonic() - started:.0f} s; the local world is stopped.")
    print("DEMO OK" if ok else "DEMO FAILED")
    return 0 if ok else 1


def serve_ui(env: dict[str, str]) -> int:
    """``make ui``: Airflow's UI, scheduler, triggerer and DAG processor against the seeded world.

    ``airflow standalone`` prints the admin password and serves http://localhost:8080; trigger the
    example DAGs from there. Ctrl-C stops Airflow and then the world.
    """
    print(
        "Starting the Airflow UI on http://localhost:8080 (airflow standalone); Ctrl-C stops it and the world."
    )
    print("The admin password is printed below by Airflow, and kept in .demo/airflow.")
    try:
        # standalone starts its components as `airflow ...` commands: the venv's bin goes first on PATH.
        path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(
            [sys.executable, "-m", "airflow", "standalone"], env={**env, "PATH": path}
        ).returncode
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
