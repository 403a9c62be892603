"""One exception tree for the whole service.

CheckinError
├── ConfigError            bad or missing environment variable
├── FlowDefinitionError    a flow file that cannot be loaded (file, line, reason)
├── ValidationError        bad input from staff or an integration (becomes a 4xx)
│   ├── NotFound
│   └── Conflict
└── ChannelError           a provider refused or failed a send
    ├── ChannelRateLimited     try again later (429, RetryAfter)
    ├── ChannelForbidden       the recipient blocked us or unsubscribed
    └── ChannelUncertain       we cannot know whether the provider sent it
"""

from __future__ import annotations


class CheckinError(Exception):
    """Base of every error the service raises on purpose."""


class ConfigError(CheckinError):
    """A configuration value is missing or malformed; the message names the variable."""


class FlowDefinitionError(CheckinError):
    """A flow file is invalid. Carries the file and line so staff can fix it."""

    def __init__(self, reason: str, file: str = "<flow>", line: int | None = None) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


class ValidationError(CheckinError):
    """Input that we refuse; ``code`` is stable for API clients."""

    status = 400

    def __init__(self, message: str, code: str = "invalid") -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class NotFound(ValidationError):
    status = 404

    def __init__(self, message: str, code: str = "not_found") -> None:
        super().__init__(message, code)


class Conflict(ValidationError):
    status = 409

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message, code)


class ChannelError(CheckinError):
    """A provider failed a send; ``code`` is the provider's error code if any."""

    def __init__(self, message: str, code: str | None = None, permanent: bool = True) -> None:
        self.code = code
        self.permanent = permanent
        super().__init__(message)


class ChannelRateLimited(ChannelError):
    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        super().__init__(message, code="429", permanent=False)


class ChannelForbidden(ChannelError):
    """The recipient blocked the bot or unsubscribed: stop sending on this channel."""


class ChannelUncertain(ChannelError):
    """The request may have reached the provider: never resend blindly."""
