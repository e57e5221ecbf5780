"""The dataset card next to the export: `data/exports/README.md` in the Hugging Face format, and
the funnel of rows through the stages as a picture in the asset's metadata."""


import base64
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from resources.source_files import SourceFiles
from resources.stats import collect_stats
from resources.warehouse import Warehouse
from synth_assets.assets.checks import ALL_CHECKS, THRESHOLDS_KEY
from synth_assets.assets.common import FOLLOWS_UPSTREAM
from synth_assets.assets.export import EXPORT
from synth_assets.assets.partitions import SEED_BATCHES, drop_removed_batches
from synth_assets.assets.settings import STAGE_SETTINGS, CardSettings
from synth_assets.assets.stage_config import (
    FROM_RUN_CONFIG,
    record_settings,
    recorded_settings_by_partition,
    settings_in_force,
)
from synth_assets.core.attributes import ATTRIBUTES_FILE, coverage_lines, joint_coverage, load_attributes
from synth_assets.core.dataset_card import (
    CardFacts,
    FunnelStage,
    GateFact,
    JudgeFact,
    JudgeFilterFacts,
    ReviewFacts,
    StageFilter,
    diversity_png,
    funnel_png,
    render_card,
    stage_diversity,
)
from synth_assets.core.export import PREFERENCE_EXPORT, PROVENANCE_FIELDS
from synth_assets.core.review import QUEUE_FILE, agreement_summary

__all__ = ["card_assets", "dataset_card"]

FUNNEL_FILE = "funnel.png"
DIVERSITY_FILE = "diversity.png"
# The stages whose instructions the diversity chart compares, in graph order.
DIVERSITY_STAGES = ("seeds", "evolved_instructions", "self_instruct_tasks", "augmented_instructions", "backtranslated_pairs",
                    "document_qa_pairs", "human_reference",
                    "verified_solutions", "deduplicated_corpus", "mixed_training_set", "reviewed_training_set")


@dg.asset(group_name=EXPORT, deps=["training_set_export", "reviewed_training_set", "preference_pairs_export",
                                     "judge_calibration"],
          kinds={"markdown"},
          automation_condition=FOLLOWS_UPSTREAM)
def dataset_card(
    context: dg.AssetExecutionContext, config: CardSettings, source_files: SourceFiles, warehouse: Warehouse
) -> dg.MaterializeResult:
    """`data/exports/README.md`: what is in the export, how it was made, what every filter removed,
    diversity, provenance and known limitations; with `funnel.png` beside it."""
    drop_removed_batches(context.log, source_files, warehouse)
    folder = source_files.folder("exports")
    settings = {stage: _settings(context.instance, stage, cls) for stage, cls in STAGE_SETTINGS.items()}
    export_name = settings["training_set_export"][0]["name"]  # the file the export wrote, whatever it was named
    rows = _export_rows(folder / f"{export_name}.parquet")
    stats, _ = collect_stats(warehouse)
    filters = [StageFilter(s.stage, *settings.get(s.stage, ({}, frozenset())), s.rows_in, s.rows, s.dropped, s.quarantined)
               for s in stats]
    # `collect_stats` already has every stage with a table, `reviewed_training_set` included.
    funnel = [FunnelStage(s.stage, s.rows, {**s.dropped, **({"quarantined": s.quarantined} if s.quarantined else {})})
              for s in stats]
    png = funnel_png(funnel)
    (folder / FUNNEL_FILE).write_bytes(png)
    diversity = stage_diversity({stage: _instruction_sample(warehouse, stage) for stage in DIVERSITY_STAGES})
    diversity_chart = diversity_png(diversity)
    (folder / DIVERSITY_FILE).write_bytes(diversity_chart)
    facts = CardFacts(
        rows=rows, data_file=f"{export_name}.parquet", filters=filters, gates=_gate_facts(context.instance),
        review=_review_facts(warehouse, source_files, settings["review_decisions"][0], set(rows["id"])),
        judge=_judge_facts(warehouse, settings["verified_solutions"][0], settings["judge_calibration"][0]),
        target_human_fraction=settings["mixed_training_set"][0]["human_fraction"],
        config=config.to_core(), funnel_image=FUNNEL_FILE, judges=_judge_models(context.instance),
        attribute_coverage=_attribute_coverage(source_files, rows), **_preference_facts(folder / f"{PREFERENCE_EXPORT}.parquet"),
    )
    card = render_card(facts)
    path = folder / "README.md"
    path.write_text(card, encoding="utf-8")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(rows),
        "path": dg.MetadataValue.path(str(path)),
        "funnel": dg.MetadataValue.md(f"![rows through the stages](data:image/png;base64,{base64.b64encode(png).decode()})"),
        "diversity_per_stage": dg.MetadataValue.md(
            f"![diversity per stage](data:image/png;base64,{base64.b64encode(diversity_chart).decode()})\n\n"
            + pd.DataFrame([vars(d) for d in diversity]).to_markdown(index=False, floatfmt=".3f")
        ),
        "card": dg.MetadataValue.md(card.split("---\n", 2)[-1]),
        **record_settings(context, config),
    })


def _attribute_coverage(source_files: SourceFiles, rows: pd.DataFrame) -> tuple[str, ...]:
    """The card's lines on how much of the attribute space the export covers (none without a file)."""
    space = load_attributes(Path(source_files.root) / ATTRIBUTES_FILE)
    if space is None:
        return ()
    return tuple(coverage_lines(joint_coverage(rows["attributes"], space), space.source))


def _instruction_sample(warehouse: Warehouse, table: str, size: int = 2000) -> list[str]:
    """Up to `size` instructions of a stage, a repeatable random sample (none if the table is not there)."""
    if not warehouse.table_exists(table):
        return []
    frame = warehouse.query(f'SELECT instruction FROM "{table}" USING SAMPLE reservoir({size} ROWS) REPEATABLE (7)')
    return [str(text) for text in frame["instruction"].dropna()]


def _export_rows(parquet) -> pd.DataFrame:
    """The exported rows with their provenance, and the user and assistant turns as columns."""
    records = pq.read_table(parquet).to_pylist()
    if records and "origin" not in records[0]:
        raise ValueError(f"{parquet} has no provenance columns; export with include_provenance: true to build the card")
    rows = pd.DataFrame(records, columns=["messages", *PROVENANCE_FIELDS])
    rows["instruction"] = [m[0]["content"] for m in rows["messages"]]
    rows["response"] = [m[-1]["content"] for m in rows["messages"]]
    return rows


def _preference_facts(parquet) -> dict[str, Any]:
    """The preference export, if it was built: the card describes it as its own config."""
    if not parquet.exists():
        return {}
    return {"preferences": pq.read_table(parquet).to_pandas(), "preference_file": parquet.name}


def _settings(instance: dg.DagsterInstance, stage: str, config_class: type[dg.Config]) -> tuple[dict[str, Any], frozenset]:
    """The settings the stage's latest materialization ran with (of every seed batch, for a batch
    stage: a value that differs between batches is shown per batch), and those its run config set.
    A stage that recorded none shows its defaults."""
    by_batch = recorded_settings_by_partition(instance, stage, instance.get_dynamic_partitions(SEED_BATCHES.name))
    if not by_batch:
        by_batch = {None: settings_in_force(config_class(), {})}
    values: dict[str, Any] = {}
    for path in next(iter(by_batch.values())):
        seen: dict[str, list[str]] = {}
        for batch, recorded in by_batch.items():
            if path in recorded:
                seen.setdefault(repr(recorded[path]["value"]), []).append(str(batch))
        if len(seen) == 1:
            values[path] = next(iter(by_batch.values()))[path]["value"]
        else:
            values[path] = "; ".join(f"{value} (seed batch {', '.join(batches)})" for value, batches in seen.items())
    overridden = {path for recorded in by_batch.values() for path, entry in recorded.items()
                  if entry["source"] == FROM_RUN_CONFIG}
    return values, frozenset(overridden)


def _gate_facts(instance: dg.DagsterInstance) -> list[GateFact]:
    """Each quality gate's latest evaluation: its result, the measured value, and the thresholds in
    force with where each came from, as the check recorded them."""
    facts = []
    for definition in ALL_CHECKS:
        for key in definition.check_keys:
            record = instance.get_latest_asset_check_evaluation_record(key)
            event = record.event.dagster_event if record and record.event else None
            # The latest record may be a check only planned (its run stopped before it ran).
            evaluated = event is not None and event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
            evaluation = event.asset_check_evaluation_data if evaluated else None
            if evaluation is None:
                facts.append(GateFact(key.name, key.asset_key.to_user_string(), "not evaluated"))
                continue
            metadata = evaluation.metadata
            result = "passed" if evaluation.passed else (
                "warned" if evaluation.severity == dg.AssetCheckSeverity.WARN else "failed")
            value = metadata["value"].value if "value" in metadata else None
            thresholds = metadata[THRESHOLDS_KEY].value if THRESHOLDS_KEY in metadata else {}
            name = key.name + (f" (seed batch {record.partition})" if record.partition else "")  # its latest batch
            facts.append(GateFact(name, key.asset_key.to_user_string(), result, value,
                                  {name: (t["value"], t["source"]) for name, t in thresholds.items()}))
    return facts


def _judge_models(instance: dg.DagsterInstance) -> list[JudgeFact]:
    """Each seed batch's judge and self-preference warning, from its latest verified_solutions
    materialization (a batch judged before judges were recorded is left out)."""
    facts = []
    for batch in sorted(instance.get_dynamic_partitions(SEED_BATCHES.name)):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("verified_solutions"), asset_partitions=[batch]), limit=1
        ).records
        metadata = records[0].asset_materialization.metadata if records else {}
        if "judge_model" in metadata:
            warning = metadata.get("self_preference_warning")
            facts.append(JudgeFact(batch, str(metadata["judge_model"].value), str(warning.value) if warning else ""))
    return facts


def _review_facts(
    warehouse: Warehouse, source_files: SourceFiles, settings: dict[str, Any], exported: set[str]
) -> ReviewFacts | None:
    if not warehouse.table_exists("review_decisions"):
        return None
    queue = source_files.folder("review") / QUEUE_FILE
    queued = sum(1 for line in queue.read_text(encoding="utf-8").splitlines() if line.strip()) if queue.exists() else 0
    summary = agreement_summary(warehouse.read_table("review_decisions").to_dict("records"), settings["edit_credit"])
    in_export = not warehouse.table_exists("reviewed_training_set") or exported == set(
        warehouse.read_table("reviewed_training_set")["id"])
    return ReviewFacts(queued, summary.decided, summary.accepted, summary.rejected, summary.edited, summary.agreement,
                       in_export, summary.edit_credit)


def _judge_facts(warehouse: Warehouse, verification: dict[str, Any], calibration: dict[str, Any]) -> JudgeFilterFacts:
    """What the judge's rules removed at `verified_solutions`, what decided each judged row, and the
    last calibration of its threshold."""
    removed, decided_by, fits = {}, {}, []
    if warehouse.table_exists("rejects"):
        removed = dict(warehouse.query(
            "SELECT reason, count(*) AS n FROM rejects WHERE stage = 'verified_solutions' GROUP BY reason"
        ).itertuples(index=False))
    # Only tables that record the column: a warehouse whose verified_solutions ran before thresholds
    # were recorded per row has none to count (the card reads; it does not change the schema).
    recorded = set(warehouse.query(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'judge_threshold_source' "
        "AND table_name IN ('verified_solutions', 'rejects') AND table_catalog = current_database()"
    )["table_name"]) if warehouse.exists() else set()
    judged = "SELECT judge_threshold_source AS source FROM {} WHERE judge_threshold_source IS NOT NULL{}"
    parts = [judged.format(table, where) for table, where in
             (("verified_solutions", ""), ("rejects", " AND stage = 'verified_solutions'")) if table in recorded]
    if parts:
        decided_by = dict(warehouse.query(f"SELECT source, count(*) AS n FROM ({' UNION ALL '.join(parts)}) GROUP BY source")
                          .itertuples(index=False))
    if warehouse.table_exists("judge_calibration"):
        fits = warehouse.read_table("judge_calibration", "ORDER BY domain").to_dict("records")
    # A stage recorded before keep_top_fraction existed kept every row that passed.
    return JudgeFilterFacts(verification["judge_threshold"], verification.get("keep_top_fraction", 1.0),
                            {str(k): int(v) for k, v in removed.items()}, {str(k): int(v) for k, v in decided_by.items()},
                            fits, calibration["confidence"])


card_assets = [dataset_card]
