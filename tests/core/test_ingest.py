import json

import pytest

from synth_assets.core.ingest import SEED_FIELDS, read_jsonl_dir, seed_row, validate_seed

CODE_SEED = {
    "id": "code-add", "domain": "code", "category": "arith", "instruction": "Write add(a, b).",
    "entry_point": "add", "solution": "def add(a, b):\n    return a + b\n", "tests": "assert add(1, 2) == 3\n",
}
MATH_SEED = {"id": "math-1", "domain": "math", "category": "arith", "instruction": "What is 2 + 2?", "answer": "4"}


def write_lines(path, lines):
    path.write_bytes(b"\n".join(lines) + b"\n")


@pytest.fixture
def seed_dir(tmp_path):
    write_lines(
        tmp_path / "a.jsonl",
        [
            json.dumps(CODE_SEED).encode(),
            b"{not json",
            json.dumps({**MATH_SEED, "answer": ""}).encode(),
            json.dumps({**CODE_SEED, "id": "code-2", "tests": None}).encode(),
            b'{"id": "x", "domain": "general", "category": "c", "instruction": "caf\xe9"}',
            json.dumps({**MATH_SEED, "domain": "poetry"}).encode(),
            json.dumps(MATH_SEED).encode(),
            json.dumps({**MATH_SEED, "instruction": "dup id"}).encode(),
            b"[1, 2]",
        ],
    )
    return tmp_path


def test_good_rows_pass_and_each_bad_line_is_quarantined_with_file_line_and_field(seed_dir):
    result = read_jsonl_dir(seed_dir, SEED_FIELDS, validate_seed)
    assert [r["id"] for r in result.rows] == ["code-add", "math-1"]
    found = {(q.source_line, q.field) for q in result.quarantined}
    assert found == {(2, ""), (3, "answer"), (4, "tests"), (5, ""), (6, "domain"), (8, "id"), (9, "")}
    by_line = {q.source_line: q for q in result.quarantined}
    assert "invalid JSON" in by_line[2].reason
    assert "invalid UTF-8" in by_line[5].reason
    assert "duplicate id 'math-1'" in by_line[8].reason
    assert str(by_line[3]) == f"{seed_dir / 'a.jsonl'}:3 field 'answer': required for domain 'math'"
    assert by_line[2].raw == "{not json"


def test_seed_ids_are_stable_and_depend_on_content():
    row = {**CODE_SEED, "_file": "a.jsonl", "_line": 1}
    first, again = seed_row(row), seed_row(dict(row))
    assert first["id"] == again["id"] == first["root_id"]
    assert seed_row({**row, "instruction": "Write add(x, y)."})["id"] != first["id"]
    assert first["origin"] == "human" and first["generation"] == 0 and first["parent_id"] is None


def test_recycled_synthetic_seed_keeps_its_generation():
    assert validate_seed({**MATH_SEED, "origin": "synthetic", "generation": 1}) is None
    assert validate_seed({**MATH_SEED, "generation": 2}) == ("generation", "human rows are generation 0")
    assert validate_seed({**MATH_SEED, "origin": "robot"})[0] == "origin"
