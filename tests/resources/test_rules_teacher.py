import pytest

from resources.teacher.rules import GENERATOR_MODEL, JUDGE_MODEL, RulesBackend
from synth_assets.core.requests import GenerationRequest, Message, SamplingParams
from synth_assets.core.verify.judge import JudgeError, parse_judgment
from synth_assets.core.verify.math import check_answer

SOLUTION = "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n"


def ask(n=8, seed=0, **hints):
    return RulesBackend().generate([GenerationRequest((Message("user", "q"),), SamplingParams(n=n, seed=seed), hints)])[0]


def test_code_answers_are_the_reference_or_a_mutant_and_deterministic():
    texts = [c.text for c in ask(kind="solve", domain="code", instruction="clamp", solution=SOLUTION)]
    assert texts == [c.text for c in ask(kind="solve", domain="code", instruction="clamp", solution=SOLUTION)]
    correct = [t for t in texts if SOLUTION.strip() in t]
    assert 0 < len(correct) < len(texts)
    assert all(t.startswith("```python\n") for t in texts)


def test_math_answers_are_right_or_slipped():
    texts = [c.text for c in ask(n=12, kind="solve", domain="math", instruction="q", answer="3/4", solution="It is 3/4.")]
    verdicts = [check_answer(t, "3/4").passed for t in texts]
    assert any(verdicts) and not all(verdicts)


def judge(instruction, response, model=GENERATOR_MODEL, **hints):
    request = GenerationRequest((Message("user", "q"),), SamplingParams(n=1, temperature=0.0),
                                {"kind": "judge_rubric", "instruction": instruction, "response": response, **hints})
    return RulesBackend(model).generate([request])[0][0].text


def test_the_rubric_judge_replies_with_valid_json_and_scores_refusals_low():
    refusal = parse_judgment(judge("Explain tides to a child", "I'm sorry, I can't help."))
    good = parse_judgment(judge("Explain tides to a child",
                                "Tides rise and fall because the moon's gravity pulls on the oceans. " * 4))
    assert refusal.aspects["correctness"] == refusal.aspects["relevance"] == refusal.aspects["completeness"] == 1
    assert refusal.overall < 4 <= 6 <= good.overall
    assert "not a model's judgment" in good.rationale


def test_harder_instructions_score_higher_difficulty():
    short = parse_judgment(judge("Explain tides.", "Tides follow the moon."))
    long = parse_judgment(judge("Explain tides. " + "Also address a common misconception about them. " * 6,
                                "Tides follow the moon."))
    assert short.aspects["difficulty"] < long.aspects["difficulty"]


def test_an_answer_that_restates_the_instruction_scores_lower_than_one_that_answers_it():
    instruction = "Describe how river deltas form over centuries"
    restated = parse_judgment(judge(instruction, f"Here is a short answer. {instruction} The key points are simple."))
    answered = parse_judgment(judge(instruction, "Rivers drop sediment where they meet the sea; over centuries "
                                                 "the deposits build a fan of land, which is how deltas form."))
    assert restated.aspects["correctness"] < answered.aspects["correctness"]
    assert restated.overall < answered.overall


def test_a_few_judge_replies_are_broken_json_and_their_retry_mostly_is_not():
    responses = [f"Answer number {i} about tides and the moon." for i in range(400)]
    broken = [r for r in responses if _fails(judge("Explain tides", r))]
    assert 0 < len(broken) < 0.08 * len(responses)  # JUDGE_MALFORMED_RATE is 3%
    retried = [r for r in broken if _fails(judge("Explain tides", r, attempt="2"))]
    assert len(retried) < len(broken)


def _fails(reply):
    try:
        parse_judgment(reply)
    except JudgeError:
        return True
    return False


def test_the_rules_judge_model_judges_only():
    assert parse_judgment(judge("Explain tides", "The moon pulls the sea.", model=JUDGE_MODEL))
    request = GenerationRequest((Message("user", "q"),), SamplingParams(n=1),
                                {"kind": "solve", "domain": "general", "instruction": "q"})
    with pytest.raises(ValueError, match="only judges"):
        RulesBackend(JUDGE_MODEL).generate([request])
    with pytest.raises(ValueError, match="rules teacher's model must be one of"):
        RulesBackend("rule-based-v9")


def test_it_refuses_free_form_prompts_clearly():
    with pytest.raises(ValueError, match="not a language model"):
        ask(n=1)
