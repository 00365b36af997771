"""The service: a Starlette app giving the REST and WebSocket API of the source documents
over the same core, adapters and engines the CLI uses."""
