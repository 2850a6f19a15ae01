"""Routing: which providers serve a request, in what order, and what happens when they fail."""

from .fallback import call_with_fallback, stream_with_fallback
from .policy import Candidate, Route, build_routes, required_capabilities

__all__ = ["Candidate", "Route", "build_routes", "call_with_fallback", "required_capabilities",
           "stream_with_fallback"]
