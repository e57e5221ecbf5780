"""Quality gates as asset checks. Each check measures one property with a pure gate function from
`synth_assets.core.metrics` and reports the value, the thresholds in force with where each comes
from, and the worst offending rows.

A threshold comes from one of three places, and the check says which: the check's own run config
(an override), the setting of the stage it checks (the mix ratio's target is the human fraction the
mix was built with, read from the mix's materialization), or the documented default
(`DEFAULT_THRESHOLDS`). A failed check's description is the gate's message (what failed, the figure,
the threshold, what to do) followed by the run config that changes each threshold.

The gates on `deduplicated_corpus` are blocking, so a failure stops the run before the mix is
built; the gates on `mixed_training_set` are blocking too, so a failing mix is never exported.
"""

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd
import pydantic

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.stage_config import FROM_RUN_CONFIG, given_config, recorded_settings
from synth_assets.core.dedup import BenchmarkIndex
from synth_assets.core.metrics import (
    DEFAULT_THRESHOLDS,
    GateResult,
    check_compression,
    check_decontamination,
    check_distinct_n,
    check_generation_cap,
    check_judge_scores,
    check_mix_ratio,
    check_pass_rate_per_domain,
    check_provenance,
    check_refusal_rate,
    check_relative_diversity,
    check_tail_coverage,
    check_vendi,
)
from synth_assets.core.rows import PASSED_BUT_NOT_KEPT
from synth_assets.core.validation import validate_rows

__all__ = ["ALL_CHECKS", "MIX_CHECKS", "THRESHOLDS_KEY", "InForce"]

ROOT_TABLES = ("seeds", "human_reference", "documents")
THRESHOLDS_KEY = "thresholds"  # the check metadata entry with every threshold in force and its source


# -- thresholds in force ------------------------------------------------------------------------


@dataclass(frozen=True)
class InForce:
    """A threshold a check used: its value, where it came from, and the run config that changes it."""

    name: str  # the check's config field
    value: Any
    origin: str  # "default", "configured in mixed_training_set's run config", "check override ..."
    reason: str  # why the default has its value (the documented source); "" for a set value
    change: str  # the run config to change it

    @property
    def source(self) -> str:
        return f"{self.origin}: {self.reason}" if self.reason else self.origin

    def sentence(self) -> str:
        return f"{self.name} = {_fmt(self.value)} ({self.origin}); change it with {self.change}"


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _path(node: str, field: str) -> str:
    return f"run config `ops: {{{node}: {{config: {{{field}: ...}}}}}}`"


def _node(context: dg.AssetCheckExecutionContext) -> str:
    return context.op_execution_context.op.name


def _threshold(context: dg.AssetCheckExecutionContext, config: dg.Config, field: str, default: str) -> InForce:
    """A threshold that is the check's own setting: the check's run config, or the documented default."""
    node = _node(context)
    value = getattr(config, field)
    if field in given_config(context.run.run_config, node):
        return InForce(field, value, f"check override in {node}'s run config", "", _path(node, field))
    return InForce(field, value, "default", DEFAULT_THRESHOLDS[default].source, _path(node, field))


def _following(
    context: dg.AssetCheckExecutionContext, config: dg.Config, field: str, stage: str, setting: str, default: str
) -> InForce:
    """A threshold that follows a setting of the stage the check guards: the value the stage's latest
    materialization ran with, unless the check's own config sets it (not None)."""
    node = _node(context)
    recorded = (recorded_settings(context.instance, stage) or {}).get(setting)
    override = getattr(config, field)
    follow = f"{_path(stage, setting)} (the check follows it)"
    if override is not None:
        ran = f"; {stage} ran with {setting} = {_fmt(recorded['value'])}" if recorded else ""
        return InForce(field, override, f"check override in {node}'s run config{ran}", "",
                       f"{_path(node, field)}, or remove it to follow {stage}'s {setting}")
    if recorded is None:  # a materialization from before settings were recorded
        return InForce(field, DEFAULT_THRESHOLDS[default].value,
                       f"default: {stage} recorded no settings, so its default is assumed",
                       DEFAULT_THRESHOLDS[default].source, follow)
    if recorded["source"] == FROM_RUN_CONFIG:
        return InForce(field, recorded["value"], f"configured in {stage}'s run config ({setting})", "", follow)
    return InForce(field, recorded["value"], f"default of {stage}'s {setting}", DEFAULT_THRESHOLDS[default].source,
                   follow)


def _result(
    gate: GateResult,
    thresholds: list[InForce],
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    note: str = "",
) -> dg.AssetCheckResult:
    """The check result: the gate's message as the description (with, on failure, how to change each
    threshold), the measured value, the thresholds in force and their sources, the offenders."""
    primary = thresholds[0] if thresholds else None
    gate = dataclasses.replace(gate, source=primary.source if primary else gate.source)
    metadata: dict = {
        "value": dg.MetadataValue.float(float(gate.value)),
        "threshold": dg.MetadataValue.float(float(gate.threshold)),
        "threshold_source": gate.source,
        "detail": gate.detail,
        THRESHOLDS_KEY: _thresholds_metadata(thresholds),
    }
    if not gate.offenders.empty:
        metadata["offenders"] = dg.MetadataValue.md(_table(gate.offenders))
    metadata.update({k: dg.MetadataValue.float(float(v)) for k, v in gate.extra.items() if isinstance(v, int | float)})
    return dg.AssetCheckResult(passed=bool(gate.passed), severity=severity, metadata=metadata,
                               description=_message(gate.detail, gate.passed, thresholds, note))


def _message(detail: str, passed: bool, thresholds: list[InForce], note: str = "") -> str:
    """What the check says: the gate's detail, a note on the stage's settings, and on failure how
    to change each threshold."""
    message = detail.rstrip(".") + "." + (f" {note}" if note else "")
    if not passed and thresholds:
        message += " Thresholds: " + "; ".join(t.sentence() for t in thresholds) + "."
    return message


def _thresholds_metadata(thresholds: list[InForce]) -> dg.MetadataValue:
    return dg.MetadataValue.json(
        {t.name: {"value": t.value, "origin": t.origin, "source": t.source, "change": t.change} for t in thresholds}
    )


def _table(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object:
            shown[column] = shown[column].astype(str).str.slice(0, 80).str.replace("|", "\\|").str.replace("\n", " ")
    return shown.to_markdown(index=False)


def _default_field(default: str, kind: type = float) -> Any:
    """A check config field defaulting to a documented threshold, with its source as the help text."""
    return pydantic.Field(default=kind(DEFAULT_THRESHOLDS[default].value), description=DEFAULT_THRESHOLDS[default].source)


def _following_field(stage: str, setting: str) -> Any:
    return pydantic.Field(default=None, description=f"Leave empty to follow {stage}'s {setting} (the value the "
                                                    "checked materialization was built with); set it to override.")


def _root_ids(warehouse: Warehouse) -> set[str]:
    return {i for t in ROOT_TABLES if warehouse.table_exists(t) for i in warehouse.read_table(t)["id"]}


def _contamination(frame: pd.DataFrame, warehouse: Warehouse) -> GateResult:
    items = warehouse.query("SELECT id, question FROM benchmark_items").itertuples(index=False)
    return check_decontamination(frame, BenchmarkIndex.build(items))


def _decontaminate_note(instance: dg.DagsterInstance) -> str:
    """What the corpus's decontaminate setting was, when it was off: the likely cause of a failure."""
    recorded = (recorded_settings(instance, "deduplicated_corpus") or {}).get("decontaminate")
    if recorded is None or recorded["value"]:
        return ""
    origin = "set in its run config" if recorded["source"] == FROM_RUN_CONFIG else "its default"
    return (f"deduplicated_corpus ran with decontaminate = false ({origin}); set it true with "
            f"{_path('deduplicated_corpus', 'decontaminate')}.")


# -- gates on the corpus: block the mix ---------------------------------------------------------


def _text_limit(context: dg.AssetCheckExecutionContext, config: dg.Config, source_files: SourceFiles) -> InForce:
    """corpus_schema's longest text: the limit ingest and deduplicated_corpus hold rows to (one
    setting, so the gate never meets a row they let through), unless the check's config overrides it."""
    node = _node(context)
    follow = ("the environment variable SYNTH_MAX_TEXT_CHARS (the source_files resource's max_text_chars; ingest "
              "and deduplicated_corpus follow it too)")
    if config.max_len is not None:
        return InForce("max_len", config.max_len, f"check override in {node}'s run config", "",
                       f"{_path(node, 'max_len')}, or remove it to follow max_text_chars")
    limit = source_files.max_text_chars
    if limit == int(DEFAULT_THRESHOLDS["text_max_len"].value):
        return InForce("max_len", limit, "default", DEFAULT_THRESHOLDS["text_max_len"].source, follow)
    return InForce("max_len", limit, "configured: the source_files resource's max_text_chars", "", follow)


class SchemaSettings(dg.Config):
    min_len: int = _default_field("text_min_len", int)
    max_len: int | None = pydantic.Field(
        default=None, description="Leave empty to follow the row limit ingest and deduplicated_corpus apply (the "
        "source_files resource's max_text_chars, SYNTH_MAX_TEXT_CHARS); set it to override.")


@dg.asset_check(asset="deduplicated_corpus", blocking=True, description="Columns, allowed values, unique ids (Great Expectations).")
def corpus_schema(
    context: dg.AssetCheckExecutionContext, config: SchemaSettings, source_files: SourceFiles, warehouse: Warehouse
) -> dg.AssetCheckResult:
    thresholds = [_threshold(context, config, "min_len", "text_min_len"), _text_limit(context, config, source_files)]
    report = validate_rows(warehouse.read_table("deduplicated_corpus"), min_len=config.min_len,
                           max_len=thresholds[1].value)
    metadata = {"detail": report.detail, "rows": report.rows, "expectations": report.expectations,
                THRESHOLDS_KEY: _thresholds_metadata(thresholds)}
    if report.failures:
        metadata["failures"] = dg.MetadataValue.md(_table(report.failures_frame()))
    return dg.AssetCheckResult(passed=report.passed, metadata=metadata,
                               description=_message(report.detail, report.passed, thresholds))


@dg.asset_check(asset="deduplicated_corpus", blocking=True, description="Every row's root_id resolves to a seed, document or human row.")
def corpus_provenance(warehouse: Warehouse) -> dg.AssetCheckResult:
    return _result(check_provenance(warehouse.read_table("deduplicated_corpus"), _root_ids(warehouse)), [])


@dg.asset_check(asset="deduplicated_corpus", blocking=True, description="No 13-gram of a benchmark item in the corpus.")
def corpus_decontaminated(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
    gate = _contamination(warehouse.read_table("deduplicated_corpus"), warehouse)
    return _result(gate, [], note="" if gate.passed else _decontaminate_note(context.instance))


# -- quality of verification: warnings ----------------------------------------------------------


def _in_batch(context: dg.AssetCheckExecutionContext) -> tuple[str, list]:
    """The SQL condition for the rows of the seed batch the check's run made (every row when the
    run made none), and its parameters: the verification checks judge their own batch."""
    if context.has_partition_key:
        return "seed_batch = ?", [context.partition_key]
    return "TRUE", []


class PassRateSettings(dg.Config):
    floor: float = _default_field("pass_rate_floor")


@dg.asset_check(asset="verified_solutions", description="Share of candidates that pass verification, per domain.")
def verification_pass_rate(
    context: dg.AssetCheckExecutionContext, config: PassRateSettings, warehouse: Warehouse
) -> dg.AssetCheckResult:
    batch, params = _in_batch(context)
    candidates = warehouse.read_table("candidate_solutions", f"WHERE {batch}", params)[["id", "domain"]]
    passed = set(warehouse.read_table("verified_solutions", f"WHERE {batch}", params)["id"]) | set(
        warehouse.query("SELECT id FROM rejects WHERE stage = 'verified_solutions' "
                        f"AND list_contains(?::VARCHAR[], reason) AND {batch}",
                        [sorted(map(str, PASSED_BUT_NOT_KEPT)), *params])["id"]
    )
    candidates = candidates.assign(passed=candidates["id"].isin(passed))
    return _result(check_pass_rate_per_domain(candidates, floor=config.floor),
                   [_threshold(context, config, "floor", "pass_rate_floor")], dg.AssetCheckSeverity.WARN)


class JudgeSettings(dg.Config):
    min_median: float = _default_field("judge_min_median")
    low_score: float = _default_field("judge_low_score")
    max_low_fraction: float = _default_field("judge_max_low_fraction")


@dg.asset_check(asset="verified_solutions", description="Distribution of judge scores of the kept answers.")
def verification_judge_scores(
    context: dg.AssetCheckExecutionContext, config: JudgeSettings, warehouse: Warehouse
) -> dg.AssetCheckResult:
    batch, params = _in_batch(context)
    judged = warehouse.read_table("verified_solutions", f"WHERE {batch} AND judge_score IS NOT NULL", params)
    gate = check_judge_scores(judged, min_median=config.min_median, low_score=config.low_score,
                              max_low_fraction=config.max_low_fraction)
    partition = context.partition_key if context.has_partition_key else None
    keep = (recorded_settings(context.instance, "verified_solutions", partition) or {}).get("judge_threshold")
    note = "" if gate.passed or keep is None else (
        f"verified_solutions kept answers scoring at least judge_threshold = {_fmt(keep['value'])} ({keep['source']}); "
        f"raise it with {_path('verified_solutions', 'judge_threshold')}.")
    thresholds = [_threshold(context, config, name, key) for name, key in
                  (("min_median", "judge_min_median"), ("low_score", "judge_low_score"),
                   ("max_low_fraction", "judge_max_low_fraction"))]
    return _result(gate, thresholds, dg.AssetCheckSeverity.WARN, note)


# -- gates on the mix: block the export ---------------------------------------------------------

MIX = "mixed_training_set"
Measure = Callable[[pd.DataFrame, dg.Config, Mapping[str, Any], Warehouse], GateResult]
Resolve = Callable[[dg.AssetCheckExecutionContext, dg.Config], list[InForce]]


def _mix_gate(name: str, description: str, settings: type[dg.Config], resolve: Resolve, measure: Measure,
              note: Callable[[dg.DagsterInstance], str] | None = None) -> dg.AssetChecksDefinition:
    """A blocking check on `mixed_training_set` that runs one gate with the thresholds in force;
    `note` adds what a stage's settings say about a failure."""

    @dg.asset_check(asset=MIX, name=name, blocking=True, description=description)
    def _check(context: dg.AssetCheckExecutionContext, config: settings, warehouse: Warehouse) -> dg.AssetCheckResult:  # type: ignore[valid-type]
        thresholds = resolve(context, config)
        gate = measure(warehouse.read_table(MIX), config, {t.name: t.value for t in thresholds}, warehouse)
        if gate.extra.get("domains_not_compared"):  # a gate that measured less than asked says so in the log
            context.log.warning(f"{name}: {gate.detail}")
        return _result(gate, thresholds, note=note(context.instance) if note and not gate.passed else "")

    return _check


def _own(*pairs: tuple[str, str]) -> Resolve:
    """The check's own thresholds: (config field, DEFAULT_THRESHOLDS key) pairs."""
    return lambda context, config: [_threshold(context, config, field, key) for field, key in pairs]


class MixRatioSettings(dg.Config):
    target: float | None = _following_field(MIX, "human_fraction")
    tolerance: float = _default_field("mix_tolerance")
    per_domain_targets: dict[str, float] = pydantic.Field(
        default={}, description="Human fraction per domain, each held to the tolerance too (the mix aims at the "
                                "overall fraction only; use this to require a domain's share).")


class GenerationCapSettings(dg.Config):
    max_generation: int | None = _following_field(MIX, "max_generation")


class RefusalSettings(dg.Config):
    max_rate: float = _default_field("refusal_max_rate")


class TailSettings(dg.Config):
    min_rows: int = _default_field("tail_min_rows", int)


class DistinctSettings(dg.Config):
    min_distinct_2: float = _default_field("distinct_2_min")


class CompressionSettings(dg.Config):
    max_ratio: float = _default_field("compression_max_ratio")


class VendiSettings(dg.Config):
    min_score: float = _default_field("vendi_min")


class RelativeDiversitySettings(dg.Config):
    fraction: float = _default_field("relative_diversity_fraction")
    min_rows: int = _default_field("relative_diversity_min_rows", int)


class NoSettings(dg.Config):
    pass


def _seed_categories(warehouse: Warehouse) -> set[tuple[str, str]]:
    return set(warehouse.query("SELECT DISTINCT domain, category FROM seeds").itertuples(index=False, name=None))


def _mix_ratio_thresholds(context: dg.AssetCheckExecutionContext, config: MixRatioSettings) -> list[InForce]:
    return [_following(context, config, "target", MIX, "human_fraction", "mix_human_target"),
            _threshold(context, config, "tolerance", "mix_tolerance")]


def _generation_cap_thresholds(context: dg.AssetCheckExecutionContext, config: GenerationCapSettings) -> list[InForce]:
    return [_following(context, config, "max_generation", MIX, "max_generation", "max_generation")]


MIX_CHECKS = [
    _mix_gate("mix_ratio", "Human fraction within tolerance of the target (the mix's human_fraction), overall "
              "and per domain.", MixRatioSettings, _mix_ratio_thresholds,
              lambda mix, c, t, w: check_mix_ratio(mix, target=t["target"], tolerance=t["tolerance"],
                                                   per_domain_targets=c.per_domain_targets or None)),
    _mix_gate("generation_cap", "Collapse guard: no synthetic row above the maximum generation (the mix's "
              "max_generation).", GenerationCapSettings, _generation_cap_thresholds,
              lambda mix, c, t, w: check_generation_cap(mix, max_generation=int(t["max_generation"]))),
    _mix_gate("provenance", "Every row has origin, generation and a root_id that resolves.", NoSettings, _own(),
              lambda mix, c, t, w: check_provenance(mix, _root_ids(w))),
    _mix_gate("refusal_rate", "Share of responses that refuse.", RefusalSettings,
              _own(("max_rate", "refusal_max_rate")),
              lambda mix, c, t, w: check_refusal_rate(mix, max_rate=t["max_rate"])),
    _mix_gate("tail_coverage", "Every seed category keeps rows in the mix.", TailSettings,
              _own(("min_rows", "tail_min_rows")),
              lambda mix, c, t, w: check_tail_coverage(mix, _seed_categories(w), min_rows=t["min_rows"])),
    _mix_gate("distinct_n", "Distinct n-grams (n = 1..4) of the whole mix's instructions and responses.",
              DistinctSettings, _own(("min_distinct_2", "distinct_2_min")),
              lambda mix, c, t, w: check_distinct_n(mix, min_distinct_2=t["min_distinct_2"])),
    _mix_gate("compression_ratio", "gzip compression ratio of the whole mix: high means repetitive text.",
              CompressionSettings, _own(("max_ratio", "compression_max_ratio")),
              lambda mix, c, t, w: check_compression(mix, max_ratio=t["max_ratio"])),
    _mix_gate("vendi_score", "Vendi score (Friedman and Dieng 2023) of the whole mix on TF-IDF vectors.",
              VendiSettings, _own(("min_score", "vendi_min")),
              lambda mix, c, t, w: check_vendi(mix, None, min_score=t["min_score"])),
    _mix_gate("relative_diversity", "Each domain's synthetic rows are at least a fraction as diverse as the same "
              "domain's human rows.", RelativeDiversitySettings,
              _own(("fraction", "relative_diversity_fraction"), ("min_rows", "relative_diversity_min_rows")),
              lambda mix, c, t, w: check_relative_diversity(mix, None, fraction=t["fraction"], min_rows=t["min_rows"])),
    _mix_gate("decontaminated", "No 13-gram of a benchmark item in the mix.", NoSettings, _own(),
              lambda mix, c, t, w: _contamination(mix, w), note=_decontaminate_note),
]

ALL_CHECKS = [corpus_schema, corpus_provenance, corpus_decontaminated, verification_pass_rate,
              verification_judge_scores, *MIX_CHECKS]
