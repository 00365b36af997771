"""Edits of the repo's catalog and manifests: the application functions behind both edges.

Registering a stack, creating a template, enabling an environment… are the same rule
whether a request or a command asks for it: checked against the freshest snapshot,
validated on the future snapshot, written atomically and committed (or proposed as a pull
request) through `catalog_state.RepoState`. The API endpoints and the CLI commands only
translate their input into these calls and the results into their output.
"""
