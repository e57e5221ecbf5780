"""Time the Self-Instruct ROUGE-L novelty filter against a naive all-pairs scan.

For each pool size, 1,000 candidate instructions are checked against the pool with
`NoveltyIndex.max_rouge_l`, and with the naive baseline: score the candidate against every pool
member and keep the maximum, as the Self-Instruct reference code does. The naive baseline is the
`rouge-score` package when it is installed (`pip install rouge-score`), otherwise a plain
dynamic-programming LCS on pre-tokenised texts. A third column runs the same all-pairs scan with
this project's bit-parallel LCS, to separate what the pruning buys from what the faster LCS buys.

The naive scans are too slow to run in full on large pools, so they are measured on the first
candidates only (at most ``--naive-pairs`` pairs) and scaled linearly to 1,000 candidates; the
table says how many were measured. On those candidates the index must return exactly the naive
maximum, and the script fails if it does not.

Pools are built procedurally from a word list: instructions are made of a leading verb and clauses
whose words are drawn with Zipf-like frequencies, so common words are shared widely, as they are in
real instruction pools. About a third of the candidates are light edits of pool members (near
duplicates the filter must catch); the rest are fresh.

    python bench/novelty_filter.py [--pool-sizes 1000 10000 50000] [--candidates 1000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synth_assets.core.rouge import NoveltyIndex, rouge_l_f, tokenize

VERBS = ["write", "explain", "describe", "list", "summarize", "compare", "generate", "create", "classify", "translate", "rewrite", "suggest", "design", "outline", "identify", "find", "calculate", "estimate", "predict", "evaluate", "analyze", "plan", "draft", "propose", "convert", "sort", "rank", "edit", "correct", "simplify", "expand", "define", "give", "name", "recommend", "argue"]
FUNCTION_WORDS = ["the", "a", "an", "of", "to", "in", "for", "on", "with", "about", "and", "or", "that", "which", "from", "by", "as", "at", "into", "how", "why", "what", "when", "your", "this", "each", "its", "their", "between", "without", "using"]
ADJECTIVES = ["short", "long", "simple", "detailed", "formal", "casual", "funny", "sad", "new", "old", "famous", "common", "rare", "healthy", "cheap", "quick", "careful", "clear", "creative", "technical", "scientific", "historical", "modern", "ancient", "local", "global", "personal", "professional", "small", "large", "important", "difficult", "easy", "popular"]
NOUNS = ["story", "poem", "email", "letter", "essay", "list", "recipe", "plan", "summary", "review", "report", "speech", "tweet", "title", "headline", "paragraph", "sentence", "word", "number", "function", "program", "algorithm", "table", "question", "answer", "reason", "example", "argument", "explanation", "description", "dialogue", "joke", "slogan", "product", "company", "customer", "student", "teacher", "city", "country", "river", "mountain", "ocean", "planet", "animal", "plant", "tree", "flower", "dog", "cat", "bird", "movie", "book", "song", "game", "sport", "team", "player", "weather", "climate", "energy", "water", "food", "meal", "diet", "exercise", "health", "doctor", "hospital", "school", "university", "course", "exam", "job", "interview", "resume", "meeting", "project", "budget", "price", "market", "stock", "bank", "loan", "tax", "law", "court", "election", "government", "policy", "history", "war", "peace", "culture", "language", "music", "art", "painting", "museum", "travel", "trip", "hotel", "flight", "car", "train", "bus", "road", "bridge", "house", "garden", "kitchen", "computer", "phone", "website", "app", "database", "network", "security", "password", "robot", "data", "model", "experiment", "theory"]


def _zipf_weights(n: int, exponent: float = 1.1) -> list[float]:
    return [1.0 / (rank + 1) ** exponent for rank in range(n)]


class InstructionMaker:
    """Makes instruction-like sentences with realistic word overlap between them."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.verb_weights = _zipf_weights(len(VERBS))
        self.noun_weights = _zipf_weights(len(NOUNS), 0.9)
        self.adjective_weights = _zipf_weights(len(ADJECTIVES), 0.9)

    def _noun_phrase(self) -> list[str]:
        rng = self.rng
        words = [rng.choice(("the", "a", "an", "your", "this", "each"))]
        if rng.random() < 0.5:
            words += rng.choices(ADJECTIVES, self.adjective_weights)
        words += rng.choices(NOUNS, self.noun_weights)
        return words

    def instruction(self) -> str:
        rng = self.rng
        words = [rng.choices(VERBS, self.verb_weights)[0].capitalize(), *self._noun_phrase()]
        for _ in range(rng.randint(1, 4)):
            words += [rng.choice(FUNCTION_WORDS), *self._noun_phrase()]
            if rng.random() < 0.3:
                words += [rng.choice(("that", "which", "and")), *rng.choices(VERBS, self.verb_weights)]
        return " ".join(words) + rng.choice((".", "?", ".", "!"))

    def edit(self, text: str) -> str:
        """A near duplicate: one to three words replaced, dropped or inserted."""
        words = text.rstrip(".?!").split()
        for _ in range(self.rng.randint(1, 3)):
            position = self.rng.randrange(len(words))
            action = self.rng.random()
            if action < 0.4:
                words[position] = self.rng.choice(NOUNS)
            elif action < 0.7 and len(words) > 4:
                del words[position]
            else:
                words.insert(position, self.rng.choice(ADJECTIVES))
        return " ".join(words) + "."


def make_pool_and_candidates(pool_size: int, n_candidates: int, seed: int) -> tuple[list[str], list[str]]:
    maker = InstructionMaker(seed)
    pool = [maker.instruction() for _ in range(pool_size)]
    candidates = [
        maker.edit(maker.rng.choice(pool)) if maker.rng.random() < 1 / 3 else maker.instruction()
        for _ in range(n_candidates)
    ]
    return pool, candidates


def _naive_rouge_score() -> tuple[str, Callable[[Sequence[str], str], float]]:
    try:
        from rouge_score import rouge_scorer
    except ImportError:

        def dp_lcs(a: Sequence[str], b: Sequence[str]) -> int:
            previous = [0] * (len(b) + 1)
            for token_a in a:
                current = [0]
                for j, token_b in enumerate(b):
                    current.append(previous[j] + 1 if token_a == token_b else max(previous[j + 1], current[j]))
                previous = current
            return previous[-1]

        def naive_dp(pool: Sequence[str], candidate: str) -> float:
            query = tokenize(candidate)
            best = 0.0
            for text in pool:
                member = tokenize(text)
                if member and query:
                    lcs = dp_lcs(member, query)
                    if lcs:
                        best = max(
                            best, 2 * (lcs / len(query)) * (lcs / len(member)) / (lcs / len(query) + lcs / len(member))
                        )
            return best

        return "naive DP LCS (rouge-score not installed)", naive_dp

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

    def naive_rouge(pool: Sequence[str], candidate: str) -> float:
        return max((scorer.score(text, candidate)["rougeL"].fmeasure for text in pool), default=0.0)

    return "naive rouge-score", naive_rouge


def _scan_fast_lcs(pool_tokens: Sequence[list[str]], candidate: str) -> float:
    query = tokenize(candidate)
    return max((rouge_l_f(member, query) for member in pool_tokens), default=0.0)


def run(pool_sizes: Sequence[int], n_candidates: int, naive_pairs: int, seed: int) -> None:
    naive_name, naive = _naive_rouge_score()
    rows = []
    for pool_size in pool_sizes:
        pool, candidates = make_pool_and_candidates(pool_size, n_candidates, seed)

        started = time.perf_counter()
        index = NoveltyIndex(pool)
        build_s = time.perf_counter() - started

        started = time.perf_counter()
        index_results = [index.max_rouge_l(candidate)[0] for candidate in candidates]
        index_s = time.perf_counter() - started

        n_measured = max(1, min(n_candidates, naive_pairs // pool_size))
        started = time.perf_counter()
        naive_results = [naive(pool, candidate) for candidate in candidates[:n_measured]]
        naive_s = (time.perf_counter() - started) * n_candidates / n_measured

        pool_tokens = [tokenize(text) for text in pool]
        started = time.perf_counter()
        for candidate in candidates[:n_measured]:
            _scan_fast_lcs(pool_tokens, candidate)
        scan_s = (time.perf_counter() - started) * n_candidates / n_measured

        mismatches = sum(a != b for a, b in zip(index_results, naive_results, strict=True))
        if mismatches:
            raise SystemExit(f"pool {pool_size}: index differs from the naive scan on {mismatches} candidates")
        rejected = sum(score > 0.7 for score in index_results)
        rows.append((pool_size, build_s, index_s, naive_s, n_measured, scan_s, rejected))

    print(f"ROUGE-L novelty filter: {n_candidates} candidates, max score against the whole pool")
    print(f"naive baseline: {naive_name}; naive columns are scaled from the first N candidates measured\n")
    header = (
        f"| {'pool':>6} | {'index build s':>13} | {'index s':>8} | {'naive s':>9} | {'naive N':>7} "
        f"| {'ratio':>7} | {'all-pairs bit-LCS s':>19} | {'rejected >0.7':>13} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for pool_size, build_s, index_s, naive_s, n_measured, scan_s, rejected in rows:
        print(
            f"| {pool_size:>6} | {build_s:>13.2f} | {index_s:>8.2f} | {naive_s:>9.1f} | {n_measured:>7} "
            f"| {naive_s / index_s:>6.0f}x | {scan_s:>19.1f} | {rejected:>13} |"
        )
    print("\nindex results equal the naive maximum on every measured candidate.")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool-sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--candidates", type=int, default=1_000)
    parser.add_argument("--naive-pairs", type=int, default=200_000, help="pairs the naive scans may score per pool")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.pool_sizes, args.candidates, args.naive_pairs, args.seed)


if __name__ == "__main__":
    main()
