"""The Amplify emulator's errors, as the real service names them (the wire shape is in responses.py)."""

from __future__ import annotations


class AmplifyError(Exception):
    """An error the emulator answers with, as the real service does (HTTP status + error type)."""

    status = 400
    error_type = "BadRequestException"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequestException(AmplifyError):
    status = 400
    error_type = "BadRequestException"


class NotFoundException(AmplifyError):
    status = 404
    error_type = "NotFoundException"


class LimitExceededException(AmplifyError):
    status = 429
    error_type = "LimitExceededException"
