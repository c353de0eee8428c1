"""The exit status of every `jobdeck` command."""

EXIT_OK = 0
EXIT_JOBS_FAILED = 1
"""Some job did not succeed, or jobdeck was interrupted (or a client command could not reach the server)."""
EXIT_BAD_INPUT = 2
"""A bad job file, or bad usage."""
