"""What the fault-injection and restart cases share: fault mixes, the world's ledger of builds, leftovers,
``airflow dags test`` runs, and the example DAGs' own task objects run with a task context.

Every figure a case records comes from the world (its fault rules' counters, its request log, its jobs)
or from /proc, never from the test's own expectations.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"

#: The services whose calls fail 10% of the time in the fault runs, and how they fail.
FAULT_SERVICES = ("amplify", "cloudformation", "sts")
FAILURE_KINDS = ("429", "500", "503", "drop")
#: Environment variable that marks every process a case starts (children inherit it).
MARKER_VAR = "AMPLIFY_RELIABILITY_CASE"
TERMINAL = ("SUCCEED", "FAILED", "CANCELLED")


# --- faults ----------------------------------------------------------------------------------


def inject_fault_mix(
    world,
    *,
    failure_rate: float = 0.1,
    delay_rate: float = 0.05,
    delay_seconds: float = 0.3,
    seed: int = 0,
    services: tuple[str, ...] = FAULT_SERVICES,
) -> list[dict[str, Any]]:
    """Make ``failure_rate`` of each service's calls fail (429, 500, 503, dropped connection, in equal
    parts) and ``delay_rate`` of the rest answer ``delay_seconds`` late.

    The world asks its rules in order and the first that fires decides, so the n-th failure rule
    fires with ``share / (1 - (n-1) * share)`` of what reaches it: each kind gets ``failure_rate / 4``
    of all calls.
    """
    rules = []
    share = failure_rate / len(FAILURE_KINDS)
    for s, service in enumerate(services):
        for k, kind in enumerate(FAILURE_KINDS):
            rate = share / (1 - k * share)
            rules.append(world.inject_fault(kind, service=service, rate=rate, seed=seed * 100 + s * 10 + k))
        remaining = 1 - failure_rate
        rules.append(
            world.inject_fault(
                "delay",
                service=service,
                rate=min(1.0, delay_rate / remaining),
                delay_seconds=delay_seconds,
                seed=seed * 100 + s * 10 + 9,
            )
        )
    return rules


def faults_injected(world) -> int:
    """Faults the world injected so far, summed over its rules' own counters."""
    return sum(rule["injected"] for rule in world.faults())


def fault_counts(world) -> dict[str, int]:
    """Injected faults per kind."""
    counts: dict[str, int] = defaultdict(int)
    for rule in world.faults():
        counts[rule["kind"]] += rule["injected"]
    return dict(counts)


# --- the ledger of builds --------------------------------------------------------------------


def build_ledger(world, preexisting: set[tuple[str, str, str, str]] = frozenset()) -> dict[str, Any]:
    """Builds started during a case, from the request log and the world's jobs.

    A *logical build* is one app branch in one account. A second job of it counts as a build
    started twice unless every earlier one ended FAILED or CANCELLED (a rebuild after a failure is
    a new attempt, not a duplicate); a second POST to one webhook counts too, merged or not.

    :param preexisting: ``(account_id, app_id, branch_name, job_id)`` of jobs that existed before the case.
    """
    starts = [r for r in world.requests(operation="StartJob") if r.get("status") == 200]
    posts = world.requests(service="amplify-webhooks", operation="startbuild")
    started_by_posts = [r for r in posts if r.get("job_id") and not r.get("merged")]
    jobs = [
        j
        for j in world.jobs()
        if (j["account_id"], j["app_id"], j["branch_name"], j["job_id"]) not in preexisting
    ]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for job in sorted(jobs, key=lambda j: (j["created_at"], int(j["job_id"]))):
        groups[(job["account_id"], job["app_id"], job["branch_name"])].append(job)
    twice = 0
    for group in groups.values():
        for i in range(1, len(group)):
            if any(earlier["status"] not in ("FAILED", "CANCELLED") for earlier in group[:i]):
                twice += 1
    posts_per_webhook: dict[str, int] = defaultdict(int)
    for post in posts:
        posts_per_webhook[post.get("webhook_id")] += 1
    twice += sum(n - 1 for n in posts_per_webhook.values() if n > 1)
    return {
        "builds_started": len(starts) + len(started_by_posts),
        "builds_started_twice": twice,
        "jobs": jobs,
        "start_requests": starts,
        "webhook_posts": posts,
    }


def job_keys(world) -> set[tuple[str, str, str, str]]:
    return {(j["account_id"], j["app_id"], j["branch_name"], j["job_id"]) for j in world.jobs()}


# --- leftovers -------------------------------------------------------------------------------


def new_marker() -> str:
    return uuid.uuid4().hex


def marked_processes(marker: str, exclude: tuple[int, ...] = ()) -> list[tuple[int, str]]:
    """Live processes (not zombies) whose environment carries ``MARKER_VAR=marker``: (pid, command line)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone, or not ours
            continue
        if needle in environ and state != b"Z":
            found.append((int(entry), cmdline.strip()))
    return found


def left_running(world, marker: str | None = None, settle_seconds: float = 5.0) -> dict[str, Any]:
    """Jobs still CREATED/PENDING/PROVISIONING/RUNNING/CANCELLING, and marked processes still alive.

    Processes get ``settle_seconds`` to exit (a killed process group takes a moment to go).
    """
    deadline = time.monotonic() + settle_seconds
    processes = marked_processes(marker) if marker else []
    while processes and time.monotonic() < deadline:
        time.sleep(0.2)
        processes = marked_processes(marker)
    jobs = [j for j in world.jobs() if j["status"] not in TERMINAL]
    return {"count": len(jobs) + len(processes), "jobs": jobs, "processes": processes}


# --- airflow dags test -----------------------------------------------------------------------


def release_env(world, tmp_path: Path, staging, production, remote, **extra: str) -> dict[str, str]:
    """Variables, connections and parse-time settings of the release DAG against the world
    (``tests/test_dags.py`` uses it too)."""
    from airflow_amplify.testing import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID
    from airflow_amplify.testing.ampx_world import write_world_ampx

    world.bootstrap_cdk(STAGING_ACCOUNT_ID)
    world.bootstrap_cdk(PRODUCTION_ACCOUNT_ID)
    return {
        **os.environ,
        "NO_PROXY": "127.0.0.1,localhost",
        "AIRFLOW_CONN_AWS_STAGING": json.dumps(world.aws_connection(STAGING_ACCOUNT_ID)),
        "AIRFLOW_CONN_AWS_PRODUCTION": json.dumps(world.aws_connection(PRODUCTION_ACCOUNT_ID)),
        "AIRFLOW_VAR_AMPLIFY_RELEASE_REPO_URL": remote.url,
        "AIRFLOW_VAR_AMPLIFY_RELEASE_STAGING_APP_ID": staging["app_id"],
        "AIRFLOW_VAR_AMPLIFY_RELEASE_PRODUCTION_APP_ID": production["app_id"],
        "AIRFLOW_VAR_AMPLIFY_RELEASE_OUTPUTS_DIR": str(tmp_path / "outputs"),
        "AIRFLOW_VAR_AMPLIFY_AMPX_PATH": str(write_world_ampx(tmp_path / "bin")),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW_AMPLIFY_EXAMPLE_RETRY_DELAY": "0.5",
        "AIRFLOW_AMPLIFY_EXAMPLE_RETRIES": "2",
        "AIRFLOW_AMPLIFY_EXAMPLE_POLL_INTERVAL": "1",
        "AIRFLOW_AMPLIFY_RELEASE_INSTALL_DEPENDENCIES": "false",
        **extra,
    }


def dags_test(
    dag_id: str, env: dict[str, str], log: Path, conf: dict | None = None, timeout: float = 300
) -> tuple[int, str]:
    """Run ``airflow dags test`` to its end; its exit status and output."""
    args = [sys.executable, "-m", "airflow", "dags", "test", dag_id]
    if conf is not None:
        args += ["-c", json.dumps(conf)]
    with log.open("w") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode, log.read_text()


def task_states(dag_id: str) -> dict[str, tuple[str, int]]:
    """task_id (with ``[map_index]`` for mapped tasks) -> (state, try_number) of the DAG's latest run."""
    import sqlite3

    db = sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db")
    try:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        rows = db.execute(
            "SELECT task_id, map_index, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        ).fetchall()
    finally:
        db.close()
    return {
        (task_id if map_index < 0 else f"{task_id}[{map_index}]"): (state, try_number)
        for task_id, map_index, state, try_number in rows
    }


# --- the example DAGs' own tasks, run in this process or a child ---------------------------


def load_dag(dag_file: str):
    """Import an example DAG file as a fresh module (as a new worker would) and return its DAG."""
    path = DAGS / dag_file
    name = f"reliability_dag_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def has_task_state_store() -> bool:
    from airflow.providers.common.compat.sdk import ResumableJobMixin

    return ResumableJobMixin.__module__.startswith("airflow.sdk")


class FileTaskStateStore:
    """Airflow 3.3's ``task_state_store`` interface (get/set), kept in a JSON file so it outlives a
    killed process, as the real store outlives a worker in the metadata database."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, key, default=None):
        return self._read().get(key, default)

    def set(self, key, value):
        data = self._read()
        data[key] = value
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)


class StubTaskInstance:
    """What the operators and the templates read from ``ti``: ids, XCom pull (canned) and push (kept)."""

    def __init__(self, dag_id: str, task_id: str, run_id: str, xcoms: dict[str, Any], try_number: int = 1):
        self.dag_id, self.task_id, self.run_id = dag_id, task_id, run_id
        self.map_index, self.try_number, self.max_tries = -1, try_number, 3
        self.pulled = dict(xcoms)
        self.xcoms: dict[str, Any] = {}
        self.stats_tags: dict[str, str] = {}
        self.start_date = None

    def xcom_pull(self, task_ids=None, key="return_value", **kwargs):
        return self.pulled.get(task_ids)

    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> None:
        self.xcoms[key] = value

    def get_first_reschedule_date(self, context: Any) -> None:
        return None


class StubDagRun:
    def __init__(self, dag_id: str, run_id: str, start_date):
        self.dag_id, self.run_id, self.start_date = dag_id, run_id, start_date
        self.conf: dict[str, Any] = {}


def task_context(
    task,
    *,
    run_id: str,
    xcoms: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    store: Any = None,
    try_number: int = 1,
    dag_run_start=None,
) -> dict[str, Any]:
    """The part of a task's context the example DAGs' templates and the provider's tasks read.

    On Airflow 3.3+ it carries ``task_state_store`` (``store``); on older lines the operators keep
    their re-attach state in a Variable (the metadata database of the session's AIRFLOW_HOME).
    """
    from datetime import UTC, datetime

    ti = StubTaskInstance(task.dag_id, task.task_id, run_id, xcoms or {}, try_number)
    start = dag_run_start or datetime.now(UTC)
    context: dict[str, Any] = {
        "ti": ti,
        "task_instance": ti,
        "task": task,
        "run_id": run_id,
        "params": params or {},
        "dag_run": StubDagRun(task.dag_id, run_id, start),
        "data_interval_start": start,
    }
    if has_task_state_store():
        context["task_state_store"] = store
    return context


def release_build_xcoms(stage: str, app_id: str, commit_id: str) -> dict[str, Any]:
    """What the release DAG's ``build_frontend`` templates pull: the plan and the stage's deploy."""
    return {
        "plan": {"branch": "main", "ref": "main", stage: {"app_id": app_id, "selected": True}},
        f"{stage}.deploy_backend": {"commit_id": commit_id, "commit_message": f"Release {commit_id[:7]}"},
    }


def release_task(dag_file: str, task_id: str, context_kwargs: dict[str, Any], **overrides: Any):
    """A fresh copy of an example DAG's task, its templates rendered for ``context_kwargs``."""
    task = load_dag(dag_file).get_task(task_id)
    for name, value in overrides.items():
        setattr(task, name, value)
    context = task_context(task, **context_kwargs)
    task.render_template_fields(context)
    return task, context
