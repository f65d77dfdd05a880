"""The status models shared by hooks, operators, sensors, triggers, waiters and the local world.

One concept, one home: which Amplify job statuses and CloudFormation stack statuses are
terminal, which are failures. Nothing here imports Airflow or botocore.
"""

from __future__ import annotations

# --- Amplify Hosting jobs -------------------------------------------------------------------

JOB_STATUSES = (
    "CREATED",
    "PENDING",
    "PROVISIONING",
    "RUNNING",
    "FAILED",
    "SUCCEED",
    "CANCELLING",
    "CANCELLED",
)
JOB_SUCCESS_STATUSES = frozenset({"SUCCEED"})
JOB_FAILURE_STATUSES = frozenset({"FAILED", "CANCELLED"})
JOB_TERMINAL_STATUSES = JOB_SUCCESS_STATUSES | JOB_FAILURE_STATUSES
#: Statuses in which a job waits for a slot (its branch's running job, or the account's limit).
JOB_QUEUED_STATUSES = frozenset({"CREATED", "PENDING"})
#: Statuses in which a job holds a build slot.
JOB_RUNNING_STATUSES = frozenset({"PROVISIONING", "RUNNING", "CANCELLING"})
#: The status of a job that waits for its branch's running job: an incoming webhook merges into it.
JOB_PENDING_STATUS = "PENDING"
JOB_TYPES = ("RELEASE", "RETRY", "MANUAL", "WEB_HOOK")


def job_is_terminal(status: str) -> bool:
    """Return True only for SUCCEED, FAILED and CANCELLED; any other status, known or not, is not final."""
    return status in JOB_TERMINAL_STATUSES


def job_is_active(status: str) -> bool:
    """Return True for a job that is not terminal (including statuses this package does not know)."""
    return status not in JOB_TERMINAL_STATUSES


def job_phase(status: str) -> str:
    """Classify a status as ``queued``, ``running`` or ``finished`` (unknown statuses count as queued)."""
    if status in JOB_TERMINAL_STATUSES:
        return "finished"
    if status in JOB_RUNNING_STATUSES:
        return "running"
    return "queued"


# --- CloudFormation stacks --------------------------------------------------------------------

#: Root-stack statuses that open a new stack operation (every event after one belongs to it).
STACK_OPERATION_START_STATUSES = frozenset(
    {
        "CREATE_IN_PROGRESS",
        "UPDATE_IN_PROGRESS",
        "DELETE_IN_PROGRESS",
        "IMPORT_IN_PROGRESS",
        "REVIEW_IN_PROGRESS",
    }
)
STACK_SUCCESS_STATUSES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
#: A stack being deleted (a preview teardown waits for it instead of deleting it again).
STACK_DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
#: Terminal states that mean the last deploy did not take effect.
STACK_FAILURE_STATUSES = frozenset(
    {
        "CREATE_FAILED",
        "DELETE_FAILED",
        "DELETE_COMPLETE",
        "ROLLBACK_COMPLETE",
        "ROLLBACK_FAILED",
        "UPDATE_FAILED",
        "UPDATE_ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_FAILED",
        "IMPORT_ROLLBACK_COMPLETE",
        "IMPORT_ROLLBACK_FAILED",
    }
)


def stack_is_in_progress(status: str) -> bool:
    """Return True for every ``*_IN_PROGRESS`` status (including cleanup and review)."""
    return status.endswith("_IN_PROGRESS")


def resource_is_failed(status: str) -> bool:
    """Return True for a resource event that failed (``CREATE_FAILED``, ``UPDATE_FAILED`` ...)."""
    return status.endswith("_FAILED")


def stack_is_failed(status: str) -> bool:
    """Return True for rollbacks, failures and a deleted stack."""
    return status in STACK_FAILURE_STATUSES or (
        not stack_is_in_progress(status) and ("ROLLBACK" in status or status.endswith("_FAILED"))
    )
