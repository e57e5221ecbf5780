"""Merging the two servers' reports into one result, and the value codec, on literal inputs."""

from __future__ import annotations

import collections
import decimal
import fractions
import json
import math
import signal

import pytest

from resources.sandbox import Outcome, SandboxLimits
from resources.sandbox._runtime import wire
from resources.sandbox._verdict import EXIT_RUNTIME_MEMORY, decide

LIMITS = SandboxLimits(cpu_seconds=2, wall_seconds=5)
NONCE = "a" * 32


def runner(*events: dict, **fields) -> dict:
    return {"events": "".join(json.dumps(e) + "\n" for e in events), "exit": 0, "signal": None,
            "killed": None, "cpu": 0.01, "out_tail": "", "leftovers": [], **fields}


def candidate(events: str = "", **fields) -> dict:
    return {"events": events, "exit": 0, "signal": None, "killed": None, "cpu": 0.01, "out_tail": "",
            "leftovers": [], **fields}


def verdict(outcome: str, message: str = "", nonce: str = NONCE, ran: int = 2, total: int = 2) -> dict:
    return {"verdict": {"outcome": outcome, "message": message, "tests_run": ran, "tests_total": total},
            "nonce": nonce}


def test_a_verdict_with_the_nonce_passes() -> None:
    result = decide(runner({"total": 2, "ran": 2}, verdict("passed")), candidate(), NONCE, LIMITS, 0.1)
    assert result.passed and (result.tests_run, result.tests_total) == (2, 2)


def test_a_verdict_without_the_right_nonce_is_ignored() -> None:
    result = decide(runner(verdict("passed", nonce="b" * 32)), candidate(), NONCE, LIMITS, 0.1)
    assert result.outcome is Outcome.CRASH
    assert "without a verdict" in result.message


def test_refusals_on_the_candidate_side_beat_a_pass() -> None:
    result = decide(runner(verdict("passed")), candidate("network\tsocket family 2\n"), NONCE, LIMITS, 0.1)
    assert result.outcome is Outcome.FORBIDDEN
    assert result.message == "network: socket family 2"


def test_unknown_event_lines_mean_tampering() -> None:
    result = decide(runner(verdict("passed")), candidate('{"verdict": "passed"}\n'), NONCE, LIMITS, 0.1)
    assert result.outcome is Outcome.FORBIDDEN
    assert "event channel" in result.message


def test_processes_left_behind_beat_a_pass_but_not_a_timeout() -> None:
    left = candidate(leftovers=["12 (python)"])
    assert decide(runner(verdict("passed")), left, NONCE, LIMITS, 0.1).outcome is Outcome.FORBIDDEN
    timed_out = candidate(leftovers=["12 (python)"], killed="wall", signal=signal.SIGKILL)
    result = decide(runner({"total": 2, "ran": 1}, killed="wall", signal=signal.SIGKILL), timed_out, NONCE, LIMITS, 5.0)
    assert result.outcome is Outcome.TIMEOUT
    assert (result.tests_run, result.tests_total) == (1, 2)


def test_output_cap() -> None:
    result = decide(runner(verdict("lost")), candidate(killed="output", signal=signal.SIGKILL), NONCE, LIMITS, 0.1)
    assert result.outcome is Outcome.FORBIDDEN and "output limit" in result.message


@pytest.mark.parametrize(
    "fields,outcome,text",
    [
        ({"signal": signal.SIGXCPU, "cpu": 2.0}, Outcome.TIMEOUT, "CPU time"),
        ({"signal": signal.SIGKILL, "cpu": 3.0}, Outcome.TIMEOUT, "CPU time"),
        ({"signal": signal.SIGSEGV}, Outcome.CRASH, "SIGSEGV"),
        ({"signal": signal.SIGXFSZ}, Outcome.FORBIDDEN, "file size"),
        ({"exit": EXIT_RUNTIME_MEMORY}, Outcome.MEMORY, "memory"),
        ({"exit": 0}, Outcome.CRASH, "exited with status 0"),
    ],
)
def test_a_lost_candidate_is_classified_by_how_it_ended(fields: dict, outcome: Outcome, text: str) -> None:
    lost = runner(verdict("lost", "candidate process ended during line 1: assert f() == 1"))
    result = decide(lost, candidate(**fields), NONCE, LIMITS, 0.1)
    assert result.outcome is outcome
    assert text in result.message


def test_failure_verdicts_pass_through() -> None:
    result = decide(runner(verdict("test_failure", "line 2: assert add(1, 2) == 3", ran=1)), candidate(), NONCE, LIMITS, 0.1)
    assert result.outcome is Outcome.TEST_FAILURE
    assert result.message == "line 2: assert add(1, 2) == 3"
    assert result.tests_run == 1


def test_an_unknown_outcome_is_a_crash() -> None:
    result = decide(runner(verdict("excellent")), candidate(), NONCE, LIMITS, 0.1)
    assert result.outcome is Outcome.CRASH


def test_a_server_error_is_a_crash() -> None:
    result = decide(runner(verdict("passed")), {"id": 1, "error": "Traceback...\nOSError: boom"}, NONCE, LIMITS, 0.1)
    assert result.outcome is Outcome.CRASH and "OSError: boom" in result.message


def test_long_messages_are_truncated() -> None:
    result = decide(runner(verdict("test_failure", "x" * 5000)), candidate(), NONCE, LIMITS, 0.1)
    assert len(result.message) <= 300


# --- the codec ----------------------------------------------------------------------------------


def _roundtrip(value):
    def fallback(v, depth):
        raise TypeError(type(v).__name__)

    encoded = json.loads(json.dumps(wire.Encoder(fallback).enc(value)))
    return wire.Decoder({}).dec(encoded)


@pytest.mark.parametrize(
    "value",
    [
        None, True, 3, -(2 ** 100), 1.5, float("inf"), "text\udc80", b"\x00\xff", bytearray(b"ab"), 2j,
        [1, [2, (3,)]], (1, "a"), {1: "a", (2, 3): [4]}, {1, 2}, frozenset({3}), range(1, 9, 2),
        slice(1, None, 2), fractions.Fraction(1, 3), decimal.Decimal("1.10"),
        collections.Counter("aab"), collections.OrderedDict(a=1), collections.deque([1, 2], maxlen=3),
    ],
    ids=repr,
)
def test_plain_values_roundtrip(value) -> None:
    back = _roundtrip(value)
    assert back == value and type(back) is type(value)


def test_nan_roundtrips() -> None:
    assert math.isnan(_roundtrip(float("nan")))


def test_subclasses_travel_as_their_base_value() -> None:
    class Int(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    enc = wire.Encoder(lambda v, d: enc.subclass(v, d))
    decoded = wire.Decoder({}).dec(json.loads(json.dumps(enc.enc([Int(0)]))))
    assert decoded == [0] and type(decoded[0]) is int
    assert decoded[0] != 3


@pytest.mark.parametrize(
    "bad",
    [["Z", 1], ["L"], ["L", 5], ["S", [["L", []]]], ["I", "zz"], ["B", "***"], ["Fl", "1.0"],
     ["NA", "|O", [1], "AAAAAAAAAAA="], ["R", 0], {"a": 1}, []],
    ids=repr,
)
def test_the_decoder_refuses_anything_else(bad) -> None:
    with pytest.raises(wire.ProtocolError):
        wire.Decoder({}).dec(bad)


def test_the_decoder_refuses_deep_nesting() -> None:
    deep = 1
    for _ in range(wire.MAX_DEPTH + 5):
        deep = ["L", [deep]]
    with pytest.raises(wire.ProtocolError):
        wire.Decoder({}).dec(deep)


def test_control_json_round_trips_and_refuses_anything_but_one_value() -> None:
    from resources.sandbox._runtime import control

    value = {"ids": [1, 2], "text": "é\n\"x\"", "nested": [[], {}, None, True, 1.5, -(2**70)]}
    assert control.loads(control.dumps(value).encode()) == value
    assert control.dumps({"a": [1, "b"]}) == '{"a":[1,"b"]}'
    for bad in (b"", b"{", b'{"a": 1} x', b"\xff", b" 1"):
        with pytest.raises(ValueError):
            control.loads(bad)
    with pytest.raises(TypeError):
        control.dumps({"a": object()})
