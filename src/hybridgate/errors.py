"""The whole hybridgate error hierarchy.

Only these classes carry HTTP meaning (``status``, ``type``, ``code``). Anything else
that escapes a handler is a bug and becomes a 500 ``internal_error`` with the request id.

    HybridgateError                      500 internal_error
    ├── ConfigError                      (CLI exit 2; never reaches HTTP)
    ├── InvalidRequest                   400 invalid_request_error / invalid_request
    │   ├── InvalidJSON                  400 invalid_json
    │   ├── UnsupportedCapability        400 unsupported_capability
    │   └── PayloadTooLarge              413 payload_too_large
    ├── ValidationFailed                 422 validation_error
    ├── AuthenticationFailed             401 invalid_api_key
    ├── PermissionDenied                 403 permission_denied
    │   └── PolicyRefused                403 policy_refused       (data control)
    ├── NotFound                         404 not_found
    │   └── ModelNotFound                404 model_not_found
    ├── RateLimited                      429 rate_limited         (retry_after)
    │   └── BudgetExceeded               429 budget_exceeded
    ├── NotConfigured                    503 not_configured       (says what to set)
    └── ProviderError                    502 provider_error       (an upstream failed)
        ├── ProviderAuthError            502 provider_auth_error
        ├── ProviderRateLimited          429 provider_rate_limited (retry_after)
        ├── ProviderTimeout              504 provider_timeout
        ├── ProviderUnavailable          503 provider_unavailable
        ├── ProviderInvalidRequest       400 provider_invalid_request
        ├── ProviderBadOutput            502 provider_bad_output
        └── AllProvidersFailed           502 all_providers_failed  (last cause attached)

``ProviderError.retryable`` tells retry and fallback wrappers whether another attempt can
succeed: auth failures and invalid requests are final; timeouts, 5xx, 429 and garbled
output are worth another try (possibly elsewhere).
"""

from __future__ import annotations

__all__ = [
    "AllProvidersFailed",
    "AuthenticationFailed",
    "BudgetExceeded",
    "ConfigError",
    "HybridgateError",
    "InvalidJSON",
    "InvalidRequest",
    "ModelNotFound",
    "NotConfigured",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PolicyRefused",
    "ProviderAuthError",
    "ProviderBadOutput",
    "ProviderError",
    "ProviderInvalidRequest",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "UnsupportedCapability",
    "ValidationFailed",
]


class HybridgateError(Exception):
    """Base of every error hybridgate raises on purpose."""

    status: int = 500
    type: str = "server_error"
    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def to_dict(self, request_id: str | None = None) -> dict:
        body = {"type": self.type, "code": self.code, "message": self.message, "request_id": request_id}
        if self.param is not None:
            body["param"] = self.param
        return {"error": body}


class ConfigError(HybridgateError):
    """The configuration file is unreadable or invalid; the message names file and field."""

    code = "config_error"


class InvalidRequest(HybridgateError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class InvalidJSON(InvalidRequest):
    code = "invalid_json"


class UnsupportedCapability(InvalidRequest):
    code = "unsupported_capability"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "payload_too_large"


class ValidationFailed(HybridgateError):
    status = 422
    type = "invalid_request_error"
    code = "validation_error"


class AuthenticationFailed(HybridgateError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(HybridgateError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class PolicyRefused(PermissionDenied):
    code = "policy_refused"


class NotFound(HybridgateError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class RateLimited(HybridgateError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class BudgetExceeded(RateLimited):
    code = "budget_exceeded"


class NotConfigured(HybridgateError):
    status = 503
    type = "server_error"
    code = "not_configured"


class ProviderError(HybridgateError):
    """An upstream provider failed. ``provider`` names it; ``retryable`` guides wrappers."""

    status = 502
    type = "provider_error"
    code = "provider_error"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        upstream_status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.provider = provider
        self.upstream_status = upstream_status


class ProviderAuthError(ProviderError):
    code = "provider_auth_error"
    retryable = False


class ProviderRateLimited(ProviderError):
    status = 429
    type = "rate_limit_error"
    code = "provider_rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    status = 504
    code = "provider_timeout"


class ProviderUnavailable(ProviderError):
    status = 503
    code = "provider_unavailable"


class ProviderInvalidRequest(ProviderError):
    status = 400
    type = "invalid_request_error"
    code = "provider_invalid_request"
    retryable = False


class ProviderBadOutput(ProviderError):
    code = "provider_bad_output"


class AllProvidersFailed(ProviderError):
    code = "all_providers_failed"

    def __init__(self, message: str, *, errors: list[ProviderError]) -> None:
        last = errors[-1] if errors else None
        super().__init__(message, provider=getattr(last, "provider", ""))
        self.errors = errors
        # The client sees the most telling status: causes that agree keep their own.
        if last is not None and len({e.status for e in errors}) == 1:
            self.status = last.status
            self.retry_after = getattr(last, "retry_after", None)
