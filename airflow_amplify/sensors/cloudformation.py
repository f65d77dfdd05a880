"""Wait for an Amplify branch backend stack to settle after a deploy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    PokeReturnValue,
    conf,
)

from airflow_amplify.ampx.project import amplify_branch_stack_name
from airflow_amplify.hooks.cloudformation import (
    SETTLE_FAILED,
    SETTLE_IN_PROGRESS,
    SETTLE_MISSING,
    SETTLE_STALE,
    SETTLE_SUCCEEDED,
    AmplifyStackHook,
    AmplifyStackNotFoundError,
    StackRollbackError,
    settle_state,
    stack_changed_at,
    stack_summary,
)
from airflow_amplify.links.cloudformation import AmplifyStackLink
from airflow_amplify.timestamps import to_datetime
from airflow_amplify.validation import (
    AWS_PARAMETER_KINDS,
    BOOL,
    STACK_NAME,
    amplify,
    check_changed_since,
    check_parameters,
    custom,
    duration,
    ensure_connection_exists,
    validate_app_id,
    validate_stack_name,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Named moments ``changed_since`` accepts; when the named one is unknown the next one is used.
CHANGED_SINCE_ANCHORS = ("dag_run_start", "data_interval_start", "task_start")
DEFAULT_MISSING_STACK_GRACE_PERIOD = timedelta(minutes=10)


class AmplifyBackendStackSensor(AwsBaseSensor[AmplifyStackHook]):
    """Wait until an Amplify branch backend stack has settled after this deploy; fail with the cause.

    The stack is named by ``app_id`` and ``branch_name`` (the ``ampx`` CLI's rule, see
    :func:`~airflow_amplify.hooks.cloudformation.amplify_branch_stack_name`) or given as ``stack_name``.
    Success on CREATE_COMPLETE, UPDATE_COMPLETE or IMPORT_COMPLETE; failure on rollbacks, ``*_FAILED``
    and deletion, with the first failed resources (nested stacks followed) in the error and the log;
    waiting on every ``*_IN_PROGRESS``. Status model: :mod:`airflow_amplify.statuses`.

    A branch stack is *updated* by every deploy, so before this deploy has touched it the stack
    still shows the previous deploy's final state. ``changed_since`` tells them apart: a terminal
    state of a stack whose last change (``LastUpdatedTime``, else ``CreationTime``) is older is
    the previous deploy's, and the sensor keeps waiting.

    Returns (and pushes to XCom) ``{"stack_id", "stack_name", "stack_status", "last_updated_time"
    (ISO 8601), "outputs": {key: value}}``.

    Deferrable mode: one DescribeStacks in the worker, then :class:`~airflow_amplify.triggers.cloudformation.AmplifyStackTrigger`
    (with ``changed_since`` and the grace deadline as absolute times); ``execute_complete`` reads the
    stack again for the return value or the root cause.

    :param app_id: Amplify app id (with ``branch_name``; not with ``stack_name``).
    :param branch_name: Amplify branch name, e.g. ``main`` or ``feature/x`` (with ``app_id``).
    :param stack_name: the stack's name or ARN, instead of ``app_id`` and ``branch_name``.
    :param changed_since: terminal states of a stack last changed before this moment are an earlier
        deploy's. A datetime, an ISO 8601 string (templated), one of ``"dag_run_start"`` (default:
        when this DAG run started, so before any deploy task of the run), ``"data_interval_start"``,
        ``"task_start"`` (this task instance's start), or None to accept any settled state.
        When the named moment is unknown, the next of that list is used.
    :param missing_stack_grace_period: how long (from the task instance's start; in reschedule mode
        from its first poke) a stack may not
        exist yet before the sensor fails; a timedelta or seconds. Default 10 minutes: a first deploy
        creates the stack only after the build's provisioning, ``npm ci`` and synthesis.
    :param deferrable: wait in the triggerer instead of a worker slot
        (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between two DescribeStacks calls (also the trigger's delay).
    :param aws_conn_id: The Airflow connection used for AWS credentials (``aws_default`` if not set).
    :param region_name: AWS region of the stack (default: the connection's).
    :param verify: whether to verify SSL certificates.
    :param botocore_config: botocore client configuration (a dict).
    """

    aws_hook_class = AmplifyStackHook
    template_fields: Sequence[str] = aws_template_fields(
        "app_id", "branch_name", "stack_name", "changed_since"
    )
    operator_extra_links = (AmplifyStackLink(),)
    ui_color = "#f5f0ff"
    parameter_kinds = {
        **AWS_PARAMETER_KINDS,
        "app_id": custom("Amplify app id or None", lambda p, v: v in (None, "") or validate_app_id(v, p)),
        "branch_name": amplify("BranchName", required=False),
        "stack_name": STACK_NAME,
        "changed_since": custom(
            "datetime, ISO 8601 string, anchor or None",
            lambda param, value: check_changed_since(param, value, CHANGED_SINCE_ANCHORS),
        ),
        "missing_stack_grace_period": duration(allow_zero=True),
        "deferrable": BOOL,
        "poke_interval": duration(),
    }

    def __init__(
        self,
        *,
        app_id: str | None = None,
        branch_name: str | None = None,
        stack_name: str | None = None,
        changed_since: datetime | str | None = "dag_run_start",
        missing_stack_grace_period: timedelta | float = DEFAULT_MISSING_STACK_GRACE_PERIOD,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 30,
        **kwargs: Any,
    ):
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.app_id = app_id
        self.branch_name = branch_name
        self.stack_name = stack_name
        self.changed_since = changed_since
        self.missing_stack_grace_period = missing_stack_grace_period
        self.deferrable = deferrable
        check_parameters(self, at="init")
        if not isinstance(missing_stack_grace_period, timedelta):
            self.missing_stack_grace_period = timedelta(seconds=missing_stack_grace_period)
        self._last_seen: tuple[str, str | None] | None = None
        self._linked_id: str | None = None

    # --- input --------------------------------------------------------------------------------

    def resolve_stack_name(self) -> str:
        """The stack to watch, from ``stack_name`` or from ``app_id`` and ``branch_name``; no AWS call."""
        by_branch = self.app_id not in (None, "") or self.branch_name not in (None, "")
        if self.stack_name not in (None, "") and by_branch:
            raise ValueError(
                f"Pass either stack_name or app_id with branch_name, not both "
                f"(stack_name={self.stack_name!r}, app_id={self.app_id!r}, branch_name={self.branch_name!r})."
            )
        if self.stack_name not in (None, ""):
            return validate_stack_name(self.stack_name, "stack_name")
        if not by_branch:
            raise ValueError(
                "Pass stack_name, or app_id with branch_name, to name the stack to wait for (all are empty)."
            )
        app_id = validate_app_id(self.app_id, "app_id")
        if not isinstance(self.branch_name, str) or not self.branch_name:
            raise ValueError(
                f"branch_name={self.branch_name!r} is not a branch name: with app_id={app_id!r}, pass the "
                "Amplify branch name (a non-empty string, e.g. 'main' or 'feature/x')."
            )
        return validate_stack_name(amplify_branch_stack_name(app_id, self.branch_name), "stack_name")

    def resolve_changed_since(self, context: Context) -> datetime | None:
        """The moment before which a settled stack belongs to an earlier deploy (None: no such moment)."""
        value = self.changed_since
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return to_datetime(value)
        if not isinstance(value, str):
            raise ValueError(
                f"changed_since={value!r} is not a datetime, an ISO 8601 string, one of "
                f"{', '.join(CHANGED_SINCE_ANCHORS)}, or None."
            )
        if value in CHANGED_SINCE_ANCHORS:
            dag_run = context.get("dag_run")
            ti = context.get("ti")
            moments = {
                "dag_run_start": getattr(dag_run, "start_date", None),
                "data_interval_start": context.get("data_interval_start"),
                "task_start": getattr(ti, "start_date", None),
            }
            order = [value, *[a for a in CHANGED_SINCE_ANCHORS if a != value]]
            for anchor in order:
                if moments[anchor] is not None:
                    return to_datetime(moments[anchor])
            return datetime.now(UTC)
        try:
            return to_datetime(value)
        except ValueError:
            raise ValueError(
                f"changed_since={value!r} is not a datetime, an ISO 8601 string, one of "
                f"{', '.join(CHANGED_SINCE_ANCHORS)}, or None."
            ) from None

    def _prepare(self, context: Context) -> None:
        try:
            check_parameters(self)
            ensure_connection_exists(self.aws_conn_id)
            self._stack = self.resolve_stack_name()
            self._changed_since = self.resolve_changed_since(context)
        except ValueError as error:
            raise AirflowFailException(str(error)) from error
        self._missing_deadline = self._waiting_since(context) + self.missing_stack_grace_period

    def _waiting_since(self, context: Context) -> datetime:
        """When this task instance began to wait: its start, or in reschedule mode its first poke's start."""
        ti = context.get("ti")
        first: datetime | None = None
        if self.reschedule and ti is not None:
            if hasattr(ti, "get_first_reschedule_date"):  # Airflow 3
                first = ti.get_first_reschedule_date(context)
            else:  # Airflow 2: the start of the try's first reschedule, as BaseSensorOperator reads it
                from airflow.sensors.base import (
                    _orig_start_date,  # Airflow 2 only: the module does not exist on the Task SDK
                )

                first = _orig_start_date(
                    dag_id=ti.dag_id,
                    task_id=ti.task_id,
                    run_id=ti.run_id,
                    map_index=ti.map_index,
                    try_number=(ti.max_tries or 0) - (self.retries or 0) + 1,
                )
        started = first or getattr(ti, "start_date", None)
        return to_datetime(started) if started else datetime.now(UTC)

    # --- execution ----------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        self._prepare(context)
        self.log.info(
            "Waiting for CloudFormation stack %s to settle after a deploy (changes since %s)",
            self._stack,
            self._changed_since.isoformat() if self._changed_since else "any time",
        )
        self._persist_link(context, self._stack)
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if done:
            return done.xcom_value
        from airflow_amplify.triggers.cloudformation import (
            AmplifyStackTrigger,  # deferral only: the trigger module pulls in aiobotocore
        )

        self.defer(
            trigger=AmplifyStackTrigger(
                stack_name=self._stack,
                changed_since=self._changed_since.isoformat() if self._changed_since else None,
                missing_deadline=self._missing_deadline.isoformat(),
                waiter_delay=self.poke_interval,
                waiter_max_attempts=max(1, math.ceil(self.timeout / (self.poke_interval or 1))),
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        stack = self.hook.describe_stack(self._stack)
        state = settle_state(stack, self._changed_since)
        self._log_state(state, stack)
        if stack is not None:
            self._persist_link(context, stack["StackId"])
        if state == SETTLE_MISSING:
            if datetime.now(UTC) >= self._missing_deadline:
                self._fail_missing()
            return False
        if state == SETTLE_FAILED:
            self._fail_stack(stack)
        if state == SETTLE_SUCCEEDED:
            return self._succeed(stack)  # type: ignore[arg-type]
        return False

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Read the stack again after the trigger fired; return its summary or raise with the root cause."""
        event = validate_execute_complete_event(event)
        self._stack = event.get("stack_name") or self.resolve_stack_name()
        if event.get("reason") == "stack_missing":
            self._fail_missing()
        if event.get("status") != "success" and event.get("reason") == "no_new_deploy":
            raise AirflowException(event.get("message", "no new deploy of the stack"))
        stack = self.hook.describe_stack(self._stack)
        if stack is not None:
            self._persist_link(context, stack["StackId"])
        state = settle_state(stack, None)
        if state == SETTLE_SUCCEEDED:
            return self._succeed(stack).xcom_value  # type: ignore[arg-type]
        if state == SETTLE_FAILED:
            self._fail_stack(stack)
        if state == SETTLE_MISSING:
            message = f"CloudFormation stack {self._stack} no longer exists (deleted while waiting)."
            self.log.error(message)
            raise StackRollbackError(message)
        raise AirflowException(
            f"Waiting for CloudFormation stack {self._stack} ended without a settled state "
            f"({event.get('message', event.get('status'))}); it is now {stack['StackStatus']}."  # type: ignore[index]
        )

    # --- helpers ------------------------------------------------------------------------------

    def _succeed(self, stack: dict[str, Any]) -> PokeReturnValue:
        summary = stack_summary(stack)
        self.log.info(
            "Stack %s settled in %s (last updated %s); %d outputs",
            summary["stack_name"],
            summary["stack_status"],
            summary["last_updated_time"],
            len(summary["outputs"]),
        )
        return PokeReturnValue(is_done=True, xcom_value=summary)

    def _fail_stack(self, stack: dict[str, Any] | None) -> None:
        message = self.hook.failure_message(self._stack, stack)
        self.log.error("%s", message)
        raise StackRollbackError(message)

    def _fail_missing(self) -> None:
        try:
            account = self.hook.account_id
        except Exception as error:  # the message must not hide behind an STS failure
            account = f"unknown ({type(error).__name__})"
        message = (
            f"CloudFormation stack {self._stack} does not exist in account {account}, region "
            f"{self.hook.conn_region_name}, {self.missing_stack_grace_period} after the task started "
            "(missing_stack_grace_period). Check that the deploy runs, and targets this account, region, "
            "app id and branch."
        )
        self.log.error(message)
        raise AmplifyStackNotFoundError(message)

    def _log_state(self, state: str, stack: dict[str, Any] | None) -> None:
        status = stack["StackStatus"] if stack else None
        if self._last_seen == (state, status):
            return
        self._last_seen = (state, status)
        if state == SETTLE_MISSING:
            self.log.info("Stack %s does not exist yet (grace until %s)", self._stack, self._missing_deadline)
        elif state == SETTLE_STALE:
            self.log.info(
                "Stack %s shows %s from %s, before %s: an earlier deploy; waiting for this one",
                self._stack,
                status,
                stack_changed_at(stack).isoformat(),  # type: ignore[arg-type, union-attr]
                self._changed_since,
            )
        elif state == SETTLE_IN_PROGRESS:
            self.log.info("Stack %s is %s", self._stack, status)
        elif state not in (SETTLE_SUCCEEDED, SETTLE_FAILED):
            self.log.warning(
                "Stack %s shows a status this provider does not know: %s; waiting", self._stack, status
            )

    def _persist_link(self, context: Context, stack_id: str) -> None:
        if self._linked_id == stack_id:
            return
        AmplifyStackLink.persist(
            context=context,
            operator=self,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            stack_id=stack_id,
        )
        self._linked_id = stack_id
