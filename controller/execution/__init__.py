"""Running operations: preparing plans from a repo and an engine, and executing them over
the dependency graph. Used by the CLI, the GitHub Action's steps and the service alike."""
