"""Make an Amplify branch match a declared state: auto-build, an incoming webhook, environment variables.

The one-time console steps of the seed workflows (disable auto-build, create an incoming webhook)
become an idempotent task: it reads the branch, changes only what differs, and reports what it
changed. A second run changes nothing and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_amplify.hooks.deployment import AmplifyDeploymentHook, setting_change
from airflow_amplify.validation import (
    AWS_PARAMETER_KINDS,
    BOOL,
    BOOL_OR_NONE,
    amplify,
    check_branch_environment_variables,
    check_parameters,
    custom,
    ensure_connection_exists,
    validate_compute_role_arn,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

DEFAULT_WEBHOOK_DESCRIPTION = "airflow-provider-amplify"


class AmplifyBranchSetupOperator(AwsBaseOperator[AmplifyDeploymentHook]):
    """Make a branch match a declared state, changing only what differs.

    Every setting is optional; ``None`` leaves it as it is.

    - ``enable_auto_build``: builds on every push (True) or only when asked (False: the setting of
      pipelines that start builds from Airflow).
    - ``webhook``: True makes sure the branch has an incoming webhook whose description is
      ``webhook_description`` (created if missing, found again by that description on later runs);
      False deletes the branch's webhooks with that description; other webhooks are never touched.
      The webhook URL is a credential: it is masked in logs and never returned; the task returns
      the webhook id, which :class:`~airflow_amplify.operators.amplify.AmplifyWebhookBuildOperator`
      takes with ``app_id``.
    - ``environment_variables``: branch environment variables (not secrets: they are visible in the
      console and in GetBranch; keep secrets in SSM). By default the given keys are merged into the
      branch's variables and other keys are kept; with ``replace_environment_variables=True`` the
      branch ends with exactly the given variables. Logs and the return value name keys, not values.
    - ``compute_role_arn``: the branch's SSR compute role (an IAM role ARN; ``""`` removes it).
    - ``enable_skew_protection``: deployment skew protection on the branch.

    App-wide settings (build instance size, cache configuration, the app's compute role) are set
    by :class:`~airflow_amplify.operators.app.AmplifyAppSetupOperator`.

    Returns ``{"app_id", "branch_name", "changed", "changes", "webhook_id", "branch_created"}``, where
    ``changes`` maps each changed setting to what changed (empty when nothing did).

    :param app_id: the Amplify app id. Templated.
    :param branch_name: the branch. Templated.
    :param enable_auto_build: True, False, or None (leave as is).
    :param webhook: True (present), False (absent), or None (leave as is).
    :param webhook_description: the description that identifies this task's webhook. Templated.
    :param environment_variables: variables to set on the branch (str to str). Templated.
    :param replace_environment_variables: remove the branch's variables that are not given.
    :param compute_role_arn: the SSR compute role ARN, ``""`` (remove), or None (leave as is). Templated.
    :param enable_skew_protection: True, False, or None (leave as is).
    :param create_branch: create the branch when it does not exist (default False: a missing
        branch is an error).
    :param aws_conn_id: the Airflow AWS connection.
    :param region_name: AWS region (default: the connection's).
    :param verify: SSL certificate verification.
    :param botocore_config: botocore client configuration, as a dict.
    """

    aws_hook_class = AmplifyDeploymentHook
    template_fields: Sequence[str] = aws_template_fields(
        "app_id", "branch_name", "webhook_description", "environment_variables", "compute_role_arn"
    )
    template_fields_renderers = {"environment_variables": "json"}
    ui_color = "#ff9900"
    parameter_kinds = {
        **AWS_PARAMETER_KINDS,
        "app_id": amplify("AppId"),
        "branch_name": amplify("BranchName"),
        "enable_auto_build": BOOL_OR_NONE,
        "webhook": BOOL_OR_NONE,
        "webhook_description": amplify("Description"),
        "environment_variables": custom(
            "mapping of Amplify variable names to strings, or None", check_branch_environment_variables
        ),
        "replace_environment_variables": BOOL,
        "create_branch": BOOL,
        "compute_role_arn": custom(
            "IAM role ARN, '' (remove) or None (leave as is)", validate_compute_role_arn
        ),
        "enable_skew_protection": BOOL_OR_NONE,
    }

    def __init__(
        self,
        *,
        app_id: str,
        branch_name: str,
        enable_auto_build: bool | None = None,
        webhook: bool | None = None,
        webhook_description: str = DEFAULT_WEBHOOK_DESCRIPTION,
        environment_variables: Mapping[str, str] | None = None,
        replace_environment_variables: bool = False,
        compute_role_arn: str | None = None,
        enable_skew_protection: bool | None = None,
        create_branch: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_id = app_id
        self.branch_name = branch_name
        self.enable_auto_build = enable_auto_build
        self.webhook = webhook
        self.webhook_description = webhook_description
        self.environment_variables = environment_variables
        self.replace_environment_variables = replace_environment_variables
        self.compute_role_arn = compute_role_arn
        self.enable_skew_protection = enable_skew_protection
        self.create_branch = create_branch
        check_parameters(self, at="init")

    def validate(self) -> None:
        """Check every input before any AWS call."""
        check_parameters(self)
        if self.environment_variables is None and self.replace_environment_variables:
            raise ValueError(
                "replace_environment_variables=True needs environment_variables (use {} to remove them all)."
            )
        ensure_connection_exists(self.aws_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        self.validate()
        hook = self.hook
        changes: dict[str, Any] = {}
        branch = self._get_or_create_branch(hook, changes)
        updates: dict[str, Any] = {}
        if (
            self.enable_auto_build is not None
            and bool(branch.get("enableAutoBuild")) != self.enable_auto_build
        ):
            updates["enableAutoBuild"] = self.enable_auto_build
            changes["enable_auto_build"] = {
                "from": bool(branch.get("enableAutoBuild")),
                "to": self.enable_auto_build,
            }
        for name, wire, current, wanted in (
            ("compute_role_arn", "computeRoleArn", branch.get("computeRoleArn") or "", self.compute_role_arn),
            (
                "enable_skew_protection",
                "enableSkewProtection",
                bool(branch.get("enableSkewProtection")),
                self.enable_skew_protection,
            ),
        ):
            change = setting_change(current, wanted)
            if change and "branch" not in changes:
                updates[wire] = wanted
                changes[name] = change
        if self.environment_variables is not None:
            current = dict(branch.get("environmentVariables") or {})
            wanted = dict(self.environment_variables)
            if not self.replace_environment_variables:
                wanted = {**current, **wanted}
            if wanted != current:
                updates["environmentVariables"] = wanted
                changes["environment_variables"] = {
                    "added": sorted(set(wanted) - set(current)),
                    "changed": sorted(k for k in set(wanted) & set(current) if wanted[k] != current[k]),
                    "removed": sorted(set(current) - set(wanted)),
                }
        if updates:
            hook.update_branch(self.app_id, self.branch_name, **updates)
            self.log.info(
                "Updated branch %s of app %s: %s", self.branch_name, self.app_id, _describe(changes)
            )
        webhook_id = self._reconcile_webhook(hook, changes)
        result = {
            "app_id": self.app_id,
            "branch_name": self.branch_name,
            "changed": bool(changes),
            "changes": changes,
            "webhook_id": webhook_id,
            "branch_created": "branch" in changes,
        }
        if not changes:
            self.log.info(
                "Branch %s of app %s already matches the declared state: nothing changed",
                self.branch_name,
                self.app_id,
            )
        return result

    def _get_or_create_branch(self, hook: AmplifyDeploymentHook, changes: dict[str, Any]) -> dict[str, Any]:
        try:
            return hook.get_branch(self.app_id, self.branch_name)
        except hook.conn.exceptions.NotFoundException as err:
            message = err.response.get("Error", {}).get("Message", "")
            where = f"account {hook.account_id}, region {hook.conn_region_name}"
            if not self.create_branch:
                raise ValueError(
                    f"app_id={self.app_id!r}, branch_name={self.branch_name!r}: not found in {where} "
                    f"({message}). Set create_branch=True to create the branch."
                ) from None
        try:
            hook.get_app(self.app_id)
        except hook.conn.exceptions.NotFoundException:
            raise ValueError(f"app_id={self.app_id!r}: no such app in {where}.") from None
        fields: dict[str, Any] = {}
        if self.enable_auto_build is not None:
            fields["enableAutoBuild"] = self.enable_auto_build
        if self.environment_variables:
            fields["environmentVariables"] = dict(self.environment_variables)
        if self.compute_role_arn:
            fields["computeRoleArn"] = self.compute_role_arn
        if self.enable_skew_protection is not None:
            fields["enableSkewProtection"] = self.enable_skew_protection
        branch = hook.create_branch(self.app_id, self.branch_name, **fields)
        changes["branch"] = "created"
        self.log.info("Created branch %s of app %s", self.branch_name, self.app_id)
        return branch

    def _reconcile_webhook(self, hook: AmplifyDeploymentHook, changes: dict[str, Any]) -> str | None:
        if self.webhook is None:
            return None
        ours = [
            w
            for w in hook.list_webhooks(self.app_id)
            if w.get("branchName") == self.branch_name and w.get("description") == self.webhook_description
        ]
        if self.webhook is False:
            for webhook in ours:
                hook.delete_webhook(webhook["webhookId"])
                self.log.info(
                    "Deleted incoming webhook %s (%r) of branch %s",
                    webhook["webhookId"],
                    self.webhook_description,
                    self.branch_name,
                )
            if ours:
                changes["webhook"] = {"deleted": [w["webhookId"] for w in ours]}
            return None
        if ours:
            if len(ours) > 1:
                self.log.warning(
                    "Branch %s has %d incoming webhooks described %r; using the oldest, %s",
                    self.branch_name,
                    len(ours),
                    self.webhook_description,
                    ours[0]["webhookId"],
                )
            self.log.info(
                "Branch %s already has its incoming webhook %s (%r)",
                self.branch_name,
                ours[0]["webhookId"],
                self.webhook_description,
            )
            return ours[0]["webhookId"]
        webhook = hook.create_webhook(self.app_id, self.branch_name, self.webhook_description)
        changes["webhook"] = {"created": webhook["webhookId"]}
        self.log.info(
            "Created incoming webhook %s (%r) for branch %s; its URL is a secret: read it with GetWebhook",
            webhook["webhookId"],
            self.webhook_description,
            self.branch_name,
        )
        return webhook["webhookId"]


def _describe(changes: dict[str, Any]) -> str:
    parts = []
    if "enable_auto_build" in changes:
        c = changes["enable_auto_build"]
        parts.append(f"auto-build {'on' if c['to'] else 'off'} (was {'on' if c['from'] else 'off'})")
    if "compute_role_arn" in changes:
        c = changes["compute_role_arn"]
        parts.append(f"compute role {c['to'] or '(none)'} (was {c['from'] or '(none)'})")
    if "enable_skew_protection" in changes:
        c = changes["enable_skew_protection"]
        parts.append(f"skew protection {'on' if c['to'] else 'off'} (was {'on' if c['from'] else 'off'})")
    if "environment_variables" in changes:
        c = changes["environment_variables"]
        for kind in ("added", "changed", "removed"):
            if c[kind]:
                parts.append(f"environment variables {kind}: {', '.join(c[kind])}")
    return "; ".join(parts)
