"""hybridgate: one OpenAI-compatible gateway over in-house and partner AI models.

Library use::

    from hybridgate import Gateway
    async with Gateway.from_config("hybridgate.yaml") as gw:
        reply = await gw.chat({"model": "default", "messages": [{"role": "user", "content": "hi"}]})
"""

from .config import Config, default_config, load_config
from .context import RequestContext
from .errors import (
    AllProvidersFailed,
    AuthenticationFailed,
    BudgetExceeded,
    ConfigError,
    HybridgateError,
    InvalidRequest,
    ModelNotFound,
    NotConfigured,
    PermissionDenied,
    PolicyRefused,
    ProviderError,
    RateLimited,
    ValidationFailed,
)
from .gateway import Gateway

__version__ = "0.1.0"

__all__ = [
    "AllProvidersFailed",
    "AuthenticationFailed",
    "BudgetExceeded",
    "Config",
    "ConfigError",
    "Gateway",
    "HybridgateError",
    "InvalidRequest",
    "ModelNotFound",
    "NotConfigured",
    "PermissionDenied",
    "PolicyRefused",
    "ProviderError",
    "RateLimited",
    "RequestContext",
    "ValidationFailed",
    "__version__",
    "default_config",
    "load_config",
]
