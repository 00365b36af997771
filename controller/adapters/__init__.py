"""Adapters: each performs one kind of effect (files, git, GitHub, Pulumi, SQLite) behind a
small protocol, so the layers above can be tested with an in-memory fake."""
