"""`run_backtranslation`, the Humpback loop, with a scripted teacher: segments, instructions, curation."""

from __future__ import annotations

from synth_assets.core.backtranslation_run import BacktranslationConfig, run_backtranslation
from synth_assets.core.ingest import document_row
from tests.core.teachers import ScriptedTeacher

PARAGRAPHS = [f"Paragraph {name}. " + " ".join(f"word{i}" for i in range(40)) for name in ("one", "two", "three", "four")]
DOCUMENT = document_row({"id": "d1", "title": "Four paragraphs", "domain": "general", "text": "\n\n".join(PARAGRAPHS),
                         "_file": "docs.jsonl", "_line": 1})
# Per segment (by its first words): the instruction the teacher writes, and the curation reply.
SCRIPT = {"Paragraph one.": ("Instruction: Summarise paragraph one.", "Looks right. Score: 5"),
          "Paragraph two.": ("Summarise paragraph two.", "Score: 2"),
          "Paragraph three.": ("Summarise paragraph three.", "I would rather not say."),
          "Paragraph four.": ("Instruction:", "Score: 4")}


def teacher() -> ScriptedTeacher:
    def script_for(text: str) -> tuple[str, str]:
        return next(answer for opening, answer in SCRIPT.items() if text.startswith(opening))

    return ScriptedTeacher(backtranslate=lambda h, i: script_for(h["segment"])[0],
                           curate=lambda h, i: script_for(h["response"])[1])


def test_each_segment_is_kept_or_rejected_by_its_curation_score():
    outcome = run_backtranslation([DOCUMENT], teacher(), "scripted:x", BacktranslationConfig(min_words=10, max_words=60))
    assert outcome.segments == 4
    [kept] = outcome.rows
    assert (kept["instruction"], kept["response"]) == ("Summarise paragraph one.", PARAGRAPHS[0])
    assert (kept["judge_score"], kept["verifier"], kept["operation"]) == (10.0, "self_curation", "backtranslated")
    assert kept["judge_model"] == kept["teacher"]  # self-curation: the generator judged its own pair
    assert kept["verdict_detail"].endswith("tag: Answer with knowledge from web search.")
    assert (kept["parent_id"], kept["root_id"], kept["generation"]) == (DOCUMENT["id"], DOCUMENT["id"], 1)
    reasons = {r["response"].split(".")[0]: (r["reason"], r["score"]) for r in outcome.rejected}
    assert reasons == {"Paragraph two": ("score_below_threshold", 2), "Paragraph three": ("score_unparseable", None),
                       "Paragraph four": ("empty_instruction", 4)}


def test_the_teacher_writes_then_rates_and_a_lower_threshold_keeps_more():
    script = teacher()
    outcome = run_backtranslation([DOCUMENT], script, "scripted:x",
                                  BacktranslationConfig(min_words=10, max_words=60, threshold=2))
    assert [len(batch) for batch in script.calls] == [4, 4]
    assert all(r.sampling.temperature == 0 for r in script.requests("curate"))
    assert [r["instruction"] for r in outcome.rows] == ["Summarise paragraph one.", "Summarise paragraph two."]
