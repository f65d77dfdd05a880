"""The ``amplify_outputs`` schema versions and file formats, and the file each writes."""

from __future__ import annotations

#: Every outputs version ``ampx generate outputs --outputs-version`` writes ("0": the Gen 1 format).
OUTPUTS_VERSIONS = ("0", "1", "1.1", "1.2", "1.3", "1.4", "1.5")
#: The versions the native engine writes (not the Gen 1 ``amplifyconfiguration``).
NATIVE_OUTPUTS_VERSIONS = OUTPUTS_VERSIONS[1:]
DEFAULT_OUTPUTS_VERSION = "1.5"
#: ``ampx generate outputs --format`` values.
OUTPUT_FORMATS = ("json", "json-mobile", "mjs", "ts", "dart")
OUTPUTS_FILE_NAME = "amplify_outputs.json"


def outputs_file_name(
    outputs_version: str = DEFAULT_OUTPUTS_VERSION, outputs_format: str | None = None
) -> str:
    """The file ampx writes: ``amplify_outputs.<ext>`` (``amplifyconfiguration.<ext>`` for version 0).

    :param outputs_version: the schema version.
    :param outputs_format: the file format (None: json).
    """
    base = "amplifyconfiguration" if outputs_version == "0" else "amplify_outputs"
    fmt = outputs_format or "json"
    return f"{base}.{'json' if fmt == 'json-mobile' else fmt}"


def check_outputs_version(outputs_version: str) -> None:
    """Raise ValueError unless ``outputs_version`` is one the native engine writes.

    :param outputs_version: the requested version, e.g. ``"1.4"``.
    """
    if outputs_version not in NATIVE_OUTPUTS_VERSIONS:
        raise ValueError(
            f"outputs_version={outputs_version!r} is not supported; valid: {', '.join(NATIVE_OUTPUTS_VERSIONS)}"
        )
