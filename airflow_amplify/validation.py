"""Every input check of the provider, in one place: durations, Amplify values from the botocore
model, stack names, URLs (webhooks, repositories, S3), connections and ampx options.

Operators, sensors and hooks call these before any AWS call; each raises ``ValueError`` naming the
parameter, the value (redacted when it may hold a secret) and what would be valid. Importing this
module is cheap: botocore and Airflow are imported inside the functions that need them.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_amplify.outputs.versions import OUTPUT_FORMATS, OUTPUTS_VERSIONS

#: An Amplify incoming webhook's host (``.com.cn`` in the China regions).
WEBHOOK_HOST = re.compile(r"^webhooks\.amplify\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com(\.cn)?$")
#: CloudFormation's rule for a stack name: a letter, then letters, digits and hyphens; 128 at most.
STACK_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
#: A stack id (ARN), as DescribeStacks also accepts it.
STACK_ARN_PATTERN = re.compile(
    r"^arn:aws(-cn|-us-gov|-iso[a-z-]*)?:cloudformation:[a-z0-9-]+:\d{12}:stack/([A-Za-z][A-Za-z0-9-]{0,127})/[A-Za-z0-9-]+$"
)
#: Formats and schema versions ``ampx generate outputs`` and ``pipeline-deploy`` accept (1.10.0).
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!//)")


# --- durations ----------------------------------------------------------------------------------


def to_seconds(value: float | timedelta | None, param: str) -> float | None:
    """A duration given as seconds or a timedelta, as seconds; None stays None.

    :param value: the value the user gave.
    :param param: the parameter's name, for the message.
    :raises ValueError: for zero, negative or non-numeric values, naming the parameter and the value.
    """
    if value is None:
        return None
    try:
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0:
        raise ValueError(f"{param}={value!r} is not valid; use a positive number of seconds or a timedelta.")
    return seconds


# --- Amplify values (the botocore model) ---------------------------------------------------------


@cache
def _shape_constraints(shape_name: str) -> dict[str, Any]:
    import botocore.session  # botocore loads its service models only when a value is checked

    shape = botocore.session.get_session().get_service_model("amplify").shape_for(shape_name)
    return {**shape.metadata, "enum": list(getattr(shape, "enum", []) or [])}


def validate_amplify_value(param: str, value: Any, shape_name: str, required: bool = True) -> None:
    """Check a value against the constraints of the Amplify API's own model, before any call.

    :param param: the operator parameter's name, for the message.
    :param value: the value to check.
    :param shape_name: the botocore shape (``AppId``, ``BranchName``, ``JobId``, ``JobType``, ...).
    :param required: whether an empty value is an error.
    :raises ValueError: naming the parameter, the value and what would be valid.
    """
    if value is None or value == "":
        if required:
            raise ValueError(f"{param} is required; got {value!r}.")
        return
    if not isinstance(value, str):
        raise ValueError(f"{param} must be a string; got {type(value).__name__} {value!r}.")
    c = _shape_constraints(shape_name)
    if c["enum"] and value not in c["enum"]:
        raise ValueError(f"{param}={value!r} is not valid; expected one of {', '.join(c['enum'])}.")
    if len(value) < c.get("min", 0) or len(value) > c.get("max", 1 << 30):
        raise ValueError(
            f"{param}={value!r} must be {c.get('min', 0)} to {c.get('max')} characters long; it has {len(value)}."
        )
    pattern = c.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        hint = {"AppId": " (an Amplify app id looks like d1abcdefgh1234)", "JobId": " (a decimal job id)"}
        raise ValueError(f"{param}={value!r} does not match {pattern}{hint.get(shape_name, '')}.")


# --- URLs ---------------------------------------------------------------------------------------


def validate_webhook_url(url: str, allow_custom_host: bool = False, param: str = "webhook URL") -> str:
    """Check that a URL is an Amplify incoming webhook and return its webhook id.

    :param url: the webhook URL (``https://webhooks.amplify.<region>.amazonaws.com/prod/webhooks?id=..&token=..``).
    :param allow_custom_host: accept another host (for example a local emulator).
    :param param: what to call the URL in messages. The URL itself never appears in them.
    """
    parsed = urllib.parse.urlsplit(url or "")
    query = urllib.parse.parse_qs(parsed.query)
    if not parsed.hostname or not query.get("id") or not query.get("token"):
        raise ValueError(
            f"{param} is not an Amplify incoming webhook URL: expected "
            "https://webhooks.amplify.<region>.amazonaws.com/prod/webhooks?id=<id>&token=<token>."
        )
    if not allow_custom_host and (parsed.scheme != "https" or not WEBHOOK_HOST.match(parsed.hostname)):
        raise ValueError(
            f"{param} has host {parsed.hostname!r} (scheme {parsed.scheme!r}); Amplify webhooks are served by "
            "https://webhooks.amplify.<region>.amazonaws.com (or .com.cn). "
            "Set allow_custom_webhook_host=True to use another host, such as a local emulator."
        )
    return query["id"][0]


def validate_stack_name(stack_name: Any, parameter: str = "stack_name") -> str:
    """Return ``stack_name`` if CloudFormation accepts it as a stack name or stack id, else raise ValueError.

    :param stack_name: a stack name (a letter, then letters, digits and hyphens, at most 128) or a
        stack ARN.
    :param parameter: the parameter name to put in the error message.
    """
    if isinstance(stack_name, str) and (
        STACK_NAME_PATTERN.match(stack_name) or STACK_ARN_PATTERN.match(stack_name)
    ):
        return stack_name
    raise ValueError(
        f"{parameter}={stack_name!r} is not a CloudFormation stack name: a stack name starts with a letter, "
        "has only letters, digits and hyphens, and is at most 128 characters long "
        "(or pass the stack's ARN, arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>)."
    )


def validate_app_id(app_id: Any, parameter: str = "app_id") -> str:
    """Return ``app_id`` if it has the shape of an Amplify app id, else raise ValueError.

    :param app_id: the Amplify app id to check (``d`` then lowercase letters and digits, at most 20).
    :param parameter: the parameter name to put in the error message.
    """
    try:  # the rule is the Amplify API model's (AppId), checked in one place
        validate_amplify_value(parameter, app_id, "AppId")
        return app_id
    except ValueError:
        pass
    raise ValueError(
        f"{parameter}={app_id!r} is not an Amplify app id: an app id is 'd' followed by lowercase letters "
        "and digits, at most 20 characters (for example d1abcdefgh1234)."
    )


# --- connections --------------------------------------------------------------------------------


def ensure_connection_exists(conn_id: str | None, param: str = "aws_conn_id") -> None:
    """Fail clearly when a named connection does not exist or is not an AWS connection, before any AWS call.

    The amazon provider falls back to the default credential chain for an unknown connection id,
    and only warns about a connection of another type; either would quietly call AWS with whatever
    credentials the worker has. ``None`` keeps that fallback on purpose.

    :param conn_id: the connection id (``None``: the worker's default credentials).
    :param param: the parameter's name, for the message.
    """
    if conn_id is None:
        return
    from airflow.providers.common.compat.sdk import (  # keeps this module free of Airflow at import time
        AirflowNotFoundException,
        BaseHook,
    )

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ValueError(
            f"{param}={conn_id!r}: no Airflow connection with this id. Create it, or pass {param}=None "
            "to use the worker's default AWS credentials."
        ) from None
    check_aws_connection_type(conn_id, conn.conn_type, param)


def check_aws_connection_type(conn_id: str, conn_type: str | None, param: str = "aws_conn_id") -> None:
    """Raise ValueError when a connection meant for AWS has another type (``http``, ``amplify_webhook`` ...).

    :param conn_id: the connection id.
    :param conn_type: its type (empty: not set, accepted as the amazon provider accepts it).
    :param param: the parameter's name, for the message.
    """
    if conn_type and conn_type != "aws":
        raise ValueError(
            f"{param}={conn_id!r} is a connection of type {conn_type!r}; give an Amazon Web Services "
            "connection (type 'aws')."
        )


def split_url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Split ``scheme://user:secret@host/path`` into the URL without user info, the user and the secret.

    scp-like SSH addresses (``git@host:path``) and local paths are returned unchanged (their user
    name is not a secret).
    """
    if "://" not in url:
        return url, None, None
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, secret = userinfo.partition(":")
    if parts.scheme in ("ssh", "git+ssh", "ssh+git") and not sep:
        return url, None, None  # ssh://git@host/path: the user name belongs to the address
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, user or None, secret if sep else None


def redact_url(url: str) -> str:
    """The URL with any password or token in its user info replaced by ``***``."""
    clean, user, secret = split_url_credentials(url)
    if secret is None:
        return url
    parts = urlsplit(clean)
    return urlunsplit((parts.scheme, f"{user or ''}:***@{parts.netloc}", parts.path, parts.query, ""))


def url_transport(url: str) -> str:
    """``https``, ``http``, ``ssh``, ``file`` or ``git`` for a repository address."""
    if "://" in url:
        scheme = urlsplit(url).scheme.lower()
        return "ssh" if "ssh" in scheme else scheme
    if _SCP_LIKE.match(url) and not Path(url).exists():
        return "ssh"
    return "file"


def validate_repo_url(repo_url: Any, param: str = "repo_url") -> str:
    """Raise ValueError (naming ``param``) unless ``repo_url`` is a Git address without a password in it."""
    if not isinstance(repo_url, str) or not repo_url.strip():
        raise ValueError(
            f"{param}={repo_url!r} is not valid; give the repository's address, e.g. "
            "'https://github.com/org/app.git', 'git@github.com:org/app.git' or 'file:///srv/git/app.git'."
        )
    _, _, secret = split_url_credentials(repo_url)
    if secret is not None:
        raise ValueError(
            f"{param}={redact_url(repo_url)!r} has a password or token in the URL; it would end up in the "
            "rendered task fields, logs and process list. Put the token in an Airflow connection of type "
            "'git' (password field) and pass its id as git_conn_id."
        )
    transport = url_transport(repo_url)
    if transport not in ("https", "http", "ssh", "file", "git"):
        raise ValueError(
            f"{param}={repo_url!r} is not valid: transport {transport!r} is not supported; use https://, "
            "ssh:// (or user@host:path), git:// or file://."
        )
    return repo_url


def validate_ref(ref: Any, param: str = "ref") -> str | None:
    """Raise ValueError unless ``ref`` is None (the remote's default branch) or a valid ref name or SHA."""
    if ref is None:
        return None
    if (
        not isinstance(ref, str)
        or not ref.strip()
        or ref.startswith("-")
        or any(c in ref for c in " ~^:?*[\\\t\n")
        or ".." in ref
        or ref.endswith((".lock", "/", "."))
        or "@{" in ref
    ):
        raise ValueError(
            f"{param}={ref!r} is not valid; give a branch ('main'), a tag ('v1.2.0'), a commit SHA "
            "(full or at least 4 hex digits) or a full ref ('refs/heads/main')."
        )
    return ref


def validate_subdir(subdir: Any, param: str = "subdir") -> str | None:
    """Raise ValueError unless ``subdir`` is None or a relative path that stays inside the checkout."""
    if subdir is None or subdir == "":
        return None
    if not isinstance(subdir, str):
        raise ValueError(f"{param}={subdir!r} is not valid; give a relative path such as 'apps/web'.")
    path = PurePosixPath(subdir)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(
            f"{param}={subdir!r} is not valid; give a path relative to the repository root that stays "
            "inside it, such as 'apps/web'."
        )
    return str(path)


def parse_s3_url(url: str, param: str = "source_url") -> tuple[str, str]:
    """Bucket and key (or prefix) of ``s3://bucket/key``.

    :raises ValueError: naming the parameter when the URL has no bucket.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"{param}={url!r} is not an S3 URL (s3://bucket/key).")
    return parts.netloc, parts.path.lstrip("/")


# --- ampx options and paths ---------------------------------------------------------------------


def validate_outputs_options(
    outputs_version: str, outputs_format: str | None, format_param: str = "format"
) -> None:
    """Raise ValueError naming the parameter when the outputs version or format is not one ampx knows.

    :param outputs_version: the ``amplify_outputs`` schema version.
    :param outputs_format: the file format (None: json).
    :param format_param: what the calling task calls the format parameter, for the message.
    """
    if outputs_version not in OUTPUTS_VERSIONS:
        raise ValueError(
            f"outputs_version={outputs_version!r} is not valid; use one of {', '.join(OUTPUTS_VERSIONS)}."
        )
    if outputs_format is not None and outputs_format not in OUTPUT_FORMATS:
        raise ValueError(
            f"{format_param}={outputs_format!r} is not valid; use one of {', '.join(OUTPUT_FORMATS)}."
        )


def require_text(value: Any, param: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{param}={value!r} is not valid; {what}.")
    return value


def check_directory_or_missing(path: str | None, param: str) -> None:
    """An output directory may be missing (it is created) but must not be a file."""
    if path and Path(path).exists() and not Path(path).is_dir():
        raise ValueError(
            f"{param}={str(path)!r} is not a directory (a file has that name); give a directory, "
            "which is created if missing."
        )


# --- event-driven waits -----------------------------------------------------------------------

_EVENTS_NAME = re.compile(r"[A-Za-z0-9_-]+")


def validate_events_setting(value: Any, where: str = "events") -> tuple[str, float] | None:
    """Check an event-driven-wait setting (a trigger's ``events`` or a connection extra's ``amplify_events``).

    None or False: no events (polling). A dict: ``queue_url`` (required, an ``https://`` or, for the
    local world, ``http://`` URL without whitespace, query or fragment) and ``safety_poll_interval``
    (seconds, a finite number >= 1, default 300).

    :param value: the setting.
    :param where: what to call it in an error message.
    :return: (queue URL, safety poll interval), or None for no events.
    """
    if value is None or value is False:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a dict with queue_url, or None/False; got {type(value).__name__}")
    unknown = set(value) - {"queue_url", "safety_poll_interval"}
    if unknown:
        raise ValueError(
            f"{where} has unknown keys {sorted(unknown)}; valid: queue_url, safety_poll_interval"
        )
    url = value.get("queue_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or url != url.strip():
        raise ValueError(f"{where}.queue_url must be the queue's http(s) URL without whitespace; got {url!r}")
    if any(c.isspace() for c in url) or "?" in url or "#" in url:
        raise ValueError(f"{where}.queue_url must be a plain queue URL (no spaces, query or fragment)")
    interval = value.get("safety_poll_interval", 300.0)
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not math.isfinite(interval)
        or interval < 1
    ):
        raise ValueError(f"{where}.safety_poll_interval must be a number of seconds >= 1; got {interval!r}")
    return url, float(interval)


def validate_events_setup(
    triggerers: Any,
    queue_prefix: Any,
    rule_name: Any,
    message_retention_seconds: Any,
    safety_poll_interval: Any,
) -> None:
    """Check the inputs of :class:`~airflow_amplify.operators.events.AmplifyEventsSetupOperator`."""
    names = triggerers
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f"triggerers must be a list of names; got {type(names).__name__} {names!r}.")
    if not 1 <= len(names) <= 100:
        raise ValueError(f"triggerers must name 1 to 100 triggerers; got {len(names)}.")
    if len(set(names)) != len(names):
        raise ValueError(f"triggerers has duplicate names: {sorted(names)}.")
    for value, param, limit in [
        *((n, "triggerers", 64) for n in names),
        (queue_prefix, "queue_prefix", 40),
        (rule_name, "rule_name", 60),
    ]:
        if not isinstance(value, str) or not _EVENTS_NAME.fullmatch(value) or len(value) > limit:
            raise ValueError(f"{param}: {value!r} is not valid; use 1-{limit} letters, digits, '-' or '_'.")
    for name in names:
        if len(f"{queue_prefix}-{name}") > 80:
            raise ValueError(f"queue name {queue_prefix}-{name} is longer than SQS's 80 characters.")
    retention = message_retention_seconds
    if isinstance(retention, bool) or not isinstance(retention, int) or not 60 <= retention <= 1209600:
        raise ValueError(
            f"message_retention_seconds={retention!r} is not valid; use an integer from 60 to 1209600."
        )
    validate_events_setting(
        {"queue_url": "https://x", "safety_poll_interval": safety_poll_interval}, "safety_poll_interval"
    )


# --- app and branch settings ---------------------------------------------------------------------

_ROLE_ARN = re.compile(r"arn:aws(-cn|-us-gov|-iso[a-z-]*)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


def validate_flag(param: str, value: Any) -> None:
    """A setting that is True, False or None (leave as is); truthy strings and numbers are refused."""
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{param}={value!r} is not valid; use True, False or None (leave as is).")


def validate_compute_role_arn(param: str, value: Any) -> None:
    """An SSR compute role: an IAM role ARN, ``""`` (remove the role) or None (leave as is)."""
    if value is None or value == "":
        return
    validate_amplify_value(param, value, "ComputeRoleArn")
    if not _ROLE_ARN.fullmatch(value):
        raise ValueError(
            f"{param}={value!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>); use '' to "
            "remove the compute role, or None to leave it as it is."
        )


# --- backend secrets -----------------------------------------------------------------------------

#: The CLI's own rule for a secret name (``ampx sandbox secret set``): what ``secret('NAME')`` can read.
SECRET_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
#: SSM's limit for a standard-tier parameter value (SecureString included), in characters.
MAX_SECRET_VALUE_LENGTH = 4096


def validate_secret_name(name: Any, param: str = "secrets") -> str:
    """Return ``name`` if ampx can read a secret of that name, else raise ValueError."""
    if not isinstance(name, str) or not SECRET_NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"{param}: the secret name {name!r} is not one ampx can read; a name has only letters, "
            "digits, '_', '.' and '-' (the rule of `ampx sandbox secret set`)."
        )
    return name


def validate_secret_names(names: Any, param: str) -> list[str]:
    """Return a list of secret names (a list, tuple or set of strings), else raise ValueError."""
    if isinstance(names, (str, bytes, Mapping)) or not isinstance(names, (list, tuple, set, frozenset)):
        raise ValueError(f"{param}={names!r} is not valid; give a list of secret names, e.g. ['STRIPE_KEY'].")
    return [validate_secret_name(name, param) for name in names]


def validate_secret_value(name: str, value: Any, source: str) -> str:
    """Check a secret's value (never shown: only its type and length are named)."""
    if not isinstance(value, str):
        raise ValueError(f"secrets[{name!r}]: {source} holds no text value (got {type(value).__name__}).")
    if not value:
        raise ValueError(f"secrets[{name!r}]: {source} is empty; SSM cannot store an empty value.")
    if value.strip() != value:
        raise ValueError(
            f"secrets[{name!r}]: the value from {source} has leading or trailing whitespace (a newline "
            "pasted with it?); strip it at the source."
        )
    if len(value) > MAX_SECRET_VALUE_LENGTH:
        raise ValueError(
            f"secrets[{name!r}]: the value from {source} is {len(value)} characters long; a "
            f"standard SSM parameter holds at most {MAX_SECRET_VALUE_LENGTH}."
        )
    return value


#: Connection fields a secret can come from (``extra.KEY`` reads one key of the JSON extra).
SECRET_CONNECTION_FIELDS = ("password", "login", "host", "schema", "extra")


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
                field in SECRET_CONNECTION_FIELDS or (field.startswith("extra.") and len(field) > 6)
            ):
                raise ValueError(
                    f"{where}['field']={field!r} is not valid; use one of {', '.join(SECRET_CONNECTION_FIELDS)} or "
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


def _require_identifier(value: Any, param: str) -> None:
    if not isinstance(value, str) or not value or value.strip() != value or value in ("None", "null"):
        raise ValueError(f"{param}={value!r} is not valid; give the id as a non-empty string.")


@cache
def _ssm_key_id_pattern() -> str:
    import botocore.session

    return (
        botocore.session.get_session()
        .get_service_model("ssm")
        .shape_for("ParameterKeyId")
        .metadata["pattern"]
    )


def validate_kms_key_id(value: Any, param: str = "kms_key_id") -> None:
    """A KMS key id, key ARN or alias for SSM SecureStrings (the ssm model's ParameterKeyId), or None."""
    if value is None:
        return
    if not isinstance(value, str) or not re.fullmatch(_ssm_key_id_pattern(), value):
        raise ValueError(
            f"{param}={value!r} is not valid; give a KMS key id, key ARN or alias "
            "(letters, digits and ':/_-'), or None for the account's alias/aws/ssm."
        )
