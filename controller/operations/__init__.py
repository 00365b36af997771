"""Operations: planning a deploy or destroy for the API, recording it, running it.

Below the service and above the engines: the recorder writes an operation's events to the
store and wakes the subscribers; the dispatchers run operations on the local executor or
on GitHub Actions; the intake turns GitHub's webhooks and the runners' callbacks into the
same events. Nothing here knows about HTTP.
"""
