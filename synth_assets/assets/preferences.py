"""Preference pairs for DPO from the k verified candidates of each prompt, and their export."""

from dataclasses import fields
from typing import Any

import dagster as dg
import pandas as pd

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import FOLLOWS_UPSTREAM, WAREHOUSE_POOL, stage_metadata, write_stage
from synth_assets.assets.export import EXPORT
from synth_assets.assets.partitions import drop_removed_batches
from synth_assets.assets.settings import PreferenceSettings
from synth_assets.assets.stage_config import record_settings, recorded_settings
from synth_assets.core.dedup import BenchmarkIndex
from synth_assets.core.export import PREFERENCE_EXPORT, to_preference_record, write_jsonl, write_preference_parquet
from synth_assets.core.mixing import MixConfig
from synth_assets.core.preferences import build_pairs, filter_pairs

__all__ = ["preference_assets", "preference_pairs", "preference_pairs_export"]

PREFERENCES = "preferences"


@dg.asset(group_name=PREFERENCES, pool=WAREHOUSE_POOL, kinds={"duckdb"}, automation_condition=FOLLOWS_UPSTREAM,
          deps=["verified_solutions", "deduplicated_corpus", "benchmark_index", "mixed_training_set"])
def preference_pairs(
    context: dg.AssetExecutionContext, config: PreferenceSettings, source_files: SourceFiles, warehouse: Warehouse
) -> dg.MaterializeResult:
    """One chosen/rejected pair per prompt: a passing against a failing answer where a real check
    (tests, the reference answer) decided, else the judge's best against one at least
    `min_score_margin` lower. Only prompts that survived `deduplicated_corpus`, no pair sharing a
    13-gram with a benchmark, and the mix's human fraction and generation cap, as
    `mixed_training_set` last ran with them."""
    drop_removed_batches(context.log, source_files, warehouse)
    kept = warehouse.read_table("verified_solutions").to_dict("records") \
        if warehouse.table_exists("verified_solutions") else []
    rejected = warehouse.read_table("rejects", "WHERE stage = 'verified_solutions'").to_dict("records") \
        if warehouse.table_exists("rejects") else []
    human_prompts = set(warehouse.query("SELECT id FROM seeds WHERE origin = 'human'")["id"]) \
        if warehouse.table_exists("seeds") else set()
    pairs, no_pair = build_pairs(kept, rejected, human_prompts, config.to_core())

    corpus_prompts = set(warehouse.query("SELECT DISTINCT parent_id FROM deduplicated_corpus")["parent_id"].dropna())
    removals = warehouse.query(
        "SELECT parent_id, any_value(reason) AS reason, any_value(related_id) AS related_id FROM rejects "
        "WHERE stage = 'deduplicated_corpus' AND parent_id IS NOT NULL GROUP BY parent_id")
    mix, mix_source = _mix_settings(context.instance)
    decontaminate = (recorded_settings(context.instance, "deduplicated_corpus") or {}).get("decontaminate", {"value": True})
    benchmark = BenchmarkIndex.build(warehouse.query("SELECT id, question FROM benchmark_items").itertuples(index=False)) \
        if decontaminate["value"] else None
    outcome = filter_pairs(pairs, corpus_prompts, mix, benchmark, removals.set_index("parent_id").to_dict("index"),
                           max_text_chars=source_files.max_text_chars)

    out, rejects = write_stage(warehouse, "preference_pairs", outcome.kept, outcome.removed)
    by_kind = out["operation"].value_counts().to_dict() if not out.empty else {}
    return dg.MaterializeResult(metadata=stage_metadata(
        out, rejects, rows_in=len(pairs), prompts=len(pairs) + sum(no_pair.values()),
        human_prompt_pairs=outcome.human, synthetic_prompt_pairs=outcome.synthetic,
        **{f"pairs/{kind}": int(n) for kind, n in sorted(by_kind.items())},
        **{f"no_pair/{why}": int(n) for why, n in sorted(no_pair.items())},
        mix_human_fraction=mix.human_fraction, mix_max_generation=mix.max_generation, mix_settings_source=mix_source,
        decontaminated=benchmark is not None,
        **record_settings(context, config),
    ))


def _mix_settings(instance: dg.DagsterInstance) -> tuple[MixConfig, str]:
    """The mix's settings as `mixed_training_set` last ran with them: set once, in its run config."""
    recorded = recorded_settings(instance, "mixed_training_set")
    if recorded is None:
        return MixConfig(), "default: mixed_training_set recorded no settings"
    names = {f.name for f in fields(MixConfig)}
    return MixConfig(**{name: entry["value"] for name, entry in recorded.items() if name in names}), \
        "mixed_training_set's latest materialization"


@dg.asset(group_name=EXPORT, pool=WAREHOUSE_POOL, deps=["preference_pairs"], kinds={"parquet"},
          automation_condition=FOLLOWS_UPSTREAM)
def preference_pairs_export(
    context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse
) -> dg.MaterializeResult:
    """`data/exports/preference_pairs.jsonl` and `.parquet`: TRL's conversational preference
    format (`prompt`, `chosen`, `rejected` message lists) with each pair's provenance."""
    pairs = warehouse.read_table("preference_pairs", "ORDER BY id").to_dict("records")
    records = [to_preference_record(pair) for pair in pairs]
    folder = source_files.folder("exports")
    jsonl, parquet = folder / f"{PREFERENCE_EXPORT}.jsonl", folder / f"{PREFERENCE_EXPORT}.parquet"
    write_jsonl(records, jsonl)
    write_preference_parquet(records, parquet)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(records),
        "jsonl": dg.MetadataValue.path(str(jsonl)),
        "parquet": dg.MetadataValue.path(str(parquet)),
        **_counts(pd.DataFrame(records)),
    })


def _counts(records: pd.DataFrame) -> dict[str, Any]:
    if records.empty:
        return {}
    return {f"pairs/{kind}/{origin}": int(n)
            for (kind, origin), n in records.groupby(["operation", "prompt_origin"]).size().items()}


preference_assets = [preference_pairs, preference_pairs_export]
