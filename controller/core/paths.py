"""Where the catalog's files live, and which files a path names.

`stacks/<name>/stack.yaml`, `stacks/templates/<name>.yaml`,
`deployments/<deploymentId>-<organization>-<project>/manifest.yaml`. Kept apart from the
models so the adapters that only list and hash files start without pydantic.
A purely computational module.
"""

from __future__ import annotations

STACKS_DIR = "stacks"
TEMPLATES_DIR = "stacks/templates"
DEPLOYMENTS_DIR = "deployments"
STACK_FILE = "stack.yaml"
MANIFEST_FILE = "manifest.yaml"


def stack_file(name: str) -> str:
    return f"{STACKS_DIR}/{name}/{STACK_FILE}"


def template_file(name: str) -> str:
    return f"{TEMPLATES_DIR}/{name}.yaml"


def manifest_file(directory_name: str) -> str:
    return f"{DEPLOYMENTS_DIR}/{directory_name}/{MANIFEST_FILE}"


def classify(path: str) -> tuple[str, str] | None:
    """(kind, name) for a file the catalog reads, None for any other file.

    kind is "stack", "template" or "manifest"; name is the stack type, the template name
    or the deployment's directory name.
    """
    parts = tuple(part for part in path.split("/") if part not in ("", "."))
    if parts == (STACKS_DIR, "templates", STACK_FILE):
        return "stack", "templates"  # a stack definition where templates live: refused
    if len(parts) == 3 and parts[:2] == ("stacks", "templates") and parts[2].endswith(".yaml"):
        return "template", parts[2][: -len(".yaml")]
    if len(parts) == 3 and parts[0] == STACKS_DIR and parts[2] == STACK_FILE:
        return "stack", parts[1]
    if len(parts) == 3 and parts[0] == DEPLOYMENTS_DIR and parts[2] == MANIFEST_FILE:
        return "manifest", parts[1]
    return None


def is_catalog_path(path: str) -> bool:
    """Whether a file is read by the catalog (the repo adapter reads exactly these)."""
    return classify(path) is not None


def is_manifest(path: str) -> bool:
    """`deployments/<folder>/manifest.yaml` (a fast `classify(path)[0] == "manifest"`)."""
    return (
        path.startswith(f"{DEPLOYMENTS_DIR}/")
        and path.endswith(f"/{MANIFEST_FILE}")
        and path.count("/") == 2
    )
