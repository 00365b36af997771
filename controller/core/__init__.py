"""The pure core: plain data in, plain data out; no I/O, no clock, no network.

Everything here can be called from the CLI, the GitHub Action and the service alike, and
tested with values alone. Adapters fetch the inputs and perform the effects.
"""
