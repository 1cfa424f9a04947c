"""Durations on the ops page read at a glance: the two largest units, nothing below a second."""
import pytest

from ops.templatetags.ops_format import seconds_in_words


@pytest.mark.parametrize(
    "seconds, words",
    [(None, "—"), (0, "0 s"), (0.4, "0 s"), (45, "45 s"), (60, "1 min"), (200.2, "3 min 20 s"), (3600, "1 h"),
     (3725, "1 h 2 min"), (90061, "1 d 1 h"), (172800, "2 d"), (-3, "0 s")],
)  # fmt: skip
def test_seconds_in_words(seconds, words):
    assert seconds_in_words(seconds) == words
