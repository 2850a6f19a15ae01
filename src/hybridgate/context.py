"""Per-request context, passed explicitly through every provider and wrapper call.

It carries who is asking (app), what for (feature, route, data classes) and collects what
happened (one ``Attempt`` per upstream call), so usage records, response headers and the
egress ledger are written from one place without any global state.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Attempt", "RequestContext", "new_request_id"]


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


@dataclass(slots=True)
class Attempt:
    """One call to one provider."""

    provider: str
    model: str | None
    in_house: bool
    started: float = field(default_factory=time.monotonic)
    elapsed_ms: float | None = None
    error: str | None = None  # error code, None on success
    prompt_tokens: int = 0
    completion_tokens: int = 0
    network: bool = True  # False when refused locally (open breaker, policy) before any byte left
    request_sha256: str | None = None  # of the exact bytes sent upstream
    response_sha256: str | None = None  # of the exact bytes received
    bytes_sent: int = 0
    sent_bytes: bytes | None = field(default=None, repr=False)  # kept for ledgers that store raw content
    received_bytes: bytes | None = field(default=None, repr=False)

    def finish(self, error: str | None = None) -> None:
        self.elapsed_ms = (time.monotonic() - self.started) * 1000.0
        self.error = error


@dataclass
class RequestContext:
    request_id: str = field(default_factory=new_request_id)
    app: str = ""
    feature: str = ""
    route: str = ""
    policy_version: str = ""
    data_classes: frozenset[str] = frozenset()
    language: str | None = None  # ISO 639-1 of the request text, when known
    request_bytes: int = 0
    shadow: bool = False  # a mirrored call whose answer nobody waits for
    privacy: Any = None  # the data-control Decision for this request (privacy/policy.py)
    deadline: float | None = None  # time.monotonic() value after which no new attempt starts
    attempt_timeout: float | None = None  # seconds one upstream call may take
    stream_idle_timeout: float | None = None  # seconds a stream may stay silent once it has started
    attempts: list[Attempt] = field(default_factory=list)
    attempt: Attempt | None = None  # set on the per-call copy a guarded provider passes down
    # facts for the egress record of this call (e.g. images sent: SHA-256, metadata removed); the
    # privacy guard sets a fresh dict on its per-call copy, the ledger recorder adds it to ``extra``
    egress_extra: dict[str, Any] | None = None
    # request-level facts every egress record of this request carries (e.g. the prompt template version)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def served_by(self) -> Attempt | None:
        """The attempt whose answer was returned (the last successful one)."""
        for a in reversed(self.attempts):
            if a.error is None and a.elapsed_ms is not None:
                return a
        return None

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def call_budget(self) -> float | None:
        """Seconds the next upstream call may take: the attempt timeout within the deadline."""
        left = self.remaining()
        if self.attempt_timeout is None:
            return left
        return self.attempt_timeout if left is None else min(left, self.attempt_timeout)

    def for_attempt(self, attempt: Attempt) -> RequestContext:
        """A copy for one upstream call (shares the attempts list and the dicts)."""
        new = object.__new__(RequestContext)
        new.__dict__.update(self.__dict__)  # no __slots__ here: copying the dict is the fast way
        new.attempt = attempt
        return new
