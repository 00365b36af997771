"""Engines run stacks: the Pulumi Automation API for real, Pulumi's mock runtime for the
explicit simulation. Both sit behind one protocol (see `controller.engines.base`)."""

# The engines by name (`engines.factory` builds them): here, so that a command can offer
# the choice without importing either engine.
ENGINE_NAMES = ("pulumi", "simulate")
DEFAULT_ENGINE = "pulumi"
