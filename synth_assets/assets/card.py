"""The dataset card next to the export: `data/exports/README.md` in the Hugging Face format, and
the funnel of rows through the stages as a picture in the asset's metadata."""


import base64
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from resources.source_files import SourceFiles
from resources.stats import collect_stats
from resources.warehouse import Warehouse
from synth_assets.assets.common import FOLLOWS_UPSTREAM
from synth_assets.assets.export import EXPORT
from synth_assets.assets.settings import STAGE_SETTINGS
from synth_assets.core.dataset_card import (
    CardFacts,
    FunnelStage,
    ReviewFacts,
    StageFilter,
    diversity_png,
    funnel_png,
    render_card,
    stage_diversity,
)
from synth_assets.core.export import PROVENANCE_FIELDS
from synth_assets.core.metrics import DEFAULT_THRESHOLDS
from synth_assets.core.review import QUEUE_FILE, agreement_summary

__all__ = ["card_assets", "dataset_card"]

FUNNEL_FILE = "funnel.png"
DIVERSITY_FILE = "diversity.png"
# The stages whose instructions the diversity chart compares, in graph order.
DIVERSITY_STAGES = ("seeds", "evolved_instructions", "self_instruct_tasks", "backtranslated_pairs", "human_reference",
                    "verified_solutions", "deduplicated_corpus", "mixed_training_set", "reviewed_training_set")


class CardSettings(dg.Config):
    export_name: str = "training_set"
    pretty_name: str = "synth-factory training set"
    license: str = "apache-2.0"
    languages: list[str] = ["en"]


@dg.asset(group_name=EXPORT, deps=["training_set_export", "reviewed_training_set"], kinds={"markdown"},
          automation_condition=FOLLOWS_UPSTREAM)
def dataset_card(
    context: dg.AssetExecutionContext, config: CardSettings, source_files: SourceFiles, warehouse: Warehouse
) -> dg.MaterializeResult:
    """`data/exports/README.md`: what is in the export, how it was made, what every filter removed,
    diversity, provenance and known limitations; with `funnel.png` beside it."""
    folder = source_files.folder("exports")
    rows = _export_rows(folder / f"{config.export_name}.parquet")
    stats, _ = collect_stats(warehouse)
    settings = {stage: _settings(context.instance, stage, cls) for stage, cls in STAGE_SETTINGS.items()}
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
        rows=rows, data_file=f"{config.export_name}.parquet", filters=filters,
        gates={name: (t.value, t.source) for name, t in DEFAULT_THRESHOLDS.items()},
        review=_review_facts(warehouse, source_files, settings["review_decisions"][0], set(rows["id"])),
        target_human_fraction=settings["mixed_training_set"][0]["human_fraction"],
        pretty_name=config.pretty_name, license=config.license, languages=config.languages, funnel_image=FUNNEL_FILE,
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
    })


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


def _settings(instance: dg.DagsterInstance, stage: str, config_class: type[dg.Config]) -> tuple[dict[str, Any], frozenset]:
    """The stage's settings in the run that last materialized it: its run config over the defaults."""
    defaults = config_class().model_dump()
    event = instance.get_latest_materialization_event(dg.AssetKey(stage))
    run = instance.get_run_by_id(event.run_id) if event else None
    given = ((((run.run_config if run else None) or {}).get("ops", {}).get(stage) or {}).get("config")) or {}
    return {**defaults, **given}, frozenset(given)


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


card_assets = [dataset_card]
