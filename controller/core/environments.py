"""One deployment in one environment: its enabled stacks, their config, their edges.

This is the unit everything downstream works on: validation checks it, the graph layers
it, the planner fingerprints it and the engines run it. Each dependency edge carries why it
exists (the stack definition, the manifest, or a placeholder in a config value) and where
that was written, so plans and errors can say so. A purely computational module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from controller.core.catalog import Catalog, Deployment, template_file
from controller.core.configs import ConfigLayer, ResolvedValue, resolve_config
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
    file: str | None = None
    line: int | None = None
    placeholder: Placeholder | None = None
    config_key: str | None = None


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
    """Resolve a deployment in one environment: enabled instances and every wanted edge."""
    declared = deployment_stacks(deployment, catalog)
    instances: dict[str, Instance] = {}
    for name in declared:
        if not deployment.manifest.stack_enabled(name, environment):
            continue
        definition = catalog.stacks[name]
        layers = config_layers(deployment, catalog, name, environment)
        instances[name] = Instance(
            name, definition, tuple(layers), resolve_config(definition, layers)
        )
    edges: list[Edge] = []
    for instance in instances.values():
        edges.extend(_edges_of(instance, deployment, catalog))
    return EnvironmentView(deployment, environment, instances, tuple(edges), tuple(declared))


def _edges_of(instance: Instance, deployment: Deployment, catalog: Catalog) -> list[Edge]:
    name = instance.stack
    source = catalog.stack_source(name)
    edges = [
        Edge(
            upstream,
            name,
            "definition",
            f"{name} depends on {upstream} (stack definition)",
            file=source.file if source else None,
            line=source.line_of("dependencies", index) if source else None,
        )
        for index, upstream in enumerate(instance.definition.dependencies)
    ]
    entry = deployment.manifest.stacks.get(name)
    if entry is not None:
        edges += [
            Edge(
                upstream,
                name,
                "manifest",
                f"{name} depends on {upstream} (manifest)",
                file=deployment.file,
                line=deployment.line_of("stacks", name, "dependencies", index),
            )
            for index, upstream in enumerate(entry.dependencies)
        ]
    for key, resolved in instance.config.items():
        for placeholder in find_placeholders(resolved.value):
            file, line = value_location(resolved, key, deployment, catalog, placeholder.path)
            edges.append(
                Edge(
                    placeholder.stack,
                    name,
                    "placeholder",
                    f"config {key} of {name} reads {placeholder.stack}.{placeholder.output}",
                    file=file,
                    line=line,
                    placeholder=placeholder,
                    config_key=key,
                )
            )
    return edges


def value_location(
    resolved: ResolvedValue,
    key: str,
    deployment: Deployment,
    catalog: Catalog,
    inner: tuple[str | int, ...] = (),
) -> tuple[str | None, int | None]:
    """File and line where a resolved config value was written."""
    layer = resolved.layer
    if layer is None:
        return None, None
    loaded = deployment.loaded if layer.file == deployment.file else catalog.sources.get(layer.file)
    if loaded is None:
        return layer.file, None
    return layer.file, loaded.line_of(*layer.path, key, *inner)
