"""Limits on the requests to one host:port across every deck of an engine: connections at once, pacing, bandwidth.

`units` reads the values people write (`"10/s"`, `"5MB/s"`), `keys` reads them from a job file's or the config
file's tables, `gate` keeps each host's count, pacing and pauses, `bandwidth` shares bytes per second.
"""
