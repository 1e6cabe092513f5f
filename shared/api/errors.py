"""Domain errors and their HTTP mapping, in one place.

Every 4xx body has the same shape: {"error": <code>, "field": <field or null>, "message": <what to do>}.
A 500 says only that something failed and gives the request id, never internals.
"""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> dict[str, str | None]:
        return {"error": self.code, "field": self.field, "message": self.message}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class Gone(ApiError):
    status, code = 410, "gone"


class Unprocessable(ApiError):
    status, code = 422, "validation_failed"
