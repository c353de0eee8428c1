"""Job logs on disk: every attempt's whole output in private files, both streams in the order they came, the start
and the end of output past the cap with a line saying what was cut, and a full disk that costs lines, not jobs.

Real shell jobs, thread and process call jobs, run by an engine in this process with its logs in a test folder;
the files are read back as `jobdeck logs` and the dashboard read them (runner.joblogs.reader)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.cli.dashboard import local_engine
from runner.engine.engine import Engine
from runner.joblogs.attempt_file import AttemptFile, Batch
from runner.joblogs.keeper import PENDING_LINES, AttemptLog, JobLogs, limit_bytes
from runner.joblogs.layout import LogPlace, existing_segments, sweep_run_folders
from runner.joblogs.reader import AttemptReader, JobIndex, read_attempt
from runner.joblogs.records import record_line
from runner.model import JobState, OutputLine
from tests.helpers import fill_disk, small_disk, wait_for

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]


async def run_deck(deck: Path, logs_root: Path, environ: dict[str, str] | None = None) -> Engine:
    engine = Engine(environ=environ)
    engine.logs = JobLogs(logs_root)
    async with engine:
        await engine.load(deck)
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    return engine


def log_of(engine: Engine, name: str, attempt: int = 1) -> list[tuple[str, str]]:
    place = engine.log_place(engine.job(name).id)
    assert place is not None
    return [(line.stream, line.text) for line in read_attempt(place, attempt)]


async def test_each_attempt_keeps_both_streams_in_their_order_and_says_which_is_which(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    trigger = tmp_path / "second-time"
    # The pauses keep the two streams' lines apart: lines on both pipes at one moment arrive in either order.
    deck = write_deck(f"""
        [[job]]
        name = "mixed"
        shell = "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three;test -e {trigger} || (touch {trigger}; false)"
        retries = 1
        backoff = 0.01

        [[job]]
        name = "quiet"
        shell = "true"
    """)
    engine = await run_deck(deck, tmp_path / "logs")
    expected = [("stdout", "one"), ("stderr", "two"), ("stdout", "three")]
    assert log_of(engine, "mixed", 1) == expected
    assert log_of(engine, "mixed", 2) == expected, "each attempt has a log of its own"
    assert engine.job("mixed").state is JobState.SUCCEEDED
    quiet = engine.log_place(engine.job("quiet").id)
    assert quiet is not None and not quiet.folder.exists(), "a job that writes nothing has no files"


async def test_what_call_jobs_print_on_threads_and_processes_is_kept_too(write_deck: WriteDeck, tmp_path: Path) -> None:
    (tmp_path / "talk.py").write_text(
        "import sys\ndef talk(word):\n    print(word)\n    print(word.upper(), file=sys.stderr)\n    return word\n"
    )
    deck = write_deck("""
        [[job]]
        name = "thread"
        call = "talk:talk"
        args = ["threaded"]
        on = "thread"

        [[job]]
        name = "process"
        call = "talk:talk"
        args = ["forked"]
    """)
    engine = await run_deck(deck, tmp_path / "logs")
    assert sorted(log_of(engine, "thread")) == [("stderr", "THREADED"), ("stdout", "threaded")]
    assert sorted(log_of(engine, "process")) == [("stderr", "FORKED"), ("stdout", "forked")]


async def test_log_files_are_private_whatever_the_umask(write_deck: WriteDeck, tmp_path: Path) -> None:
    deck = write_deck('[[job]]\nname = "talk"\nshell = "seq 1 30000"\nlog_limit_mb = 0.05\n')
    old = os.umask(0o002)
    try:
        engine = await run_deck(deck, tmp_path / "logs")
    finally:
        os.umask(old)
    place = engine.log_place(engine.job("talk").id)
    assert place is not None
    folders = [tmp_path / "logs", place.folder.parent, place.folder]
    files = list(place.folder.iterdir())
    assert len(files) > 2, "the head and tail segments"
    assert {oct(stat.S_IMODE(folder.stat().st_mode)) for folder in folders} == {"0o700"}
    assert {oct(stat.S_IMODE(file.stat().st_mode)) for file in files} == {"0o600"}


async def test_secrets_are_masked_in_the_files(write_deck: WriteDeck, tmp_path: Path) -> None:
    deck = write_deck('[[job]]\nname = "leak"\nshell = "echo token=${API_TOKEN}; echo ${API_TOKEN} >&2"\n')
    secret = "s3cr3t-value-42"
    engine = await run_deck(deck, tmp_path / "logs", environ={**os.environ, "API_TOKEN": secret})
    assert log_of(engine, "leak") == [("stdout", "token=***"), ("stderr", "***")]
    place = engine.log_place(engine.job("leak").id)
    assert place is not None
    assert secret.encode() not in b"".join(path.read_bytes() for path in place.folder.iterdir())


async def test_past_its_cap_an_attempt_keeps_its_start_and_its_end_and_says_how_much_was_cut(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    deck = write_deck('[[job]]\nname = "loud"\nshell = "seq 1 60000"\nlog_limit_mb = 0.1\n')
    engine = await run_deck(deck, tmp_path / "logs")
    lines = log_of(engine, "loud")
    cuts = [index for index, (stream, _) in enumerate(lines) if stream == "log"]
    assert len(cuts) == 1
    before, marker, after = lines[: cuts[0]], lines[cuts[0]][1], lines[cuts[0] + 1 :]
    assert [text for _, text in before] == [str(n) for n in range(1, len(before) + 1)], "the start, whole"
    assert [text for _, text in after] == [str(n) for n in range(60001 - len(after), 60001)], "the end, whole"
    left_out = 60000 - len(before) - len(after)
    left_bytes = sum(len(str(n)) + 1 for n in range(len(before) + 1, 60001 - len(after)))
    assert marker == f"cut: {left_bytes:,} bytes ({_size(left_bytes)}, {left_out:,} lines) left out"
    place = engine.log_place(engine.job("loud").id)
    assert place is not None
    index = JobIndex(place)  # the dashboard's view of the same files
    index.refresh(1)
    assert [(line.stream, line.text) for line in index.rows(0, len(index))] == lines
    index.close()
    on_disk = sum(path.stat().st_size for path in place.folder.iterdir())
    assert on_disk <= limit_bytes(0.1) * 1.4, "about the cap (plus two bytes a line for the stream)"


def _size(size: int) -> str:
    from runner.stored_results import describe_size

    return describe_size(size)


def test_a_reader_behind_the_writer_reads_a_removed_segment_to_its_end_and_marks_the_gap(tmp_path: Path) -> None:
    place = LogPlace(tmp_path / "job")
    writer = AttemptFile(place, 1, tail_limit=16384)
    records = [record_line("stdout", f"{n:05d}") for n in range(6000)]  # 6 bytes of output each
    writer.write(Batch(head=records[:100], tail=records[100:700], tail_start=(600, 100)))
    reader = AttemptReader(place, 1)
    first = reader.read_new()
    assert [line.text for line in first] == [f"{n:05d}" for n in range(700)]
    reading = existing_segments(place, 1)
    writer.write(Batch(tail=records[700:6000], tail_start=(4200, 700)))
    assert reading[0] not in existing_segments(place, 1), "the segment being read was removed"
    rest = reader.read_new()
    texts = [line.text for line in rest]
    cut = next(index for index, line in enumerate(rest) if line.stream == "log")
    assert texts[:cut] == [f"{n:05d}" for n in range(700, 700 + cut)], "its open segment is read to the end"
    resumed = int(texts[cut + 1])
    assert texts[cut + 1 :] == [f"{n:05d}" for n in range(resumed, 6000)]
    skipped = resumed - 700 - cut
    assert texts[cut] == f"cut: {skipped * 6:,} bytes ({_size(skipped * 6)}, {skipped:,} lines) left out"
    reader.close()
    writer.close()


def test_the_index_reads_windows_and_searches_bytes(tmp_path: Path) -> None:
    place = LogPlace(tmp_path / "job")
    writer = AttemptFile(place, 1, tail_limit=1 << 20)
    lines = [("stderr" if n % 1000 == 7 else "stdout", f"row {n}") for n in range(50000)]
    writer.write(Batch(head=[record_line(stream, text) for stream, text in lines]))
    index = JobIndex(place)
    assert index.refresh(1) == "grown"
    assert len(index) == 50000
    assert index.rows(41234, 41236) == [OutputLine("stdout", "row 41234"), OutputLine("stdout", "row 41235")]
    assert index.search("ROW 4999", lambda text: True) == [4999, *range(49990, 50000)], "case ignored"
    wanted = [n for n in range(50000) if "row 4" in f"row {n}" and n % 100 == 99]
    assert index.search("row 4", lambda text: text.endswith("99")) == wanted, "and the viewer's own test"
    assert index.has_stderr
    assert index.refresh(1) is None, "nothing new"
    writer.write(Batch(head=[record_line("stdout", "late")]))
    assert index.refresh(1) == "grown" and index.rows(50000, 50001) == [OutputLine("stdout", "late")]
    index.close()
    writer.close()


async def test_a_full_disk_costs_lines_not_the_job_and_the_log_says_so(write_deck: WriteDeck, tmp_path: Path) -> None:
    flag = tmp_path / "room"
    padding = "x" * 500  # more than the slack in the file's last page of the tmpfs
    deck = write_deck(f"""
        [[job]]
        name = "chatty"
        shell = "echo before; while [ ! -e {flag} ]; do echo lost line {padding}; sleep 0.01; done; echo after"
    """)
    with small_disk(tmp_path / "disk", "64k") as disk:
        engine = Engine()
        engine.logs = JobLogs(disk / "logs")
        async with engine:
            await engine.load(deck)
            place = engine.log_place(engine.job("chatty").id)
            assert place is not None
            with anyio.fail_after(10):
                while not place.head(1).exists():
                    await anyio.sleep(0.02)
            filler = fill_disk(disk)
            logs, job = engine.logs, engine.job("chatty")
            await wait_for(lambda: logs.unwritten(job), what="lines the full disk refused")
            assert job.state is JobState.RUNNING
            filler.unlink()
            flag.touch()
            with anyio.fail_after(30):
                await engine.wait_until_settled()
        job = engine.job("chatty")
        assert job.state is JobState.SUCCEEDED, job.error
        lines = [(line.stream, line.text) for line in read_attempt(place, 1)]
    notes = [text for stream, text in lines if stream == "log"]
    assert notes, "the log says it is incomplete"
    noted = re.compile(r"incomplete: ([\d,]+) lines? \(.*\) of output could not be written to this log \((.*)\)")
    lost = [noted.fullmatch(note) for note in notes]
    assert all(match and match[2] == "No space left on device" for match in lost), notes
    kept = [record for record in lines if record[0] != "log"]
    assert kept[0] == ("stdout", "before") and kept[-1] == ("stdout", "after")
    assert set(kept[1:-1]) == {("stdout", f"lost line {padding}")}
    noted_lines = sum(int(match[1].replace(",", "")) for match in lost if match)
    assert len(kept) + noted_lines == job.output_total, "every line is in the log or counted in a note"


async def test_the_local_dashboards_engine_keeps_logs_in_a_temporary_folder_gone_when_it_ends(
    write_deck: WriteDeck, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True).stdout.strip()
    abandoned = tmp_path / f"jobdeck-logs-{killed}-x1y2"  # a dashboard of this pid was killed, its folder left
    (abandoned / "run").mkdir(parents=True)
    deck = write_deck('[[job]]\nname = "hello"\nshell = "echo hello"\n')
    engine = local_engine()
    assert engine.logs is not None
    async with engine:
        await engine.load(deck)
        await engine.wait_until_settled()
        place = engine.log_place(engine.job("hello").id)
        assert place is not None
        await wait_for(lambda: place.head(1).exists(), what="the log written")
        assert read_attempt(place, 1) == [OutputLine("stdout", "hello")]
        assert not abandoned.exists(), "what a killed dashboard left is removed by the next"
    assert not engine.logs.root.exists()


def test_lines_waiting_for_a_slow_disk_are_cut_to_the_cap_as_they_come(tmp_path: Path) -> None:
    queued: list[AttemptLog] = []
    attempt = AttemptLog("d/j", LogPlace(tmp_path), 1, limit_bytes(0.05), queued.append)
    for number in range(200_000):  # no flush comes meanwhile
        attempt.add("stdout", f"{number:07d}")
    assert queued == [attempt], "queued for the next flush once"
    assert len(attempt.pending) < PENDING_LINES
    kept = sum(map(len, attempt.head)) + sum(map(len, attempt.tail))
    assert kept <= limit_bytes(0.05) * 1.25, "memory stays within about the cap"
    batch = attempt.take()
    assert batch.head[0] == "1 0000000\n" and batch.tail[-1] == "1 0199999\n"
    assert batch.tail_start == (8 * (200_000 - len(batch.tail)), 200_000 - len(batch.tail))


def test_a_batch_as_large_as_the_cap_is_written_a_chunk_at_a_time(tmp_path: Path) -> None:
    """A flooding job hands the writer its whole cap at once: encoding it whole made three more copies of it."""
    place = LogPlace(tmp_path / "job")
    writer = AttemptFile(place, 1, tail_limit=8 * 1024 * 1024)
    records = [record_line("stdout", f"{n:06d} {'x' * 1000}") for n in range(8000)]
    batch_bytes = sum(map(len, records))
    tracemalloc.start()
    try:
        writer.write(Batch(head=records[:4000], tail=records[4000:], tail_start=(4000 * 1008, 4000)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    writer.close()
    assert peak < batch_bytes / 4, f"{peak:,} bytes at once for a batch of {batch_bytes:,}"
    reader = AttemptReader(place, 1)
    assert [line.text[:6] for line in reader.read_new()] == [f"{n:06d}" for n in range(8000)]
    reader.close()


def test_run_folders_the_journal_no_longer_has_are_swept_once_old(tmp_path: Path) -> None:
    for run in ("kept", "pruned", "young"):
        (tmp_path / run / "job~1").mkdir(parents=True)
    old = os.stat(tmp_path).st_mtime - 7200
    os.utime(tmp_path / "kept", (old, old))
    os.utime(tmp_path / "pruned", (old, old))
    assert sweep_run_folders(tmp_path, {"kept"}) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kept", "young"]
