"""The diversity stages' effect: the whole graph with and without them, on the same seeds.

    .venv/bin/python bench/diversity_effect.py                       # the shipped data, default settings
    .venv/bin/python bench/diversity_effect.py --operations round_trip  # one augmentation operator only
    .venv/bin/python bench/diversity_effect.py --workdir /tmp/de --keep

1. Copies the shipped data (data/seeds, human, documents, benchmarks) into two folders.
2. Runs the graph as `synth run` does (every seed batch, then the corpus and the mix, with every
   gate) with the offline `rules` teacher, once without the diversity stages (`DIVERSITY_STAGES`:
   `augmented_instructions`, `document_qa_pairs`) and once with them, each into its own warehouse;
   `--operations` sets the augmentation operators of the second run (default: the stage's default).
3. Prints, side by side: rows, distinct-1 and distinct-2, the Vendi score (TF-IDF vectors) of the
   mix and of the corpus's synthetic rows, each on an equal-size seeded sample of the two runs (both
   figures grow or shrink with the number of rows, so only equal sizes compare), tail coverage
   (the thinnest seed category's rows in the mix, the categories under the gate's minimum), the
   `relative_diversity` gate's synthetic/human ratio, the mix's
   rows per technique and per (domain, category), and which gates failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# The stages this benchmark turns off in its "without" run.
DIVERSITY_STAGES = ("augmented_instructions", "document_qa_pairs")
VARIANTS = ("without", "with")


def run_variant(folder: Path, with_stages: bool, operations: list[str] | None = None) -> dict:
    """One whole-graph run on a fresh copy of the shipped data; its tables and outcome."""
    from synth_assets.definitions import PIPELINE_ASSETS, build_resources
    from synth_assets.graph_run import run_graph

    data = folder / "data"
    for kind in ("seeds", "human", "documents", "benchmarks"):
        shutil.copytree(REPO / "data" / kind, data / kind, ignore=shutil.ignore_patterns("*.md"))
    names = [key.to_user_string() for asset in PIPELINE_ASSETS for key in asset.keys]
    select = names if with_stages else [n for n in names if n not in DIVERSITY_STAGES]
    resources = build_resources(data)
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        run_config = {"ops": {"augmented_instructions": {"config": {"operations": operations}}}} if operations else None
        outcome = run_graph(instance, resources, select=select, run_config=run_config, loggers={"quiet": _quiet})
        failed = sorted({e.check_name for e in outcome.get_asset_check_evaluations() if not e.passed})
    warehouse = resources["warehouse"]
    return {"seconds": time.perf_counter() - started, "failed_gates": failed,
            "mix": warehouse.read_table("mixed_training_set"), "corpus": warehouse.read_table("deduplicated_corpus"),
            "seeds": warehouse.read_table("seeds")}


@dg.logger(description="warnings and errors only: the bench prints its own progress")
def _quiet(_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.getLogger("diversity-effect")
    log.setLevel(logging.WARNING)
    return log


def diversity(frame, size: int) -> tuple[float, float, float]:
    """distinct-1, distinct-2 and Vendi of `size` rows chosen by a hash of their ids."""
    from synth_assets.core.metrics.diversity import distinct_ns, tfidf_vectors, vendi_score
    from synth_assets.core.metrics.frames import row_texts, stable_sample_positions

    sample = frame.iloc[stable_sample_positions(frame["id"], size, seed=0)]
    texts = list(row_texts(sample))
    ns = distinct_ns(texts, (1, 2))
    return ns[1], ns[2], vendi_score(tfidf_vectors(texts))


def report(runs: dict[str, dict]) -> str:
    from synth_assets.core.metrics.gates.diversity import check_relative_diversity, check_tail_coverage
    from synth_assets.core.seed_coverage import TAIL_MIN_ROWS

    lines = ["| measure | " + " | ".join(VARIANTS) + " |", "| --- | " + " | ".join("---:" for _ in VARIANTS) + " |"]

    def row(name: str, values: list) -> None:
        lines.append(f"| {name} | " + " | ".join(values) + " |")

    row("run time, s", [f"{runs[v]['seconds']:.0f}" for v in VARIANTS])
    row("corpus rows", [f"{len(runs[v]['corpus']):,}" for v in VARIANTS])
    row("mix rows (synthetic)", [f"{len(runs[v]['mix']):,} ({(runs[v]['mix']['origin'] == 'synthetic').sum():,})"
                                 for v in VARIANTS])
    for part, pick in (("mix", lambda f: f),
                       ("corpus, synthetic rows", lambda f: f[f["origin"] == "synthetic"])):
        frames = {v: pick(runs[v]["mix" if part == "mix" else "corpus"]) for v in VARIANTS}
        size = min(len(f) for f in frames.values())
        measured = {v: diversity(frames[v], size) for v in VARIANTS}
        for index, name in enumerate(("distinct-1", "distinct-2", "Vendi (TF-IDF)")):
            row(f"{part}: {name}, {size:,} rows", [f"{measured[v][index]:.3f}" if index < 2 else f"{measured[v][index]:.1f}"
                                                   for v in VARIANTS])
    relative = {v: check_relative_diversity(runs[v]["mix"]) for v in VARIANTS}
    row("relative diversity, synthetic/human (the gate's value; floor 0.80)",
        [f"{relative[v].value:.3f} (distinct-2 {relative[v].extra['distinct_2_ratio']:.2f}, "
         f"Vendi {relative[v].extra['vendi_ratio']:.2f})" for v in VARIANTS])
    tails = {}
    for v in VARIANTS:
        seeds = runs[v]["seeds"]
        categories = sorted(set(zip(seeds["domain"], seeds["category"], strict=True)))
        tails[v] = check_tail_coverage(runs[v]["mix"], categories, min_rows=TAIL_MIN_ROWS)
    row("tail coverage: thinnest seed category, rows", [f"{tails[v].value:.0f}" for v in VARIANTS])
    row(f"tail coverage: seed categories under {TAIL_MIN_ROWS} rows",
        [f"{tails[v].extra['categories_below']:.0f} of {tails[v].extra['seed_categories']:.0f}" for v in VARIANTS])
    row("gates failed", [", ".join(runs[v]["failed_gates"]) or "none" for v in VARIANTS])
    techniques = sorted(set().union(*(runs[v]["mix"]["technique"] for v in VARIANTS)))
    for technique in techniques:
        row(f"mix rows, technique {technique}", [str(int((runs[v]["mix"]["technique"] == technique).sum()))
                                                 for v in VARIANTS])
    categories = sorted(set().union(*(zip(runs[v]["mix"]["domain"], runs[v]["mix"]["category"], strict=True)
                                      for v in VARIANTS)))
    for domain, category in categories:
        row(f"mix rows, {domain}/{category}", [str(int(((runs[v]["mix"]["domain"] == domain)
                                                        & (runs[v]["mix"]["category"] == category)).sum()))
                                               for v in VARIANTS])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="where to build the two runs (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--operations", help="comma-separated augmentation operators of the run with the stages, "
                        "or 'all' (default: the stage's default)")
    args = parser.parse_args()
    from synth_assets.core.augment import DEFAULT_OPERATIONS, OPERATORS

    operations = list(OPERATORS) if args.operations == "all" else (
        args.operations.split(",") if args.operations else None)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="diversity-effect-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    print(f"two whole-graph runs of the shipped data in {work}; augmentation operators of the second: "
          f"{', '.join(operations or DEFAULT_OPERATIONS) or 'none'}; load average {load_before[0]:.1f} at the start", flush=True)
    try:
        runs = {}
        for variant in VARIANTS:
            runs[variant] = run_variant(work / variant, with_stages=variant == "with", operations=operations)
            print(f"{variant} the diversity stages: {runs[variant]['seconds']:.0f} s", flush=True)
        print()
        print(report(runs))
        print(f"\nload average: {load_before[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
              f"(other jobs share these cores)")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
