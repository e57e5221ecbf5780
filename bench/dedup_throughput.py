"""Near-duplicate throughput, memory and accuracy: our MinHash/LSH against datasketch.

    python bench/dedup_throughput.py                      # 100,000 documents, all implementations
    python bench/dedup_throughput.py --repeats 3          # fastest of 3 alternating runs each (shared CPU)
    python bench/dedup_throughput.py --docs 1000000 --skip-baseline   # the 1M-document memory check
    python bench/dedup_throughput.py --semantic-rows 50000 --embed-texts 1024   # semantic-step costs

The corpus: documents of 60 to 150 words drawn from a Zipf-weighted vocabulary of 30,000 made-up
words; a share of them (10% by default) are near-copies of another document with 0 to 6 random word
edits (substitution, insertion, deletion) and some case and punctuation noise. Ground truth is the
exact Jaccard similarity of word 5-gram sets (after `normalize_text`) for every pair within a family
(a source and its copies). Each implementation runs in its own process on the same corpus (rebuilt
from the seed) and reports its confirmed pairs; we score

    recall    = reported pairs with true Jaccard >= threshold / all planted pairs with true J >= threshold
    precision = reported pairs with true Jaccard >= threshold / all reported pairs

All use the same normalisation, shingles, 128 permutations and LSH bands x rows; "ours" and
datasketch confirm a candidate by estimated Jaccard >= threshold (the issue's rule), "ours-exact"
by the exact Jaccard of the shingle-hash sets (MinHashConfig(confirm="exact")). Throughput is wall time from texts to
confirmed pairs (ours also builds the clusters). Peak memory is the process's peak resident set
while deduplicating (VmHWM, reset after the corpus is built), and "added" subtracts the resident set
before the step.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth_assets.core.dedup import MinHashConfig, normalize_text

SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


# ---------------------------------------------------------------- corpus and ground truth


def build_corpus(docs: int, near_fraction: float, seed: int, max_edits: int = 6) -> tuple[list[str], np.ndarray]:
    """The texts, and for each text the index of its family's source (itself for a source)."""
    rng = np.random.default_rng(seed)
    vocab_size = 30_000
    lengths = rng.integers(2, 5, size=vocab_size)
    syllables = rng.integers(0, len(SYLLABLES), size=(vocab_size, 4))
    vocab = np.array(
        ["".join(SYLLABLES[s] for s in row[:k]) for row, k in zip(syllables, lengths, strict=True)], dtype=object
    )
    weights = 1.0 / np.arange(1, vocab_size + 1) ** 0.9
    weights /= weights.sum()

    copies = int(docs * near_fraction)
    sources = docs - copies
    word_counts = rng.integers(60, 151, size=sources)
    words = rng.choice(vocab_size, size=int(word_counts.sum()), p=weights)
    bounds = np.concatenate(([0], np.cumsum(word_counts)))
    token_lists = [words[bounds[i] : bounds[i + 1]].tolist() for i in range(sources)]
    family = list(range(sources))
    for _ in range(copies):
        source = int(rng.integers(0, sources))
        tokens = list(token_lists[source])
        for _ in range(int(rng.integers(0, max_edits + 1))):
            kind, where, word = (
                rng.integers(0, 3),
                int(rng.integers(0, len(tokens))),
                int(rng.choice(vocab_size, p=weights)),
            )
            if kind == 0:
                tokens[where] = word
            elif kind == 1:
                tokens.insert(where, word)
            elif len(tokens) > 5:
                del tokens[where]
        token_lists.append(tokens)
        family.append(source)
    texts = []
    for i, tokens in enumerate(token_lists):
        text = " ".join(vocab[tokens])
        if i >= sources and i % 3 == 0:  # noise the normalisation must undo
            text = text[0].upper() + text[1:] + "."
        texts.append(text)
    order = rng.permutation(docs)  # copies scattered among the sources
    texts = [texts[i] for i in order]
    position = np.empty(docs, dtype=np.int64)
    position[order] = np.arange(docs)
    return texts, position[np.asarray(family)[order]]


def shingle_set(text: str, n: int = 5) -> set[str]:
    tokens = normalize_text(text).split()
    if len(tokens) < n:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[k : k + n]) for k in range(len(tokens) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def planted_pairs(texts: list[str], family: np.ndarray) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair within a family of near-copies."""
    members: dict[int, list[int]] = {}
    for index, source in enumerate(family.tolist()):
        members.setdefault(source, []).append(index)
    truth: dict[tuple[int, int], float] = {}
    cache: dict[int, set[str]] = {}
    for group in members.values():
        if len(group) < 2:
            continue
        for x in range(len(group)):
            for y in range(x + 1, len(group)):
                i, j = sorted((group[x], group[y]))
                for k in (i, j):
                    if k not in cache:
                        cache[k] = shingle_set(texts[k])
                truth[(i, j)] = jaccard(cache[i], cache[j])
    return truth


# ---------------------------------------------------------------- workers (one process each)


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def run_ours(texts: list[str], config: MinHashConfig) -> np.ndarray:
    """What `near_duplicates` does, keeping the confirmed pairs to score them."""
    from synth_assets.core.dedup.clusters import removals_from_pairs
    from synth_assets.core.dedup.jaccard import estimated_jaccard, exact_jaccard
    from synth_assets.core.dedup.lsh import similar_pairs
    from synth_assets.core.dedup.minhash import (
        minhash_signatures,
        signatures_and_shingles,
    )

    if config.confirm == "exact":
        signatures, shingles = signatures_and_shingles(texts, config)
        left, right, _ = similar_pairs(signatures, config, shingles)
        removals_from_pairs(len(texts), left, right, lambda a, b: exact_jaccard(shingles, a, b))
    else:
        signatures = minhash_signatures(texts, config)
        left, right, _ = similar_pairs(signatures, config)
        removals_from_pairs(len(texts), left, right, lambda a, b: estimated_jaccard(signatures, a, b))
    return np.stack([left, right], axis=1)


def run_datasketch(texts: list[str], config: MinHashConfig) -> np.ndarray:
    from datasketch import MinHash, MinHashLSH

    def shingles(text: str) -> list[bytes]:
        return [s.encode("utf-8") for s in shingle_set(text, config.ngram)]

    lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm, params=(config.lsh_bands, config.lsh_rows))
    minhashes = MinHash.bulk((shingles(t) for t in texts), num_perm=config.num_perm, seed=config.seed)
    with lsh.insertion_session() as session:
        for i, m in enumerate(minhashes):
            session.insert(i, m, check_duplication=False)
    pairs = []
    for i, m in enumerate(minhashes):
        for j in lsh.query(m):
            if j > i and m.jaccard(minhashes[j]) >= config.threshold:
                pairs.append((i, j))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def worker(args: argparse.Namespace) -> None:
    texts, _ = build_corpus(args.docs, args.near_fraction, args.seed, args.max_edits)
    config = MinHashConfig(threshold=args.threshold, confirm="exact" if args.worker == "ours-exact" else "estimate")
    run = {"ours": run_ours, "ours-exact": run_ours, "datasketch": run_datasketch}[args.worker]
    before = _rss_mb("VmRSS")
    _reset_peak()
    start = time.perf_counter()
    pairs = run(texts, config)
    seconds = time.perf_counter() - start
    peak = _rss_mb("VmHWM")
    np.save(args.pairs_out, pairs)
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "added_mb": peak - before}))


# ---------------------------------------------------------------- semantic-step costs


def semantic_costs(rows: int, seed: int) -> list[tuple[str, float, str]]:
    """Time exact and LSH search on 384-d unit vectors in topics of 100 (cosine about 0.5 within a
    topic, about 0 across), with 5% planted near-copies at cosine about 0.97 to 0.99."""
    from synth_assets.core.dedup import SemanticConfig, semantic_candidate_pairs

    rng = np.random.default_rng(seed)

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    topics = unit(rng.standard_normal((max(rows // 100, 1), 384)))
    vectors = unit(
        np.sqrt(0.5) * topics[rng.integers(0, len(topics), rows)]
        + np.sqrt(0.5) * unit(rng.standard_normal((rows, 384)))
    )
    planted = rows // 20
    sources = rng.choice(rows - planted, planted, replace=False)
    noise = unit(rng.standard_normal((planted, 384))) * rng.uniform(0.15, 0.25, (planted, 1))
    vectors[rows - planted :] = unit(vectors[sources] + noise)
    vectors = vectors.astype(np.float32)
    out = []
    found = {}
    for index in ("exact", "lsh"):
        config = SemanticConfig(index=index)
        start = time.perf_counter()
        left, right = semantic_candidate_pairs(vectors, config)
        seconds = time.perf_counter() - start
        found[index] = set(zip(left.tolist(), right.tolist(), strict=True))
        note = f"{len(found[index])} pairs at cosine >= {config.threshold}"
        if index == "lsh":
            share = len(found["lsh"] & found["exact"]) / max(len(found["exact"]), 1)
            note += f", {share:.4f} of exact's; {config.lsh_tables} tables x {config.lsh_bits} bits"
        out.append((f"semantic search, {index}, {rows} rows", seconds, note))
    return out


def embedding_costs(count: int, seed: int) -> list[tuple[str, float, str]]:
    from resources.embedder import SentenceEmbedder

    if not SentenceEmbedder.available():
        return [("embedding", float("nan"), "model not available")]
    texts, _ = build_corpus(count, 0.0, seed)
    short = [" ".join(t.split()[: 12 + i % 30]) for i, t in enumerate(texts)]  # 12 to 41 words
    embedder = SentenceEmbedder()
    embedder.encode(short[:64])
    start = time.perf_counter()
    embedder.encode(short)
    seconds = time.perf_counter() - start
    return [
        (f"embedding {count} texts of 12-41 words, all-MiniLM-L6-v2 torch", seconds, f"{count / seconds:.0f} texts/s")
    ]


# ---------------------------------------------------------------- driver


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def run_worker(name: str, args: argparse.Namespace) -> tuple[dict, set[tuple[int, int]]]:
    """Run one implementation in a fresh process; its report and its confirmed pairs."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pairs.npy"
        command = [sys.executable, __file__, "--worker", name, "--pairs-out", str(out), "--docs", str(args.docs)]
        command += ["--near-fraction", str(args.near_fraction), "--threshold", str(args.threshold)]
        command += ["--seed", str(args.seed), "--max-edits", str(args.max_edits)]
        finished = subprocess.run(command, check=True, capture_output=True, text=True)
        report = json.loads(finished.stdout.splitlines()[-1])
        return report, {tuple(p) for p in np.load(out).tolist()}


def score(
    pairs: set[tuple[int, int]], texts: list[str], truth: dict[tuple[int, int], float], positives: set, threshold: float
) -> dict:
    """Recall over the planted pairs at or above the threshold; precision over the reported pairs."""
    correct = 0
    for pair in pairs:
        value = truth[pair] if pair in truth else jaccard(shingle_set(texts[pair[0]]), shingle_set(texts[pair[1]]))
        correct += value >= threshold
    return {
        "pairs": len(pairs),
        "recall": len(pairs & positives) / max(len(positives), 1),
        "precision": correct / max(len(pairs), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--near-fraction", type=float, default=0.1)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-edits", type=int, default=6, help="word edits per planted copy: 0 to this")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each implementation; the fastest is kept")
    parser.add_argument("--skip-baseline", action="store_true", help="run only our implementation")
    parser.add_argument("--semantic-rows", type=int, default=0, help="also time semantic search on this many rows")
    parser.add_argument("--embed-texts", type=int, default=0, help="also time embedding this many texts")
    parser.add_argument("--worker", choices=("ours", "ours-exact", "datasketch"), help=argparse.SUPPRESS)
    parser.add_argument("--pairs-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    config = MinHashConfig(threshold=args.threshold)
    print(
        f"machine: {_cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}; load average at start "
        f"{os.getloadavg()[0]:.1f} (other jobs share these cores)"
    )
    print(f"config: {config}")
    start = time.perf_counter()
    texts, family = build_corpus(args.docs, args.near_fraction, args.seed, args.max_edits)
    truth = planted_pairs(texts, family)
    positives = {pair for pair, value in truth.items() if value >= args.threshold}
    print(
        f"corpus: {args.docs} documents, {len(truth)} planted pairs (0 to {args.max_edits} word edits), "
        f"{len(positives)} with Jaccard >= {args.threshold} (built in {time.perf_counter() - start:.0f} s)"
    )
    values = np.fromiter(truth.values(), float, len(truth))
    edges = [0.0, 0.7, 0.75, 0.8, 0.85, 0.9, 1.01]
    spread = ", ".join(
        f"[{lo:.2f}, {min(hi, 1.0):.2f}{']' if hi > 1 else ')'}: {int(((values >= lo) & (values < hi)).sum())}"
        for lo, hi in itertools.pairwise(edges)
    )
    print(f"planted pairs by true Jaccard: {spread}")

    names = ["ours", "ours-exact"] + ([] if args.skip_baseline else ["datasketch"])
    results: dict[str, dict] = {}
    for _ in range(args.repeats):  # rounds alternate the implementations; the fastest run of each is kept
        for name in names:
            report, pairs = run_worker(name, args)
            if name not in results or report["seconds"] < results[name]["seconds"]:
                results[name] = report | score(pairs, texts, truth, positives, args.threshold)
                results[name]["docs_per_s"] = args.docs / report["seconds"]

    header = f"| implementation | docs/s | seconds | peak RSS MB | added MB | pairs | recall (J>={args.threshold}) | precision | speed vs datasketch |"
    print()
    print(header)
    print("|" + "|".join("---" for _ in range(header.count("|") - 1)) + "|")
    base = results.get("datasketch")
    for name, r in results.items():
        ratio = f"{r['docs_per_s'] / base['docs_per_s']:.1f}x" if base else "n/a"
        print(
            f"| {name} | {r['docs_per_s']:,.0f} | {r['seconds']:.1f} | {r['peak_mb']:,.0f} | {r['added_mb']:,.0f} | "
            f"{r['pairs']} | {r['recall']:.4f} | {r['precision']:.4f} | {ratio} |"
        )

    extra = []
    if args.semantic_rows:
        extra += semantic_costs(args.semantic_rows, args.seed)
    if args.embed_texts:
        extra += embedding_costs(args.embed_texts, args.seed)
    if extra:
        print()
        print(f"load average now {os.getloadavg()[0]:.1f}")
        print("| semantic step | seconds | notes |")
        print("|---|---|---|")
        for label, seconds, note in extra:
            print(f"| {label} | {seconds:.1f} | {note} |")


if __name__ == "__main__":
    main()
