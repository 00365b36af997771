"""The service: a Starlette app giving the REST API of the source documents (seeds/000,
001 and 002) over the same core and adapters the CLI uses.

Deployments, stacks and templates live in Git: the API reads them from a cached snapshot
and turns every change into a validated commit (or pull request). Users, sessions, API
keys and the audit log live in the store. `app.create_app` builds it; `routes` lists its
endpoints and `access` what each requires.
"""
