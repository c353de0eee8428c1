"""Benchmark: how much of a big file a download that is paused, or whose server is killed, fetches twice.

A 200 MB file (random bytes, generated in a temporary folder) is served on 127.0.0.1 by the demo server in a
process of its own (`python -m runner.demo.server --files DIR`: Range, If-Range, ETag; runner.demo.files), paced
to about `--rate` MB/s so that there is time to act mid-way; the server counts every body byte it hands to a
connection. A jobdeck server process of its own (journal on) downloads it with `sha256` set, twice:

- paused once 40% has arrived, for `--pause` seconds (longer than the 2 s a resumable download keeps its
  connection while paused), then resumed with `jobdeck resume`;
- its jobdeck server killed with SIGKILL once 40% has arrived, and a new one started on the same journal,
  which restores the job and continues it.

Each prints the bytes the web server sent over the file's size, the requests it got (the second should be a
Range from where the first stopped) and the wall time. Target: both below 1.05x.

    .venv/bin/python bench/bench_resume.py [--size-mb 200] [--rate 40] [--pause 4] [--verbose]

Linux only (the jobdeck server is killed by pid).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import anyio
from _common import PYTHON, log

from runner.server.client import Client
from runner.server.server import socket_answers

TARGET_RATIO = 1.05
CUT_AT = 0.4
"""The share of the file received when the download is paused or its server killed."""
CHUNK = 256 * 1024


def make_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path`; their sha256."""
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for index in range(0, size, len(block)):
            piece = block[: min(len(block), size - index)]
            piece = index.to_bytes(8, "little") + piece[8:] if len(piece) > 8 else piece  # no two blocks alike
            out.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def start_web(files: Path, folder: Path) -> tuple[subprocess.Popen[str], str]:
    web = subprocess.Popen(
        [PYTHON, "-m", "runner.demo.server", "--files", str(files)],
        stdout=subprocess.PIPE,
        stderr=open(folder / "web.log", "ab"),  # noqa: SIM115 - closed with the folder
        text=True,
    )
    assert web.stdout is not None
    return web, web.stdout.readline().strip()


def sent(url: str, name: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/sent/{name}") as answer:
        return json.loads(answer.read())


class JobdeckServer:
    """A jobdeck server process on its own socket and journal in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "jobdeck.sock"
        self.env = {**os.environ, "JOBDECK_SOCKET": str(self.socket), "JOBDECK_DB": str(folder / "journal.db")}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "runner.server.server", "--socket", str(self.socket), "--db", self.env["JOBDECK_DB"]],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "server.log", "ab"),  # noqa: SIM115 - closed with the folder
        )
        while not socket_answers(self.socket):
            if self.process.poll() is not None:
                raise RuntimeError(f"the jobdeck server ended: see {self.folder / 'server.log'}")
            time.sleep(0.05)

    def ask(self, op: str, **args: Any) -> Any:
        async def request() -> Any:
            async with await Client.connect(self.socket) as client:
                return await client.request(op, **args)

        return anyio.run(request)

    def jobdeck(self, *words: str) -> None:
        subprocess.run([PYTHON, "-m", "runner.cli", *words], env=self.env, check=True, stdout=subprocess.DEVNULL)

    def job(self, name: str) -> dict[str, Any] | None:
        snapshot = self.ask("snapshot", since=0)
        return next((job for job in snapshot["jobs"] if job["name"] == name), None)

    def wait_for_share(self, name: str, size: int, share: float) -> None:
        while True:
            job = self.job(name)
            if job is not None and job["progress"] and job["progress"]["done"] >= share * size:
                return
            if job is not None and job["state"] in ("failed", "cancelled"):
                raise RuntimeError(f"{name} {job['state']}: {job['error']}")
            time.sleep(0.05)

    def wait_succeeded(self, name: str) -> dict[str, Any]:
        while True:
            job = self.job(name)
            if job is not None and job["state"] == "succeeded":
                return job
            if job is not None and job["state"] in ("failed", "cancelled"):
                raise RuntimeError(f"{name} {job['state']}: {job['error']}")
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.socket.unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop the server; one that does not answer (a failed run) is terminated, never left behind."""
        if self.process is not None and self.process.poll() is None:
            try:
                self.ask("stop")
            except OSError:
                self.process.terminate()
            self.process.wait(timeout=30)


def write_deck(folder: Path, name: str, url: str, digest: str) -> Path:
    deck = folder / f"{name}.toml"
    deck.write_text(
        f'[deck]\nname = "{name}"\nout_dir = "out"\n\n[[job]]\nname = "big"\nfetch = "{url}"\n'
        f'save = "{name}.bin"\nsha256 = "{digest}"\n'
    )
    return deck


def paused_run(server: JobdeckServer, deck: Path, size: int, pause_s: float, verbose: bool) -> None:
    server.ask("load", path=str(deck), environ=dict(os.environ))
    server.wait_for_share("big", size, CUT_AT)
    server.jobdeck("pause", "paused/big")
    log(f"paused at {server.job('big')['progress']['done']:,} bytes", verbose=verbose)
    time.sleep(pause_s)
    server.jobdeck("resume", "paused/big")
    server.wait_succeeded("big")


def killed_run(server: JobdeckServer, deck: Path, size: int, verbose: bool) -> None:
    server.ask("load", path=str(deck), environ=dict(os.environ))
    server.wait_for_share("big", size, CUT_AT)
    server.ask("status")  # the journal has what the server answered about
    server.kill()
    log(f"killed; partial file {(deck.parent / 'out' / '.killed.bin.part').stat().st_size:,} bytes", verbose=verbose)
    server.start()
    server.wait_succeeded("big")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rate", type=float, default=40.0, help="MB/s the web server paces the file to")
    parser.add_argument("--pause", type=float, default=4.0, help="seconds the download stays paused")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    size = args.size_mb * 1_000_000
    delay = CHUNK / (args.rate * 1_000_000)
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as temp:
        folder = Path(temp)
        files = folder / "files"
        files.mkdir()
        digest = make_file(files / "big.bin", size)
        os.link(files / "big.bin", files / "big2.bin")  # the same file under a second name, counted apart
        web, base = start_web(files, folder)
        try:
            for name, served in (("paused", "big.bin"), ("killed", "big2.bin")):
                server = JobdeckServer(folder / name)
                server.folder.mkdir()
                server.start()
                deck = write_deck(server.folder, name, f"{base}/files/{served}?chunk={CHUNK}&delay={delay:.4f}", digest)
                started = time.perf_counter()
                try:
                    if name == "paused":
                        paused_run(server, deck, size, args.pause, args.verbose)
                    else:
                        killed_run(server, deck, size, args.verbose)
                finally:
                    server.stop()
                seconds = time.perf_counter() - started
                log_of = sent(base, served)
                ratio = log_of["bytes"] / size
                requests = ", ".join(f"{r['status']} {r['range'] or 'whole'}" for r in log_of["requests"])
                verdict = "PASS" if ratio < TARGET_RATIO else "FAIL"
                failed |= verdict == "FAIL"
                print(
                    f"resume ({name}): sent {log_of['bytes']:,} bytes for a {size:,}-byte file | ratio {ratio:.4f} "
                    f"(target < {TARGET_RATIO}) {verdict} | requests: {requests} | {seconds:.1f} s",
                    flush=True,
                )
        finally:
            web.terminate()
            web.wait(timeout=10)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
