"""Preloaded into the worker processes of jobdeck's local Dask cluster (`LocalCluster(preload=[...])`).

Each worker leaves the terminal's foreground process group, as jobdeck's own process workers do, so that
Ctrl-C (and Ctrl-Z, Ctrl-\\) reaches jobdeck alone: jobdeck then cancels the jobs cooperatively and closes
the cluster. A worker still ends with jobdeck: multiprocessing children notice their parent going.
"""

from __future__ import annotations

import os
from typing import Any


def dask_setup(worker: Any) -> None:
    os.setpgid(0, 0)
