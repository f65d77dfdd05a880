"""Test configuration: an isolated AIRFLOW_HOME, offline AWS settings, and the local world's fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

# Airflow reads its configuration at import time: set it before anything imports airflow.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-amplify-tests-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).parent.parent / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
# The cluster policy that shortens the example DAGs' retries and polls (AIRFLOW_AMPLIFY_EXAMPLE_*) in
# every Airflow process a test starts, as a deployment's own airflow_local_settings.py would.
_SETTINGS = str(Path(__file__).resolve().parent.parent / "demo" / "settings")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SETTINGS, os.environ.get("PYTHONPATH")) if p)

pytest_plugins = ["airflow_amplify.testing.pytest_plugin"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """An initialised Airflow metadata database (SQLite) in the session's AIRFLOW_HOME."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


class StubTaskInstance:
    """What operators read from ``context["ti"]``: ids, and an XCom push that records values."""

    def __init__(self, dag_id: str, task_id: str, run_id: str, map_index: int = -1, try_number: int = 1):
        self.dag_id, self.task_id, self.run_id = dag_id, task_id, run_id
        self.map_index, self.try_number = map_index, try_number
        self.xcoms: dict[str, object] = {}
        self.stats_tags: dict[str, str] = {}
        self.max_tries = 0  # Airflow 2 sensors read it

    def xcom_push(self, key: str, value: object, **kwargs: object) -> None:
        self.xcoms[key] = value

    def get_first_reschedule_date(self, context: object) -> None:
        """Airflow 3 sensors ask when a rescheduled sensor first ran; None: this is its first run."""
        return None


class DictTaskStateStore:
    """Airflow 3.3's ``task_state_store`` interface (get/set), kept in a dict that outlives a try."""

    def __init__(self, data: dict | None = None):
        self.data = data if data is not None else {}

    def get(self, key, default=None):
        return self.data.get(key, default)

    def set(self, key, value):
        self.data[key] = value


def airflow_has_task_state_store() -> bool:
    from airflow.providers.common.compat.sdk import ResumableJobMixin

    return ResumableJobMixin.__module__.startswith("airflow.sdk")


@pytest.fixture(scope="session", autouse=True)
def _database_for_the_variable_fallback(request):
    """Before Airflow 3.3 the operators keep re-attach state in a Variable: migrate the DB up front,
    so a test's timing never includes the migration."""
    if not airflow_has_task_state_store():
        request.getfixturevalue("airflow_db")


@pytest.fixture(autouse=True)
def _variable_table_is_there(request):
    """Before Airflow 3.3: the re-attach Variable needs the ``variable`` table in the database this
    process uses. A CI run once saw it missing mid-session on the 2.11 line (57 tests failed with
    ``no such table: variable``, none reproduced alone): reset the database this process uses, and say so."""
    if airflow_has_task_state_store():
        return
    from airflow import settings
    from sqlalchemy import inspect

    if not inspect(settings.engine).has_table("variable"):
        warnings.warn(
            f"the variable table was missing from {settings.engine.url} (AIRFLOW_HOME="
            f"{os.environ.get('AIRFLOW_HOME')}): resetting that database",
            stacklevel=1,
        )
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "reset", "--yes"],
            check=True,
            capture_output=True,
            env={**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": str(settings.engine.url)},
        )


@pytest.fixture
def task_context(request):
    """Build the part of a task's context the operators use, as the running Airflow line provides it.

    On Airflow 3.3+ the context has a ``task_state_store``; on older lines it has none and the
    operators fall back to a Variable, which needs the metadata database.
    """

    def make(task_id: str = "task", run_id: str = "manual__1", store: DictTaskStateStore | None = None):
        ti = StubTaskInstance("test_dag", task_id, run_id)
        context = {"ti": ti, "task_instance": ti, "run_id": run_id}
        if airflow_has_task_state_store():
            context["task_state_store"] = store if store is not None else DictTaskStateStore()
        return context

    return make


@pytest.fixture
def task_logs(caplog, capsys):
    """Everything the task logged so far at INFO (Airflow's default level), once: Airflow 2 logs
    through stdlib logging (caplog), Airflow 3 through structlog to stdout."""
    import logging

    import airflow

    caplog.set_level(logging.INFO)
    seen: list[str] = []
    structlog_line = int(airflow.__version__.split(".")[0]) >= 3

    def read() -> str:
        out, err = capsys.readouterr()
        seen.append(out + err)
        return "".join(seen) if structlog_line else caplog.text

    return read
