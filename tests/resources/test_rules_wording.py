"""The rules teacher words each task's answer its own way: what keeps a rewording of a seed from
reaching the mix with its seed's answer word for word."""

import json
import re
from pathlib import Path

from resources.teacher.rules import RulesBackend
from resources.teacher.rules_wording import ANSWER_PHRASES, vary_answer
from synth_assets.core.requests import GenerationRequest, Message, SamplingParams
from synth_assets.core.verify.math import check_answer

DATA = Path(__file__).resolve().parents[2] / "data" / "seeds"


def _answer(**hints):
    request = GenerationRequest((Message("user", "q"),), SamplingParams(n=1, seed=0), {"kind": "solve", **hints})
    return RulesBackend().generate([request])[0][0].text


def _seeds(domain):
    return [json.loads(line) for line in (DATA / f"{domain}.jsonl").read_text().splitlines() if line.strip()]


def test_two_tasks_word_the_same_reference_differently_and_one_task_always_the_same_way():
    references = [seed["response"] for seed in _seeds("general")]
    first = [vary_answer(text, "Describe it.") for text in references]
    assert first == [vary_answer(text, "Describe it.") for text in references]
    second = [vary_answer(text, "Describe it, briefly.") for text in references]
    # a few short answers (a haiku, a slogan) hold no phrase of the table and stay as they are
    assert sum(a != b for a, b in zip(first, second, strict=True)) >= 0.7 * len(references)
    assert sum(a != text for a, text in zip(first, references, strict=True)) >= 0.7 * len(references)
    # and the teacher answers with them: the same task the same way, another task another way
    reference = references[0]
    assert _answer(domain="general", instruction="Thank her.", solution=reference) == \
        _answer(domain="general", instruction="Thank her.", solution=reference)
    assert len({_answer(domain="general", instruction=f"Thank her, take {i}.", solution=reference)
                for i in range(12)}) > 6


def test_a_varied_answer_keeps_every_number_and_content_word_outside_the_phrase_table():
    replaced = {w for phrase, alternatives in ANSWER_PHRASES.items() for w in (phrase, *alternatives)
                for w in w.lower().split()}
    for seed in _seeds("general"):
        varied = vary_answer(seed["response"], "another task")
        assert re.findall(r"\d+", varied) == re.findall(r"\d+", seed["response"])
        kept = [w for w in re.findall(r"[a-z']+", seed["response"].lower()) if w not in replaced]
        assert [w for w in re.findall(r"[a-z']+", varied.lower()) if w in set(kept)] == kept


def test_code_blocks_and_backticked_names_are_never_reworded():
    text = "It is simple: call `simple_sum`.\n```python\ndef f(xs):\n    # simple and quick\n    return sum(xs)\n```"
    for key in range(20):
        varied = vary_answer(text, key)
        assert "`simple_sum`" in varied and "# simple and quick" in varied


def test_a_math_answer_is_reworded_but_its_answer_line_still_verifies():
    for seed in _seeds("math")[:20]:
        texts = {_answer(domain="math", instruction=seed["instruction"] + suffix, answer=seed["answer"],
                         solution=seed["solution"]) for suffix in ("", " Show every step.")}
        for text in texts:
            if text.splitlines()[-1] == f"Answer: {seed['answer']}":  # the planted slips aside
                assert check_answer(text, seed["answer"]).passed


def test_tasks_without_a_reference_get_answers_about_their_subject_not_one_template():
    tasks = [f"Explain {topic} to someone who has never heard of it." for topic in
             ("pruning fruit trees", "brewing green tea", "repairing a flat tyre", "insulating a window",
              "keeping a reading journal", "hosting a board-game night")]
    answers = [_answer(domain="general", instruction=task) for task in tasks]
    assert len({a.split(".")[0] for a in answers}) >= 4
    for task, answer in zip(tasks, answers, strict=True):
        subject = task.split(" to someone")[0].split(" ", 1)[1].split()[-1]
        assert subject in answer or answer.startswith("I'm sorry") or len(answer.split()) < 30
        assert task not in answer  # restating the task is what the rubric judge marks down
