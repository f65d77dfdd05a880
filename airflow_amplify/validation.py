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
STACK_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")
#: A stack id (ARN), as DescribeStacks also accepts it.
STACK_ARN_PATTERN = re.compile(
    r"arn:aws(-cn|-us-gov|-iso[a-z-]*)?:cloudformation:[a-z0-9-]+:\d{12}:stack/([A-Za-z][A-Za-z0-9-]{0,127})/[A-Za-z0-9-]+"
)
#: Formats and schema versions ``ampx generate outputs`` and ``pipeline-deploy`` accept (1.10.0).
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!//)")


# --- durations ----------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a real, finite number (``bool`` and strings are not), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def to_seconds(value: Any, param: str, allow_zero: bool = False) -> float | None:
    """A duration given as seconds or a timedelta, as seconds; None stays None.

    Exact types: an ``int``, a ``float`` or a ``timedelta``; ``True``, ``"1"``, NaN and infinity are
    refused, so a caller never goes on with a value only this check could read.

    :param value: the value the user gave.
    :param param: the parameter's name, for the message.
    :param allow_zero: accept 0 (a grace period, a backoff), not only positive durations.
    :raises ValueError: for zero, negative, non-finite or non-numeric values, naming the parameter and the value.
    """
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else _number(value)
    if seconds is None or seconds < 0 or (seconds == 0 and not allow_zero) or not math.isfinite(seconds):
        valid = "seconds >= 0" if allow_zero else "a positive number of seconds"
        wrong_type = "" if seconds is not None else f" (an int or a float, not {type(value).__name__})"
        raise ValueError(f"{param}={shown(value)} is not valid; use {valid}{wrong_type} or a timedelta.")
    return seconds


def to_count(value: Any, param: str, minimum: int = 1, allow_none: bool = False) -> int | None:
    """An exact ``int`` of at least ``minimum`` (``True`` and ``"3"`` are refused); None when allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{param}={shown(value)} is not valid; use an integer >= {minimum}.")
    return value


# --- Amplify values (the botocore model) ---------------------------------------------------------


@cache
def _shape_constraints(shape_name: str) -> dict[str, Any]:
    import botocore.session  # botocore loads its service models only when a value is checked

    shape = botocore.session.get_session().get_service_model("amplify").shape_for(shape_name)
    return {**shape.metadata, "enum": list(getattr(shape, "enum", []) or [])}


#: What a template renders from a missing value (``{{ ti.xcom_pull(...)['commit_id'] }}`` of None).
RENDERED_NOTHING = ("None", "null", "undefined")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SHAPE_HINTS = {
    "AppId": " (an Amplify app id looks like d1abcdefgh1234)",
    "JobId": " (a decimal job id)",
    "BranchName": " (a branch name such as 'main' or 'feature/x')",
}


def check_text(
    param: str, value: Any, *, required: bool = True, multiline: bool = False, secret: bool = False
) -> str | None:
    """A string without surrounding whitespace or control characters, and not a template's "None".

    :param param: the parameter's name, for the message.
    :param value: the value to check.
    :param required: whether None and ``""`` are errors (else they stand for "not given": None).
    :param multiline: allow line breaks and tabs inside the text (a commit message).
    :param secret: never show the value in a message.
    :return: the text, or None when it is not given and not required.
    """
    show = "***" if secret else shown(value)
    if value is None or value == "":
        if required:
            raise ValueError(f"{param}={value!r} is not valid: {param} is required; got {value!r}.")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{param} must be a string; got {type(value).__name__} {show}.")
    if not value.strip():
        raise ValueError(f"{param}={show} is only whitespace; give a value, or leave it out.")
    if value in RENDERED_NOTHING:
        raise ValueError(
            f"{param}={show} looks like a template that rendered a missing value (None); check the "
            "template (for example the XCom it pulls), or leave the parameter out."
        )
    if value != value.strip():
        raise ValueError(
            f"{param}={show} has leading or trailing whitespace (a newline from a file or a template?); "
            "give the value without it."
        )
    body = re.sub(r"[\n\r\t]", "", value) if multiline else value
    if _CONTROL.search(body):
        raise ValueError(f"{param}={show} contains control characters; give plain text.")
    return value


def validate_amplify_value(param: str, value: Any, shape_name: str, required: bool = True) -> None:
    """Check a value against the constraints of the Amplify API's own model, before any call.

    Beyond the model: no surrounding whitespace, no control characters (line breaks are allowed
    inside ``CommitMessage``), and not a template's rendered ``"None"``.

    :param param: the operator parameter's name, for the message.
    :param value: the value to check.
    :param shape_name: the botocore shape (``AppId``, ``BranchName``, ``JobId``, ``JobType``, ...).
    :param required: whether an empty value is an error.
    :raises ValueError: naming the parameter, the value and what would be valid.
    """
    if check_text(param, value, required=required, multiline=shape_name == "CommitMessage") is None:
        return
    c = _shape_constraints(shape_name)
    if c["enum"] and value not in c["enum"]:
        raise ValueError(f"{param}={shown(value)} is not valid; expected one of {', '.join(c['enum'])}.")
    if len(value) < c.get("min", 0) or len(value) > c.get("max", 1 << 30):
        raise ValueError(
            f"{param}={shown(value)} must be {c.get('min', 0)} to {c.get('max')} characters long; it has {len(value)}."
        )
    pattern = c.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        if shape_name == "AppId":
            raise ValueError(
                f"{param}={shown(value)} does not match {pattern}: it is not an Amplify app id, which is 'd' "
                "and lowercase letters and digits, 1 to 20 characters (for example d1abcdefgh1234)."
            )
        raise ValueError(
            f"{param}={shown(value)} does not match {pattern}{_SHAPE_HINTS.get(shape_name, '')}."
        )


# --- URLs ---------------------------------------------------------------------------------------


def validate_webhook_url(url: str, allow_custom_host: bool = False, param: str = "webhook URL") -> str:
    """Check that a URL is an Amplify incoming webhook and return its webhook id.

    The shape is exact: ``https``, no user info, no port, path ``/prod/webhooks``, no fragment, and
    the query ``id`` and ``token`` once each and nothing else. ``allow_custom_host`` (a local
    emulator) lets the host, the scheme (``http``) and the port differ, not the rest.

    :param url: the webhook URL (``https://webhooks.amplify.<region>.amazonaws.com/prod/webhooks?id=..&token=..``).
    :param allow_custom_host: accept another host (for example a local emulator).
    :param param: what to call the URL in messages. The URL itself never appears in them.
    """
    expected = "https://webhooks.amplify.<region>.amazonaws.com/prod/webhooks?id=<id>&token=<token>"
    if not isinstance(url, str):
        raise ValueError(
            f"{param} is not an Amplify incoming webhook URL (not a string); expected {expected}."
        )
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError:
        raise ValueError(f"{param} is not a URL; expected {expected}.") from None
    pairs = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
    keys = [key for key, _ in pairs]
    query = dict(pairs)
    if not parsed.hostname or not query.get("id") or not query.get("token"):
        raise ValueError(f"{param} is not an Amplify incoming webhook URL: expected {expected}.")
    if not allow_custom_host and (parsed.scheme != "https" or not WEBHOOK_HOST.fullmatch(parsed.hostname)):
        raise ValueError(
            f"{param} has host {parsed.hostname!r} (scheme {parsed.scheme!r}); Amplify webhooks are served by "
            "https://webhooks.amplify.<region>.amazonaws.com (or .com.cn). "
            "Set allow_custom_webhook_host=True to use another host, such as a local emulator."
        )
    problems = []
    if url != url.strip() or _CONTROL.search(url) or " " in url:
        problems.append("whitespace or control characters")
    if "@" in parsed.netloc:
        problems.append("user info before the host")
    if parsed.fragment or "#" in url:
        problems.append("a fragment (#...)")
    if parsed.path != "/prod/webhooks":
        problems.append(f"the path {parsed.path!r} instead of '/prod/webhooks'")
    if sorted(keys) != ["id", "token"]:
        extra = sorted(set(keys) - {"id", "token"})
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        problems.append(
            "query keys other than id and token once each"
            + (f" (other: {', '.join(extra)})" if extra else "")
            + (f" (repeated: {', '.join(repeated)})" if repeated else "")
        )
    if not allow_custom_host and port is not None:
        problems.append("a port")
    if problems:
        raise ValueError(
            f"{param} is not an Amplify incoming webhook URL: it has {'; '.join(problems)}. Expected {expected}."
        )
    if parsed.scheme not in ("https", "http"):
        raise ValueError(f"{param} has scheme {parsed.scheme!r}; expected {expected}.")
    return query["id"]


def validate_stack_name(stack_name: Any, parameter: str = "stack_name") -> str:
    """Return ``stack_name`` if CloudFormation accepts it as a stack name or stack id, else raise ValueError.

    :param stack_name: a stack name (a letter, then letters, digits and hyphens, at most 128) or a
        stack ARN.
    :param parameter: the parameter name to put in the error message.
    """
    if isinstance(stack_name, str) and (
        STACK_NAME_PATTERN.fullmatch(stack_name) or STACK_ARN_PATTERN.fullmatch(stack_name)
    ):
        return stack_name
    raise ValueError(
        f"{parameter}={shown(stack_name)} is not a CloudFormation stack name: a stack name starts with a letter, "
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
        f"{parameter}={shown(app_id)} is not an Amplify app id: an app id is 'd' followed by lowercase letters "
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
    if not sep:  # https://<token>@host/...: over HTTP a bare user info is how tokens are passed
        return clean, None, user or None
    return clean, user or None, secret


def redact_url(url: str) -> str:
    """The URL with any password or token in its user info replaced by ``***``."""
    clean, user, secret = split_url_credentials(url)
    if secret is None:
        return url
    parts = urlsplit(clean)
    userinfo = f"{user}:***" if user else "***"
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query, ""))


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
            f"{param}={shown(repo_url)} is not valid; give the repository's address, e.g. "
            "'https://github.com/org/app.git', 'git@github.com:org/app.git' or 'file:///srv/git/app.git'."
        )
    check_text(param, redact_url(repo_url))
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
            f"{param}={shown(repo_url)} is not valid: transport {transport!r} is not supported; use https://, "
            "ssh:// (or user@host:path), git:// or file://."
        )
    return repo_url


def validate_ref(ref: Any, param: str = "ref") -> str | None:
    """Raise ValueError unless ``ref`` is None (the remote's default branch) or a valid ref name or SHA."""
    if ref is None:
        return None
    check_text(param, ref)
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
    check_text(param, subdir)
    path = PurePosixPath(subdir)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(
            f"{param}={subdir!r} is not valid; give a path relative to the repository root that stays "
            "inside it, such as 'apps/web'."
        )
    return str(path)


def parse_s3_url(url: str, param: str = "source_url", need_key: bool = False) -> tuple[str, str]:
    """Bucket and key (or prefix) of ``s3://bucket/key``.

    :param need_key: refuse a URL without a key (a ZIP source names one object).
    :raises ValueError: naming the parameter when the URL has no bucket (or no key), a port, user
        info, a query or a fragment.
    """
    check_text(param, url)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"{param}={shown(url)} is not an S3 URL (s3://bucket/key).")
    if "@" in parts.netloc or ":" in parts.netloc or parts.query or parts.fragment or "#" in url:
        raise ValueError(
            f"{param}={shown(url)} is not an S3 URL: give s3://bucket/key with no user info, port, query or fragment."
        )
    key = parts.path.lstrip("/")
    if need_key and (not key or key.endswith("/")):
        raise ValueError(
            f"{param}={shown(url)} names no object: a ZIP source is s3://bucket/path/site.zip "
            "(for a folder of files use source_url_type='BUCKET_PREFIX')."
        )
    return parts.netloc, key


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
    """A required, clean string (see :func:`check_text`); ``what`` says what to give instead."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{param}={shown(value)} is not valid; {what}.")
    check_text(param, value)
    return value


def check_directory_or_missing(path: str | None, param: str) -> None:
    """An output directory may be missing (it is created) but must not be a file, and must be creatable."""
    import os

    if not path:
        return
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(
            f"{param}={str(path)!r} is not a directory (a file has that name); give a directory, "
            "which is created if missing."
        )
    existing = next((p for p in (target.absolute(), *target.absolute().parents) if p.exists()), None)
    if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK)):
        what = (
            "is not writable"
            if existing == target.absolute()
            else f"cannot be created: {str(existing)!r} is not a writable directory"
        )
        raise ValueError(
            f"{param}={str(path)!r} {what} for this worker's user; give a directory it can write to."
        )


# --- showing values in messages -----------------------------------------------------------------

_SECRET_QUERY_KEYS = re.compile(
    r"(?i)([?&](?:token|signature|x-amz-signature|x-amz-security-token|x-amz-credential|sig|access_token)=)[^&#\s]*"
)


def redact(value: str) -> str:
    """``value`` with URL user info and secret query values (a webhook's token, a signature) as ``***``."""
    if "://" in value:
        value = re.sub(r"(://)[^/@\s]*@", r"\1***@", value)
    return _SECRET_QUERY_KEYS.sub(r"\1***", value)


def shown(value: Any, limit: int = 300) -> str:
    """How a message shows a value: its ``repr``, secrets redacted, long text cut."""
    if isinstance(value, str):
        text = redact(value)
        if len(text) > limit:
            return f"{text[:limit]!r}... ({len(value)} characters)"
        return repr(text)
    return repr(value)


# --- connections, regions, environments -----------------------------------------------------------

_CONN_ID = re.compile(r"[A-Za-z0-9_.-]{1,250}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_connection_id(param: str, value: Any, required: bool = False) -> str | None:
    """An Airflow connection id (letters, digits, ``_``, ``.``, ``-``); a URL in its place is refused unseen."""
    if isinstance(value, str) and ("://" in value or "token=" in value):
        raise ValueError(
            f"{param} holds a URL (not shown: it may carry a secret), not a connection id; put the URL in "
            "an Airflow connection (its password field for a webhook) and give that connection's id."
        )
    if check_text(param, value, required=required) is None:
        return None
    if not _CONN_ID.fullmatch(value):
        raise ValueError(
            f"{param}={shown(value)} is not an Airflow connection id: use letters, digits, '_', '.' and '-'."
        )
    return value


def check_region(param: str, value: Any) -> str | None:
    """An AWS region name such as ``eu-west-1``, or None (the connection's)."""
    if check_text(param, value, required=False) is None:
        return None
    if not _REGION.fullmatch(value):
        raise ValueError(f"{param}={shown(value)} is not an AWS region name (for example 'eu-west-1').")
    return value


def check_branch_environment_variables(param: str, env: Any) -> None:
    """Branch environment variables as Amplify takes them: names it allows, string values."""
    if env is None:
        return
    from collections.abc import Mapping

    if not isinstance(env, Mapping):
        raise ValueError(f"{param} must be a mapping of names to strings; got {type(env).__name__}.")
    for key, value in env.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{param}: the name {shown(key)} is not a non-empty string.")
        if not _ENV_NAME.fullmatch(key) or len(key) > 255:
            raise ValueError(
                f"{param}: the name {shown(key)} is not valid; Amplify takes letters, digits and '_' "
                "(not starting with a digit, no spaces or line breaks), at most 255 characters."
            )
        if key.upper().startswith("AWS"):
            raise ValueError(
                f"{param}: the name {key!r} starts with 'AWS', a prefix Amplify reserves for its own variables."
            )
        if not isinstance(value, str):
            raise ValueError(f"{param}[{key!r}] must be a string; got {type(value).__name__}.")
        if len(value) > 5500:
            raise ValueError(f"{param}[{key!r}] is {len(value)} characters long; Amplify allows 5500.")
        if _CONTROL.search(re.sub(r"[\n\t]", "", value)):
            raise ValueError(f"{param}[{key!r}] contains control characters.")


def check_process_environment(param: str, env: Any) -> None:
    """Environment overrides for a child process: names to strings, or None to remove a variable."""
    if env is None:
        return
    from collections.abc import Mapping

    if not isinstance(env, Mapping):
        raise ValueError(
            f"{param} must be a mapping of variable names to strings (or None); got {type(env).__name__}."
        )
    for key, value in env.items():
        if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
            raise ValueError(
                f"{param}: {shown(key)} is not an environment variable name (letters, digits, '_')."
            )
        if value is not None and (not isinstance(value, str) or "\x00" in value):
            raise ValueError(
                f"{param}[{key!r}] must be a string without NUL characters, or None to remove it; "
                f"got {type(value).__name__}."
            )


def check_path(param: str, value: Any, required: bool = True, must: str = "any") -> str | None:
    """A filesystem path (a string or ``os.PathLike``) without surrounding whitespace or control characters.

    :param must: ``any``; ``dir`` (an existing directory); ``dir_or_missing`` (not a file: created
        later); ``file`` (an existing file); ``executable`` (an existing executable file).
    """
    import os

    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if check_text(param, value, required=required) is None:
        return None
    path = Path(value)
    if must == "dir" and not path.is_dir():
        raise ValueError(f"{param}={shown(value)} does not exist or is not a directory.")
    if must == "dir_or_missing":
        check_directory_or_missing(value, param)
    if must == "executable_if_exists":
        if not path.exists():
            return value  # checked where it is run: an engine that needs no CLI never runs it
        must = "executable"
    if must in ("file", "executable") and not path.is_file():
        what = "a directory, not a file" if path.is_dir() else "not an existing file"
        raise ValueError(
            f"{param}={shown(value)} is {what}; give the path of {'an executable' if must == 'executable' else 'a file'}."
        )
    if must == "executable" and not os.access(path, os.X_OK):
        raise ValueError(f"{param}={shown(value)} is not executable (chmod +x it, or give another path).")
    return value


def check_changed_since(param: str, value: Any, anchors: tuple[str, ...], now: Any = None) -> None:
    """A datetime or ISO 8601 string in the past, one of ``anchors``, or None."""
    from datetime import UTC, datetime

    valid = f"a datetime, an ISO 8601 string, one of {', '.join(anchors)}, or None"
    if value is None or value == "":
        return
    if isinstance(value, str):
        check_text(param, value)
        if value in anchors:
            return
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{param}={shown(value)} is not {valid}.") from None
    elif isinstance(value, datetime):
        moment = value
    else:
        raise ValueError(f"{param}={shown(value)} is not {valid}.")
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    if moment > now:
        raise ValueError(
            f"{param}={shown(value)} is in the future (now is {now.isoformat(timespec='seconds')}): no deploy "
            "could have changed the stack after it, so the sensor would wait forever. Give a moment in the past."
        )


# --- the declarative parameter table ------------------------------------------------------------


class Kind:
    """The kind of one operator or sensor parameter: how its value is checked.

    :param what: what a valid value is, for documentation and the kinds test.
    :param check: ``check(param, value)`` raising ValueError naming the parameter and the value.
    :param attribute: the attribute the value lives in, when it is not the parameter's name.
    """

    def __init__(self, what: str, check: Any, attribute: str | None = None):
        self.what = what
        self.check = check
        self.attribute = attribute

    def __repr__(self) -> str:
        return f"Kind({self.what!r})"


def _bool(allow_none: bool):
    def check(param: str, value: Any) -> None:
        if value is None and allow_none:
            return
        if not isinstance(value, bool):
            valid = "True, False or None (leave as is)" if allow_none else "True or False"
            raise ValueError(
                f"{param}={shown(value)} is not valid; use {valid} (a bool: strings such as 'false' are refused)."
            )

    return check


def duration(allow_none: bool = False, allow_zero: bool = False) -> Kind:
    """Seconds (int or float, finite) or a timedelta; positive, or >= 0 with ``allow_zero``."""

    def check(param: str, value: Any) -> None:
        if value is None and not allow_none:
            raise ValueError(f"{param}=None is not valid; give a number of seconds or a timedelta.")
        to_seconds(value, param, allow_zero=allow_zero)

    return Kind(f"duration{' or None' if allow_none else ''}{' (>= 0)' if allow_zero else ''}", check)


def count(minimum: int = 1, allow_none: bool = False) -> Kind:
    """An exact int of at least ``minimum``."""
    return Kind(
        f"integer >= {minimum}{' or None' if allow_none else ''}",
        lambda param, value: to_count(value, param, minimum, allow_none),
    )


def amplify(shape: str, required: bool = True, attribute: str | None = None) -> Kind:
    """A string the Amplify API's model accepts for ``shape`` (pattern, length, enum)."""
    return Kind(
        f"Amplify {shape}{'' if required else ' or None'}",
        lambda param, value: validate_amplify_value(param, value, shape, required),
        attribute,
    )


def enum(*choices: str, allow_none: bool = False) -> Kind:
    """One of ``choices`` exactly."""

    def check(param: str, value: Any) -> None:
        if value is None and allow_none:
            return
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"{param}={shown(value)} is not valid; use one of {', '.join(choices)}.")

    return Kind(f"one of {', '.join(choices)}{' or None' if allow_none else ''}", check)


def text(required: bool = True) -> Kind:
    """A clean string (no surrounding whitespace or control characters, not a rendered "None")."""
    return Kind("text", lambda param, value: check_text(param, value, required=required))


def path(required: bool = True, must: str = "any") -> Kind:
    """A filesystem path; see :func:`check_path`."""
    return Kind(f"path ({must})", lambda param, value: check_path(param, value, required, must))


def connection_id(required: bool = False) -> Kind:
    """An Airflow connection id (None: not given / the default credential chain)."""
    return Kind("connection id", lambda param, value: check_connection_id(param, value, required))


def custom(what: str, check: Any) -> Kind:
    """A kind checked by ``check(param, value)``."""
    return Kind(what, check)


BOOL = Kind("bool", _bool(False))
BOOL_OR_NONE = Kind("bool or None", _bool(True))
REGION = Kind("AWS region or None", check_region)
STACK_NAME = Kind(
    "stack name, ARN or None", lambda param, value: value in (None, "") or validate_stack_name(value, param)
)


def _verify(param: str, value: Any) -> None:
    if value is None or isinstance(value, bool):
        return
    check_path(param, value, must="file")


def _mapping_or_none(param: str, value: Any) -> None:
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{param} must be a dict of botocore settings or None; got {type(value).__name__}.")


#: The parameters every AWS operator and sensor takes (AwsBaseOperator, AwsBaseSensor).
AWS_PARAMETER_KINDS: dict[str, Kind] = {
    "aws_conn_id": connection_id(),
    "region_name": REGION,
    "region": Kind("deprecated alias of region_name", check_region, attribute="region_name"),
    "verify": Kind("bool, CA bundle path or None", _verify),
    "botocore_config": Kind("dict or None", _mapping_or_none),
}


def check_parameters(task: Any, at: str = "execute") -> None:
    """Check every parameter of ``task`` against its class's ``parameter_kinds`` table.

    :param task: an operator or sensor with a ``parameter_kinds`` mapping (name to :class:`Kind`).
    :param at: ``execute`` (every parameter, after templates rendered) or ``init`` (only those no
        template can change: not in ``template_fields``).
    :raises ValueError: the first parameter whose value is not of its kind.
    """
    kinds: dict[str, Kind] = type(task).parameter_kinds
    templated = set(getattr(task, "template_fields", ()) or ())
    for name, kind in kinds.items():
        attribute = kind.attribute or name
        if at == "init" and (name in templated or attribute in templated):
            continue
        kind.check(name, getattr(task, attribute, None))


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
