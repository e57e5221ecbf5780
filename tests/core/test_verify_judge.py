"""The rubric judge: its schema, parsing and validation, the one retry, and what a verdict records."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from synth_assets.core.requests import Completion, GenerationRequest
from synth_assets.core.templates import load_template
from synth_assets.core.verify.judge import (
    ASPECTS,
    JUDGE_SCHEMA,
    JudgeError,
    Judgment,
    judge_request,
    parse_judgment,
    retry_request,
    self_preference_warning,
)
from synth_assets.core.verify.run import VerificationConfig, verify_candidates

VALID = {"rationale": "fine", "correctness": 5, "relevance": 4, "coherence": 5, "completeness": 3, "difficulty": 2}


def test_the_schema_asks_for_every_aspect_as_an_integer_from_1_to_5_and_nothing_else() -> None:
    assert JUDGE_SCHEMA["required"] == ["rationale", *ASPECTS]
    assert JUDGE_SCHEMA["additionalProperties"] is False  # OpenAI's strict mode needs it
    for aspect in ASPECTS:
        assert JUDGE_SCHEMA["properties"][aspect] == {"type": "integer", "minimum": 1, "maximum": 5}


def test_the_template_states_a_rubric_for_every_aspect() -> None:
    text = load_template("judge_rubric").text
    for aspect in ASPECTS:
        assert f"\n{aspect}:" in text and "5 " in text.split(f"\n{aspect}:", 1)[1].split("\n")[1]


def test_the_request_carries_the_schema_greedy_with_the_rubric_filled_in() -> None:
    request = judge_request("Explain tides.", "The moon pulls the sea.")
    assert json.loads(request.sampling.json_schema) == JUDGE_SCHEMA
    assert request.sampling.temperature == 0.0
    assert "Explain tides." in request.prompt_text and "The moon pulls the sea." in request.prompt_text
    assert request.hints["kind"] == "judge_rubric"


def test_a_valid_reply_parses_and_the_overall_is_the_mean_on_1_to_10() -> None:
    judgment = parse_judgment(json.dumps(VALID))
    assert dict(judgment.aspects) == {a: VALID[a] for a in ASPECTS}
    assert judgment.rationale == "fine"
    assert judgment.overall == pytest.approx(1 + (19 / 5 - 1) * 9 / 4)  # mean 3.8
    assert Judgment(dict.fromkeys(ASPECTS, 1)).overall == 1.0
    assert Judgment(dict.fromkeys(ASPECTS, 5)).overall == 10.0
    assert json.loads(judgment.aspects_json()) == {a: VALID[a] for a in ASPECTS}
    assert list(json.loads(judgment.aspects_json())) == list(ASPECTS)


def test_a_fenced_reply_with_whole_floats_and_extra_keys_still_parses() -> None:
    reply = "```json\n" + json.dumps({**VALID, "correctness": 4.0, "overall": 9}) + "\n```"
    assert parse_judgment(reply).aspects["correctness"] == 4


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("Score: 7", "not JSON"),
        ('{"correctness": 5, "relevance"', "not JSON"),
        ("[1, 2, 3, 4, 5]", "expected a JSON object, got list"),
        (json.dumps({k: v for k, v in VALID.items() if k != "coherence"}), "missing aspect 'coherence'"),
        (json.dumps({**VALID, "relevance": 0}), "relevance must be in 1-5, got 0"),
        (json.dumps({**VALID, "difficulty": 6}), "difficulty must be in 1-5, got 6"),
        (json.dumps({**VALID, "completeness": 3.5}), "completeness must be a whole number, got 3.5"),
        (json.dumps({**VALID, "correctness": "5"}), "correctness must be a whole number, got '5'"),
        (json.dumps({**VALID, "correctness": True}), "correctness must be a whole number, got True"),
    ],
)
def test_a_reply_that_does_not_validate_says_why(reply: str, message: str) -> None:
    with pytest.raises(JudgeError, match=message.replace("[", r"\[")):
        parse_judgment(reply)


def test_the_retry_shows_the_judge_its_reply_and_the_error_and_is_a_new_prompt() -> None:
    first = judge_request("Explain tides.", "The moon.")
    retry = retry_request(first, "Score: 7", "not JSON")
    assert [m.role for m in retry.messages] == ["user", "assistant", "user"]
    assert retry.messages[1].content == "Score: 7" and "not JSON" in retry.messages[2].content
    assert retry.sampling == first.sampling and retry.hints["attempt"] == "2"
    assert retry.cache_key("judge:m", 0) != first.cache_key("judge:m", 0)


def test_self_preference_is_named_only_when_the_judge_wrote_what_it_judges() -> None:
    assert self_preference_warning("vllm:judge", {"vllm:writer", "rules:rule-based-v1"}) == ""
    warning = self_preference_warning("vllm:writer", {"vllm:writer"})
    assert "self-preference" in warning and "vllm:writer" in warning and "JUDGE_MODEL" in warning


# --- through verification ----------------------------------------------------------------------


def general(cid: str, task: str, index: int, response: str) -> dict:
    return {"id": cid, "parent_id": task, "domain": "general", "instruction": f"Explain {task}.",
            "response": response, "finish_reason": "stop", "sample_index": index, "teacher": "answer:m"}


class ScriptedJudge:
    """Replies by response text: `first` on the first attempt, `retry` on the retry."""

    def __init__(self, first: dict[str, str], retry: dict[str, str]):
        self.first, self.retry = first, retry
        self.calls: list[list[GenerationRequest]] = []

    def __call__(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.calls.append(list(requests))
        replies = [(self.retry if r.hints.get("attempt") == "2" else self.first)[r.hints["response"]] for r in requests]
        return [[Completion(text, "stop", 5, 5)] for text in replies]


def test_an_unparseable_judgment_is_retried_once_then_rejected_with_its_raw_text_never_scored() -> None:
    good = json.dumps({**VALID, **dict.fromkeys(ASPECTS, 4)})
    judge = ScriptedJudge(first={"A": good, "B": "Score: 9", "C": "I think it is fine."},
                          retry={"B": good, "C": '{"correctness": 5'})
    rows = [general("a", "tides", 0, "A"), general("b", "yeast", 0, "B"), general("c", "gears", 0, "C")]

    outcome = verify_candidates(rows, lambda jobs: [], judge, VerificationConfig(), judge_model="openai:judge")

    assert [len(call) for call in judge.calls] == [3, 2]  # one batch, then one retry batch of the two failures
    kept = {r["id"]: r for r in outcome.kept}
    assert set(kept) == {"a", "b"}
    assert kept["b"]["judge_score"] == kept["a"]["judge_score"] == Judgment(dict.fromkeys(ASPECTS, 4)).overall
    assert json.loads(kept["b"]["judge_aspects"]) == dict.fromkeys(ASPECTS, 4)
    (rejected,) = outcome.rejected
    assert rejected["reason"] == "judge_unparseable"
    assert rejected["score"] is None and rejected["judge_score"] is None and rejected["judge_aspects"] is None
    assert '{"correctness": 5' in rejected["detail"] and "I think it is fine." in rejected["detail"]
    assert all(r["judge_model"] == "openai:judge" for r in [*outcome.kept, *outcome.rejected])


def test_a_low_score_is_rejected_with_its_aspects_and_unjudged_rows_name_no_judge() -> None:
    low = json.dumps({**VALID, **dict.fromkeys(ASPECTS, 2)})
    judge = ScriptedJudge(first={"meh": low}, retry={})
    rows = [general("g", "tides", 0, "meh"),
            {"id": "m", "parent_id": "sum", "domain": "math", "instruction": "1+1?", "response": "Answer: 2",
             "reference_answer": "2", "finish_reason": "stop", "sample_index": 0}]

    outcome = verify_candidates(rows, lambda jobs: [], judge, VerificationConfig(), judge_model="openai:judge")

    (low_row,) = [r for r in outcome.rejected if r["id"] == "g"]
    assert low_row["reason"] == "low_judge_score" and low_row["score"] == low_row["judge_score"] == 3.25
    assert json.loads(low_row["judge_aspects"]) == dict.fromkeys(ASPECTS, 2)
    (math_row,) = outcome.kept
    assert math_row["judge_model"] is None and math_row["judge_aspects"] is None
