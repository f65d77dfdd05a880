"""Gen 2 backend secrets in SSM Parameter Store, where ``ampx pipeline-deploy`` reads them.

A backend's ``secret('NAME')`` resolves at deploy time from the branch path first, then the app's
shared path (:func:`amplify_secret_path`, the CLI's ``ParameterPathConversions.toParameterFullPath``).
:class:`AmplifySecretsHook` (the amazon provider's ``SsmHook``) writes them idempotently and checks
that required ones exist. Values are secrets: every value read is registered with the secrets
masker at once, compared without being logged, and never returned, raised or put in XCom.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow.providers.amazon.aws.hooks.ssm import SsmHook
from airflow.providers.common.compat.sdk import AirflowException, mask_secret

from airflow_amplify.ampx.project import amplify_branch_stack_name

SECRET_DESCRIPTION = "Amplify Secret"
CREATED, UPDATED, UNCHANGED, DELETED = "created", "updated", "unchanged", "deleted"


class AmplifySecretsMissingError(AirflowException):
    """Secrets a backend needs are not set on the branch path nor the shared path.

    :param message: what is missing, where it was looked for, and how to set it.
    :param missing: the missing secret names.
    """

    def __init__(self, message: str, missing: Iterable[str] = ()):
        super().__init__(message)
        self.missing = list(missing)


# --- paths (the CLI's ParameterPathConversions) -----------------------------------------------


def amplify_secret_prefix(app_id: str, branch_name: str | None) -> str:
    """The SSM path under which ampx reads a branch's secrets (``branch_name=None``: the app's shared ones).

    The branch part is the branch stack name's middle parts (``<name>-branch-<hash>``), because the
    CLI round-trips the backend id through the stack name to sanitize it.

    :param app_id: the Amplify app id.
    :param branch_name: the branch, or None for the app's shared secrets.
    A branch with no letter or digit gets an empty name part (``/amplify/<appId>/-branch-<hash>``),
    as with the CLI.
    """
    if branch_name is None:
        return f"/amplify/shared/{app_id}"
    parts = amplify_branch_stack_name(app_id, branch_name).split("-")
    if len(parts) != 5:  # cannot happen: every part is sanitized to [A-Za-z0-9]; the CLI raises a fault too
        raise ValueError(f"branch_name={branch_name!r}: cannot derive the secret path of app {app_id!r}.")
    _, namespace, name, kind, digest = parts
    return f"/amplify/{namespace}/{name}-{kind}-{digest}"


def amplify_secret_path(app_id: str, branch_name: str | None, name: str) -> str:
    """The full SSM path of a backend secret, as ``ParameterPathConversions.toParameterFullPath`` builds it.

    Branch: ``/amplify/<appId>/<sanitized branch>-branch-<hash>/<NAME>``; shared
    (``branch_name=None``): ``/amplify/shared/<appId>/<NAME>``.

    :param app_id: the Amplify app id.
    :param branch_name: the branch, or None for the app's shared secret.
    :param name: the secret's name, as the backend passes it to ``secret()``.
    """
    return f"{amplify_secret_prefix(app_id, branch_name)}/{name}"


def missing_secrets_message(app_id: str, branch_name: str, names: Iterable[str]) -> str:
    """What is missing and how to set it: the one message of the preflight and of ampx's SecretNotSetError."""
    names = list(names)
    lines = [
        f"The backend of app {app_id} branch {branch_name} needs {len(names)} secret(s) that are not set: "
        + ", ".join(names)
        + ". ampx looks for each on the branch path, then on the app's shared path:"
    ]
    for name in names:
        lines.append(
            f"  {name}: {amplify_secret_path(app_id, branch_name, name)} or "
            f"{amplify_secret_path(app_id, None, name)}"
        )
    lines.append(
        "Set them before deploying with AmplifyBackendSecretsOperator(app_id=..., branch_name=..., "
        "secrets={NAME: {'conn_id': ..., 'field': 'password'}}) (branch_name=None for the shared path), "
        "or `aws ssm put-parameter --type SecureString --name <path> --value ...` in the target account "
        "(not `ampx sandbox secret set`, which writes a sandbox's path)."
    )
    return "\n".join(lines)


_SECRET_NOT_SET = re.compile(r"The secret (?P<name>\S+) specified in the backend")


def secret_name_from_ampx_error(message: str) -> str | None:
    """The secret's name in ampx's ``[SecretNotSetError] The secret NAME specified ...`` message."""
    match = _SECRET_NOT_SET.search(message or "")
    return match.group("name").strip() if match else None


# --- the hook -----------------------------------------------------------------------------------


class AmplifySecretsHook(SsmHook):
    """Backend secrets in SSM Parameter Store, on the amazon provider's ``SsmHook``.

    Additional arguments (``aws_conn_id``, ``region_name``, ...) go to ``AwsBaseHook``.
    """

    def current_secrets(self, prefix: str) -> dict[str, dict[str, Any]]:
        """The parameters directly under ``prefix`` (GetParametersByPath), by secret name; values masked.

        :return: ``{name: {"value", "type", "version"}}``.
        """
        found: dict[str, dict[str, Any]] = {}
        for page in self.conn.get_paginator("get_parameters_by_path").paginate(
            Path=prefix, Recursive=False, WithDecryption=True
        ):
            for parameter in page.get("Parameters", []):
                value = parameter.get("Value", "")
                if value:
                    mask_secret(value)
                found[parameter["Name"].rsplit("/", 1)[-1]] = {
                    "value": value,
                    "type": parameter.get("Type"),
                    "version": parameter.get("Version"),
                }
        return found

    def put_secrets(
        self,
        prefix: str,
        values: Mapping[str, str],
        kms_key_id: str | None = None,
        prune: bool = False,
    ) -> dict[str, str]:
        """Make the SecureString parameters under ``prefix`` hold ``values``, writing only what differs.

        :param prefix: the path (see :func:`amplify_secret_prefix`).
        :param values: secret name to value (values are masked here too).
        :param kms_key_id: the KMS key for SecureString (default: the account's ``alias/aws/ssm``).
        :param prune: delete the parameters under ``prefix`` that ``values`` does not list.
        :return: ``{name: "created" | "updated" | "unchanged" | "deleted"}``, never a value.
        """
        for value in values.values():
            mask_secret(value)
        current = self.current_secrets(prefix)
        result: dict[str, str] = {}
        for name in sorted(values):
            have = current.get(name)
            same = (
                have is not None
                and have["type"] == "SecureString"
                and hmac.compare_digest(have["value"].encode(), values[name].encode())
            )
            if same:
                result[name] = UNCHANGED
                continue
            params: dict[str, Any] = {
                "Name": f"{prefix}/{name}",
                "Value": values[name],
                "Type": "SecureString",
                "Overwrite": have is not None,
            }
            if have is None:
                params["Description"] = SECRET_DESCRIPTION
            if kms_key_id:
                params["KeyId"] = kms_key_id
            self.conn.put_parameter(**params)
            result[name] = UPDATED if have is not None else CREATED
        if prune:
            extra = sorted(set(current) - set(values))
            for start in range(0, len(extra), 10):
                self.conn.delete_parameters(Names=[f"{prefix}/{n}" for n in extra[start : start + 10]])
            result.update(dict.fromkeys(extra, DELETED))
        return result

    def missing_secrets(self, app_id: str, branch_name: str, names: Iterable[str]) -> list[str]:
        """The names set on neither the branch path nor the shared path (see :func:`find_missing_secrets`)."""
        return find_missing_secrets(self.conn, app_id, branch_name, names)


def find_missing_secrets(ssm: Any, app_id: str, branch_name: str, names: Iterable[str]) -> list[str]:
    """The secret names that exist on neither the branch path nor the app's shared path.

    GetParameters without decryption: the values never reach the worker.

    :param ssm: a boto3 SSM client of the target account and region.
    :param app_id: the Amplify app id.
    :param branch_name: the branch being deployed.
    :param names: the secret names the backend needs.
    """
    wanted = list(dict.fromkeys(names))
    paths = [amplify_secret_path(app_id, branch_name, n) for n in wanted]
    paths += [amplify_secret_path(app_id, None, n) for n in wanted]
    present: set[str] = set()
    for start in range(0, len(paths), 10):
        answer = ssm.get_parameters(Names=paths[start : start + 10], WithDecryption=False)
        present.update(p["Name"] for p in answer.get("Parameters", []))
    return [
        n
        for n in wanted
        if amplify_secret_path(app_id, branch_name, n) not in present
        and amplify_secret_path(app_id, None, n) not in present
    ]
