"""Re-attach across Airflow lines: a retry adopts the job an earlier try started instead of starting another.

:class:`ReattachJobMixin` is the one state machine, used by every operator that starts an Amplify
job and waits for it. On Airflow 3.3+ the task state store keeps the job across tries
(``ResumableJobMixin.execute_resumable``); before, :class:`VariableJobStore` keeps it in an Airflow
Variable per task instance, deleted when the task succeeds.

Deferral: Airflow 3.0.x keeps a deferred task's ``next_method`` and ``next_kwargs`` when its try fails, so each
retry resumes straight into ``execute_complete`` with the failed try's event instead of running
``execute`` again (apache/airflow#56704, fixed in Airflow 3.1). It also drops the deferral's own
kwargs when the event arrives, so the try that deferred travels in the trigger's event; a resume on
another try starts that try afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from airflow.providers.common.compat.sdk import ResumableJobMixin, Variable

STALE_RESUME_MESSAGE = (
    "Resumed with the trigger event of try %s: Airflow 3.0 keeps it across retries "
    "(apache/airflow#56704); this try starts afresh"
)


def current_try(context: Any) -> int | None:
    """The running try's number (None where the context has no task instance that tells).

    :param context: the task's context.
    """
    return getattr(context.get("ti"), "try_number", None)


def resumed_on_another_try(context: Any, event: dict[str, Any] | None) -> bool:
    """Whether ``event`` belongs to an earlier try's deferral (Airflow 3.0 retries resume with it).

    :param context: the task's context.
    :param event: the trigger's event (its ``deferred_on_try`` is the try that deferred).
    """
    deferred_on_try = (event or {}).get("deferred_on_try")
    now = current_try(context)
    return None not in (deferred_on_try, now) and deferred_on_try != now


class VariableJobStore:
    """Where a task instance remembers its job on Airflow versions without ``task_state_store``.

    One Variable per task instance (dag, task, run, map index), deleted when the task succeeds.

    :param context: the task's context.
    :param key: what the job is (the operator's ``external_id_key``).
    """

    def __init__(self, context: Any, key: str):
        ti = context["ti"]
        ident = f"{ti.dag_id}/{ti.task_id}/{ti.run_id}/{getattr(ti, 'map_index', -1)}"
        digest = hashlib.sha1(ident.encode()).hexdigest()[:16]
        self.key = f"airflow_amplify.{key}.{ti.dag_id[:80]}.{ti.task_id[:80]}.{digest}"
        self.ident = ident

    def get(self) -> dict[str, Any] | None:
        # The default is positional: Airflow 2 calls it default_var, the Task SDK default.
        return Variable.get(self.key, None, deserialize_json=True)

    def set(self, value: dict[str, Any]) -> None:
        Variable.set(
            self.key, value, description=f"airflow-provider-amplify: job of {self.ident}", serialize_json=True
        )

    def delete(self) -> None:
        # Nothing to clean up, or no permission: re-attach state is best effort.
        with contextlib.suppress(Exception):
            Variable.delete(self.key)


class ReattachJobMixin(ResumableJobMixin):
    """Start a job once per task instance: a retry re-attaches to it, or returns its success.

    The operator implements ``ResumableJobMixin``'s interface (``submit_job``, ``get_job_status``
    returning None for a job that is not this task's to adopt, ``is_job_active``,
    ``is_job_succeeded``, ``poll_until_complete``, ``get_job_result``) and ``validate()``; it calls
    :meth:`forget_job` when a deferred wait ends successfully; its ``execute`` returns
    :meth:`execute_reattaching`.
    """

    external_id_key: str

    def validate(self) -> None:
        """Check every input before any AWS call (override)."""

    def execute_reattaching(self, context: Any) -> Any:
        """``execute``: validate, then re-attach to the earlier try's job or start one and wait.

        The operator's own ``execute`` calls it (Airflow 2 wraps only ``execute`` methods of operator
        classes, and passes them a sentinel argument).
        """
        self.validate()
        if context.get("task_state_store") is not None:
            return self.execute_resumable(context)  # Airflow 3.3+: the task state store survives retries
        store = VariableJobStore(context, self.external_id_key)
        previous = store.get()
        if previous:
            status = self.get_job_status(previous, context)
            job = previous.get("job_id", previous) if isinstance(previous, dict) else previous
            if self.is_job_active(status):
                self.log.info("Re-attaching to job %s started by an earlier try (%s)", job, status)
                result = self.poll_until_complete(previous, context)  # deferred: execute_complete forgets
                store.delete()
                return result
            if self.is_job_succeeded(status):
                self.log.info("Job %s of an earlier try already succeeded; not starting another", job)
                store.delete()
                return self.get_job_result(previous, context)
        ref = self.submit_job(context)
        store.set(ref)
        result = self.poll_until_complete(ref, context)
        store.delete()
        return result

    def forget_job(self, context: Any) -> None:
        """The job finished after a deferral: drop the fallback store's record (3.3+ does it itself)."""
        if context.get("task_state_store") is None:
            VariableJobStore(context, self.external_id_key).delete()
