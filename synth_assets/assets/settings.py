"""Each stage's settings: the run config a user changes in the launchpad (README "The asset
graph"), one class per stage, in one module so the assets and the dataset card read the same ones.

A default that the stage's pure logic also has is taken from its core dataclass, so the two cannot
drift apart; each asset turns its settings into that dataclass before it calls core.
"""

from __future__ import annotations

import dagster as dg

from synth_assets.core.backtranslation_run import BacktranslationConfig
from synth_assets.core.curation import CurationConfig
from synth_assets.core.dedup import MinHashConfig, SemanticConfig
from synth_assets.core.evolution import EvolutionConfig
from synth_assets.core.mixing import MixConfig
from synth_assets.core.review import ReviewSampling
from synth_assets.core.self_instruct_run import SelfInstructConfig
from synth_assets.core.solutions import CandidateConfig, SelectionConfig
from synth_assets.core.verify.run import VerificationConfig

__all__ = [
    "STAGE_SETTINGS",
    "BacktranslationSettings",
    "CandidateSettings",
    "CurationSettings",
    "EvolutionSettings",
    "ExportSettings",
    "MixSettings",
    "ReviewDecisionSettings",
    "ReviewQueueSettings",
    "SelfInstructSettings",
    "VerificationSettings",
]


class EvolutionSettings(dg.Config):
    rounds: int = EvolutionConfig.rounds
    seed: int = EvolutionConfig.seed
    temperature: float = EvolutionConfig.temperature
    max_tokens: int = EvolutionConfig.max_tokens
    operations: list[str] = list(EvolutionConfig.operations)


class SelfInstructSettings(dg.Config):
    steps: int = SelfInstructConfig.steps
    prompts_per_step: int = SelfInstructConfig.prompts_per_step
    seed: int = SelfInstructConfig.seed
    temperature: float = SelfInstructConfig.temperature
    rouge_threshold: float = SelfInstructConfig.rouge_threshold


class BacktranslationSettings(dg.Config):
    threshold: int = BacktranslationConfig.threshold
    min_words: int = BacktranslationConfig.min_words
    max_words: int = BacktranslationConfig.max_words
    seed: int = BacktranslationConfig.seed


class CandidateSettings(dg.Config):
    k: int = CandidateConfig.k
    temperature: float = CandidateConfig.temperature
    top_p: float = CandidateConfig.top_p
    max_tokens: int = CandidateConfig.max_tokens
    seed: int = CandidateConfig.seed


class VerificationSettings(dg.Config):
    policy: str = SelectionConfig.policy  # best: one per task; all: every passing candidate
    judge_threshold: float = VerificationConfig.judge_threshold
    pass_at_k: int = SelectionConfig.pass_at_k


class CurationSettings(dg.Config):
    exact: bool = True
    near: bool = True
    near_threshold: float = MinHashConfig.threshold
    num_perm: int = MinHashConfig.num_perm
    # Confirm LSH candidates by exact Jaccard of the shingle sets ("exact") or by the MinHash
    # estimate ("estimate"): exact meets recall and precision >= 0.95 at 10x datasketch's speed
    # (docs/dedup.md); the estimate is faster but cannot separate 0.78 from 0.82.
    near_confirm: str = "exact"
    semantic: bool = True
    semantic_threshold: float = SemanticConfig.threshold
    decontaminate: bool = True
    # Error-and-correction pairs (`correction_pairs`) join the corpus only when asked: they are long
    # and repeat their task, so they change the mix's diversity figures.
    include_corrections: bool = False

    def curation_config(self) -> CurationConfig:
        return CurationConfig(
            exact=self.exact, near=self.near, semantic=self.semantic, decontaminate=self.decontaminate,
            minhash=MinHashConfig(num_perm=self.num_perm, threshold=self.near_threshold, confirm=self.near_confirm),
            semantic_config=SemanticConfig(threshold=self.semantic_threshold),
        )


class MixSettings(dg.Config):
    human_fraction: float = MixConfig.human_fraction
    max_generation: int = MixConfig.max_generation
    seed: int = MixConfig.seed


class ReviewQueueSettings(dg.Config):
    fraction: float = ReviewSampling.fraction
    seed: int = ReviewSampling.seed


class ReviewDecisionSettings(dg.Config):
    edit_credit: float = 0.5  # an edit counts as this much agreement with the gates


class ExportSettings(dg.Config):
    name: str = "training_set"
    include_provenance: bool = True


# The stages whose settings the dataset card reports, with the settings class of each.
STAGE_SETTINGS: dict[str, type[dg.Config]] = {
    "evolved_instructions": EvolutionSettings,
    "self_instruct_tasks": SelfInstructSettings,
    "backtranslated_pairs": BacktranslationSettings,
    "candidate_solutions": CandidateSettings,
    "verified_solutions": VerificationSettings,
    "deduplicated_corpus": CurationSettings,
    "mixed_training_set": MixSettings,
    "review_decisions": ReviewDecisionSettings,
}
