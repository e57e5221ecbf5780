"""The whole graph, materialized for real into a temporary folder with the rules teacher: the
session's shared run of the shipped data (`shipped_run`), read, and a second run on a copy of it."""

from __future__ import annotations

import pytest

from resources.lineage import trace_row
from synth_assets.core.verify.code import extract_code
from synth_assets.core.verify.math import check_answer
from synth_assets.definitions import build_resources
from tests.pipeline_fixtures import run_pipeline

FIVE_STAGES = ("seeds", "evolved_instructions", "verified_solutions", "deduplicated_corpus", "mixed_training_set")


@pytest.fixture(scope="module")
def run(shipped_run):
    snapshot = shipped_run.warehouse.read_table("mixed_training_set")
    return shipped_run.result, shipped_run.warehouse, snapshot, shipped_run.data_dir, shipped_run.resources


def test_the_run_succeeds_and_the_five_stages_hold_rows(run):
    result, warehouse, *_ = run
    assert result.success
    for table in FIVE_STAGES:
        assert len(warehouse.read_table(table)) > 0, table


def test_every_row_of_every_stage_carries_its_provenance(run):
    _, warehouse, *_ = run
    for table in ("seeds", "human_reference", "evolved_instructions", "candidate_solutions", "verified_solutions",
                  "deduplicated_corpus", "mixed_training_set"):
        rows = warehouse.read_table(table)
        for column in ("id", "root_id", "origin", "generation", "technique", "operation", "domain", "category"):
            assert rows[column].notna().all(), f"{table}.{column} has nulls"
        synthetic = rows[rows["origin"] == "synthetic"]
        for column in ("parent_id", "teacher", "template_version"):
            assert synthetic[column].notna().all(), f"{table}.{column} missing on synthetic rows"
        assert rows["id"].is_unique, table
    evolved = warehouse.read_table("evolved_instructions")
    assert set(evolved["round"]) == {1, 2, 3}
    assert (evolved["generation"] == 1).all()


def test_the_mix_is_within_one_point_of_the_target(run):
    _, warehouse, *_ = run
    mix = warehouse.read_table("mixed_training_set")
    human = (mix["origin"] == "human").mean()
    assert abs(human - 0.70) <= 0.01
    assert (mix.loc[mix["origin"] == "synthetic", "generation"] <= 1).all()


def test_bad_seed_lines_are_quarantined_and_good_ones_go_on(run):
    _, warehouse, _, _data_dir, _ = run
    quarantine = warehouse.read_table("quarantine", "WHERE stage = 'seeds' ORDER BY source_line")
    planted = quarantine[quarantine["source_file"].str.endswith("zz_planted_bad.jsonl")]
    assert list(planted["source_line"]) == [2, 3, 4]
    assert list(planted["field"]) == ["", "tests", ""]
    assert "invalid JSON" in planted["reason"].iloc[0]
    assert "invalid UTF-8" in planted["reason"].iloc[2]
    seeds = warehouse.read_table("seeds")
    assert "planted-ok" in set(seeds["source_key"])
    assert len(seeds) == 151


def test_verification_rejects_the_planted_wrong_candidates(run):
    _, warehouse, *_ = run
    seeds = warehouse.read_table("seeds").set_index("id")
    candidates = warehouse.read_table("candidate_solutions")
    kept = set(warehouse.read_table("verified_solutions")["id"])
    rejected = warehouse.read_table("rejects", "WHERE stage = 'verified_solutions'").set_index("id")

    # Math: every candidate whose final answer is wrong is rejected as wrong_answer.
    math = candidates[(candidates["domain"] == "math") & candidates["reference_answer"].notna()]
    wrong = [r for r in math.itertuples() if not check_answer(r.response, r.reference_answer).passed]
    assert wrong, "the rules teacher should have slipped some arithmetic"
    assert all(r.id not in kept and rejected.loc[r.id, "reason"] == "wrong_answer" for r in wrong)

    # Code: mutants of the seed's reference solution fail their tests, in the sandbox.
    code = candidates[(candidates["domain"] == "code") & (candidates["technique"] == "seed")]
    mutants = [r for r in code.itertuples() if extract_code(r.response).strip() != seeds.loc[r.root_id, "response"].strip()]
    assert mutants
    caught = [r for r in mutants if r.id in rejected.index and rejected.loc[r.id, "reason"] != "sibling_selected"]
    assert len(caught) / len(mutants) >= 0.9
    assert {rejected.loc[r.id, "reason"] for r in caught} <= {"test_failure", "syntax_error", "crash", "timeout"}


def test_trace_reaches_a_seed_document_or_human_row_from_every_row_of_the_mix(run):
    _, warehouse, snapshot, *_ = run
    assert set(snapshot["technique"]) >= {"human", "evol_instruct"}
    roots = snapshot.set_index("id")["root_id"]
    for row_id in snapshot["id"]:  # every row: about 60 ms a trace, one connection each
        chain = trace_row(warehouse, row_id)
        assert chain[0].id == row_id
        assert chain[-1].row["technique"] in {"seed", "human", "document"}, row_id
        assert chain[-1].id == roots[row_id]


def test_dedup_keeps_the_rows_one_plain_encode_of_every_text_keeps(run):
    # The embedder sends texts in chunks, shortest first, on a measured number of threads: the
    # rows kept must be those the plain call (every text at once, torch's threads: the code
    # before) keeps, on the shipped data, where the semantic step removes evolved paraphrases.
    from sentence_transformers import SentenceTransformer

    from resources.embedder import SentenceEmbedder
    from synth_assets.assets.curation import CORPUS_SOURCES, _stage_corpus
    from synth_assets.assets.settings import CurationSettings
    from synth_assets.core.curation import curate_corpus
    from synth_assets.core.dedup import BenchmarkIndex

    result, warehouse, *_ = run
    plain = SentenceTransformer(str(SentenceEmbedder.resolve_model_path()), local_files_only=True)

    def encode_all_at_once(texts):
        return plain.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)

    sources = tuple(t for t in CORPUS_SOURCES if t != "correction_pairs")
    rows, unfit, exact = _stage_corpus(warehouse, sources, run[-1]["source_files"].max_text_chars)
    assert unfit == []  # the shipped data has no empty or over-long answer
    benchmark = BenchmarkIndex.build(warehouse.query("SELECT id, question FROM benchmark_items").itertuples(index=False))
    before = curate_corpus(rows, CurationSettings().to_core(), exact, benchmark, encode_all_at_once)
    assert "semantic" in before.steps_run
    assert sum(r["reason"] == "semantic_duplicate" for r in before.removed) >= 20
    assert sorted(warehouse.read_table("deduplicated_corpus")["id"]) == sorted(r["id"] for r in before.kept)
    metadata = result.asset_materializations_for_node("deduplicated_corpus")[0].metadata
    # A first run: the only texts already cached are those augmented_instructions embedded to
    # measure meaning kept (the same model and cache), a minority of the corpus's.
    assert metadata["embedding_cache/misses"].value > metadata["embedding_cache/hits"].value


def test_a_second_run_gives_the_same_ids_and_no_duplicates(shipped_run, tmp_path):
    # On a copy of the shared run's folder (warehouse and caches included): the others read it.
    snapshot = shipped_run.warehouse.read_table("mixed_training_set")
    _, resources = shipped_run.copy(tmp_path / "data")
    warehouse = resources["warehouse"]
    corpus = sorted(warehouse.read_table("deduplicated_corpus")["id"])
    again = run_pipeline(resources)
    assert again.success
    mix = warehouse.read_table("mixed_training_set")
    assert sorted(mix["id"]) == sorted(snapshot["id"])
    assert mix["id"].is_unique
    # Every teacher call of the second run came from the cache, and every sentence embedding.
    for asset in ("evolved_instructions", "candidate_solutions"):
        metadata = again.asset_materializations_for_node(asset)[0].metadata
        assert metadata["teacher/cache_misses"].value == 0, asset
    dedup = again.asset_materializations_for_node("deduplicated_corpus")[0].metadata
    assert dedup["embedding_cache/misses"].value == 0 and dedup["embedding_cache/hits"].value > 0
    assert sorted(warehouse.read_table("deduplicated_corpus")["id"]) == corpus


@pytest.mark.slow  # a run of the whole graph, if on nothing
def test_an_empty_input_still_writes_empty_tables_with_their_schema(tmp_path):
    for folder in ("seeds", "human", "benchmarks"):
        (tmp_path / folder).mkdir()
    resources = build_resources(tmp_path)
    assert run_pipeline(resources).success
    for table in FIVE_STAGES:
        frame = resources["warehouse"].read_table(table)
        assert frame.empty and {"id", "root_id", "origin", "generation"} <= set(frame.columns)


def test_why_dropped_names_the_rule(run):
    from resources.lineage import explain_drop

    _, warehouse, *_ = run
    contaminated = warehouse.read_table("rejects", "WHERE reason = 'benchmark_contamination'")
    text = explain_drop(trace_row(warehouse, contaminated["id"].iloc[0]))
    assert "dropped at deduplicated_corpus by rule 'benchmark_contamination'" in text
    assert contaminated["related_id"].iloc[0] in text
    mutant = warehouse.read_table("rejects", "WHERE reason = 'test_failure'")["id"].iloc[0]
    assert "rule 'test_failure'" in explain_drop(trace_row(warehouse, mutant))


def test_every_decision_is_recorded_once(run):
    _, warehouse, *_ = run
    duplicated = warehouse.query("SELECT stage, id, count(*) AS n FROM rejects GROUP BY ALL HAVING n > 1")
    assert duplicated.empty, duplicated.head()
