"""The errors of the native ``amplify_outputs.json`` engine: the CLI's own errors, by the same names."""

from __future__ import annotations


class AmplifyOutputsError(Exception):
    """A failure ``ampx generate outputs`` also reports; ``error_name`` is the CLI's name for it.

    :param message: what went wrong (the CLI's message).
    :param resolution: what the user can do about it.
    :param detail: the underlying cause, as the CLI prints under ``Caused by``.
    """

    error_name = "AmplifyOutputsError"
    default_resolution = ""

    def __init__(self, message: str, resolution: str | None = None, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.resolution = self.default_resolution if resolution is None else resolution
        self.detail = detail

    def __str__(self) -> str:
        text = f"[{self.error_name}] {self.message}"
        return f"{text} Resolution: {self.resolution}" if self.resolution else text


class StackDoesNotExistError(AmplifyOutputsError):
    """The branch (or named) stack does not exist in the account and region."""

    error_name = "StackDoesNotExistError"
    default_resolution = (
        "Ensure the CloudFormation stack ID or Amplify App ID and branch specified are correct and exists, "
        "then re-run this command."
    )


class DeploymentInProgressError(AmplifyOutputsError):
    """The stack's status ends in ``_IN_PROGRESS``."""

    error_name = "DeploymentInProgressError"
    default_resolution = "Re-run this command once the deployment completes."


class NonAmplifyStackError(AmplifyOutputsError):
    """The stack's template has no Metadata, so it was not created by Amplify."""

    error_name = "NonAmplifyStackError"
    default_resolution = (
        "Ensure the CloudFormation stack ID references a main stack created with Amplify, "
        "then re-run this command."
    )


class AmplifyOutputsNotFoundError(AmplifyOutputsError):
    """The stack has no Outputs."""

    error_name = "AmplifyOutputsNotFoundError"
    default_resolution = (
        "Ensure the CloudFormation stack ID or Amplify App ID and branch specified are correct and exists. "
        "If this is a new sandbox or branch deployment, wait for the deployment to be successfully "
        "finished and try again."
    )


class CredentialsError(AmplifyOutputsError):
    """CloudFormation rejected the credentials (expired or unknown)."""

    error_name = "CredentialsError"
    default_resolution = "Ensure your AWS credentials are correctly set and refreshed."


class AccessDeniedError(AmplifyOutputsError):
    """The credentials may not call cloudformation:GetTemplateSummary."""

    error_name = "AccessDeniedError"
    default_resolution = "Ensure you have permissions to call cloudformation:GetTemplateSummary."


class OutputEntryAlreadyExistsError(AmplifyOutputsError):
    """Two contributions (e.g. custom outputs and an Amplify category) set the same value."""

    error_name = "OutputEntryAlreadyExistsError"
    default_resolution = (
        "Check if 'backend.addOutput' is called multiple times with overlapping inputs or if "
        "'backend.addOutput' is called with values overlapping Amplify managed keys"
    )


class VersionMismatchError(AmplifyOutputsError):
    """Custom outputs carry a ``version`` of another major version."""

    error_name = "VersionMismatchError"
    default_resolution = (
        "Ensure that the version specified in 'backend.addOutput' is consistent and is same as the one "
        "used for generating the client config"
    )


class BackendOutputSchemaError(AmplifyOutputsError):
    """The stack's Metadata or Outputs do not have the shape the CLI's output schemas require."""

    error_name = "BackendOutputSchemaError"


class NativeOutputsUnsupportedError(AmplifyOutputsError):
    """The stack uses something the native engine does not reproduce yet; the CLI can still do it.

    :param feature: the unsupported feature, named for the log.
    """

    error_name = "NativeOutputsUnsupportedError"

    def __init__(self, feature: str, resolution: str | None = None):
        self.feature = feature
        super().__init__(
            f"The native outputs engine does not support {feature} yet.",
            resolution or "Use engine 'ampx' (or 'auto', which falls back to the CLI).",
        )


class InvalidOutputsJsonError(AmplifyOutputsError):
    """A stack output that must hold JSON does not (the CLI stops with a SyntaxError)."""

    error_name = "SyntaxError"
