import pytest

from resources.teacher.rules import RulesBackend
from synth_assets.core.requests import GenerationRequest, Message, SamplingParams
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


def test_judge_scores_refusals_low():
    refusal = ask(n=1, kind="judge_score", instruction="Explain tides", response="I'm sorry, I can't help.")[0].text
    good = ask(n=1, kind="judge_score", instruction="Explain tides",
               response="Tides are caused by the moon's gravity pulling on the oceans " * 3)[0].text
    assert refusal.endswith("Score: 1")
    assert int(good.rsplit(":", 1)[1]) >= 6


def test_it_refuses_free_form_prompts_clearly():
    with pytest.raises(ValueError, match="not a language model"):
        ask(n=1)
