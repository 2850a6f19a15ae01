"""Routing: which providers serve a request, in what order, and what happens when they fail."""

from .breaker import BreakerOpen, CircuitBreaker
from .fallback import call_route, stream_route
from .guard import GuardedProvider, LatencyTracker
from .policy import Candidate, Route, VendorShares, build_routes, required_capabilities
from .retry import with_retries

__all__ = ["BreakerOpen", "Candidate", "CircuitBreaker", "GuardedProvider", "LatencyTracker", "Route",
           "VendorShares", "build_routes", "call_route", "required_capabilities", "stream_route", "with_retries"]
