"""Creative tools: captions, rewrites, hashtags, reply suggestions and thread summaries —
structured (pydantic-validated), moderated and produced from versioned prompt templates.

Modules: ``schemas`` (request and output models, hashtag rules), ``templates`` (prompt files and
versions), ``generate`` (prompt, validation, repair, moderation, regeneration), ``streaming``
(``stream: true``), ``feature`` (``CreativeFeature``, route choice), ``http`` (``POST /v1/create``).
"""

from __future__ import annotations

from .feature import NOT_CONFIGURED, CreativeFeature, CreativeOptions
from .schemas import TASKS, CreateRequest

__all__ = ["NOT_CONFIGURED", "TASKS", "CreateRequest", "CreativeFeature", "CreativeOptions"]
