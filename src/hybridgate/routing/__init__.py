"""Routing: which providers serve a request, in what order, and what happens when they fail."""

from .breaker import BreakerOpen, CircuitBreaker
from .fallback import call_route, stream_route
from .guard import GuardedProvider, LatencyTracker
from .policy import Candidate, Route, VendorShares, build_routes, required_capabilities
from .retry import with_retries
from .shares import MemoryVendorShares, SharesStore, open_shares_store

__all__ = ["BreakerOpen", "Candidate", "CircuitBreaker", "GuardedProvider", "LatencyTracker", "MemoryVendorShares",
           "Route", "SharesStore", "VendorShares", "build_routes", "call_route", "open_shares_store",
           "required_capabilities", "stream_route", "with_retries"]
