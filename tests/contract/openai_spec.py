"""Validate JSON against a schema of the published OpenAI spec (extracted into specs/)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SPEC = Path(__file__).parent / "specs" / "openai-schemas.json"


@cache
def _registry() -> tuple[dict, Registry]:
    doc = json.loads(SPEC.read_text())
    resource = Resource.from_contents(doc, default_specification=__import__("referencing").jsonschema.DRAFT202012)
    return doc, Registry().with_resource("urn:openai", resource)


def validate(name: str, instance: object) -> None:
    """Raise jsonschema.ValidationError unless ``instance`` is a valid ``name``."""
    doc, registry = _registry()
    schema = {"$ref": f"urn:openai#/components/schemas/{name}"}
    Draft202012Validator(schema, registry=registry).validate(instance)
