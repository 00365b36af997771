"""The `cloud` command line: parses arguments, calls the core and adapters, prints."""

import gc

# The interpreter's collector thresholds, taken when this package loads (before `main`
# raises them for the short commands, whether run as `cloud` or `python -m`): the
# long-lived command, `cloud serve`, puts them back.
INTERPRETER_GC_THRESHOLDS = gc.get_threshold()
