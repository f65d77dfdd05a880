"""The ampx error model: what a failed run raises, and the parser of the error block ampx prints."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from airflow.providers.common.compat.sdk import AirflowException


class AmpxError(AirflowException):
    """Base class of everything this module raises."""


class AmpxPreflightError(AmpxError):
    """A preflight check found a problem before ampx ran.

    :param check: the name of the check (``project``, ``node``, ``connection``, ``cdk_bootstrap``,
        ``branch``, ``stack``).
    :param message: what is wrong and what to do about it.
    """

    def __init__(self, check: str, message: str):
        super().__init__(message)
        self.check = check


@dataclass
class AmpxErrorInfo:
    """The error ampx printed at the end of a failed run (after its help text).

    :param name: the error's name, e.g. ``BootstrapNotDetectedError``.
    :param message: the text after ``[name]``.
    :param caused_by: the ``Caused by:`` lines, outermost first.
    :param resolution: the ``Resolution:`` text.
    :param details: the ``Details:`` text.
    """

    name: str
    message: str
    caused_by: list[str] = field(default_factory=list)
    resolution: str | None = None
    details: str | None = None


class AmpxCommandError(AmpxError):
    """ampx (or the dependency install) exited with an error.

    The message names ampx's error and resolution; the full output is in the task log, and the last
    lines are kept on the exception as ``output_tail``.

    :param command: the command line, for display (it never holds a secret).
    :param returncode: the exit code, or None when the run was ended by a timeout or a kill.
    :param info: the parsed ``[ErrorName] message`` block, when ampx printed one.
    :param output_tail: the last lines of the (masked) output.
    :param reason: a summary used when ampx printed no error block.
    """

    def __init__(
        self,
        command: str,
        returncode: int | None,
        info: AmpxErrorInfo | None = None,
        output_tail: Sequence[str] = (),
        reason: str | None = None,
    ):
        self.command = command
        self.returncode = returncode
        self.info = info
        self.output_tail = list(output_tail)
        self.error_name = info.name if info else None
        self.resolution = info.resolution if info else None
        super().__init__(self._message(reason))

    def _message(self, reason: str | None) -> str:
        if self.info is not None:
            text = f"{self.command} failed with [{self.info.name}] {self.info.message}"
            for cause in self.info.caused_by:
                text += f"\n  Caused by: {cause}"
            if self.info.resolution:
                text += f"\n  Resolution: {self.info.resolution}"
            if self.info.details:
                text += f"\n  Details: {self.info.details}"
        else:
            text = f"{self.command} failed: {reason or f'exit code {self.returncode}'}"
            if self.output_tail:
                text += "\n  Last output lines:\n" + "\n".join(
                    f"    {line}" for line in self.output_tail[-10:]
                )
        return text + "\n  The full output is in the task log above."


class AmpxTimeoutError(AmpxCommandError):
    """ampx ran longer than its timeout; its whole process tree was ended."""


# --- the parser -------------------------------------------------------------------------------

_ERROR_LINE = re.compile(r"^\[([A-Za-z][A-Za-z0-9_]*)\] ?(.*)$")
_CAUSED_BY = re.compile(r"^\s*∟ Caused by: (.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (ampx honours NO_COLOR, npm and node may not)."""
    return _ANSI.sub("", text)


def parse_ampx_error(output: str | Iterable[str]) -> AmpxErrorInfo | None:
    """Find the error ampx printed at the end of a failed run.

    ampx prints its help text first, then ``[ErrorName] message``, possibly ``∟ Caused by: [X] ...``
    (nested, indented), ``Resolution: ...`` and ``Details: ...``. The help text and anything before
    the last ``[ErrorName]`` line at the start of a line is dropped.

    :param output: the whole output, as one string or as lines.
    :return: the parsed error, or None when the output holds no ``[ErrorName]`` line.
    """
    lines = [
        strip_ansi(line).rstrip("\r\n")
        for line in (output.splitlines() if isinstance(output, str) else output)
    ]
    start = None
    for index, line in enumerate(lines):
        if _ERROR_LINE.match(line):
            start = index
    if start is None:
        return None
    match = _ERROR_LINE.match(lines[start])
    assert match is not None
    info = AmpxErrorInfo(name=match.group(1), message=match.group(2).strip())
    section = "message"
    for line in lines[start + 1 :]:
        cause = _CAUSED_BY.match(line)
        if cause:
            section = "caused_by"
            info.caused_by.append(cause.group(1).strip())
        elif line.startswith("Resolution:"):
            section = "resolution"
            info.resolution = line.removeprefix("Resolution:").strip()
        elif line.startswith("Details:"):
            section = "details"
            info.details = line.removeprefix("Details:").strip()
        elif not line.strip():
            # a blank line ends the block; what follows (--debug stack traces) stays in the log only
            if section in ("resolution", "details") or info.message:
                break
        elif section == "message":
            info.message = f"{info.message}\n{line.strip()}".strip()
        elif section == "caused_by":
            info.caused_by[-1] += f"\n{line.strip()}"
        elif section == "resolution":
            info.resolution = f"{info.resolution}\n{line.strip()}"
        elif section == "details":
            info.details = f"{info.details}\n{line.strip()}"
    return info
