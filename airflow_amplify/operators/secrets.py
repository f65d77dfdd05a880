"""Set a Gen 2 backend's secrets from Airflow (connections, Variables, any secrets backend) into SSM.

``ampx pipeline-deploy`` reads ``secret('NAME')`` from SSM Parameter Store; in a custom pipeline
nothing puts them there. This operator does, idempotently, on the exact paths the CLI reads
(:func:`~airflow_amplify.hooks.secrets.amplify_secret_path`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_amplify.hooks.secrets import AmplifySecretsHook, amplify_secret_prefix
from airflow_amplify.validation import (
    AWS_PARAMETER_KINDS,
    BOOL,
    amplify,
    check_parameters,
    custom,
    ensure_connection_exists,
    validate_amplify_value,
    validate_kms_key_id,
    validate_secret_sources,
    validate_secret_value,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def read_secret_value(name: str, source: Mapping[str, str]) -> str:
    """Read one secret's value from its connection field or Variable; the value is masked at once.

    Errors name the source, never the value.
    """
    from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook, mask_secret

    if "variable" in source:
        from airflow.providers.common.compat.sdk import Variable

        what = f"Variable {source['variable']!r}"
        try:
            value = Variable.get(source["variable"], None)
        except (KeyError, AirflowNotFoundException):
            value = None
        if value is None:
            raise ValueError(f"secrets[{name!r}]: {what} does not exist.")
    else:
        conn_id, field = source["conn_id"], source["field"]
        what = f"field {field!r} of connection {conn_id!r}"
        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            raise ValueError(f"secrets[{name!r}]: connection {conn_id!r} does not exist.") from None
        if field.startswith("extra."):
            key = field[len("extra.") :]
            extra = conn.extra_dejson
            if key not in extra:
                raise ValueError(f"secrets[{name!r}]: connection {conn_id!r} has no extra key {key!r}.")
            value = extra[key]
            if not isinstance(value, str):
                value = json.dumps(value)
        else:
            value = getattr(conn, field)
    if isinstance(value, str) and value:
        mask_secret(value)
    return validate_secret_value(name, value, what)


class AmplifyBackendSecretsOperator(AwsBaseOperator[AmplifySecretsHook]):
    """Set a Gen 2 backend's secrets in SSM, on the paths ``ampx pipeline-deploy`` reads.

    Each value comes from an Airflow connection field or a Variable, so from whatever secrets
    backend the deployment uses; a literal value is refused. Every value is read and checked
    before the first write, masked in logs, compared with what SSM holds without being logged,
    and written as a SecureString only when it differs. Values never reach XCom or an error.

    Returns ``{name: "created" | "updated" | "unchanged"}`` (and ``"deleted"`` for names removed by
    ``prune``). "unchanged" compares the value and the SecureString type, not the KMS key.

    :param app_id: the Amplify app id (in the account of ``aws_conn_id``). Templated.
    :param branch_name: the branch whose backend reads the secrets; None for the app's shared
        secrets (read by every branch that has no branch secret of that name). Templated.
    :param secrets: ``{NAME: {"conn_id": ..., "field": "password"}}`` (``field`` one of
        ``password``, ``login``, ``host``, ``schema``, ``extra`` or ``extra.<key>``; default
        ``password``) or ``{NAME: {"variable": ...}}``. Names as ampx reads them (letters, digits,
        ``_ . -``). Templated.
    :param kms_key_id: the KMS key id, ARN or alias for the SecureStrings (default the account's
        ``alias/aws/ssm``). Templated.
    :param prune: also delete the secrets under the path that ``secrets`` does not list (default False).
    :param aws_conn_id: the Airflow AWS connection of the target account.
    :param region_name: AWS region (default: the connection's).
    :param verify: SSL certificate verification.
    :param botocore_config: botocore client configuration, as a dict.
    """

    aws_hook_class = AmplifySecretsHook
    template_fields: Sequence[str] = aws_template_fields("app_id", "branch_name", "secrets", "kms_key_id")
    template_fields_renderers = {"secrets": "json"}
    ui_color = "#ff9900"

    #: The kind of every parameter, checked by :func:`~airflow_amplify.validation.check_parameters`.
    parameter_kinds = {
        **AWS_PARAMETER_KINDS,
        "app_id": amplify("AppId"),
        "secrets": custom("mapping of secret names to sources", lambda p, v: validate_secret_sources(v, p)),
        "branch_name": amplify("BranchName", required=False),
        "kms_key_id": custom("KMS key id, key ARN or alias, or None", lambda p, v: validate_kms_key_id(v, p)),
        "prune": BOOL,
    }

    def __init__(
        self,
        *,
        app_id: str,
        secrets: Mapping[str, Mapping[str, str]],
        branch_name: str | None = None,
        kms_key_id: str | None = None,
        prune: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_id = app_id
        self.branch_name = branch_name
        self.secrets = secrets
        self.kms_key_id = kms_key_id
        self.prune = prune

    def validate(self) -> dict[str, dict[str, str]]:
        """Check every input before any AWS call; return the checked sources."""
        validate_amplify_value("app_id", self.app_id, "AppId")
        if self.branch_name is not None:
            validate_amplify_value("branch_name", self.branch_name, "BranchName")
            if self.branch_name.strip() != self.branch_name or self.branch_name in ("None", "null"):
                raise ValueError(
                    f"branch_name={self.branch_name!r} is not valid; give the branch name, or None for "
                    "the app's shared secrets."
                )
            amplify_secret_prefix(self.app_id, self.branch_name)
        if not isinstance(self.prune, bool):
            raise ValueError(f"prune={self.prune!r} is not valid; use True or False.")
        validate_kms_key_id(self.kms_key_id)
        sources = validate_secret_sources(self.secrets)
        if self.prune and not sources:
            raise ValueError(
                "secrets={} with prune=True would delete every secret under the path; list the secrets "
                "to keep, or set prune=False."
            )
        ensure_connection_exists(self.aws_conn_id)
        check_parameters(self)
        return sources

    def execute(self, context: Context) -> dict[str, str]:
        sources = self.validate()
        if not sources:
            self.log.info("No secrets listed: nothing to set")
            return {}
        values = {name: read_secret_value(name, source) for name, source in sources.items()}
        prefix = amplify_secret_prefix(self.app_id, self.branch_name)
        where = f"branch {self.branch_name}" if self.branch_name is not None else "shared"
        self.log.info(
            "Setting %d %s secret(s) of app %s under %s%s",
            len(values),
            where,
            self.app_id,
            prefix,
            " (pruning unlisted ones)" if self.prune else "",
        )
        result = self.hook.put_secrets(prefix, values, kms_key_id=self.kms_key_id, prune=self.prune)
        for name, status in result.items():
            self.log.info("%s/%s: %s", prefix, name, status)
        if all(status == "unchanged" for status in result.values()):
            self.log.info("Every secret already holds its value: nothing changed")
        return result
