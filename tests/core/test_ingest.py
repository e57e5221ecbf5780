import json

import pytest

from synth_assets.core.ingest import RAW_CHARS, read_jsonl_dir, read_jsonl_files, seed_row
from synth_assets.core.input_rules import (
    InputLimits,
    benchmark_problems,
    document_problems,
    human_problems,
    seed_problems,
)

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
    result = read_jsonl_dir(seed_dir, seed_problems)
    assert [r["id"] for r in result.rows] == ["code-add", "math-1"]
    found = {(q.source_line, q.field) for q in result.quarantined}
    assert found == {(2, ""), (3, "answer"), (4, "tests"), (5, ""), (6, "domain"), (8, "id"), (9, "")}
    by_line = {q.source_line: q for q in result.quarantined}
    assert "invalid JSON" in by_line[2].reason
    assert "invalid UTF-8" in by_line[5].reason
    assert "duplicate id 'math-1'" in by_line[8].reason
    assert by_line[9].reason == "expected a JSON object, got a list"
    assert str(by_line[3]) == f"{seed_dir / 'a.jsonl'}:3: field 'answer': required for domain 'math'"
    assert by_line[2].raw == "{not json"


def test_every_problem_of_a_line_is_named_not_the_first():
    line = {"id": "m", "domain": "math", "category": None, "instruction": ["a", "list"], "answer": "four-ish??",
            "generation": True}
    problems = seed_problems(line, InputLimits())
    assert [p.field for p in problems] == ["category", "instruction", "answer", "generation"]
    assert str(problems[0]) == "field 'category': required field is null"
    assert str(problems[1]) == "field 'instruction': expected text, got a list"
    assert "cannot parse 'four-ish??'" in problems[2].reason
    assert problems[3].reason == "must be a whole number >= 0, got True"


def test_a_quarantined_line_lists_every_field_and_reason_in_its_row(tmp_path):
    path = tmp_path / "h.jsonl"
    write_lines(path, [json.dumps({"id": 7, "domain": "code", "category": "c", "instruction": {"x": 1},
                                   "response": False}).encode()])
    [bad] = read_jsonl_files([path], human_problems).quarantined
    assert bad.as_row() == {
        "source_file": str(path), "source_line": 1, "field": "instruction, response",
        "reason": "field 'instruction': expected text, got an object; "
                  "field 'response': expected text, got false (true/false)",
        "raw": path.read_text().strip(),
    }
    assert str(bad) == f"{path}:1: {bad.reason}"


def test_a_duplicate_id_is_one_more_problem_of_a_line_with_others(tmp_path):
    path = tmp_path / "s.jsonl"
    write_lines(path, [json.dumps(MATH_SEED).encode(), json.dumps({**MATH_SEED, "answer": "four-ish??"}).encode()])
    [bad] = read_jsonl_files([path], seed_problems).quarantined
    assert bad.field == "answer, id"
    assert "first seen at" in bad.reason and "cannot parse" in bad.reason


def test_an_id_taken_elsewhere_is_a_duplicate_and_a_bad_line_takes_no_id(tmp_path):
    path = tmp_path / "s.jsonl"
    write_lines(path, [json.dumps({**MATH_SEED, "answer": "??"}).encode(), json.dumps(MATH_SEED).encode(),
                       json.dumps({**CODE_SEED, "id": "taken"}).encode()])
    result = read_jsonl_files([path], seed_problems, taken_ids={"taken": "other.jsonl"})
    assert [r["id"] for r in result.rows] == ["math-1"]  # the bad first line did not claim the id
    assert [q.source_line for q in result.quarantined] == [1, 3]
    assert "first seen at other.jsonl" in result.quarantined[1].reason


def test_a_huge_line_is_quarantined_by_size_and_only_its_start_is_kept(tmp_path):
    path = tmp_path / "s.jsonl"
    write_lines(path, [json.dumps({**MATH_SEED, "instruction": "x" * 10_000_000}).encode()])
    [bad] = read_jsonl_files([path], seed_problems).quarantined
    assert bad.reason == "field 'instruction': 10,000,000 characters, over the limit of 20,000 " \
                         "(SYNTH_MAX_TEXT_CHARS)"
    assert len(bad.raw) < RAW_CHARS + 100 and bad.raw.endswith("more characters in the file)")


def test_the_limit_is_configurable(tmp_path):
    path = tmp_path / "s.jsonl"
    write_lines(path, [json.dumps({**MATH_SEED, "instruction": "What is 2 + 2, please?"}).encode()])
    assert read_jsonl_files([path], seed_problems, InputLimits(max_text_chars=22)).rows
    [bad] = read_jsonl_files([path], seed_problems, InputLimits(max_text_chars=21)).quarantined
    assert bad.field == "instruction" and "over the limit of 21" in bad.reason
    with pytest.raises(ValueError, match="max_text_chars must be >= 1"):
        InputLimits(max_text_chars=0)


def test_seed_ids_are_stable_and_depend_on_content():
    row = {**CODE_SEED, "_file": "a.jsonl", "_line": 1}
    first, again = seed_row(row), seed_row(dict(row))
    assert first["id"] == again["id"] == first["root_id"]
    assert seed_row({**row, "instruction": "Write add(x, y)."})["id"] != first["id"]
    assert first["origin"] == "human" and first["generation"] == 0 and first["parent_id"] is None


def test_recycled_synthetic_seed_keeps_its_generation():
    limits = InputLimits()
    assert seed_problems({**MATH_SEED, "origin": "synthetic", "generation": 1}, limits) == []
    assert [str(p) for p in seed_problems({**MATH_SEED, "generation": 2}, limits)] == [
        "field 'generation': human rows are generation 0"]
    assert [p.field for p in seed_problems({**MATH_SEED, "origin": "robot"}, limits)] == ["origin"]
    assert seed_problems({**MATH_SEED, "origin": None, "generation": None}, limits) == []  # null: the default


@pytest.mark.parametrize("folder, validate", [("seeds", seed_problems), ("human", human_problems),
                                              ("documents", document_problems), ("benchmarks", benchmark_problems)])
def test_every_shipped_input_line_passes(folder, validate):
    from tests.pipeline_fixtures import REPO

    result = read_jsonl_dir(REPO / "data" / folder, validate)
    assert result.rows and [str(q) for q in result.quarantined] == []
