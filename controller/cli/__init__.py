"""The `cloud` command line: parses arguments, calls the core and adapters, prints."""
