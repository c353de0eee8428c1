"""Job logs: every line a job's attempts write, kept in private files beside the journal.

- `records`: the line format of a log file (each line says its stream, so the combined order is the file's).
- `layout`: where the files are (one folder per deck run, one file per attempt, and its tail segments).
- `attempt_file`: writing one attempt's files, within its size cap and through a full disk (blocking).
- `keeper`: `JobLogs`, what the engine hands its jobs' output to: batched, written on a worker thread,
  removed with the deck; followers wait on it for new lines.
- `reader`: reading an attempt's files, in order (the command line) or a window at a time (the dashboard).
"""
