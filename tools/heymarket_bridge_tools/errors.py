"""The `heymarket-bridge` command's one error style: a line naming what to fix, a non-zero exit, no traceback.

`explain(error)` turns what a command can meet (its own `CliError`, a missing file, a refused connection, AWS
without a region, credentials or stack) into that line; anything else is an unexpected error, shown with its type
and the advice to run again with `--debug`, which prints the traceback. Nothing here imports boto3: an exception
is recognised by its class name and module, so that the fast paths of the command stay fast.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Final

EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2  # as click's usage errors
EXIT_INTERRUPTED: Final = 130  # as a shell reports Ctrl-C


class CliError(Exception):
    """A failure the user can fix; its message says what to do. `exit_code` 2 for a wrong or missing input."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class Explanation:
    message: str
    exit_code: int
    expected: bool  # False: a bug or a case not foreseen (the message suggests --debug)


def explain(error: BaseException) -> Explanation:
    """The one-line message and exit code for an error a command raised."""
    if isinstance(error, CliError):
        return Explanation(error.message, error.exit_code, True)
    if isinstance(error, KeyboardInterrupt):
        return Explanation("interrupted", EXIT_INTERRUPTED, True)
    aws = _aws_error(error)
    if aws is not None:
        return Explanation(aws, EXIT_FAILURE, True)
    if isinstance(error, OSError):
        return Explanation(_os_error(error), EXIT_FAILURE, True)
    detail = str(error) or "no detail"
    return Explanation(
        f"unexpected error ({type(error).__name__}: {detail}); run again with --debug to see where",
        EXIT_FAILURE,
        False,
    )


def _os_error(error: OSError) -> str:
    reason = error.strerror or str(error)
    if error.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
        return f"connection refused: {reason}; is the stack running and is the URL right?"
    if error.filename is not None:
        return f"{error.filename}: {reason}"
    return reason


def _aws_error(error: BaseException) -> str | None:
    """botocore's errors, recognised without importing botocore."""
    names = {cls.__name__ for cls in type(error).__mro__ if cls.__module__.startswith("botocore")}
    if not names:
        return None
    if "NoRegionError" in names:
        return (
            "no AWS region: pass --region, or set AWS_DEFAULT_REGION (or AWS_REGION, or a region in your AWS profile)"
        )
    if "NoCredentialsError" in names or "PartialCredentialsError" in names:
        return "no AWS credentials: run `aws configure`, set AWS_PROFILE, or export AWS_ACCESS_KEY_ID/..."
    if "ProfileNotFound" in names:
        return f"{error}: check AWS_PROFILE and ~/.aws/config"
    if "EndpointConnectionError" in names or "ConnectTimeoutError" in names or "ReadTimeoutError" in names:
        return f"cannot reach AWS: {error}; check the region and your network"
    if "ClientError" in names:
        return _client_error(error)
    return f"AWS error: {error}"


def _client_error(error: BaseException) -> str:
    """A botocore ClientError: the service's error code and message, and what to do about refused credentials."""
    response = getattr(error, "response", {}) or {}
    details = response.get("Error", {}) if isinstance(response, dict) else {}
    code = str(details.get("Code") or "error")
    message = str(details.get("Message") or error)
    operation = getattr(error, "operation_name", "a call")
    if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"):
        return f"AWS refused your credentials ({code}): refresh them (e.g. `aws sso login`)"
    if code in ("AccessDenied", "AccessDeniedException"):
        return f"AWS denied {operation}: {message}"
    return f"AWS refused {operation} ({code}): {message}"
