"""Embedding throughput for semantic dedup: today's torch path against the faster ones, same run.

    .venv/bin/python bench/embed_throughput.py                  # 3,000 texts, every variant, best of 2
    .venv/bin/python bench/embed_throughput.py --texts 10000 --repeats 3
    .venv/bin/python bench/embed_throughput.py --variants baseline,openvino --json out.json

The texts: the instructions semantic dedup sees at scale, made by bench/pipeline_scale.py's generators
(seed tasks of the three domains and human rows, templated, so many near-paraphrases) plus every
instruction shipped under data/seeds and data/human. Each variant is one `SentenceEmbedder` in this
process (model loaded and warmed up before the clock starts; the OpenVINO conversion, when the export
is not on disk yet, is timed on its own); the variants alternate `--repeats` times and the fastest
run of each is kept, with the load average before and after it (the machine is shared).

Agreement with the baseline: the cosine between each text's two vectors (min and mean), and
`semantic_duplicates` at the configured threshold (`SemanticConfig()`, cosine >= 0.95) run on each
variant's vectors: the rows removed, the (removed, kept) pairs, the clusters, and the pairs of texts
whose cosine falls on opposite sides of 0.95 under the two, with how far from 0.95 they are.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from synth_assets.core.dedup import SemanticConfig, semantic_duplicates  # noqa: E402

# name -> SentenceEmbedder arguments; "baseline" is the path before this change (torch on the CPU,
# length-sorted chunks, measured threads, the model's 256-token limit). 256 is all-MiniLM-L6-v2's own limit.
VARIANTS = {
    "baseline": {"backend": "torch", "device": "cpu", "max_seq_length": 0},
    "torch max_seq_length=128": {"backend": "torch", "device": "cpu", "max_seq_length": 128},
    "openvino max_seq_length=256": {"backend": "openvino", "max_seq_length": 0},
    "openvino max_seq_length=128 (default)": {"backend": "openvino", "max_seq_length": 128},
    "openvino max_seq_length=128 batch_size=32": {"backend": "openvino", "max_seq_length": 128, "batch_size": 32},
}


def bench_texts(count: int) -> list[str]:
    from pipeline_scale import human_records, seed_records

    shipped = []
    for folder in ("seeds", "human"):
        for path in sorted((REPO / "data" / folder).glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    shipped.append(json.loads(line)["instruction"])
    generated = count - len(shipped)
    humans = generated // 6
    texts = [r["instruction"] for r in seed_records(generated - humans)] + [r["instruction"] for r in human_records(humans)]
    return texts + shipped


def load_average() -> float:
    return os.getloadavg()[0]


def duplicates(vectors: np.ndarray) -> tuple[set[tuple[int, int]], set[frozenset[int]]]:
    """(removed row, row it is a duplicate of) for every removal, and the clusters (kept row and its removed rows)."""
    removals = semantic_duplicates(vectors, SemanticConfig())
    pairs = {(r.index, r.kept_index) for r in removals}
    clusters: dict[int, set[int]] = {}
    for index, kept in pairs:
        clusters.setdefault(kept, {kept}).add(index)
    return pairs, {frozenset(c) for c in clusters.values()}


def flipped_edges(base: np.ndarray, other: np.ndarray, threshold: float, block: int = 1024) -> tuple[int, float]:
    """Pairs of texts on opposite sides of the threshold under the two sets of vectors, and the
    largest distance from the threshold of the baseline's cosine among them (how close to the line
    the pairs that disagree are)."""
    count, farthest = 0, 0.0
    for top in range(0, len(base), block):
        a, b = base[top : top + block] @ base.T, other[top : top + block] @ other.T
        rows, cols = np.nonzero((a >= threshold) != (b >= threshold))
        keep = cols > rows + top
        count += int(keep.sum())
        if keep.any():
            farthest = max(farthest, float(np.abs(a[rows[keep], cols[keep]] - threshold).max()))
    return count, farthest


def run(names: list[str], texts: list[str], repeats: int) -> list[dict]:
    from resources.embedder import OpenVINOExport, SentenceEmbedder

    embedders, results = {}, {}
    for name in names:
        embedder = SentenceEmbedder(**VARIANTS[name])
        export_s = None
        if embedder.backend == "openvino" and not OpenVINOExport(embedder.model_path, embedder.export_dir).exists:
            started = time.perf_counter()
            embedder.encode(texts[:1])  # converts the model and writes the export
            export_s = time.perf_counter() - started
        embedder.encode(texts[:256])  # load, compile, warm up
        embedders[name] = embedder
        results[name] = {"variant": name, "embedder": repr(embedder), "export_s": export_s, "seconds": None}
    for _ in range(repeats):
        for name in names:
            before = load_average()
            started = time.perf_counter()
            vectors = embedders[name].encode(texts)
            seconds = time.perf_counter() - started
            result = results[name]
            if result["seconds"] is None or seconds < result["seconds"]:
                result.update(seconds=seconds, rows_per_s=len(texts) / seconds, load_before=before,
                              load_after=load_average(), threads=str(embedders[name].thread_choice),
                              precision=embedders[name].precision)
            result["vectors"] = vectors
    base = results[names[0]]["vectors"]
    base_pairs, base_clusters = duplicates(base)
    base_removed = {index for index, _ in base_pairs}
    for name in names:
        result = results[name]
        vectors = result.pop("vectors")
        cosines = np.einsum("ij,ij->i", vectors, base)
        pairs, clusters = duplicates(vectors)
        removed = {index for index, _ in pairs}
        flipped, farthest = flipped_edges(base, vectors, SemanticConfig().threshold)
        result.update(
            x_baseline=result["rows_per_s"] / results[names[0]]["rows_per_s"],
            cos_min=float(cosines.min()), cos_mean=float(cosines.mean()),
            pairs=len(pairs), pairs_same=len(pairs & base_pairs), pairs_only_here=len(pairs - base_pairs),
            pairs_only_baseline=len(base_pairs - pairs), clusters=len(clusters),
            clusters_same=len(clusters & base_clusters), removed=len(removed),
            removed_same=len(removed & base_removed), removed_only_here=len(removed - base_removed),
            removed_only_baseline=len(base_removed - removed), edges_flipped=flipped, edges_flipped_within=farthest,
        )
    return [results[name] for name in names]


def render(rows: list[dict], texts: int, repeats: int) -> str:
    lines = [
        f"{texts:,} texts, fastest of {repeats}; duplicates: `semantic_duplicates` at cosine >= 0.95, compared "
        f"with the baseline's ({rows[0]['pairs']} removed rows in {rows[0]['clusters']} clusters)",
        "",
        "| variant | rows/s | x baseline | s | load avg before / after | precision | threads | cosine to baseline min / mean "
        "| rows removed same / only here / only baseline | (removed, kept) pairs same / only here / only baseline "
        "| clusters same | pairs across 0.95 (baseline cosine within) |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['rows_per_s']:,.0f} | {r['x_baseline']:.2f} | {r['seconds']:.1f} | "
            f"{r['load_before']:.1f} / {r['load_after']:.1f} | {r['precision']} | {r['threads']} | "
            f"{r['cos_min']:.5f} / {r['cos_mean']:.6f} | {r['removed_same']} / {r['removed_only_here']} / "
            f"{r['removed_only_baseline']} | {r['pairs_same']} / {r['pairs_only_here']} / "
            f"{r['pairs_only_baseline']} | {r['clusters_same']} of {r['clusters']} | "
            f"{r['edges_flipped']} (±{r['edges_flipped_within']:.5f}) |"
        )
    exports = [f"{r['variant']}: {r['export_s']:.1f} s" for r in rows if r["export_s"] is not None]
    if exports:
        lines += ["", "OpenVINO conversion (once per model, then read from disk): " + "; ".join(exports)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, the first is compared "
                        f"against; from {list(VARIANTS)}")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    names = [n.strip() for n in args.variants.split(",")]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    texts = bench_texts(args.texts)
    print(f"{os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} usable; load average {load_average():.1f}", flush=True)
    rows = run(names, texts, args.repeats)
    print(render(rows, len(texts), args.repeats))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
