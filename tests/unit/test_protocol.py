import pytest

from core.protocol import Failure, Message, Progress, Result, parse_line, to_line


@pytest.mark.parametrize("event", [Progress("extract", 3, 10), Result("/tmp/ü m.npz"), Failure("bad", "bad_input"),
                                   Message("cuda fallback", "warning")])
def test_round_trip(event):
    assert parse_line(to_line(event)) == event


@pytest.mark.parametrize("line", ["", "   ", "garbage", "[1,2]", '{"unknown": 1}', '{"stage": "x", "done": "a"}',
                                  "INFO: Created TensorFlow Lite XNNPACK delegate"])
def test_garbage_is_ignored(line):
    assert parse_line(line) is None


def test_contract_examples():
    assert parse_line('{"stage": "extract", "done": 120, "total": 900}') == Progress("extract", 120, 900)
    assert parse_line('{"result": "path/to/motion.npz"}') == Result("path/to/motion.npz")
    assert parse_line('{"error": "x", "kind": "no_person"}') == Failure("x", "no_person")
    assert Progress("a", 5, 0).fraction == 0.0 and Progress("a", 5, 10).fraction == 0.5
