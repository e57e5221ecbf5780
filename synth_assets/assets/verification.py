"""Rejection sampling: k candidate solutions per instruction, verified, the best kept."""


import dagster as dg
import pandas as pd

from resources.sandbox.resource import CodeSandbox
from resources.teacher.resource import TeacherResource
from resources.warehouse import Warehouse
from synth_assets.assets.common import (
    FOLLOWS_UPSTREAM,
    WAREHOUSE_POOL,
    RecordingTeacher,
    read_batch,
    stage_metadata,
    write_stage,
)
from synth_assets.assets.partitions import SEED_BATCHES
from synth_assets.assets.settings import CandidateSettings, VerificationSettings
from synth_assets.assets.stage_config import record_settings
from synth_assets.core.corrections import correction_pairs as correction_pairs_of
from synth_assets.core.judge_calibration import JudgeThresholds
from synth_assets.core.review import Decision
from synth_assets.core.rows import PASSED_BUT_NOT_KEPT, RejectReason
from synth_assets.core.solutions import candidate_rows, solve_requests
from synth_assets.core.verify.judge import self_preference_warning
from synth_assets.core.verify.run import VerificationConfig, verify_candidates

VERIFICATION = "verification"
# The tables whose rows are instructions waiting for answers.
INSTRUCTION_TABLES = ("seeds", "evolved_instructions", "self_instruct_tasks", "augmented_instructions")


@dg.asset(group_name=VERIFICATION, pool=WAREHOUSE_POOL, deps=list(INSTRUCTION_TABLES), kinds={"duckdb"},
          partitions_def=SEED_BATCHES, automation_condition=FOLLOWS_UPSTREAM)
def candidate_solutions(
    context: dg.AssetExecutionContext, config: CandidateSettings, answerer: TeacherResource, warehouse: Warehouse
) -> dg.MaterializeResult:
    """k samples per instruction at a sampling temperature, written by the answering teacher;
    every sample is kept for verification."""
    batch = context.partition_key
    instructions = pd.concat([read_batch(warehouse, t, batch) for t in INSTRUCTION_TABLES], ignore_index=True).to_dict("records")
    recorder = RecordingTeacher(answerer)
    completions = recorder(solve_requests(instructions, config.to_core()))
    out, rejects = write_stage(warehouse, "candidate_solutions", candidate_rows(instructions, completions, recorder.teacher_id),
                               batch=batch)
    truncated = int((out["finish_reason"] == "length").sum()) if not out.empty else 0
    return dg.MaterializeResult(
        metadata=stage_metadata(out, rejects, rows_in=len(instructions), instructions=len(instructions),
                                truncated=truncated, **recorder.metadata(), **record_settings(context, config))
    )


@dg.asset(group_name=VERIFICATION, pool=WAREHOUSE_POOL, deps=["candidate_solutions"], kinds={"duckdb"},
          partitions_def=SEED_BATCHES, automation_condition=FOLLOWS_UPSTREAM)
def verified_solutions(
    context: dg.AssetExecutionContext,
    config: VerificationSettings,
    judge: TeacherResource,
    teacher: TeacherResource,
    sandbox: CodeSandbox,
    warehouse: Warehouse,
) -> dg.MaterializeResult:
    """Candidates that pass their check: unit tests in the sandbox (code), the reference answer or
    the majority answer (math), the judge's rubric (the rest). Failures are kept in `rejects` by
    class. Warns (log and metadata) when the judge is the generating or answering model."""
    candidates = read_batch(warehouse, "candidate_solutions", context.partition_key).to_dict("records")
    described = sandbox.describe()
    context.log.info(f"code sandbox: isolation {described['isolation']}, {described['workers']} workers")
    if described["warning"]:
        context.log.warning(described["warning"])
    # The teacher resource is the generator of this run; the candidates record who answered them.
    self_preference = self_preference_warning(judge.teacher_id, {teacher.model_id, *(c["teacher"] for c in candidates)})
    if self_preference:
        context.log.warning(self_preference)
    recorder = RecordingTeacher(judge)
    settings = config.to_core()
    thresholds = _judge_thresholds(warehouse, settings)
    outcome = verify_candidates(candidates, sandbox.run_many, recorder, settings, thresholds, judge_model=judge.teacher_id)
    out, rejects = write_stage(warehouse, "verified_solutions", outcome.kept, outcome.rejected, batch=context.partition_key)
    return dg.MaterializeResult(
        metadata=stage_metadata(
            out, rejects, rows_in=len(candidates),
            removed_by_rule=dg.MetadataValue.md(_removed_by_rule(rejects)),
            judge_thresholds=dg.MetadataValue.md(_thresholds_table(thresholds)),
            **_decided_by(out, rejects),
            pass_rate_by_domain=dg.MetadataValue.md(_pass_rates(candidates, outcome.kept, outcome.rejected)),
            verdicts=dg.MetadataValue.md(
                "| verifier | verdict | candidates |\n| --- | --- | ---: |\n"
                + "\n".join(f"| {v} | {r} | {n} |" for (v, r), n in sorted(outcome.verdicts.items()))
            ),
            sandbox_isolation=described["isolation"],
            sandbox_warning=described["warning"] or "",
            sandbox=dg.MetadataValue.json(described),
            judge_model=judge.teacher_id,
            self_preference=bool(self_preference),
            self_preference_warning=self_preference,
            **recorder.metadata(), **record_settings(context, config),
        )
    )


def _judge_thresholds(warehouse: Warehouse, settings: VerificationConfig) -> JudgeThresholds:
    """The default threshold, the domains `judge_calibration` calibrated in an earlier run, and the
    rows people reviewed (their decision, an edit as a keep); only the default with `use_calibration` off.
    A feedback from the last run, not a graph edge: the calibration depends on this stage's rows."""
    if not settings.use_calibration:
        return JudgeThresholds(settings.judge_threshold)
    fits = warehouse.read_table("judge_calibration").to_dict("records") if warehouse.table_exists("judge_calibration") else []
    reviewed = {}
    if warehouse.table_exists("review_decisions"):
        decided = warehouse.query("SELECT id, decision FROM review_decisions")
        reviewed = {i: d != Decision.REJECT for i, d in zip(decided["id"], decided["decision"], strict=True)}
    return JudgeThresholds.from_calibration(settings.judge_threshold, fits, reviewed)


# The rules that remove a judged or passed row, by reject reason, in the words of the settings.
_RULES = {RejectReason.LOW_JUDGE_SCORE: "judge threshold (default or calibrated)",
          RejectReason.BELOW_TOP_FRACTION: "keep_top_fraction", RejectReason.HUMAN_REJECTED: "a reviewer's decision",
          RejectReason.SIBLING_SELECTED: "best of k per task"}


def _removed_by_rule(rejects: pd.DataFrame) -> str:
    counts = rejects["reason"].value_counts() if not rejects.empty else pd.Series(dtype=int)
    return "| rule | reason | rows removed |\n| --- | --- | ---: |\n" + "\n".join(
        f"| {rule} | {reason} | {int(counts.get(str(reason), 0))} |" for reason, rule in _RULES.items())


def _thresholds_table(thresholds: JudgeThresholds) -> str:
    lines = ["| domain | threshold | source |", "| --- | ---: | --- |", f"| (any other) | {thresholds.default:g} | default |"]
    lines += [f"| {d} | {t:g} | calibrated from {n} decisions |" for d, (t, n) in sorted(thresholds.calibrated.items())]
    return "\n".join(lines) + f"\n\n{len(thresholds.reviewed)} reviewed rows keep their reviewer's decision."


def _decided_by(out: pd.DataFrame, rejects: pd.DataFrame) -> dict[str, int]:
    """How many judged rows (kept or not) each kind of threshold decided: `judged_by/<source>`."""
    sources = pd.concat([f["judge_threshold_source"] for f in (out, rejects) if "judge_threshold_source" in f])
    counts = sources.dropna().str.replace(r"^calibrated from \d+ decisions$", "calibrated", regex=True).value_counts()
    return {f"judged_by/{source}": int(n) for source, n in sorted(counts.items())}


def _pass_rates(candidates: list[dict], kept: list[dict], rejected: list[dict]) -> str:
    passed = {r["id"] for r in kept} | {r["id"] for r in rejected if r["reason"] in PASSED_BUT_NOT_KEPT}
    frame = pd.DataFrame({"domain": [c["domain"] for c in candidates], "passed": [c["id"] in passed for c in candidates]})
    if frame.empty:
        return "No candidates."
    table = frame.groupby("domain")["passed"].agg(["count", "sum", "mean"]).reset_index()
    table.columns = ["domain", "candidates", "passed", "pass rate"]
    return table.to_markdown(index=False, floatfmt=".2f")


@dg.asset(group_name=VERIFICATION, pool=WAREHOUSE_POOL, deps=["verified_solutions"], kinds={"duckdb"},
          partitions_def=SEED_BATCHES, automation_condition=FOLLOWS_UPSTREAM)
def correction_pairs(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Error-and-correction pairs: for a task with a candidate a real check failed (tests, the
    reference answer) and one it passed, the task with the failed attempt and the verifier's
    message as the instruction, and the passing answer as the response. Not in the corpus unless
    `deduplicated_corpus` is run with `include_corrections: true`."""
    batch = context.partition_key
    kept = read_batch(warehouse, "verified_solutions", batch).to_dict("records")
    rejected = warehouse.read_table("rejects", "WHERE stage = 'verified_solutions' AND seed_batch = ?", [batch]) \
        .to_dict("records") if warehouse.table_exists("rejects") else []
    pairs = correction_pairs_of(kept, rejected)
    out, rejects = write_stage(warehouse, "correction_pairs", pairs, batch=batch)
    by_failure = out["operation"].value_counts().to_dict() if not out.empty else {}
    return dg.MaterializeResult(
        metadata=stage_metadata(out, rejects, rows_in=len(kept),
                                **{f"corrects/{reason}": int(n) for reason, n in sorted(by_failure.items())})
    )
