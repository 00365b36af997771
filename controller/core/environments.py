"""One deployment in one environment: its enabled stacks, their config, their edges.

This is the unit everything downstream works on: validation checks it, the graph layers
it, the planner fingerprints it and the engines run it. Each dependency edge carries why it
exists (the stack definition, the manifest, or a placeholder in a config value) and where
that was written, so plans and errors can say so. A purely computational module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from controller.core.catalog import Catalog, Deployment, template_file
from controller.core.configs import ConfigLayer, ResolvedValue, resolve_config, stack_defaults
from controller.core.documents import Loaded
from controller.core.models import StackDefinition
from controller.core.placeholders import Placeholder, find_placeholders

EdgeKind = Literal["definition", "manifest", "placeholder"]


@dataclass(frozen=True)
class Edge:
    """`upstream` must be deployed before `downstream`."""

    upstream: str
    downstream: str
    kind: EdgeKind
    reason: str
    source: Loaded | None = field(default=None, compare=False, repr=False)
    path: tuple[str | int, ...] = ()
    placeholder: Placeholder | None = None
    config_key: str | None = None

    @property
    def file(self) -> str | None:
        return self.source.file if self.source else None

    @property
    def line(self) -> int | None:
        """Looked up only when asked: most edges never need their line."""
        return self.source.line_of(*self.path) if self.source else None


@dataclass(frozen=True)
class Instance:
    """A stack of a deployment in an environment, with its resolved configuration."""

    stack: str
    definition: StackDefinition
    layers: tuple[ConfigLayer, ...]
    config: dict[str, ResolvedValue]


@dataclass(frozen=True)
class EnvironmentView:
    deployment: Deployment
    environment: str
    instances: dict[str, Instance]
    edges: tuple[Edge, ...]
    declared_stacks: tuple[str, ...] = field(default=())
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def deployment_id(self) -> str:
        return self.deployment.deployment_id

    def internal_edges(self) -> list[Edge]:
        """Edges whose both ends are enabled here (the ones the graph is built from)."""
        return [
            edge
            for edge in self.edges
            if edge.upstream in self.instances and edge.downstream in self.instances
        ]


def deployment_stacks(deployment: Deployment, catalog: Catalog) -> list[str]:
    """The stacks a deployment declares: its template's, then any extra the manifest adds."""
    template = catalog.templates.get(deployment.manifest.template)
    names = list(template.stacks) if template else []
    names += [name for name in deployment.manifest.stacks if name not in names]
    return [name for name in dict.fromkeys(names) if name in catalog.stacks]


def config_layers(
    deployment: Deployment, catalog: Catalog, stack: str, environment: str
) -> list[ConfigLayer]:
    manifest = deployment.manifest
    layers: list[ConfigLayer] = []
    template = catalog.templates.get(manifest.template)
    if template is not None and stack in template.default_config:
        layers.append(
            ConfigLayer(
                f"template {template.name}",
                template_file(manifest.template),
                ("defaultConfig", stack),
                template.default_config[stack],
            )
        )
    entry = manifest.stacks.get(stack)
    if entry is not None:
        if entry.config:
            layers.append(
                ConfigLayer("manifest", deployment.file, ("stacks", stack, "config"), entry.config)
            )
        override = entry.environments.get(environment)
        if override is not None and override.config:
            layers.append(
                ConfigLayer(
                    f"manifest ({environment})",
                    deployment.file,
                    ("stacks", stack, "environments", environment, "config"),
                    override.config,
                )
            )
    return layers


def environment_view(deployment: Deployment, catalog: Catalog, environment: str) -> EnvironmentView:
    """Resolve a deployment in one environment: enabled instances and every wanted edge.

    Memoized on the deployment, per catalog object: the result depends on nothing else.
    """
    cached = deployment.views.get(environment)
    if cached is not None and cached[0] is catalog:
        return cached[1]  # type: ignore[return-value]
    view = _resolve_view(deployment, catalog, environment)
    deployment.views[environment] = (catalog, view)
    return view


def _resolve_view(deployment: Deployment, catalog: Catalog, environment: str) -> EnvironmentView:
    declared = deployment_stacks(deployment, catalog)
    instances: dict[str, Instance] = {}
    for name in declared:
        if not deployment.manifest.stack_enabled(name, environment):
            continue
        definition = catalog.stacks[name]
        layers = config_layers(deployment, catalog, name, environment)
        defaults = _memo(catalog, ("defaults", name), stack_defaults, definition)
        instances[name] = Instance(
            name, definition, tuple(layers), resolve_config(definition, layers, defaults=defaults)
        )
    edges: list[Edge] = []
    for instance in instances.values():
        edges.extend(_edges_of(instance, deployment, catalog))
    return EnvironmentView(deployment, environment, instances, tuple(edges), tuple(declared))


def _edges_of(instance: Instance, deployment: Deployment, catalog: Catalog) -> list[Edge]:
    """The instance's edges: the catalog's (shared by every deployment of the template)
    unless the manifest overrides the key they come from, plus the manifest's own."""
    name = instance.stack
    shared = _memo(
        catalog,
        ("edges", deployment.manifest.template, name),
        _catalog_edges,
        catalog,
        deployment.manifest.template,
        name,
    )
    entry = deployment.manifest.stacks.get(name)
    if entry is None:
        return [edge for _, edge in shared]
    own = [
        Edge(
            upstream,
            name,
            "manifest",
            f"{name} depends on {upstream} (manifest)",
            source=deployment.loaded,
            path=("stacks", name, "dependencies", index),
        )
        for index, upstream in enumerate(entry.dependencies)
    ]
    overridden: set[str] = set()
    for layer in instance.layers:
        if layer.file == deployment.file:
            overridden.update(layer.values)
    for key in sorted(overridden):
        resolved = instance.config[key]
        layer = resolved.layer
        own += [
            _placeholder_edge(
                name, key, placeholder, deployment.loaded, (*layer.path, key) if layer else ()
            )
            for placeholder in find_placeholders(resolved.value)
        ]
    return [edge for key, edge in shared if key not in overridden] + own


def _catalog_edges(catalog: Catalog, template_name: str, stack: str) -> list[tuple[str, Edge]]:
    """(config key or "", edge) from the stack definition and the template's defaults."""
    definition = catalog.stacks[stack]
    stack_source = catalog.stack_source(stack)
    edges: list[tuple[str, Edge]] = [
        (
            "",
            Edge(
                upstream,
                stack,
                "definition",
                f"{stack} depends on {upstream} (stack definition)",
                source=stack_source,
                path=("dependencies", index),
            ),
        )
        for index, upstream in enumerate(definition.dependencies)
    ]
    template = catalog.templates.get(template_name)
    template_values = template.default_config.get(stack, {}) if template else {}
    for key, spec in sorted(definition.configuration.items()):
        if key in template_values or not spec.has_default:
            continue
        edges += [
            (
                key,
                _placeholder_edge(
                    stack, key, placeholder, stack_source, ("configuration", key, "default")
                ),
            )
            for placeholder in find_placeholders(spec.default)
        ]
    template_source = catalog.template_source(template_name)
    for key, value in sorted(template_values.items()):
        edges += [
            (
                key,
                _placeholder_edge(
                    stack, key, placeholder, template_source, ("defaultConfig", stack, key)
                ),
            )
            for placeholder in find_placeholders(value)
        ]
    return edges


def _placeholder_edge(
    stack: str,
    key: str,
    placeholder: Placeholder,
    source: Loaded | None,
    path: tuple[str | int, ...],
) -> Edge:
    return Edge(
        placeholder.stack,
        stack,
        "placeholder",
        f"config {key} of {stack} reads {placeholder.stack}.{placeholder.output}",
        source=source,
        path=(*path, *placeholder.path),
        placeholder=placeholder,
        config_key=key,
    )


def _memo(catalog: Catalog, key: object, compute: Any, *args: Any) -> Any:
    if key not in catalog.memo:
        catalog.memo[key] = compute(*args)
    return catalog.memo[key]
