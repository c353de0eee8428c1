"""How numbers read on screen: one spelling for sizes (SI: kB, MB), durations compact in panes, spelled out in
the detail view."""

from __future__ import annotations

from runner.model import Progress
from tui.formatting import (
    format_amount,
    format_bytes,
    format_duration,
    format_eta,
    format_progress,
    format_progress_long,
    format_rate,
    format_seconds,
    one_line,
    result_preview,
    shorten,
    shorten_middle,
)


def test_sizes_are_si_with_at_most_four_significant_characters() -> None:
    assert [format_bytes(value) for value in (512, 1_500, 983_000, 3_000_000, 12_345_678_900)] == [
        "512 B",
        "1.5 kB",
        "983 kB",
        "3.0 MB",
        "12.3 GB",
    ]


def test_the_panes_and_the_detail_view_spell_a_size_the_same_way() -> None:
    progress = Progress(1_500, 983_000, "bytes")
    assert format_progress(progress) == "1.5 kB/983 kB"
    assert format_progress_long(progress, width=10).endswith("0%  1.5 kB of 983 kB")
    assert "KB" not in format_progress_long(progress)


def test_other_units_and_unknown_totals() -> None:
    assert format_amount(12, "items") == "12 items"
    assert format_amount(3, "") == "3"
    assert format_progress_long(Progress(12, None, "items")) == "12 items so far"
    assert format_progress_long(Progress(5, 10, ""), width=4) == "██░░  50%  5 of 10"


def test_durations_compact_in_panes_and_spelled_out_in_the_detail() -> None:
    assert [format_seconds(value) for value in (0, 4.24, 42, 185, 7620)] == ["-", "4.2s", "42s", "3:05", "2h07m"]
    assert [format_duration(value) for value in (0.25, 12.4, 185, 7500)] == ["0.2 s", "12 s", "3m 05s", "2h 05m"]
    assert [format_eta(value) for value in (None, 0, 65)] == ["–", "0s", "1:05"]
    assert format_rate(2.46) == "2.5/s"


def test_names_are_cut_to_their_column_and_deck_names_keep_both_ends() -> None:
    assert [shorten("typecheck", width) for width in (9, 6, 1, 0)] == ["typecheck", "typec…", "…", ""]
    assert shorten_middle("nightly-build#2", 8) == "nigh…d#2"
    assert shorten_middle("nightly-build", 8) != shorten_middle("nightly-build#2", 8)
    assert shorten_middle("short", 8) == "short"


def test_a_result_or_an_output_line_reads_as_one_plain_line() -> None:
    assert one_line("\x1b[1;31mred\x1b[0m\tand\nbold\x07 \x1b]0;a title\x07end") == "red and bold end"
    assert result_preview(None) == ""
    assert result_preview({"lines": 3, "text": "a\nb"}) == "→ {'lines': 3, 'text': 'a\\nb'}"
    assert result_preview(list(range(10**6))) == "→ [0, 1, 2, 3, 4, 5, 6, 7, ...]"
    stored = {"stored_result_file": "/r/x.json", "size_bytes": 7_888_890, "preview": "[0, 1,\n 2"}
    assert result_preview(stored) == "→ 7.9 MB: [0, 1, 2"
