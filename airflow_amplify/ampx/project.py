"""ampx facts without AWS: what makes a directory a Gen 2 project, its lock file, Node versions, stack names."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

#: The files that make a directory an Amplify Gen 2 project (ampx looks for the first that exists).
BACKEND_ENTRY_FILES = ("backend.ts", "backend.js", "backend.mjs", "backend.cjs")
#: Lock files in order of preference, with the install command each implies.
LOCKFILE_INSTALL_COMMANDS: dict[str, list[str]] = {
    "package-lock.json": ["npm", "ci"],
    "npm-shrinkwrap.json": ["npm", "ci"],
    "pnpm-lock.yaml": ["pnpm", "install", "--frozen-lockfile"],
    "yarn.lock": ["yarn", "install", "--frozen-lockfile"],
}
#: Where the hook records which lock file ``node_modules`` was installed from.
LOCK_HASH_MARKER = ".airflow-amplify-lock-hash"
SUPPORTED_NODE_RANGE = "^18.19 || ^20.6 || >=22"
STACK_NAME_LENGTH_LIMIT = 128
_AMPLIFY_PREFIX = "amplify"
_BRANCH_TYPE = "branch"
_HASH_LENGTH = 10
_NUM_DASHES = 4
_NAME_MAX_LENGTH = 50
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def _sanitize(value: str) -> str:
    return _NOT_ALNUM.sub("", value)


def amplify_branch_stack_name(app_id: str, branch_name: str) -> str:
    """Return the name of the root stack ``ampx pipeline-deploy --app-id A --branch B`` deploys.

    A port of ``BackendIdentifierConversions.toStackName`` of ``@aws-amplify/platform-core`` (as
    shipped with ``@aws-amplify/backend-cli`` 1.10.0), for a backend of type ``branch``:
    ``amplify-<namespace>-<name>-branch-<hash>`` where ``name`` is the branch with every character
    outside ``[A-Za-z0-9]`` dropped, cut to 50; ``namespace`` the app id sanitized the same way and
    cut so the whole name stays below 128 characters; ``hash`` the first 10 hex digits of
    SHA-512 over the raw (UTF-8) app id followed by the raw branch name.

    :param app_id: the Amplify app id (the CLI's namespace), e.g. ``d1abcdefgh1234``.
    :param branch_name: the branch name as Amplify knows it, e.g. ``feature/data``.
    """
    digest = hashlib.sha512((app_id + branch_name).encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    name = _sanitize(branch_name)[:_NAME_MAX_LENGTH]
    namespace_max = (
        STACK_NAME_LENGTH_LIMIT
        - len(_AMPLIFY_PREFIX)
        - len(_BRANCH_TYPE)
        - len(name)
        - _NUM_DASHES
        - _HASH_LENGTH
    )
    namespace = _sanitize(app_id)[: namespace_max - 1]
    return "-".join((_AMPLIFY_PREFIX, namespace, name, _BRANCH_TYPE, digest))


def parse_node_version(text: str) -> tuple[int, int, int] | None:
    """Parse ``v20.11.1`` (``node --version``) into a tuple, or None."""
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def node_version_supported(version: tuple[int, int, int]) -> bool:
    """Whether ampx supports this Node version: ``^18.19 || ^20.6 || >=22``."""
    major, minor, _ = version
    return (major == 18 and minor >= 19) or (major == 20 and minor >= 6) or major >= 22


def find_backend_entry(project_dir: str | os.PathLike[str]) -> Path | None:
    """The project's ``amplify/backend.(ts|js|mjs|cjs)``, or None."""
    for name in BACKEND_ENTRY_FILES:
        candidate = Path(project_dir, "amplify", name)
        if candidate.is_file():
            return candidate
    return None


def find_lockfile(project_dir: str | os.PathLike[str]) -> Path | None:
    """The project's lock file (``package-lock.json``, ``npm-shrinkwrap.json``, ``pnpm-lock.yaml``, ``yarn.lock``)."""
    for name in LOCKFILE_INSTALL_COMMANDS:
        candidate = Path(project_dir, name)
        if candidate.is_file():
            return candidate
    return None


def lockfile_hash(lockfile: str | os.PathLike[str]) -> str:
    """The SHA-256 of a lock file's bytes."""
    return hashlib.sha256(Path(lockfile).read_bytes()).hexdigest()
