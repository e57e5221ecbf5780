"""Each stage's settings: the run config a user changes in the launchpad (README "The asset
graph"), one class per stage, in one module so the assets, the checks and the dataset card read
the same ones.

Every class is derived from the stage's core dataclass (`stage_config.derive`): its fields, types
and defaults are the dataclass's, so a setting is declared once, in core, and a field added there
is in the launchpad without a second edit. Each asset turns its settings into that dataclass with
`config.to_core()`. A setting that only an asset has (not its pure logic) is declared here, once,
as an `extra` of its class.
"""

from __future__ import annotations

from synth_assets.assets.stage_config import StageConfig, derive
from synth_assets.core.augment import AugmentConfig
from synth_assets.core.backtranslation_run import BacktranslationConfig
from synth_assets.core.collapse import GaussianRefitConfig, NgramCollapseConfig, ZipfTailConfig
from synth_assets.core.curation import CurationConfig
from synth_assets.core.dataset_card import CardConfig
from synth_assets.core.document_qa import DocumentQAConfig
from synth_assets.core.evolution import EvolutionConfig
from synth_assets.core.export import ExportConfig
from synth_assets.core.judge_calibration import CalibrationConfig
from synth_assets.core.mixing import MixConfig
from synth_assets.core.preferences import PreferenceConfig
from synth_assets.core.review import AgreementScoring, ReviewSampling
from synth_assets.core.self_instruct_run import SelfInstructConfig
from synth_assets.core.solutions import CandidateConfig
from synth_assets.core.tail_fill import TailFillConfig
from synth_assets.core.verify.run import VerificationConfig

__all__ = [
    "STAGE_SETTINGS",
    "AugmentSettings",
    "BacktranslationSettings",
    "CalibrationSettings",
    "CandidateSettings",
    "CardSettings",
    "CurationSettings",
    "DocumentQASettings",
    "EvolutionSettings",
    "ExportSettings",
    "GaussianRefitLabConfig",
    "MixSettings",
    "NgramLabConfig",
    "PreferenceSettings",
    "ReviewDecisionSettings",
    "ReviewQueueSettings",
    "SelfInstructSettings",
    "TailFillSettings",
    "VerificationSettings",
    "ZipfTailLabConfig",
]

EvolutionSettings = derive(EvolutionConfig, "EvolutionSettings")
SelfInstructSettings = derive(SelfInstructConfig, "SelfInstructSettings")
BacktranslationSettings = derive(BacktranslationConfig, "BacktranslationSettings")
AugmentSettings = derive(AugmentConfig, "AugmentSettings")
DocumentQASettings = derive(DocumentQAConfig, "DocumentQASettings")
CandidateSettings = derive(CandidateConfig, "CandidateSettings")
VerificationSettings = derive(VerificationConfig, "VerificationSettings")
MixSettings = derive(MixConfig, "MixSettings")
PreferenceSettings = derive(PreferenceConfig, "PreferenceSettings")
ReviewQueueSettings = derive(ReviewSampling, "ReviewQueueSettings")
ReviewDecisionSettings = derive(AgreementScoring, "ReviewDecisionSettings")
CalibrationSettings = derive(CalibrationConfig, "CalibrationSettings")
ExportSettings = derive(ExportConfig, "ExportSettings")
CardSettings = derive(CardConfig, "CardSettings")
TailFillSettings = derive(TailFillConfig, "TailFillSettings")


CurationSettings = derive(CurationConfig, "CurationSettings", extra={
    # The asset picks the corpus's sources; curation itself does not know of them.
    "include_corrections": (bool, False, "Add the error-and-correction pairs (correction_pairs) to the corpus. "
                            "Off by default: they are long and repeat their task, so they change the "
                            "mix's diversity figures."),
})

# The collapse lab's experiments (outside the default job).
GaussianRefitLabConfig = derive(GaussianRefitConfig, "GaussianRefitLabConfig")
ZipfTailLabConfig = derive(ZipfTailConfig, "ZipfTailLabConfig")
NgramLabConfig = derive(NgramCollapseConfig, "NgramLabConfig", extra={
    "human_dir": (str, "data/human", "The folder of human JSONL files whose texts the trigram model starts from."),
})

# The stages whose settings the dataset card reports, with the settings class of each.
STAGE_SETTINGS: dict[str, type[StageConfig]] = {
    "evolved_instructions": EvolutionSettings,
    "self_instruct_tasks": SelfInstructSettings,
    "backtranslated_pairs": BacktranslationSettings,
    "augmented_instructions": AugmentSettings,
    "document_qa_pairs": DocumentQASettings,
    "candidate_solutions": CandidateSettings,
    "verified_solutions": VerificationSettings,
    "deduplicated_corpus": CurationSettings,
    "tail_fill": TailFillSettings,
    "mixed_training_set": MixSettings,
    "preference_pairs": PreferenceSettings,
    "review_queue": ReviewQueueSettings,
    "review_decisions": ReviewDecisionSettings,
    "judge_calibration": CalibrationSettings,
    "training_set_export": ExportSettings,
}
