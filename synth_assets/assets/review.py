"""The human review loop: a sample of the mix for a person, their decisions, and the mix with the
decisions applied. The steps are in docs/operations.md; the rules in `synth_assets.core.review`."""


import dagster as dg
import pandas as pd

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import FOLLOWS_UPSTREAM, WAREHOUSE_POOL, frame, stage_metadata
from synth_assets.assets.partitions import drop_removed_batches
from synth_assets.assets.settings import ReviewDecisionSettings, ReviewQueueSettings
from synth_assets.assets.stage_config import record_settings
from synth_assets.core.review import (
    DECISIONS_FILE,
    QUEUE_FILE,
    REVIEW_DECISION_COLUMNS,
    AgreementSummary,
    agreement_summary,
    apply_decisions,
    read_decisions,
    sample_for_review,
    write_queue,
)
from synth_assets.core.schema import CORPUS_COLUMNS, QUARANTINE_COLUMNS, REJECT_COLUMNS

__all__ = ["REVIEW", "review_assets", "review_decisions", "review_queue", "reviewed_training_set"]

REVIEW = "review"


@dg.asset(group_name=REVIEW, deps=["mixed_training_set"], kinds={"json"}, automation_condition=FOLLOWS_UPSTREAM)
def review_queue(
    context: dg.AssetExecutionContext, config: ReviewQueueSettings, source_files: SourceFiles, warehouse: Warehouse
) -> dg.MaterializeResult:
    """`data/review/review_queue.jsonl`: 10% of the synthetic rows of the mix, stratified by
    domain and technique, with empty `decision`, `corrected_response` and `reviewer_note`."""
    drop_removed_batches(context.log, source_files, warehouse)
    mix = warehouse.read_table("mixed_training_set", "ORDER BY id")
    sample = sample_for_review(mix.to_dict("records"), config.to_core())
    path = source_files.folder("review") / QUEUE_FILE
    write_queue(sample, path)
    strata = pd.DataFrame(sample, columns=["domain", "technique"]).value_counts().rename("rows").reset_index()
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(sample),
        "synthetic_rows_in_mix": int((mix["origin"] == "synthetic").sum()),
        "path": dg.MetadataValue.path(str(path)),
        "decisions_file": dg.MetadataValue.path(str(source_files.folder("review") / DECISIONS_FILE)),
        "rows_by_stratum": dg.MetadataValue.md(strata.to_markdown(index=False) if len(strata) else "(empty)"),
        **record_settings(context, config),
    })


@dg.asset(group_name=REVIEW, pool=WAREHOUSE_POOL, deps=["review_queue", "mixed_training_set"], kinds={"duckdb"},
          automation_condition=FOLLOWS_UPSTREAM)
def review_decisions(
    context: dg.AssetExecutionContext, config: ReviewDecisionSettings, source_files: SourceFiles, warehouse: Warehouse
) -> dg.MaterializeResult:
    """The decisions a person made in `data/review/decisions.jsonl`, joined with the mix; lines
    that cannot be used go to `quarantine`. Reports how often reviewers agreed with the gates."""
    drop_removed_batches(context.log, source_files, warehouse)
    read = read_decisions(source_files.folder("review") / DECISIONS_FILE)
    for bad in read.quarantined:
        context.log.warning(f"quarantined {bad}")
    mix = warehouse.read_table("mixed_training_set")[["id", "origin", "domain", "technique"]].set_index("id")
    rows = [{**d, "in_mix": d["id"] in mix.index, **(mix.loc[d["id"]].to_dict() if d["id"] in mix.index else {})}
            for d in read.decisions]
    table = frame(rows, REVIEW_DECISION_COLUMNS)
    warehouse.write_table("review_decisions", table, REVIEW_DECISION_COLUMNS)
    quarantined = pd.DataFrame([q.as_row() for q in read.quarantined], columns=[c for c in QUARANTINE_COLUMNS if c != "stage"])
    warehouse.replace_stage_rows("quarantine", "review_decisions", quarantined, QUARANTINE_COLUMNS)
    summary = agreement_summary(rows, config.edit_credit)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(table),
        "rows_quarantined": len(read.quarantined),
        "undecided": read.undecided,
        "not_in_mix": int((~table["in_mix"].astype(bool)).sum()) if len(table) else 0,
        **_agreement_metadata(summary),
        **record_settings(context, config),
    })


def _agreement_metadata(summary: AgreementSummary) -> dict:
    metadata: dict = {"review/decided": summary.decided, "review/accepted": summary.accepted,
                      "review/rejected": summary.rejected, "review/edited": summary.edited}
    if summary.decided:
        metadata["review/agreement"] = dg.MetadataValue.float(round(summary.agreement, 4))
        metadata["review/strict_agreement"] = dg.MetadataValue.float(round(summary.strict_agreement, 4))
        lines = ["| domain | technique | decided | accept | reject | edit |", "| --- | --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {d} | {t} | {sum(c.values())} | {c['accept']} | {c['reject']} | {c['edit']} |"
                  for (d, t), c in summary.by_stratum.items()]
        metadata["review/by_stratum"] = dg.MetadataValue.md("\n".join(lines))
    else:
        metadata["review/agreement"] = "no decisions yet"
    return metadata


@dg.asset(group_name=REVIEW, pool=WAREHOUSE_POOL, deps=["mixed_training_set", "review_decisions"], kinds={"duckdb"},
          automation_condition=FOLLOWS_UPSTREAM)
def reviewed_training_set(
    context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse
) -> dg.MaterializeResult:
    """The mix with the reviewers' decisions applied: rejected rows go to `rejects`
    (`human_rejected`), edited rows are replaced by a child row (`operation = edited_by_human`)."""
    drop_removed_batches(context.log, source_files, warehouse)
    mix = warehouse.read_table("mixed_training_set", "ORDER BY id")
    decisions = warehouse.read_table("review_decisions", "WHERE in_mix")
    outcome = apply_decisions(mix.to_dict("records"), decisions.to_dict("records"))
    out = frame(outcome.kept, CORPUS_COLUMNS)
    rejects = frame(outcome.rejected, REJECT_COLUMNS)
    warehouse.write_table("reviewed_training_set", out, CORPUS_COLUMNS)
    warehouse.replace_stage_rows("rejects", "reviewed_training_set", rejects, REJECT_COLUMNS)
    return dg.MaterializeResult(
        metadata=stage_metadata(out, rejects, rows_in=len(mix), rows_edited=outcome.edited, decisions_applied=len(decisions))
    )


review_assets = [review_queue, review_decisions, reviewed_training_set]
