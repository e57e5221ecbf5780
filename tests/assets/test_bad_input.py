"""Bad rows are stopped at the door and never block the export: every malformed kind of input line
written into real files, the graph run as `synth run` runs it, and every reason of every bad line
read back from the `quarantine` table; an over-long teacher answer and an oversized human row end in
`rejects` and `quarantine`, and the export still happens. Real DuckDB, real Dagster runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from synth_assets.core.schema import MAX_TEXT_CHARS
from synth_assets.definitions import build_resources
from tests.pipeline_fixtures import REPO, run_pipeline

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Small and fast: one evolution round, no augmentation and no semantic dedup (no embedding model
# to load); this file is about bad input, which those stages never see.
RUN_CONFIG = {"ops": {"evolved_instructions": {"config": {"rounds": 1}},
                      "augmented_instructions": {"config": {"operations": []}},
                      "deduplicated_corpus": {"config": {"semantic": False}},
                      "mixed_training_set_relative_diversity": {"config": {"fraction": 0.5}}}}

CODE = {"id": "bad-code", "domain": "code", "category": "lists", "instruction": "Write twice(x) that doubles x.",
        "entry_point": "twice", "solution": "def twice(x):\n    return 2 * x\n", "tests": "assert twice(2) == 4\n"}
MATH = {"id": "bad-math", "domain": "math", "category": "arithmetic", "instruction": "What is 6 times 7?",
        "answer": "42"}
HUMAN = {"id": "bad-human", "domain": "general", "category": "advice", "instruction": "How do I start running?",
         "response": "Slowly: walk and jog in turns, three times a week."}
OVER = f"over the limit of {MAX_TEXT_CHARS:,} (SYNTH_MAX_TEXT_CHARS)"


def line(record: dict, **changes) -> bytes:
    return json.dumps({**record, **changes}).encode()


# file -> [(line content, {field: reason fragment})]; "" is the whole line. Good lines are None.
BAD_LINES: dict[str, list[tuple[bytes, dict[str, str] | None]]] = {
    "seeds/code.jsonl": [
        (line(CODE, id="code-tests-broken", tests="assert twice(2) ==\n"), {"tests": "does not compile: invalid syntax (line 1)"}),
        (line(CODE, id="code-solution-broken", solution="def twice(x)\n    return 2 * x\n"),
         {"solution": "does not compile: expected ':' (line 1)"}),
        (line(CODE, id="code-no-entry", solution="def double(x):\n    return 2 * x\n"),
         {"solution": "does not define entry_point 'twice' at module level"}),
        (line(CODE, id="code-tests-idle", tests="def check(candidate):\n    assert candidate(2) == 4\n"),
         {"tests": "never call entry_point 'twice' (no code that runs refers to it), so they would pass any answer"}),
        (line(CODE, id="code-list-and-null", instruction=["Write", "twice"], category=None),
         {"instruction": "expected text, got a list", "category": "required field is null"}),
        (line(CODE, id="code-missing-tests", tests=""), {"tests": "required for domain 'code'"}),
        (b'{"id": "code-broken-json", "domain": ', {"": "invalid JSON"}),
        (b'{"id": "code-bad-utf8", "instruction": "caf\xe9"}', {"": "invalid UTF-8 at byte"}),
        (b'["not", "an", "object"]', {"": "expected a JSON object, got a list"}),
        (line(CODE, id="code-poem", domain="poetry"), {"domain": "must be one of ['code', 'math', 'general'], got 'poetry'"}),
        (line(CODE, id="code-recycled", origin="robot", generation=-1),
         {"origin": "must be one of ['human', 'synthetic'], got 'robot'", "generation": "must be a whole number >= 0"}),
        (line(CODE, id="code-ok"), None),
        (line(CODE, id="code-ok", instruction="Write twice(x) again."), {"id": "duplicate id 'code-ok', first seen at"}),
        (line(CODE, id="code-flag", instruction=True, entry_point=7),
         {"instruction": "expected text, got true (true/false)", "entry_point": "expected text, got a number (7)"}),
    ],
    "seeds/math.jsonl": [
        (line(MATH, id="math-vague", answer="four-ish??"), {"answer": "the math checker cannot parse 'four-ish??'"}),
        (line(MATH, id="math-huge", instruction="What is " + "6 times " * 1_300_000 + "7?"),
         {"instruction": f"10,400,010 characters, {OVER}"}),
        (line(MATH, id="math-no-answer", answer=None), {"answer": "required for domain 'math'"}),
    ],
    "human/extra.jsonl": [
        (line(HUMAN, id="human-oversized", response="Run. " * (MAX_TEXT_CHARS // 5 + 1)),
         {"response": f"{MAX_TEXT_CHARS + 5:,} characters, {OVER}"}),
        (line(HUMAN, id="human-list-null", instruction=["How", "?"], response=None),
         {"instruction": "expected text, got a list", "response": "required field is null"}),
        (line(HUMAN, id="human-ok-extra"), None),
    ],
    "documents/extra.jsonl": [
        (json.dumps({"id": "doc-bad", "title": {"t": 1}, "domain": "general"}).encode(),
         {"title": "expected text, got an object", "text": "required field is missing"}),
        (json.dumps({"id": "doc-huge", "title": "A dump", "domain": "general", "text": "x" * 1_000_001}).encode(),
         {"text": "1,000,001 characters, over the limit of 1,000,000 (SYNTH_MAX_DOCUMENT_CHARS)"}),
    ],
    "benchmarks/extra.jsonl": [
        (json.dumps({"id": "bench-bad", "question": "", "domain": "chess"}).encode(),
         {"question": "required field is empty", "answer": "required field is missing",
          "domain": "must be one of ['code', 'math', 'general'], got 'chess'"}),
    ],
}
STAGE_OF = {"seeds": "seeds", "human": "human_reference", "documents": "documents", "benchmarks": "benchmark_index"}


def sample(domain: str, count: int) -> list[bytes]:
    lines = (REPO / "data" / "seeds" / f"{domain}.jsonl").read_bytes().splitlines()
    return lines[:: len(lines) // count][:count]


def long_answer_seed() -> bytes:
    """A good math seed whose worked solution is just under the limit: the rules teacher answers
    with it and an "Answer:" line, which is over the limit, so the corpus must reject its answers."""
    worked = ("A train covers 180 km in 2.5 hours, so its speed is 180 / 2.5 km/h. " * 400)[: MAX_TEXT_CHARS - 4]
    return line({"id": "math-long-answer", "domain": "math", "category": "word-problems",
                 "instruction": "A train covers 180 km in 2.5 hours. What is its average speed in km/h?",
                 "answer": "72", "solution": worked})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("bad-input")
    (data / "seeds").mkdir()
    for folder in ("human", "documents", "benchmarks"):
        shutil.copytree(REPO / "data" / folder, data / folder, ignore=shutil.ignore_patterns("*.md"))
    good = {"seeds/code.jsonl": sample("code", 12), "seeds/math.jsonl": [*sample("math", 12), long_answer_seed()]}
    for name, lines in BAD_LINES.items():
        (data / name).write_bytes(b"\n".join([*good.get(name, []), *(content for content, _ in lines)]) + b"\n")
    resources = build_resources(data)
    run = run_pipeline(resources, RUN_CONFIG)
    return {"data": data, "run": run, "warehouse": resources["warehouse"], "good": good}


def expected_quarantine(data: Path, good: dict[str, list[bytes]]) -> dict[tuple[str, str, int], dict[str, str]]:
    expected = {}
    for name, lines in BAD_LINES.items():
        offset = len(good.get(name, []))
        for number, (_, problems) in enumerate(lines, start=offset + 1):
            if problems is not None:
                expected[(STAGE_OF[name.split("/")[0]], str(data / name), number)] = problems
    return expected


def test_the_export_happens_and_every_gate_passes(world):
    run = world["run"]
    assert run.success, [e.message for e in run.all_events if e.is_failure]
    assert all(check.passed for check in run.get_asset_check_evaluations())
    assert (world["data"] / "exports" / "training_set.jsonl").stat().st_size > 0


def test_every_bad_line_is_quarantined_with_every_reason(world):
    table = world["warehouse"].read_table("quarantine")
    found = {(r.stage, r.source_file, int(r.source_line)): r for r in table.itertuples()}
    expected = expected_quarantine(world["data"], world["good"])
    assert set(found) == set(expected)
    for key, problems in expected.items():
        row = found[key]
        assert set(filter(None, row.field.split(", "))) == set(filter(None, problems)), key
        for field, fragment in problems.items():
            assert (f"field {field!r}: {fragment}" if field else fragment) in row.reason, (key, row.reason)
        assert row.reason.count("; ") == len(problems) - 1, (key, row.reason)  # nothing else reported


def test_good_lines_go_on(world):
    warehouse = world["warehouse"]
    seeds = set(warehouse.read_table("seeds")["source_key"])
    assert len(seeds) == 13 + 13 and {"code-ok", "math-long-answer"} <= seeds
    assert "human-ok-extra" in set(warehouse.read_table("human_reference")["source_key"])
    assert {"human-oversized", "human-list-null"}.isdisjoint(warehouse.read_table("human_reference")["source_key"])


def test_an_over_long_teacher_answer_is_rejected_before_the_corpus_gate(world):
    warehouse = world["warehouse"]
    seed_id = warehouse.query("SELECT id FROM seeds WHERE source_key = 'math-long-answer'")["id"].iloc[0]
    rejected = warehouse.query("SELECT reason, detail FROM rejects WHERE stage = 'deduplicated_corpus' "
                               "AND reason = 'text_too_long' AND root_id = ?", [seed_id])
    assert len(rejected) >= 1
    assert rejected["detail"].str.match(
        rf"response has [\d,]+ characters, over the limit of {MAX_TEXT_CHARS:,} \(SYNTH_MAX_TEXT_CHARS\)").all()
    corpus = warehouse.query("SELECT max(length(response)) AS longest FROM deduplicated_corpus")
    assert corpus["longest"].iloc[0] <= MAX_TEXT_CHARS
    schema = [c for c in world["run"].get_asset_check_evaluations() if c.check_name == "corpus_schema"]
    assert schema and schema[0].passed
    max_len = schema[0].metadata["thresholds"].value["max_len"]  # the gate holds the corpus to the same limit
    assert (max_len["value"], max_len["origin"]) == (MAX_TEXT_CHARS, "default")
    assert "SYNTH_MAX_TEXT_CHARS" in max_len["change"]


def test_a_category_too_thin_for_tail_coverage_is_named_when_the_seeds_are_read(tmp_path):
    """Two seeds of a new category: `seeds` warns, naming the category, its count, the minimum and
    the fix, at the start of the run rather than the gate at its end."""
    import dagster as dg

    from synth_assets.assets.ingest import seeds
    from synth_assets.core.seed_coverage import TAIL_MIN_ROWS

    (tmp_path / "seeds").mkdir()
    haiku = {"domain": "general", "category": "haiku", "instruction": "Write a haiku about {}."}
    (tmp_path / "seeds" / "poems.jsonl").write_text("".join(
        json.dumps({**haiku, "id": f"haiku-{topic}", "instruction": haiku["instruction"].format(topic)}) + "\n"
        for topic in ("frost", "tides")), encoding="utf-8")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("seed_batches", ["poems"])
    resources = build_resources(tmp_path)
    result = dg.materialize([seeds], partition_key="poems", instance=instance,
                            resources={k: resources[k] for k in ("source_files", "warehouse")})
    assert result.success
    metadata = result.asset_materializations_for_node("seeds")[0].metadata
    assert metadata["thin_categories"].value == 1
    assert f"| general | haiku | 2 | {TAIL_MIN_ROWS} |" in metadata["thin_categories_table"].value
    warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == 30 and "haiku" in e.user_message]
    assert len(warnings) == 1
    assert "seed category general/haiku has 2 seed(s)" in warnings[0]
    assert "ops: {mixed_training_set_tail_coverage: {config: {min_rows: 2}}}" in warnings[0]


def test_the_corpus_gate_holds_rows_to_the_one_configured_limit_unless_its_own_config_overrides(tmp_path):
    import dagster as dg

    from resources.source_files import SourceFiles
    from resources.warehouse import Warehouse
    from synth_assets.assets.checks import corpus_schema
    from synth_assets.assets.common import frame
    from synth_assets.core.schema import CORPUS_COLUMNS

    warehouse = Warehouse(path=str(tmp_path / "synth.duckdb"))
    row = {"id": "a", "root_id": "a", "origin": "human", "generation": 0, "domain": "general",
           "instruction": "Say hi.", "response": "x" * 31}
    warehouse.write_table("deduplicated_corpus", frame([row], CORPUS_COLUMNS), CORPUS_COLUMNS)
    defs = dg.Definitions(assets=[dg.AssetSpec("deduplicated_corpus")], asset_checks=[corpus_schema], resources={
        "warehouse": warehouse, "source_files": SourceFiles(root=str(tmp_path), max_text_chars=30)})
    job = defs.resolve_implicit_global_asset_job_def()

    [held] = job.execute_in_process(raise_on_error=False).get_asset_check_evaluations()
    max_len = held.metadata["thresholds"].value["max_len"]
    assert not held.passed and max_len["value"] == 30
    assert max_len["origin"] == "configured: the source_files resource's max_text_chars"
    assert "(31 characters) (expected 1 to 30)" in held.description and "SYNTH_MAX_TEXT_CHARS" in held.description

    override = {"ops": {"deduplicated_corpus_corpus_schema": {"config": {"max_len": 31}}}}
    [overridden] = job.execute_in_process(run_config=override, raise_on_error=False).get_asset_check_evaluations()
    assert overridden.passed
    assert overridden.metadata["thresholds"].value["max_len"]["origin"].startswith("check override")
