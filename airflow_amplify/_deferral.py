"""Deferral across Airflow lines: a retry never resumes from a failed try's trigger event.

Airflow 3.0.x keeps a deferred task's ``next_method`` and ``next_kwargs`` when its try fails, so each
retry resumes straight into ``execute_complete`` with the failed try's event instead of running
``execute`` again (apache/airflow#56704, fixed in Airflow 3.1). It also drops the deferral's own
kwargs when the event arrives, so the try that deferred travels in the trigger's event; a resume on
another try starts that try afresh.
"""

from __future__ import annotations

from typing import Any

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
