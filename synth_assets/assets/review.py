"""The human review loop: a sample of the mix and of the judged rows for a person, their decisions,
the mix with the decisions applied, and the judge threshold calibrated on them. The steps are in
docs/operations.md; the rules in `synth_assets.core.review` and `synth_assets.core.judge_calibration`."""


import dagster as dg
import pandas as pd

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import FOLLOWS_UPSTREAM, WAREHOUSE_POOL, frame, stage_metadata
from synth_assets.assets.partitions import drop_removed_batches
from synth_assets.assets.settings import CalibrationSettings, ReviewDecisionSettings, ReviewQueueSettings
from synth_assets.assets.stage_config import record_settings, recorded_settings
from synth_assets.core.judge_calibration import CALIBRATED, CALIBRATION_COLUMNS, DomainCalibration, calibrate
from synth_assets.core.review import (
    DECISIONS_FILE,
    QUEUE_FILE,
    REVIEW_DECISION_COLUMNS,
    AgreementSummary,
    agreement_summary,
    apply_decisions,
    read_decisions,
    sample_for_review,
    sample_judged_for_review,
    write_queue,
)
from synth_assets.core.schema import CORPUS_COLUMNS, QUARANTINE_COLUMNS, REJECT_COLUMNS
from synth_assets.core.verify.run import VerificationConfig

__all__ = ["REVIEW", "judge_calibration", "judged_rows", "review_assets", "review_decisions", "review_queue",
           "reviewed_training_set"]

REVIEW = "review"
JUDGED_COLUMNS = ("id", "origin", "domain", "technique", "instruction", "response", "judge_score")


def judged_rows(warehouse: Warehouse) -> pd.DataFrame:
    """Every row of `verified_solutions` the judge scored, kept or rejected (any reason), with its score."""
    columns = ", ".join(f'"{c}"' for c in JUDGED_COLUMNS)
    parts = [f"SELECT {columns} FROM {table} WHERE verifier = 'judge' AND judge_score IS NOT NULL{where}"
             for table, where in (("verified_solutions", ""), ("rejects", " AND stage = 'verified_solutions'"))
             if warehouse.table_exists(table)]
    if not parts:
        return pd.DataFrame(columns=list(JUDGED_COLUMNS))
    return warehouse.query(" UNION ALL ".join(parts) + " ORDER BY id")


@dg.asset(group_name=REVIEW, deps=["mixed_training_set"], kinds={"json"}, automation_condition=FOLLOWS_UPSTREAM)
def review_queue(
    context: dg.AssetExecutionContext, config: ReviewQueueSettings, source_files: SourceFiles, warehouse: Warehouse
) -> dg.MaterializeResult:
    """`data/review/review_queue.jsonl`: 10% of the synthetic rows of the mix, stratified by
    domain and technique, and a sample of the rows the judge scored (kept or not) across the score
    range, per domain; with empty `decision`, `corrected_response` and `reviewer_note`."""
    drop_removed_batches(context.log, source_files, warehouse)
    mix = warehouse.read_table("mixed_training_set", "ORDER BY id")
    sampling = config.to_core()
    from_mix = sample_for_review(mix.to_dict("records"), sampling)
    judged = judged_rows(warehouse)
    from_judged = sample_judged_for_review(judged.to_dict("records"), sampling, exclude={r["id"] for r in from_mix})
    sample = sorted([*from_mix, *from_judged], key=lambda r: (str(r["domain"]), str(r["technique"]), str(r["id"])))
    path = source_files.folder("review") / QUEUE_FILE
    write_queue(sample, path)
    strata = pd.DataFrame(sample, columns=["domain", "technique"]).value_counts().rename("rows").reset_index()
    by_score = pd.DataFrame(from_judged, columns=["domain", "judge_score"]).value_counts().rename("rows") \
        .reset_index().sort_values(["domain", "judge_score"])
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(sample),
        "rows_from_mix": len(from_mix),
        "rows_from_judged": len(from_judged),
        "judged_rows": len(judged),
        "judged_rows_queued_by_score": dg.MetadataValue.md(
            by_score.to_markdown(index=False) if len(by_score) else "(none)"),
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
    """The decisions a person made in `data/review/decisions.jsonl`, joined with the mix and with
    the rows the judge scored; lines that cannot be used go to `quarantine`. Reports how often
    reviewers agreed with the gates."""
    drop_removed_batches(context.log, source_files, warehouse)
    read = read_decisions(source_files.folder("review") / DECISIONS_FILE)
    for bad in read.quarantined:
        context.log.warning(f"quarantined {bad}")
    keys = ["id", "origin", "domain", "technique"]
    mix = warehouse.read_table("mixed_training_set")[keys].set_index("id")
    judged = judged_rows(warehouse)[[*keys, "judge_score"]].set_index("id")
    rows = []
    for d in read.decisions:
        found = judged.loc[d["id"]].to_dict() if d["id"] in judged.index else {}
        found.update(mix.loc[d["id"]].to_dict() if d["id"] in mix.index else {})
        rows.append({**d, **found, "in_mix": d["id"] in mix.index, "judged": d["id"] in judged.index})
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
        "on_judged_rows": int(table["judged"].astype(bool).sum()) if len(table) else 0,
        "not_found": int((~table["in_mix"].astype(bool) & ~table["judged"].astype(bool)).sum()) if len(table) else 0,
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


@dg.asset(group_name=REVIEW, pool=WAREHOUSE_POOL, deps=["review_decisions"], kinds={"duckdb"},
          automation_condition=FOLLOWS_UPSTREAM)
def judge_calibration(
    context: dg.AssetExecutionContext, config: CalibrationSettings, warehouse: Warehouse
) -> dg.MaterializeResult:
    """The judge threshold per domain that best matches the reviewers' decisions on judged rows
    (criterion in `core.judge_calibration`), against the default `judge_threshold`. The next run
    of `verified_solutions` applies a calibrated domain's threshold to the rows nobody reviewed."""
    recorded = (recorded_settings(context.instance, "verified_solutions") or {}).get("judge_threshold")
    default = float(recorded["value"]) if recorded else VerificationConfig().judge_threshold
    decisions = warehouse.read_table("review_decisions", "WHERE judged") if warehouse.table_exists("review_decisions") \
        else pd.DataFrame(columns=list(REVIEW_DECISION_COLUMNS))
    fits = calibrate(decisions.to_dict("records"), default, config.to_core())
    table = frame([f.as_row() for f in fits], CALIBRATION_COLUMNS)
    warehouse.write_table("judge_calibration", table, CALIBRATION_COLUMNS)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(table),
        "default_threshold": default,
        "decisions_on_judged_rows": len(decisions),
        "domains_calibrated": sum(f.status == CALIBRATED for f in fits),
        "calibration": dg.MetadataValue.md(_calibration_table(fits)),
        **{f"calibration/{f.domain}/threshold": f.threshold for f in fits},
        **record_settings(context, config),
    })


def _calibration_table(fits: list[DomainCalibration]) -> str:
    """The fits as a markdown table (the card renders its own from the warehouse table)."""
    if not fits:
        return "No decisions on judged rows yet: every domain keeps the default threshold."
    return pd.DataFrame([f.as_row() for f in fits]).to_markdown(index=False, floatfmt=".3g")


review_assets = [review_queue, review_decisions, reviewed_training_set, judge_calibration]
