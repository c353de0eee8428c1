"""The job kinds: fetch, call and shell, each owning its TOML keys, checks, templates, summary lines and runner.

- `registry`: the kinds jobdeck knows, one line each; everything that depends on the kind asks it.
- `spec`: `KindSpec`, the light half of a kind (read and check a `[[job]]` table, fill in each fan-out item,
  say what to show of a spec); `base`: `JobKind`, the half that runs attempts for the engine.
- `<kind>_spec.py` and `<kind>.py`: each built-in kind's two halves, apart so that loading a deck or showing
  a spec never imports httpx, worker processes or Dask. `dask` runs `on = "dask"` calls for `call`.
- `summary`: a job's spec as the detail view's redacted lines and as wire fields.
"""
