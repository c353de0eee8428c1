"""A job's result or item becomes JSON one way, in the report, the journal and on the wire."""

from __future__ import annotations

import json
import math

import pytest

from runner.values import json_safe, json_safe_text

CARRIED = [None, True, 3, 2**70, "text", 1.5, [1, "a"], {"a": [None]}]
NOT_CARRIED = [{1, 2}, math.nan, math.inf, object, (lambda: 0)]


@pytest.mark.parametrize("value", CARRIED)
def test_a_value_json_carries_stays_itself(value: object) -> None:
    assert json_safe(value) == value
    assert json.loads(json_safe_text(value)) == value


@pytest.mark.parametrize("value", NOT_CARRIED)
def test_any_other_value_becomes_its_repr(value: object) -> None:
    assert json_safe(value) == repr(value)
    assert json.loads(json_safe_text(value)) == repr(value)
