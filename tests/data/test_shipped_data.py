"""Checks on the input data shipped under data/: counts, fields, runnable code seeds, parseable
math answers, and the planted duplicates and benchmark contamination listed in the PLANTED.md files.

Self-contained on purpose (standard library and pytest only), so it runs without the pipeline."""

from __future__ import annotations

import json
import re
import string
import subprocess
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "data"
DOMAINS = {"code", "math", "general"}
SEED_CATEGORIES = {
    "code": {"strings", "lists", "dicts", "number-theory", "algorithms"},
    "math": {"arithmetic", "fractions", "percentages", "algebra", "word-problems"},
    "general": {"writing", "explanation", "advice", "summarization", "classification"},
}
ANSWER_RE = re.compile(r"^-?\d+(\.\d+)?%?$|^-?\d+/\d+$")
FORBIDDEN_IMPORT_RE = re.compile(r"^\s*(import|from)\s+(os|sys|subprocess|socket|shutil|urllib|http|requests)\b", re.M)


def load(folder: str) -> list[dict]:
    rows = []
    for path in sorted((DATA / folder).glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                row = json.loads(line)
                row["_file"] = path.name
                row["_line"] = n
                rows.append(row)
    return rows


def words(text: str) -> int:
    return len(text.split())


def tokens(text: str) -> list[str]:
    """Lower-case (NFKC, case folded), punctuation removed (ASCII and Unicode P*), whitespace split."""
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch for ch in text if ch not in string.punctuation and not unicodedata.category(ch).startswith("P"))
    return kept.split()


def normalize(text: str) -> str:
    return " ".join(tokens(text))


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    t = tokens(text)
    return {tuple(t[i : i + n]) for i in range(len(t) - n + 1)}


def require(row: dict, *fields: str) -> None:
    for field in fields:
        value = row.get(field)
        assert isinstance(value, str) and value.strip(), f"{row.get('_file')}:{row.get('_line')} {field!r} missing or empty"


SEEDS = load("seeds")
HUMAN = load("human")
DOCS = load("documents")
BENCH = load("benchmarks")
CODE_SEEDS = [r for r in SEEDS if r.get("domain") == "code"]


# ---------------------------------------------------------------- seeds
def test_seed_counts_per_category():
    counts = Counter((r["domain"], r["category"]) for r in SEEDS)
    expected = {(d, c): 10 for d, cats in SEED_CATEGORIES.items() for c in cats}
    assert counts == expected


def test_seed_fields_and_ids():
    for r in SEEDS:
        require(r, "id", "domain", "category", "instruction")
        assert r["domain"] in DOMAINS
        assert r["_file"] == f"{r['domain']}.jsonl"
        if r["domain"] == "code":
            require(r, "entry_point", "solution", "tests")
        elif r["domain"] == "math":
            require(r, "answer", "solution")
        else:
            require(r, "response")
    ids = [r["id"] for r in SEEDS]
    assert len(ids) == len(set(ids))


def test_code_seed_shape():
    for r in CODE_SEEDS:
        lines = [ln for ln in r["tests"].splitlines() if ln.strip()]
        assert 5 <= len(lines) <= 8, r["id"]
        assert all(ln.startswith("assert ") and r["entry_point"] in ln for ln in lines), r["id"]
        assert f"def {r['entry_point']}(" in r["solution"], r["id"]
        assert r["entry_point"] in r["instruction"], r["id"]
        assert not FORBIDDEN_IMPORT_RE.search(r["solution"]), r["id"]


@pytest.mark.parametrize("row", CODE_SEEDS, ids=[r["id"] for r in CODE_SEEDS])
def test_code_seed_solution_passes_its_tests(row):
    result = subprocess.run(
        [sys.executable, "-c", row["solution"] + "\n" + row["tests"]], capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_math_seed_answers_parse_and_appear_in_solution():
    for r in SEEDS:
        if r["domain"] != "math":
            continue
        assert ANSWER_RE.match(r["answer"]), (r["id"], r["answer"])
        assert r["answer"] in r["solution"].replace(",", ""), r["id"]
        assert 2 <= len(re.findall(r"[.!?](\s|$)", r["solution"])) <= 4, r["id"]


def test_general_seed_response_length():
    for r in SEEDS:
        if r["domain"] == "general":
            assert 40 <= words(r["response"]) <= 150, r["id"]


# ---------------------------------------------------------------- human
def test_human_counts_and_fields():
    assert len(HUMAN) >= 320
    for r in HUMAN:
        require(r, "id", "domain", "category", "instruction", "response")
        assert r["domain"] in DOMAINS
        assert r["_file"] == f"{r['domain']}.jsonl"
        assert 30 <= words(r["response"]) <= 200, r["id"]
    ids = [r["id"] for r in HUMAN]
    assert len(ids) == len(set(ids))
    counts = Counter((r["domain"], r["category"]) for r in HUMAN)
    for domain, cats in SEED_CATEGORIES.items():
        for cat in cats:
            assert counts[(domain, cat)] >= 12, (domain, cat)
    extra = {key for key in counts if key[1] not in SEED_CATEGORIES[key[0]]}
    assert len(extra) >= 2


def test_human_response_formats():
    for r in HUMAN:
        if r["domain"] == "code":
            block = re.search(r"```python\n(.*?)```", r["response"], re.S)
            assert block and re.search(r"^def \w+\(", block.group(1), re.M), r["id"]
            compile(block.group(1), r["id"], "exec")
        elif r["domain"] == "math":
            last = r["response"].rstrip().splitlines()[-1]
            m = re.fullmatch(r"Answer: (\S+)", last)
            assert m and ANSWER_RE.match(m.group(1)), r["id"]


# ---------------------------------------------------------------- documents and benchmarks
def test_documents():
    assert len(DOCS) >= 32
    for d in DOCS:
        require(d, "id", "title", "domain", "text")
        assert d["domain"] in DOMAINS
        assert 120 <= words(d["text"]) <= 350, d["id"]
        assert 2 <= len(d["text"].split("\n\n")) <= 4, d["id"]
    assert len({d["id"] for d in DOCS}) == len(DOCS)
    assert {d["domain"] for d in DOCS} == DOMAINS


def test_benchmarks():
    assert len(BENCH) >= 55
    for b in BENCH:
        require(b, "id", "question", "answer")
        assert b.get("domain") in DOMAINS
        assert words(b["question"]) >= 20, b["id"]
    assert len({b["id"] for b in BENCH}) == len(BENCH)
    assert {b["domain"] for b in BENCH} == DOMAINS


# ---------------------------------------------------------------- planted rows
def id_pairs(markdown: str) -> list[tuple[str, str]]:
    return re.findall(r"^\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|", markdown, re.M)


def section(markdown: str, heading: str) -> str:
    match = re.search(rf"^## {heading}.*?$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, heading
    return match.group(1)


def test_planted_near_duplicates():
    pairs = id_pairs((DATA / "human" / "PLANTED.md").read_text(encoding="utf-8"))
    assert len(pairs) == 3
    by_id = {r["id"]: r for r in HUMAN}
    for dup, original in pairs:
        a, b = by_id[dup], by_id[original]
        assert a["instruction"] != b["instruction"]
        assert normalize(a["instruction"]) == normalize(b["instruction"])
    groups = defaultdict(set)
    for r in HUMAN:
        groups[normalize(r["instruction"])].add(r["id"])
    found = {frozenset(g) for g in groups.values() if len(g) > 1}
    assert found == {frozenset(p) for p in pairs}


def test_planted_contamination():
    text = (DATA / "benchmarks" / "PLANTED.md").read_text(encoding="utf-8")
    contaminated = id_pairs(section(text, "Contaminated"))
    control = id_pairs(section(text, "Control"))
    assert len(contaminated) == 2 and len(control) == 1
    human = {r["id"]: r for r in HUMAN}
    bench = {b["id"]: b["question"] for b in BENCH}
    for row_id, bench_id in contaminated:
        assert bench[bench_id] in human[row_id]["instruction"]
        assert ngrams(human[row_id]["instruction"], 13) & ngrams(bench[bench_id], 13)
    (row_id, bench_id), = control
    assert ngrams(human[row_id]["instruction"], 12) & ngrams(bench[bench_id], 12)
    row_text = human[row_id]["instruction"] + " " + human[row_id]["response"]
    assert not any(ngrams(row_text, 13) & ngrams(q, 13) for q in bench.values())

    # Nothing else overlaps a benchmark question: no other human row, seed or document.
    bench12 = set().union(*(ngrams(q, 12) for q in bench.values()))
    planted = {row_id for row_id, _ in contaminated + control}
    for r in HUMAN:
        if r["id"] not in planted:
            assert not ngrams(r["instruction"] + " " + r["response"], 12) & bench12, r["id"]
    for r in SEEDS:
        body = " ".join(r.get(k, "") for k in ("instruction", "response", "solution", "tests"))
        assert not ngrams(body, 12) & bench12, r["id"]
    for d in DOCS:
        assert not ngrams(d["text"], 12) & bench12, d["id"]
