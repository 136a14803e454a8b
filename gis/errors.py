"""The small exception hierarchy of wangge. ``api/errors.py`` maps each class to an HTTP status."""

from __future__ import annotations

from typing import Any


class WanggeError(Exception):
    """Base class: a message safe to show users, a machine code, and optionally the field at fault."""

    code = "error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        allowed: Any = None,
        details: Any = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.allowed = allowed
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.allowed is not None:
            body["allowed"] = self.allowed
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidInput(WanggeError):
    """A value given by the user is not acceptable (bad field, unknown CRS, bad file)."""

    code = "invalid_input"


class NotFound(WanggeError):
    code = "not_found"


class Conflict(WanggeError):
    """The request is valid but not in the resource's current state (an illegal transition)."""

    code = "conflict"


class ImportRejected(WanggeError):
    """An import found rows it cannot write; nothing was written. ``details`` holds the report."""

    code = "import_rejected"


class ClusterError(WanggeError):
    code = "cluster_error"


class Unauthorized(WanggeError):
    """No credentials, or credentials that are wrong, expired or revoked (HTTP 401)."""

    code = "unauthorized"


class Forbidden(WanggeError):
    """Signed in, but the caller's roles do not give the permission a route declares (HTTP 403)."""

    code = "forbidden"


class TooManyAttempts(WanggeError):
    """Too many failed sign-ins for an account or from an address (HTTP 429, ``Retry-After``)."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after_s: int, **kw: Any):
        super().__init__(message, details={"retry_after_s": retry_after_s}, **kw)
        self.retry_after_s = retry_after_s
