"""The decontamination gate: no row shares a 13-gram with a held-out benchmark item.

Curation removes such rows (`deduplicated_corpus`'s `decontaminate` step); this gate checks that
none is left, in the corpus and again in the mix, whatever the settings the stages ran with.
"""

from __future__ import annotations

import pandas as pd

from synth_assets.core.dedup import BenchmarkIndex

from ..frames import excerpt
from ..result import DEFAULT_MAX_OFFENDERS, GateResult, top_offenders

__all__ = ["check_decontamination"]

SOURCE = "GPT-3 (Brown et al. 2020) 13-gram overlap rule"


def check_decontamination(
    frame: pd.DataFrame, index: BenchmarkIndex, *, max_offenders: int = DEFAULT_MAX_OFFENDERS
) -> GateResult:
    """Pass when no row's instruction or response shares an n-gram with an item of `index`.

    `value` is the number of rows that do. Offenders: those rows, with the benchmark item and the
    n-gram they share.
    """
    columns = ["id", "benchmark_id", "shared_ngram", "instruction"]
    texts = (frame["instruction"].fillna("") + "\n" + frame["response"].fillna("")).tolist() if len(frame) else []
    matches = index.match_many(texts)
    hits = pd.DataFrame(
        [(row_id, m.benchmark_id, m.ngram, excerpt(instruction))
         for row_id, instruction, m in zip(frame.get("id", []), frame.get("instruction", []), matches, strict=True) if m is not None],
        columns=columns,
    )
    detail = f"{len(hits)} of {len(frame)} rows share a 13-gram with {len(index)} benchmark items"
    if len(hits):
        shown = ", ".join(f"{row.id} with {row.benchmark_id} ('{row.shared_ngram}')" for row in hits.head(3).itertuples())
        detail += (
            f": {shown}. Training on them leaks the benchmark into the model. Curation removes them when "
            "deduplicated_corpus runs with decontaminate on; a row of data/human that overlaps must be "
            "rewritten or removed there"
        )
    return GateResult(
        name="decontamination", passed=hits.empty, value=float(len(hits)), threshold=0.0, detail=detail,
        source=SOURCE, offenders=top_offenders(hits, columns, max_offenders), extra={},
    )
