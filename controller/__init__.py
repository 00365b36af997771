"""cloud: a GitOps controller for Pulumi stacks, driven by GitHub Actions."""

__version__ = "0.1.0"
