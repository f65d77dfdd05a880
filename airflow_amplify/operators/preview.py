"""Preview branches: one Amplify branch (and backend stack) per pull request, and their teardown.

:class:`AmplifyPreviewBranchOperator` creates (or finds) the branch of a Git ref with auto-build
off and a tag saying this provider created it; the existing operators deploy its backend and build
it. :class:`AmplifyPreviewTeardownOperator` deletes the branch **and** its backend stack, waits for
``DELETE_COMPLETE``, and refuses a branch it did not create or the release branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException, conf

from airflow_amplify.ampx.project import amplify_branch_stack_name
from airflow_amplify.hooks.cloudformation import AmplifyStackHook
from airflow_amplify.hooks.deployment import AmplifyDeploymentHook
from airflow_amplify.statuses import STACK_DELETE_IN_PROGRESS
from airflow_amplify.validation import (
    AWS_PARAMETER_KINDS,
    BOOL,
    amplify,
    check_parameters,
    count,
    custom,
    duration,
    ensure_connection_exists,
    validate_amplify_value,
    validate_ref,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: The tag that marks a branch as a preview this provider created (teardown deletes only these).
PREVIEW_TAG = "airflow-provider-amplify:preview"
PREVIEW_DESCRIPTION = "Preview of {ref}, created by airflow-provider-amplify"


class AmplifyPreviewError(AirflowException):
    """A preview branch cannot be created or torn down (not ours, the release branch, a failed delete)."""


def is_preview(branch: dict[str, Any]) -> bool:
    """Whether a branch (GetBranch/ListBranches) carries this provider's preview tag."""
    return (branch.get("tags") or {}).get(PREVIEW_TAG) == "true"


def branch_url(branch: dict[str, Any], default_domain: str) -> str:
    """``https://<branch>.<defaultDomain>``: the branch's display name (Amplify's default domain
    prefix, ``feature-x`` for ``feature/x``), else the branch name with ``/`` replaced by ``-``."""
    prefix = branch.get("displayName") or branch["branchName"].replace("/", "-")
    return f"https://{prefix}.{default_domain}"


def _validate_names(app_id: Any, branch_name: Any, release_branch: Any) -> None:
    validate_amplify_value("app_id", app_id, "AppId")
    validate_amplify_value("branch_name", branch_name, "BranchName")
    validate_amplify_value("release_branch", release_branch, "BranchName")
    for param, value in (("branch_name", branch_name), ("release_branch", release_branch)):
        if value.strip() != value or value in ("None", "null"):
            raise ValueError(
                f"{param}={value!r} is not valid; give the branch name without surrounding spaces."
            )
    if branch_name == release_branch:
        raise AmplifyPreviewError(
            f"branch_name={branch_name!r} is the release branch (release_branch={release_branch!r}): "
            "it is never a preview."
        )


class AmplifyPreviewBranchOperator(AwsBaseOperator[AmplifyDeploymentHook]):
    """Create (or find) the preview branch of a Git ref, with auto-build off, and return its URL.

    A new branch gets auto-build off (Airflow starts its builds), the description ``Preview of
    <ref>, created by airflow-provider-amplify`` and the tag ``airflow-provider-amplify:preview=true``
    that :class:`AmplifyPreviewTeardownOperator` requires. An existing branch with that tag is found
    again (auto-build turned off if someone turned it on); an existing branch without it is refused.
    Deploy its backend with ``AmplifyPipelineDeployOperator`` and build it with
    ``AmplifyStartJobOperator``.

    Returns ``{"app_id", "branch_name", "ref", "url", "created", "stack_name"}``, with ``url``
    ``https://<branch>.<defaultDomain>`` and ``stack_name`` the backend stack ampx will deploy.

    :param app_id: the Amplify app id. Templated.
    :param ref: the Git branch the preview is for. Templated.
    :param branch_name: the Amplify branch; default ``ref`` (what Amplify builds from). Templated.
    :param release_branch: the release branch, never a preview (default ``main``). Templated.
    :param aws_conn_id: the Airflow AWS connection.
    :param region_name: AWS region (default: the connection's).
    :param verify: SSL certificate verification.
    :param botocore_config: botocore client configuration, as a dict.
    """

    aws_hook_class = AmplifyDeploymentHook
    template_fields: Sequence[str] = aws_template_fields("app_id", "ref", "branch_name", "release_branch")
    ui_color = "#ff9900"

    #: The kind of every parameter, checked by :func:`~airflow_amplify.validation.check_parameters`.
    parameter_kinds = {
        **AWS_PARAMETER_KINDS,
        "app_id": amplify("AppId"),
        "ref": custom("branch, tag or commit", lambda p, v: validate_ref(v, p)),
        "branch_name": amplify("BranchName", required=False),
        "release_branch": amplify("BranchName"),
    }

    def __init__(
        self,
        *,
        app_id: str,
        ref: str,
        branch_name: str | None = None,
        release_branch: str = "main",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_id = app_id
        self.ref = ref
        self.branch_name = branch_name
        self.release_branch = release_branch

    def execute(self, context: Context) -> dict[str, Any]:
        validate_ref(self.ref)
        name = self.branch_name or self.ref
        _validate_names(self.app_id, name, self.release_branch)
        ensure_connection_exists(self.aws_conn_id)
        check_parameters(self)
        hook = self.hook
        try:
            app = hook.get_app(self.app_id)
        except hook.conn.exceptions.NotFoundException:
            raise ValueError(
                f"app_id={self.app_id!r}: no such app in account {hook.account_id}, region {hook.conn_region_name}."
            ) from None
        created = False
        try:
            branch = hook.get_branch(self.app_id, name)
        except hook.conn.exceptions.NotFoundException:
            branch = None
        if branch is None:
            try:
                branch = hook.create_branch(
                    self.app_id,
                    name,
                    enableAutoBuild=False,
                    description=PREVIEW_DESCRIPTION.format(ref=self.ref)[:1000],
                    tags={PREVIEW_TAG: "true"},
                )
                created = True
                self.log.info("Created preview branch %s of app %s (auto-build off)", name, self.app_id)
            except hook.conn.exceptions.BadRequestException:
                branch = hook.get_branch(self.app_id, name)  # created meanwhile (a parallel try)
        if not is_preview(branch):
            raise AmplifyPreviewError(
                f"branch_name={name!r}: app {self.app_id} already has this branch and this provider did not "
                f"create it (no tag {PREVIEW_TAG}=true): refusing to use it as a preview."
            )
        if not created:
            self.log.info("Found preview branch %s of app %s", name, self.app_id)
            if branch.get("enableAutoBuild"):
                branch = hook.update_branch(self.app_id, name, enableAutoBuild=False)
                self.log.info("Turned auto-build off on preview branch %s", name)
        url = branch_url(branch, app["defaultDomain"])
        self.log.info("Preview URL: %s", url)
        return {
            "app_id": self.app_id,
            "branch_name": name,
            "ref": self.ref,
            "url": url,
            "created": created,
            "stack_name": amplify_branch_stack_name(self.app_id, name),
        }


class AmplifyPreviewTeardownOperator(AwsBaseOperator[AmplifyDeploymentHook]):
    """Tear a preview down: delete its backend stack (waiting for ``DELETE_COMPLETE``), then its branch.

    Refuses, before any change, the release branch and a branch without this provider's preview
    tag. Idempotent: a branch or stack already gone is fine. The stack goes first and the branch
    last, so a retry still finds the branch's tag; a backend stack left behind by a branch deleted
    earlier (the stack ampx tagged ``amplify:app-id``/``amplify:branch-name`` with this app and
    branch) is deleted too.

    Returns ``{"app_id", "branch_name", "stack_name", "branch", "stack"}`` where ``branch`` and
    ``stack`` are ``"deleted"`` or ``"absent"``.

    :param app_id: the Amplify app id. Templated.
    :param branch_name: the preview branch. Templated.
    :param release_branch: the release branch, never torn down (default ``main``). Templated.
    :param wait_for_completion: wait for the stack's ``DELETE_COMPLETE`` before deleting the branch
        (default True); False deletes both without waiting.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param waiter_delay: seconds between two stack polls.
    :param waiter_max_attempts: stack polls before failing.
    :param aws_conn_id: the Airflow AWS connection.
    :param region_name: AWS region (default: the connection's).
    :param verify: SSL certificate verification.
    :param botocore_config: botocore client configuration, as a dict.
    """

    aws_hook_class = AmplifyDeploymentHook
    template_fields: Sequence[str] = aws_template_fields("app_id", "branch_name", "release_branch")
    ui_color = "#ff9900"

    #: The kind of every parameter, checked by :func:`~airflow_amplify.validation.check_parameters`.
    parameter_kinds = {
        **AWS_PARAMETER_KINDS,
        "app_id": amplify("AppId"),
        "branch_name": amplify("BranchName"),
        "release_branch": amplify("BranchName"),
        "wait_for_completion": BOOL,
        "deferrable": BOOL,
        "waiter_delay": duration(),
        "waiter_max_attempts": count(1),
    }

    def __init__(
        self,
        *,
        app_id: str,
        branch_name: str,
        release_branch: str = "main",
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        waiter_delay: int = 30,
        waiter_max_attempts: int = 120,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_id = app_id
        self.branch_name = branch_name
        self.release_branch = release_branch
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    @cached_property
    def stack_hook(self) -> AmplifyStackHook:
        """The CloudFormation hook on the same connection."""
        return AmplifyStackHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    def _validate(self) -> None:
        _validate_names(self.app_id, self.branch_name, self.release_branch)
        for name in ("wait_for_completion", "deferrable"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is not valid; use True or False.")
        for name in ("waiter_delay", "waiter_max_attempts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1:
                raise ValueError(f"{name}={value!r} is not valid; use a positive number (at least 1).")
        ensure_connection_exists(self.aws_conn_id)
        check_parameters(self)

    def _result(self, branch: str, stack: str) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "branch_name": self.branch_name,
            "stack_name": amplify_branch_stack_name(self.app_id, self.branch_name),
            "branch": branch,
            "stack": stack,
        }

    def execute(self, context: Context) -> dict[str, Any]:
        self._validate()
        hook = self.hook
        try:
            branch = hook.get_branch(self.app_id, self.branch_name)
        except hook.conn.exceptions.NotFoundException:
            branch = None
        if branch is not None and not is_preview(branch):
            raise AmplifyPreviewError(
                f"branch_name={self.branch_name!r}: app {self.app_id} has this branch, but this provider did "
                f"not create it (no tag {PREVIEW_TAG}=true): refusing to delete it or its backend."
            )
        stack_name = amplify_branch_stack_name(self.app_id, self.branch_name)
        stack = self.stack_hook.describe_stack(stack_name)
        if stack is not None and branch is None and not self._is_branch_backend(stack):
            raise AmplifyPreviewError(
                f"stack {stack_name} is not tagged as the backend of app {self.app_id} branch "
                f"{self.branch_name!r} (amplify:app-id, amplify:branch-name): refusing to delete it."
            )
        if stack is None:
            self.log.info("Backend stack %s does not exist (already deleted, or never deployed)", stack_name)
            return self._delete_branch(branch is not None, "absent")
        if stack["StackStatus"] != STACK_DELETE_IN_PROGRESS:
            self.stack_hook.delete_stack(stack["StackId"])
        self.log.info("Deleting backend stack %s (%s)", stack_name, stack["StackId"])
        if not self.wait_for_completion:
            return self._delete_branch(branch is not None, "deleted")
        if self.deferrable:
            from airflow_amplify.triggers.cloudformation import AmplifyStackDeletedTrigger

            self.defer(
                trigger=AmplifyStackDeletedTrigger(
                    stack_name=stack["StackId"],
                    waiter_delay=int(self.waiter_delay),
                    waiter_max_attempts=int(self.waiter_max_attempts),
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
            )
        from botocore.exceptions import WaiterError

        try:
            self.stack_hook.get_waiter("stack_deleted").wait(
                StackName=stack["StackId"],
                WaiterConfig={"Delay": int(self.waiter_delay), "MaxAttempts": int(self.waiter_max_attempts)},
            )
        except WaiterError as err:
            raise AmplifyPreviewError(self._delete_failed(stack["StackId"], str(err))) from None
        return self._deleted_stack()

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        event = event or {}
        if event.get("status") != "success":
            stack_id = event.get("stack_name") or amplify_branch_stack_name(self.app_id, self.branch_name)
            raise AmplifyPreviewError(self._delete_failed(stack_id, event.get("message", "no event")))
        return self._deleted_stack()

    def _deleted_stack(self) -> dict[str, Any]:
        self.log.info("Backend stack of %s is DELETE_COMPLETE", self.branch_name)
        hook = self.hook
        try:
            branch = hook.get_branch(self.app_id, self.branch_name)
        except hook.conn.exceptions.NotFoundException:
            branch = None
        return self._delete_branch(branch is not None and is_preview(branch), "deleted")

    def _delete_branch(self, exists: bool, stack: str) -> dict[str, Any]:
        hook = self.hook
        if not exists:
            self.log.info(
                "Branch %s of app %s does not exist (already deleted)", self.branch_name, self.app_id
            )
            return self._result("absent", stack)
        try:
            hook.delete_branch(self.app_id, self.branch_name)
        except hook.conn.exceptions.NotFoundException:
            return self._result("absent", stack)
        self.log.info("Deleted preview branch %s of app %s", self.branch_name, self.app_id)
        return self._result("deleted", stack)

    def _is_branch_backend(self, stack: dict[str, Any]) -> bool:
        tags = {t["Key"]: t["Value"] for t in stack.get("Tags") or []}
        return (
            tags.get("amplify:app-id") == self.app_id and tags.get("amplify:branch-name") == self.branch_name
        )

    def _delete_failed(self, stack_id: str, detail: str) -> str:
        try:
            cause = self.stack_hook.failure_message(stack_id)
        except Exception:  # the explanation is best effort; the failure itself is certain
            cause = ""
        return (
            f"The backend stack of preview {self.branch_name!r} (app {self.app_id}) was not deleted: {detail}. "
            f"{cause} The branch is kept, so a retry can finish the teardown."
        ).strip()
