"""Cluster policy of the demo and the test suite: quick retries and polls, no ``npm ci`` for the stand-in.

Airflow imports ``airflow_local_settings`` from ``sys.path`` when it starts; ``make demo`` and the
tests put this directory on ``PYTHONPATH``. A deployment sets its own retries, polling and pools the
same way, in its own ``airflow_local_settings.py``, instead of knobs in each DAG file. Read from the
environment of the Airflow process (each optional):

- ``AIRFLOW_AMPLIFY_EXAMPLE_RETRIES``: retries of every task that retries at all;
- ``AIRFLOW_AMPLIFY_EXAMPLE_RETRY_DELAY``: seconds before the first retry;
- ``AIRFLOW_AMPLIFY_EXAMPLE_POLL_INTERVAL``: seconds between status polls (``waiter_delay``, sensors'
  ``poke_interval``);
- ``AIRFLOW_AMPLIFY_RELEASE_INSTALL_DEPENDENCIES=false``: no dependency install before ``pipeline-deploy``
  (the demo's fallback stand-in ampx needs no ``node_modules``);
- ``AIRFLOW_AMPLIFY_AMPX_ENV``: a JSON object of variables for ampx, merged into the ampx operators'
  ``env=`` (the demo points the real CLI's notices at the local world with it).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta


def task_policy(task) -> None:
    """Shorten retries and polls of every task (the demo's and the tests' world answers in seconds)."""
    env = os.environ
    if env.get("AIRFLOW_AMPLIFY_EXAMPLE_RETRIES") and task.retries:
        task.retries = int(env["AIRFLOW_AMPLIFY_EXAMPLE_RETRIES"])
    if env.get("AIRFLOW_AMPLIFY_EXAMPLE_RETRY_DELAY"):
        task.retry_delay = timedelta(seconds=float(env["AIRFLOW_AMPLIFY_EXAMPLE_RETRY_DELAY"]))
    poll = env.get("AIRFLOW_AMPLIFY_EXAMPLE_POLL_INTERVAL")
    if poll:
        if hasattr(task, "waiter_delay"):
            task.waiter_delay = float(poll)
            task.waiter_max_delay = max(float(poll), getattr(task, "waiter_max_delay", 0) or 0)
        elif hasattr(task, "poke_interval"):
            task.poke_interval = float(poll)
    no_install = env.get("AIRFLOW_AMPLIFY_RELEASE_INSTALL_DEPENDENCIES", "").lower() in ("0", "false", "no")
    if no_install and hasattr(task, "install_dependencies"):
        task.install_dependencies = False
    ampx_env = env.get("AIRFLOW_AMPLIFY_AMPX_ENV")
    if ampx_env and hasattr(task, "env") and hasattr(task, "ampx_path"):
        task.env = {**json.loads(ampx_env), **(task.env or {})}
