"""JSON Schemas of the file formats, generated from the models (never hand-edited).

Editors and `check-jsonschema` can validate stack, template and manifest files with them;
a test regenerates them and fails when the committed copies in `schemas/` are stale.
A purely computational module.
"""

from __future__ import annotations

import json
from typing import Any

from controller.core.models import DOCUMENT_MODELS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
TITLES = {
    "stack": "Stack definition (stacks/<name>/stack.yaml)",
    "template": "Deployment template (stacks/templates/<name>.yaml)",
    "manifest": "Deployment manifest v3.1 (deployments/<id>-<org>-<project>/manifest.yaml)",
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """`{file name: schema}` for every document kind."""
    schemas = {}
    for kind, model in DOCUMENT_MODELS.items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schemas[f"{kind}.schema.json"] = {
            "$schema": SCHEMA_DIALECT,
            "$id": f"https://cloud-controller.dev/schemas/{kind}.schema.json",
            **schema,
            "title": TITLES[kind],
        }
    return schemas


def render_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
