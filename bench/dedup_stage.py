"""`deduplicated_corpus` on the shipped data: its step time before and after, and where it goes.

    .venv/bin/python bench/dedup_stage.py                 # each variant once, then a profile of each
    .venv/bin/python bench/dedup_stage.py --repeats 3     # variants alternated, the fastest of each kept
    .venv/bin/python bench/dedup_stage.py --no-profile --workdir /tmp/dd --keep

1. Builds the stage's inputs once, in a temporary folder: the shipped data (data/seeds, human,
   documents, benchmarks) through every stage up to `verified_solutions`, `backtranslated_pairs`
   and `benchmark_index`, with the offline `rules` teacher, as `synth run` makes them.
2. Materializes `deduplicated_corpus` on a copy of that warehouse, each time in a fresh process as
   `synth run` does (imports and model loading are part of the step), in three variants:
   - `baseline`: the stage before this change: the embedding model on a thread per CPU (torch's
     default on these machines), and every text embedded on every run;
   - `first run`: threads measured on the first chunks, the embedding cache empty (`make demo`);
   - `re-run`: the same warehouse again, the cache filled by the first run (every later refresh:
     the corpus is rebuilt from every seed batch each time).
3. Prints each variant's step time (Dagster's own), its ratio to the baseline measured in the same
   invocation, the load average around it, and whether every variant kept the same rows. Then,
   unless `--no-profile`, one more run of each variant under cProfile, and where its time went
   (cProfile slows imports down, so these parts add up to more than the step times above).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VARIANTS = ("baseline", "first run", "re-run")
# Where the time goes: (part, file fragment, function name) of cProfile's cumulative times.
PARTS = (
    ("stage the corpus in SQL, exact duplicates", "assets/curation.py", "_stage_corpus"),
    ("MinHash near duplicates", "dedup/near.py", "near_duplicates"),
    ("load the model (imports included)", "resources/embedder.py", "_load"),
    ("embed: the model's forward passes", "sentence_transformer/model.py", "encode"),
    ("embedding cache: read and write", "resources/embedding_cache.py", "get_many|put_many"),
    ("semantic search", "dedup/semantic.py", "semantic_duplicates"),
    ("decontamination", "dedup/decontamination.py", "match_many"),
    ("write the stage", "assets/common.py", "write_stage"),
)


def build_inputs(folder: Path) -> Path:
    """The shipped data run up to the stage's inputs; returns the data folder."""
    import dagster as dg

    from synth_assets.definitions import build_resources
    from synth_assets.graph_run import run_graph

    data = folder / "data"
    for kind in ("seeds", "human", "documents", "benchmarks"):
        shutil.copytree(REPO / "data" / kind, data / kind, ignore=shutil.ignore_patterns("*.md"))
    upstream = ["seeds", "evolved_instructions", "self_instruct_tasks", "augmented_instructions", "candidate_solutions",
                "verified_solutions", "documents", "backtranslated_pairs", "document_qa_pairs", "human_reference",
                "benchmark_index"]
    with dg.DagsterInstance.ephemeral() as instance:
        outcome = run_graph(instance, build_resources(data), select=upstream)
    if not outcome.success:
        raise SystemExit("could not build the stage's inputs: the upstream runs failed")
    return data


def worker(data: Path, variant: str, profile: Path | None) -> None:
    """One materialization of the stage, in this process; prints a JSON line."""
    import cProfile

    import dagster as dg

    from resources.embedder import EmbeddingModel
    from synth_assets.assets.curation import deduplicated_corpus
    from synth_assets.assets.partitions import SEED_BATCHES
    from synth_assets.core.batches import seed_batch_files
    from synth_assets.definitions import build_resources

    resources = build_resources(data)
    if variant == "baseline":  # torch's own default here: a thread per CPU; and no cache
        resources["embedding_model"] = EmbeddingModel(threads=len(os.sched_getaffinity(0)), warehouse=None)
    load_before = os.getloadavg()[0]
    profiler = cProfile.Profile() if profile else None
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(SEED_BATCHES.name, list(seed_batch_files(data / "seeds")))
        if profiler:
            profiler.enable()
        result = dg.materialize([deduplicated_corpus], resources=resources, instance=instance)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
    step = next(e for e in result.all_events if e.is_step_success)
    metadata = result.asset_materializations_for_node("deduplicated_corpus")[0].metadata
    kept = sorted(resources["warehouse"].read_table("deduplicated_corpus")["id"])
    print(json.dumps({
        "step_s": step.event_specific_data.duration_ms / 1000, "load_before": load_before,
        "load_after": os.getloadavg()[0], "rows_in": metadata["rows_in"].value, "kept": kept,
        "cache_hits": metadata["embedding_cache/hits"].value if "embedding_cache/hits" in metadata else 0,
    }))


def run_variant(inputs: Path, work: Path, variant: str, profile: Path | None = None) -> dict:
    """The variant in a fresh process, on its own copy of the inputs (the re-run reuses the first
    run's copy, cache included)."""
    data = work / ("first run" if variant == "re-run" else variant).replace(" ", "_")
    if variant != "re-run":
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(inputs, data)
    elif not data.exists():
        raise SystemExit("the re-run needs the first run's warehouse")
    command = [sys.executable, __file__, "--worker", str(data), variant] + (["--profile", str(profile)] if profile else [])
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def breakdown(profile: Path) -> dict[str, float]:
    import pstats
    import re

    stats = pstats.Stats(str(profile)).stats
    parts = {}
    for name, fragment, functions in PARTS:
        pattern = re.compile(rf"^({functions})$")
        parts[name] = max((row[3] for (path, _, function), row in stats.items()
                           if fragment in path and pattern.match(function)), default=0.0)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each variant, alternated")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled runs and the breakdown")
    parser.add_argument("--workdir", type=Path, help="where to build the inputs (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="leave the work folder in place")
    parser.add_argument("--worker", nargs=2, metavar=("DATA", "VARIANT"), help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(Path(args.worker[0]), args.worker[1], args.profile)
        return

    work = args.workdir or Path(tempfile.mkdtemp(prefix="dedup-stage-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"building the stage's inputs from the shipped data in {work} (load average {os.getloadavg()[0]:.1f})")
    inputs = build_inputs(work / "inputs")
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for variant in VARIANTS:
            result = run_variant(inputs, work, variant)
            if variant not in best or result["step_s"] < best[variant]["step_s"]:
                best[variant] = result

    base = best["baseline"]["step_s"]
    same = all(best[v]["kept"] == best["baseline"]["kept"] for v in VARIANTS)
    print(f"\ndeduplicated_corpus on the shipped data: {best['baseline']['rows_in']} rows in, "
          f"{len(best['baseline']['kept'])} kept; {os.cpu_count()} CPUs; fastest of {args.repeats} per variant\n")
    print("| variant | step s | x baseline | texts from the embedding cache | load avg before | load avg after |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for variant in VARIANTS:
        r = best[variant]
        print(f"| {variant} | {r['step_s']:.1f} | {r['step_s'] / base:.2f} | {r['cache_hits']} | "
              f"{r['load_before']:.1f} | {r['load_after']:.1f} |")
    print(f"\nsame rows kept by every variant: {'yes' if same else 'NO'}")

    if not args.no_profile:
        parts = {}
        for variant in VARIANTS:
            profile = work / f"{variant.replace(' ', '_')}.pstats"
            run_variant(inputs, work, variant, profile)
            parts[variant] = breakdown(profile)
        print("\nwhere the time goes (cProfile, seconds of each variant's profiled run):\n")
        print("| part | " + " | ".join(VARIANTS) + " |")
        print("| --- |" + " ---: |" * len(VARIANTS))
        for name, *_ in PARTS:
            print(f"| {name} | " + " | ".join(f"{parts[v][name]:.1f}" for v in VARIANTS) + " |")
        print(f"\nload average now {os.getloadavg()[0]:.1f}")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
