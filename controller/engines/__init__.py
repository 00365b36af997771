"""Engines run stacks: the Pulumi Automation API for real, Pulumi's mock runtime for the
explicit simulation. Both sit behind one protocol (see `controller.engines.base`)."""
