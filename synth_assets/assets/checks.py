"""Quality gates as asset checks. Each check measures one property with a pure gate function from
`synth_assets.core.metrics` and reports the value, the threshold, where the threshold comes from
and the worst offending rows.

The gates on `deduplicated_corpus` are blocking, so a failure stops the run before the mix is
built; the gates on `mixed_training_set` are blocking too, so a failing mix is never exported.
Thresholds are each check's run config (defaults: `DEFAULT_THRESHOLDS`, documented in the README).
"""

from collections.abc import Callable

import dagster as dg
import pandas as pd

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.core.dedup import BenchmarkIndex
from synth_assets.core.metrics import (
    DEFAULT_THRESHOLDS,
    GateResult,
    check_compression,
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
from synth_assets.core.validation import validate_rows

ROOT_TABLES = ("seeds", "human_reference", "documents")


def _default(name: str) -> float:
    return DEFAULT_THRESHOLDS[name].value


def _result(gate: GateResult, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    metadata: dict = {
        "value": dg.MetadataValue.float(float(gate.value)),
        "threshold": dg.MetadataValue.float(float(gate.threshold)),
        "threshold_source": gate.source,
        "detail": gate.detail,
    }
    if not gate.offenders.empty:
        metadata["offenders"] = dg.MetadataValue.md(_table(gate.offenders))
    metadata.update({k: dg.MetadataValue.float(float(v)) for k, v in gate.extra.items() if isinstance(v, int | float)})
    return dg.AssetCheckResult(passed=bool(gate.passed), severity=severity, metadata=metadata)


def _table(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object:
            shown[column] = shown[column].astype(str).str.slice(0, 80).str.replace("|", "\\|").str.replace("\n", " ")
    return shown.to_markdown(index=False)


def _root_ids(warehouse: Warehouse) -> set[str]:
    return {i for t in ROOT_TABLES if warehouse.table_exists(t) for i in warehouse.read_table(t)["id"]}


def _contamination(frame: pd.DataFrame, warehouse: Warehouse) -> GateResult:
    """No row shares a 13-gram with a benchmark item (the GPT-3 rule)."""
    items = warehouse.query("SELECT id, question FROM benchmark_items").itertuples(index=False)
    index = BenchmarkIndex.build(items)
    texts = (frame["instruction"].fillna("") + "\n" + frame["response"].fillna("")).tolist()
    matches = index.match_many(texts)
    hits = [(row_id, m.benchmark_id, m.ngram) for row_id, m in zip(frame["id"], matches) if m is not None]
    offenders = pd.DataFrame(hits[:20], columns=["id", "benchmark_id", "shared_13gram"])
    return GateResult(
        name="decontamination", passed=not hits, value=float(len(hits)), threshold=0.0,
        detail=f"{len(hits)} of {len(frame)} rows share a 13-gram with {len(index)} benchmark items",
        source="GPT-3 (Brown et al. 2020) 13-gram overlap rule", offenders=offenders, extra={},
    )


# -- gates on the corpus: block the mix ---------------------------------------------------------


class SchemaSettings(dg.Config):
    min_len: int = 1
    # The longest instruction or response is the `source_files` resource's `max_text_chars`: one
    # setting that ingest and the corpus's own filter apply too, so this gate never meets a row they let through.


@dg.asset_check(asset="deduplicated_corpus", blocking=True, description="Columns, allowed values, unique ids (Great Expectations).")
def corpus_schema(config: SchemaSettings, source_files: SourceFiles, warehouse: Warehouse) -> dg.AssetCheckResult:
    report = validate_rows(warehouse.read_table("deduplicated_corpus"), min_len=config.min_len,
                           max_len=source_files.max_text_chars)
    metadata = {"detail": report.detail, "rows": report.rows, "expectations": report.expectations,
                "max_text_chars": source_files.max_text_chars}
    if report.failures:
        metadata["failures"] = dg.MetadataValue.md(_table(report.failures_frame()))
    return dg.AssetCheckResult(passed=report.passed, metadata=metadata)


@dg.asset_check(asset="deduplicated_corpus", blocking=True, description="Every row's root_id resolves to a seed, document or human row.")
def corpus_provenance(warehouse: Warehouse) -> dg.AssetCheckResult:
    return _result(check_provenance(warehouse.read_table("deduplicated_corpus"), _root_ids(warehouse)))


@dg.asset_check(asset="deduplicated_corpus", blocking=True, description="No 13-gram of a benchmark item in the corpus.")
def corpus_decontaminated(warehouse: Warehouse) -> dg.AssetCheckResult:
    return _result(_contamination(warehouse.read_table("deduplicated_corpus"), warehouse))


# -- quality of verification: warnings ----------------------------------------------------------


def _in_batch(context: dg.AssetCheckExecutionContext) -> tuple[str, list]:
    """The SQL condition for the rows of the seed batch the check's run made (every row when the
    run made none), and its parameters: the verification checks judge their own batch."""
    if context.has_partition_key:
        return "seed_batch = ?", [context.partition_key]
    return "TRUE", []


class PassRateSettings(dg.Config):
    floor: float = _default("pass_rate_floor")


@dg.asset_check(asset="verified_solutions", description="Share of candidates that pass verification, per domain.")
def verification_pass_rate(
    context: dg.AssetCheckExecutionContext, config: PassRateSettings, warehouse: Warehouse
) -> dg.AssetCheckResult:
    batch, params = _in_batch(context)
    candidates = warehouse.read_table("candidate_solutions", f"WHERE {batch}", params)[["id", "domain"]]
    passed = set(warehouse.read_table("verified_solutions", f"WHERE {batch}", params)["id"]) | set(
        warehouse.query("SELECT id FROM rejects WHERE stage = 'verified_solutions' AND reason = 'sibling_selected' "
                        f"AND {batch}", params)["id"]
    )
    candidates = candidates.assign(passed=candidates["id"].isin(passed))
    return _result(check_pass_rate_per_domain(candidates, floor=config.floor), dg.AssetCheckSeverity.WARN)


class JudgeSettings(dg.Config):
    min_median: float = _default("judge_min_median")
    low_score: float = _default("judge_low_score")
    max_low_fraction: float = _default("judge_max_low_fraction")


@dg.asset_check(asset="verified_solutions", description="Distribution of judge scores of the kept answers.")
def verification_judge_scores(
    context: dg.AssetCheckExecutionContext, config: JudgeSettings, warehouse: Warehouse
) -> dg.AssetCheckResult:
    batch, params = _in_batch(context)
    judged = warehouse.read_table("verified_solutions", f"WHERE {batch} AND judge_score IS NOT NULL", params)
    gate = check_judge_scores(judged, min_median=config.min_median, low_score=config.low_score,
                              max_low_fraction=config.max_low_fraction)
    return _result(gate, dg.AssetCheckSeverity.WARN)


# -- gates on the mix: block the export ---------------------------------------------------------


def _mix_gate(name: str, description: str, settings: type[dg.Config], measure: Callable) -> dg.AssetChecksDefinition:
    """A blocking check on `mixed_training_set` that runs one gate with its settings."""

    @dg.asset_check(asset="mixed_training_set", name=name, blocking=True, description=description)
    def _check(config: settings, warehouse: Warehouse) -> dg.AssetCheckResult:  # type: ignore[valid-type]
        return _result(measure(warehouse.read_table("mixed_training_set"), config, warehouse))

    return _check


class MixRatioSettings(dg.Config):
    target: float = _default("mix_human_target")
    tolerance: float = _default("mix_tolerance")
    per_domain_targets: dict[str, float] = {}


class GenerationCapSettings(dg.Config):
    max_generation: int = int(_default("max_generation"))


class RefusalSettings(dg.Config):
    max_rate: float = _default("refusal_max_rate")


class TailSettings(dg.Config):
    min_rows: int = int(_default("tail_min_rows"))


class DistinctSettings(dg.Config):
    min_distinct_2: float = _default("distinct_2_min")


class CompressionSettings(dg.Config):
    max_ratio: float = _default("compression_max_ratio")


class VendiSettings(dg.Config):
    min_score: float = _default("vendi_min")


class RelativeDiversitySettings(dg.Config):
    fraction: float = _default("relative_diversity_fraction")


class NoSettings(dg.Config):
    pass


def _seed_categories(warehouse: Warehouse) -> set[tuple[str, str]]:
    return set(warehouse.query("SELECT DISTINCT domain, category FROM seeds").itertuples(index=False, name=None))


MIX_CHECKS = [
    _mix_gate("mix_ratio", "Human fraction within tolerance of the target, overall and per domain.", MixRatioSettings,
              lambda mix, c, w: check_mix_ratio(mix, target=c.target, tolerance=c.tolerance,
                                                per_domain_targets=c.per_domain_targets or None)),
    _mix_gate("generation_cap", "Collapse guard: no synthetic row above the maximum generation.", GenerationCapSettings,
              lambda mix, c, w: check_generation_cap(mix, max_generation=c.max_generation)),
    _mix_gate("provenance", "Every row has origin, generation and a root_id that resolves.", NoSettings,
              lambda mix, c, w: check_provenance(mix, _root_ids(w))),
    _mix_gate("refusal_rate", "Share of responses that refuse.", RefusalSettings,
              lambda mix, c, w: check_refusal_rate(mix, max_rate=c.max_rate)),
    _mix_gate("tail_coverage", "Every seed category keeps rows in the mix.", TailSettings,
              lambda mix, c, w: check_tail_coverage(mix, _seed_categories(w), min_rows=c.min_rows)),
    _mix_gate("distinct_n", "Distinct n-grams (n = 1..4) of instructions and responses.", DistinctSettings,
              lambda mix, c, w: check_distinct_n(mix, min_distinct_2=c.min_distinct_2)),
    _mix_gate("compression_ratio", "gzip compression ratio: high means repetitive text.", CompressionSettings,
              lambda mix, c, w: check_compression(mix, max_ratio=c.max_ratio)),
    _mix_gate("vendi_score", "Vendi score (Friedman and Dieng 2023) on TF-IDF vectors.", VendiSettings,
              lambda mix, c, w: check_vendi(mix, None, min_score=c.min_score)),
    _mix_gate("relative_diversity", "The synthetic part is at least a fraction as diverse as the human part.",
              RelativeDiversitySettings, lambda mix, c, w: check_relative_diversity(mix, None, fraction=c.fraction)),
    _mix_gate("decontaminated", "No 13-gram of a benchmark item in the mix.", NoSettings,
              lambda mix, c, w: _contamination(mix, w)),
]

ALL_CHECKS = [corpus_schema, corpus_provenance, corpus_decontaminated, verification_pass_rate,
              verification_judge_scores, *MIX_CHECKS]
