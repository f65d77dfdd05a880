"""Make an Amplify app's build and runtime settings match a declared state.

The app-level counterpart of :class:`~airflow_amplify.operators.branch.AmplifyBranchSetupOperator`:
build instance size, cache configuration and the SSR compute role, managed as code. It reads the
app, changes only what differs, and a re-run changes nothing and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_amplify.hooks.deployment import AmplifyDeploymentHook, setting_change
from airflow_amplify.validation import (
    AWS_PARAMETER_KINDS,
    amplify,
    check_parameters,
    custom,
    ensure_connection_exists,
    validate_amplify_value,
    validate_compute_role_arn,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class AmplifyAppSetupOperator(AwsBaseOperator[AmplifyDeploymentHook]):
    """Make an app's build and runtime settings match a declared state, changing only what differs.

    Every setting is optional; ``None`` leaves it as it is. Values are checked against botocore's
    Amplify model before any call.

    Returns ``{"app_id", "changed", "changes"}``, where ``changes`` maps each changed setting to
    ``{"from", "to"}`` (empty when nothing changed).

    :param app_id: the Amplify app id. Templated.
    :param build_compute_type: the build instance (``jobConfig.buildComputeType``): ``STANDARD_8GB``
        (Amplify's default), ``LARGE_16GB`` or ``XLARGE_72GB``. Templated.
    :param cache_config_type: the cache configuration (``cacheConfig.type``): ``AMPLIFY_MANAGED`` or
        ``AMPLIFY_MANAGED_NO_COOKIES`` (Amplify's default). Templated.
    :param compute_role_arn: the app's SSR compute role (an IAM role ARN; ``""`` removes it). Templated.
    :param aws_conn_id: the Airflow AWS connection.
    :param region_name: AWS region (default: the connection's).
    :param verify: SSL certificate verification.
    :param botocore_config: botocore client configuration, as a dict.
    """

    aws_hook_class = AmplifyDeploymentHook
    template_fields: Sequence[str] = aws_template_fields(
        "app_id", "build_compute_type", "cache_config_type", "compute_role_arn"
    )
    ui_color = "#ff9900"

    #: The kind of every parameter, checked by :func:`~airflow_amplify.validation.check_parameters`.
    parameter_kinds = {
        **AWS_PARAMETER_KINDS,
        "app_id": amplify("AppId"),
        "build_compute_type": amplify("BuildComputeType", required=False),
        "cache_config_type": amplify("CacheConfigType", required=False),
        "compute_role_arn": custom(
            "IAM role ARN, '' (remove) or None (leave as is)", validate_compute_role_arn
        ),
    }

    def __init__(
        self,
        *,
        app_id: str,
        build_compute_type: str | None = None,
        cache_config_type: str | None = None,
        compute_role_arn: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_id = app_id
        self.build_compute_type = build_compute_type
        self.cache_config_type = cache_config_type
        self.compute_role_arn = compute_role_arn

    def validate(self) -> None:
        """Check every input before any AWS call."""
        validate_amplify_value("app_id", self.app_id, "AppId")
        if self.build_compute_type is not None:
            validate_amplify_value("build_compute_type", self.build_compute_type, "BuildComputeType")
        if self.cache_config_type is not None:
            validate_amplify_value("cache_config_type", self.cache_config_type, "CacheConfigType")
        validate_compute_role_arn("compute_role_arn", self.compute_role_arn)
        ensure_connection_exists(self.aws_conn_id)
        check_parameters(self)

    def execute(self, context: Context) -> dict[str, Any]:
        self.validate()
        hook = self.hook
        try:
            app = hook.get_app(self.app_id)
        except hook.conn.exceptions.NotFoundException:
            raise ValueError(
                f"app_id={self.app_id!r}: no such app in account {hook.account_id}, region "
                f"{hook.conn_region_name}."
            ) from None
        current = {
            "build_compute_type": (app.get("jobConfig") or {}).get("buildComputeType") or "STANDARD_8GB",
            "cache_config_type": (app.get("cacheConfig") or {}).get("type") or "AMPLIFY_MANAGED_NO_COOKIES",
            "compute_role_arn": app.get("computeRoleArn") or "",
        }
        changes: dict[str, Any] = {}
        for name in current:
            change = setting_change(current[name], getattr(self, name))
            if change:
                changes[name] = change
        if changes:
            updates: dict[str, Any] = {}
            if "build_compute_type" in changes:
                updates["jobConfig"] = {"buildComputeType": self.build_compute_type}
            if "cache_config_type" in changes:
                updates["cacheConfig"] = {"type": self.cache_config_type}
            if "compute_role_arn" in changes:
                updates["computeRoleArn"] = self.compute_role_arn
            hook.update_app(self.app_id, **updates)
            self.log.info(
                "Updated app %s: %s",
                self.app_id,
                "; ".join(
                    f"{name} {c['to'] or '(none)'} (was {c['from'] or '(none)'})"
                    for name, c in changes.items()
                ),
            )
        else:
            self.log.info("App %s already matches the declared settings: nothing changed", self.app_id)
        return {"app_id": self.app_id, "changed": bool(changes), "changes": changes}
