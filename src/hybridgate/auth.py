"""Apps are tenants: a bearer key each, and the features and models they may use.

Keys are looked up by their SHA-256 digest and then compared with ``hmac.compare_digest``,
so neither the lookup nor the comparison leaks how much of a guessed key was right.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from dataclasses import dataclass

from .config import AppConfig
from .errors import AuthenticationFailed, PermissionDenied

__all__ = ["App", "AppRegistry"]


@dataclass(frozen=True, slots=True)
class App:
    name: str
    features: frozenset[str]
    models: tuple[str, ...]
    admin: bool = False

    def check_feature(self, feature: str) -> None:
        if "*" not in self.features and feature not in self.features:
            raise PermissionDenied(f"app {self.name!r} may not use the {feature!r} feature", code="feature_not_allowed")

    def allows_model(self, model: str) -> bool:
        return any(p == "*" or fnmatch.fnmatchcase(model, p) for p in self.models)

    def check_model(self, model: str) -> None:
        if not self.allows_model(model):
            raise PermissionDenied(f"app {self.name!r} may not use model {model!r}", code="model_not_allowed")


class AppRegistry:
    def __init__(self, apps: dict[str, AppConfig]) -> None:
        self._by_digest: dict[bytes, tuple[bytes, App]] = {}
        for name, cfg in apps.items():
            key = cfg.key.get_secret_value().encode()
            app = App(name, frozenset(cfg.features), tuple(cfg.models), cfg.admin)
            self._by_digest[hashlib.sha256(key).digest()] = (key, app)
        self.names = tuple(apps)

    def authenticate(self, authorization: str | None) -> App:
        """``authorization`` is the raw header value ("Bearer KEY") or the bare key."""
        if not authorization:
            raise AuthenticationFailed("missing API key: send 'Authorization: Bearer <app key>'", code="missing_api_key")
        scheme, _, token = authorization.partition(" ")
        presented = (token if scheme.lower() == "bearer" else authorization).strip().encode()
        entry = self._by_digest.get(hashlib.sha256(presented).digest())
        if entry is None or not hmac.compare_digest(entry[0], presented):
            raise AuthenticationFailed("invalid API key")
        return entry[1]
