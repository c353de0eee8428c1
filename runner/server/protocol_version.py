"""The protocol's version number, alone in a module that imports nothing: the completion helper (`jobdeck
__complete`) says hello with it, and must answer a shell's Tab within about 100 ms."""

PROTOCOL_VERSION = 6
"""3: a deck's status (DeckStatus) says when its work started and ended, for the deck objects of `status`.
4: `add` and `control` (jobs added and steered from the shell); wait, names (for shell completion), a deck's
   ETA in its status, and the status's jobs filtered by state; logs (where a job's log files are); `subscribe`
   makes a connection a push stream of updates (runner.server.feeds).
5: a job's `status` (what a shell job's JOBDECK_STATUS line says); a deck's halt and its hooks in its status;
   updates and snapshots say which decks halted, and when decks with `notify = true` finished.
6: a feed's update carries a job's `spec` only when the reader does not have it yet (or it changed); a job
   view without one keeps the spec it had."""
