"""Instruction backtranslation (Li et al. 2023, Humpback): each document segment is an answer; the
teacher writes the instruction it answers (self-augmentation), then rates the pair 1 to 5
(self-curation); pairs at or above the threshold are kept, tagged `backtranslated`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from synth_assets.core.backtranslation import (
    CURATION_TEMPLATE,
    INSTRUCTION_TEMPLATE,
    ORIGIN_TAGS,
    PairOrigin,
    curate,
    parse_generated_instruction,
    parse_score,
    split_segments,
)
from synth_assets.core.requests import Generate, GenerationRequest, Message, SamplingParams
from synth_assets.core.rows import RejectReason, derived_row, reject_row
from synth_assets.core.templates import load_template

__all__ = ["BacktranslationConfig", "BacktranslationOutcome", "run_backtranslation"]


@dataclass(frozen=True)
class BacktranslationConfig:
    min_words: int = 30
    max_words: int = 250
    threshold: int = 4
    seed: int = 0
    temperature: float = 0.7
    max_tokens: int = 256


@dataclass
class BacktranslationOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    segments: int = 0


def run_backtranslation(
    documents: Sequence[Mapping[str, Any]], generate: Generate, teacher: str, config: BacktranslationConfig
) -> BacktranslationOutcome:
    outcome = BacktranslationOutcome()
    pieces = [(doc, segment) for doc in documents
              for segment in split_segments(doc["response"], config.min_words, config.max_words)]
    outcome.segments = len(pieces)
    augment, rate = load_template(INSTRUCTION_TEMPLATE), load_template(CURATION_TEMPLATE)
    sampling = SamplingParams(temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed)
    written = generate(
        [GenerationRequest((Message("user", augment.render(segment=segment)),), sampling,
                           {"kind": "backtranslate", "segment": segment, "title": doc["instruction"]})
         for doc, segment in pieces]
    )
    instructions = [parse_generated_instruction(answers[0].text) or "" for answers in written]
    scores = generate(
        [GenerationRequest((Message("user", rate.render(instruction=instruction, response=segment)),),
                           SamplingParams(temperature=0.0, max_tokens=config.max_tokens),
                           {"kind": "curate", "instruction": instruction, "response": segment})
         for (_, segment), instruction in zip(pieces, instructions, strict=True)]
    )
    version = f"{augment.version}+{rate.version}"
    for (doc, segment), instruction, answers in zip(pieces, instructions, scores, strict=True):
        score = parse_score(answers[0].text)
        verdict = curate(score, config.threshold)
        row = derived_row(
            doc, "backtranslation", instruction, segment, technique="backtranslation",
            operation=str(PairOrigin.backtranslated), round=1, teacher=teacher, template_version=version,
            instruction=instruction, response=segment,
            # The curation score, on the judge's 1-10 scale so the dedup survivor policy can compare.
            # Self-curation (Humpback): the generating teacher rates its own pair, so it is the judge.
            verifier="self_curation", judge_score=None if score is None else 2.0 * score, judge_model=teacher,
            verdict_detail=f"{verdict.detail}; tag: {ORIGIN_TAGS[PairOrigin.backtranslated]}",
        )
        if not verdict.keep:
            outcome.rejected.append(reject_row(row, verdict.reason, verdict.detail, score=score))
        elif not instruction:
            outcome.rejected.append(reject_row(row, RejectReason.EMPTY_INSTRUCTION, verdict.detail, score=score))
        else:
            outcome.rows.append(row)
    return outcome
