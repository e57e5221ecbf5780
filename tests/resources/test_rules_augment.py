"""The rules teacher's answers to the augmentation and document-question templates."""

from __future__ import annotations

from resources.teacher.rules import RulesBackend
from resources.teacher.rules_augment import AUGMENT_DRIFT_RATE, AUGMENT_UNCHANGED_RATE
from synth_assets.core.requests import GenerationRequest, Message, SamplingParams

CODE_TASK = ("Write a Python function count_vowels(s: str) -> int that returns how many vowels appear in s. "
             "Use `str.lower` first.")


def _ask(seed: int = 0, **hints: str) -> str:
    request = GenerationRequest((Message("user", "prompt"),), SamplingParams(seed=seed), hints)
    return RulesBackend().generate([request])[0][0].text


def test_a_paraphrase_rewords_but_never_touches_the_signature_or_code_spans():
    texts = {_ask(seed, kind="paraphrase", text=CODE_TASK, protect="count_vowels") for seed in range(40)}
    good = [t for t in texts if "count_vowels" in t]
    assert good and all("count_vowels(s: str) -> int" in t and "`str.lower`" in t for t in good)
    assert any("gives back" in t or "outputs" in t for t in good)  # "returns" reworded
    assert _ask(3, kind="paraphrase", text=CODE_TASK, protect="count_vowels") == \
        _ask(3, kind="paraphrase", text=CODE_TASK, protect="count_vowels")  # deterministic


def test_each_style_has_its_own_register():
    task = "Explain photosynthesis to a ten-year-old."
    styles = {style: {_ask(s, kind="style_transfer", style=style, text=task) for s in range(30)}
              for style in ("formal", "casual", "technical")}
    assert any(t.startswith(("Please", "I would be grateful")) for t in styles["formal"])
    assert any(t.startswith(("Hey!", "So, here's")) for t in styles["casual"])
    assert any(t.startswith(("Task specification", "Specification.")) for t in styles["technical"])


def test_a_round_trip_through_french_comes_back_reworded_in_english():
    task = "Write the words of the text in reverse order and explain each step."
    french = _ask(kind="translate", language="French", text=task)
    assert french.startswith("[fr] ") and "écrivez" in french.lower() and "chaque" in french
    back = _ask(kind="translate", language="English", text=french)
    assert "[fr]" not in back and "chaque" not in back and back != task
    assert _ask(kind="translate", language="Japanese", text=task) == f"[ja] {task}"  # no glossary: kept


def test_planted_mistakes_come_at_about_their_stated_rates():
    task = "Describe the water cycle for a school poster."
    answers = [_ask(seed, kind="paraphrase", text=task) for seed in range(2000)]
    unchanged = sum(a == task for a in answers) / len(answers)
    unrelated = sum("water" not in a for a in answers) / len(answers)
    assert abs(unchanged - AUGMENT_UNCHANGED_RATE) < 0.02
    assert abs(unrelated - AUGMENT_DRIFT_RATE) < 0.02


def test_document_questions_quote_the_segment_and_end_with_an_edge_case():
    segment = ("Sourdough starter needs feeding every day at room temperature. In the fridge it can wait a week "
               "between feedings. A starter that smells of nail varnish is hungry, not spoiled.")
    reply = _ask(kind="document_qa", segment=segment, questions="2", title="Keeping a starter")
    blocks = reply.split("\n\n")
    assert len(blocks) == 3 and blocks[-1].startswith("Edge-case question:")
    assert blocks[-1].endswith("A starter that smells of nail varnish is hungry, not spoiled.")
