"""The request's frame: routing, middleware, the envelope, errors, rate limits and the
OpenAPI document."""
