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

from airflow_amplify.hooks.amplify import ensure_connection_exists, validate_amplify_value
from airflow_amplify.hooks.secrets import (
    AmplifySecretsHook,
    amplify_secret_prefix,
    validate_secret_name,
    validate_secret_value,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Connection fields a secret can come from (``extra.KEY`` reads one key of the JSON extra).
CONNECTION_FIELDS = ("password", "login", "host", "schema", "extra")
_KMS_KEY_SHAPE = ("ssm", "ParameterKeyId")


def validate_secret_sources(secrets: Any, param: str = "secrets") -> dict[str, dict[str, str]]:
    """Check the ``secrets`` mapping: each name ampx can read, each source a connection field or a Variable.

    A literal value is refused: it would sit in the DAG file and in the task's rendered fields.

    :return: ``{name: {"conn_id", "field"} | {"variable"}}`` with defaults filled in.
    """
    if not isinstance(secrets, Mapping):
        raise ValueError(
            f"{param} must be a mapping of secret names to sources, e.g. "
            "{'STRIPE_KEY': {'conn_id': 'stripe', 'field': 'password'}, 'API_TOKEN': {'variable': 'api_token'}}; "
            f"got {type(secrets).__name__}."
        )
    checked: dict[str, dict[str, str]] = {}
    for name, source in secrets.items():
        validate_secret_name(name, param)
        where = f"{param}[{name!r}]"
        if not isinstance(source, Mapping):
            raise ValueError(
                f"{where} must say where the value comes from: {{'conn_id': ..., 'field': ...}} or "
                f"{{'variable': ...}}; a literal value (got {type(source).__name__}) is refused, it would be "
                "stored in the DAG and its rendered fields."
            )
        keys = set(source)
        if keys in ({"conn_id"}, {"conn_id", "field"}):
            conn_id, field = source["conn_id"], source.get("field", "password")
            _require_identifier(conn_id, f"{where}['conn_id']")
            if not isinstance(field, str) or not (
                field in CONNECTION_FIELDS or (field.startswith("extra.") and len(field) > 6)
            ):
                raise ValueError(
                    f"{where}['field']={field!r} is not valid; use one of {', '.join(CONNECTION_FIELDS)} or "
                    "extra.<key> (one key of the connection's JSON extra)."
                )
            checked[name] = {"conn_id": conn_id, "field": field}
        elif keys == {"variable"}:
            _require_identifier(source["variable"], f"{where}['variable']")
            checked[name] = {"variable": source["variable"]}
        else:
            raise ValueError(
                f"{where} has keys {sorted(map(str, keys))}; give {{'conn_id': ..., 'field': ...}} "
                "(field defaults to 'password') or {'variable': ...}."
            )
    return checked


def _require_identifier(value: Any, param: str) -> None:
    if not isinstance(value, str) or not value or value.strip() != value or value in ("None", "null"):
        raise ValueError(f"{param}={value!r} is not valid; give the id as a non-empty string.")


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
        if self.kms_key_id is not None:
            import re

            import botocore.session

            shape = (
                botocore.session.get_session()
                .get_service_model(_KMS_KEY_SHAPE[0])
                .shape_for(_KMS_KEY_SHAPE[1])
            )
            if not isinstance(self.kms_key_id, str) or not re.fullmatch(
                shape.metadata["pattern"], self.kms_key_id
            ):
                raise ValueError(
                    f"kms_key_id={self.kms_key_id!r} is not valid; give a KMS key id, key ARN or alias "
                    "(letters, digits and ':/_-'), or None for the account's alias/aws/ssm."
                )
        sources = validate_secret_sources(self.secrets)
        if self.prune and not sources:
            raise ValueError(
                "secrets={} with prune=True would delete every secret under the path; list the secrets "
                "to keep, or set prune=False."
            )
        ensure_connection_exists(self.aws_conn_id)
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
