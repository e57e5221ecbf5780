"""File sensors: one run per change of content, none for the same files again, each cursor case named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from resources.source_files import SourceFiles
from sensors.file_sensors import human_files_sensor, review_decisions_sensor, seed_files_sensor


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    for folder in ("seeds", "human", "review"):
        (tmp_path / folder).mkdir()
    return tmp_path


def evaluate(sensor: dg.SensorDefinition, cursor: str | None, root: Path) -> dg.SensorResult:
    return sensor(dg.build_sensor_context(cursor=cursor, resources={"source_files": SourceFiles(root=str(root))}))


def write(path: Path, *lines: dict) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


SEED = {"id": "s1", "domain": "general", "category": "writing", "instruction": "Write a haiku."}


def test_nothing_there(data_dir):
    result = evaluate(seed_files_sensor, None, data_dir)
    assert result.run_requests == [] and "no change" in result.skip_reason.skip_message


def test_a_new_seed_file_adds_its_partition_and_requests_one_run_for_it(data_dir):
    write(data_dir / "seeds" / "extra.jsonl", SEED)
    result = evaluate(seed_files_sensor, None, data_dir)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.partition_key == "extra"
    assert request.asset_selection is None  # its batch, then the union of every batch below it
    assert "seeds/extra.jsonl" in request.tags["synth/changed_files"]
    assert request.tags["synth/refresh"] == "seed_files_sensor"
    [added] = result.dynamic_partitions_requests
    assert (added.partitions_def_name, list(added.partition_keys)) == ("seed_batches", ["extra"])
    assert set(json.loads(result.cursor)["files"]) == {"seeds/extra.jsonl"}


def test_several_new_files_run_each_batch_and_rebuild_the_union_once(data_dir):
    for name in ("a", "b", "c"):
        write(data_dir / "seeds" / f"{name}.jsonl", {**SEED, "id": name})
    result = evaluate(seed_files_sensor, None, data_dir)
    assert [r.partition_key for r in result.run_requests] == ["a", "b", "c"]
    batch_only = {key.to_user_string() for key in result.run_requests[0].asset_selection}
    assert batch_only == {"seeds", "evolved_instructions", "self_instruct_tasks", "augmented_instructions", "candidate_solutions",
                          "verified_solutions", "correction_pairs"}
    assert result.run_requests[1].asset_selection == result.run_requests[0].asset_selection
    assert result.run_requests[2].asset_selection is None
    assert len({r.run_key for r in result.run_requests}) == 3


def test_a_change_to_one_file_runs_only_its_batch(data_dir):
    write(data_dir / "seeds" / "a.jsonl", {**SEED, "id": "a"})
    path = write(data_dir / "seeds" / "b.jsonl", {**SEED, "id": "b"})
    first = evaluate(seed_files_sensor, None, data_dir)
    write(path, {**SEED, "id": "b"}, {**SEED, "id": "b2"})
    changed = evaluate(seed_files_sensor, first.cursor, data_dir)
    assert [r.partition_key for r in changed.run_requests] == ["b"]
    assert changed.dynamic_partitions_requests == []  # the partition exists already


def test_the_same_file_again_requests_nothing(data_dir):
    write(data_dir / "seeds" / "extra.jsonl", SEED)
    first = evaluate(seed_files_sensor, None, data_dir)
    again = evaluate(seed_files_sensor, first.cursor, data_dir)
    assert again.run_requests == []


def test_a_changed_file_requests_one_run_with_a_new_run_key(data_dir):
    path = write(data_dir / "seeds" / "extra.jsonl", SEED)
    first = evaluate(seed_files_sensor, None, data_dir)
    write(path, SEED, {**SEED, "id": "s2"})
    changed = evaluate(seed_files_sensor, first.cursor, data_dir)
    assert len(changed.run_requests) == 1
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key
    assert "changed: seeds/extra.jsonl" in changed.run_requests[0].tags["synth/changed_files"]
    assert evaluate(seed_files_sensor, changed.cursor, data_dir).run_requests == []


def test_touching_a_file_without_changing_it_requests_nothing(data_dir):
    path = write(data_dir / "seeds" / "extra.jsonl", SEED)
    first = evaluate(seed_files_sensor, None, data_dir)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    touched = evaluate(seed_files_sensor, first.cursor, data_dir)
    assert touched.run_requests == []
    assert json.loads(touched.cursor)["files"]["seeds/extra.jsonl"]["mtime_ns"] == stat.st_mtime_ns + 5_000_000_000


def test_a_removed_file_is_a_change(data_dir):
    path = write(data_dir / "seeds" / "extra.jsonl", SEED)
    first = evaluate(seed_files_sensor, None, data_dir)
    path.unlink()
    removed = evaluate(seed_files_sensor, first.cursor, data_dir)
    assert len(removed.run_requests) == 1
    request = removed.run_requests[0]
    assert "removed: seeds/extra.jsonl" in request.tags["synth/changed_files"]
    assert request.partition_key is None
    assert {k.to_user_string() for k in request.asset_selection} >= {"deduplicated_corpus", "mixed_training_set"}
    [deleted] = removed.dynamic_partitions_requests
    assert list(deleted.partition_keys) == ["extra"]


def test_a_file_changed_back_to_earlier_content_still_starts_a_run(data_dir):
    path = write(data_dir / "seeds" / "extra.jsonl", SEED)
    first = evaluate(seed_files_sensor, None, data_dir)
    write(path, {**SEED, "id": "s2"})
    second = evaluate(seed_files_sensor, first.cursor, data_dir)
    write(path, SEED)
    third = evaluate(seed_files_sensor, second.cursor, data_dir)
    keys = [r.run_requests[0].run_key for r in (first, second, third)]
    assert len(set(keys)) == 3  # Dagster skips a run key it has seen: each change needs its own


def test_files_the_pipeline_does_not_read_are_ignored(data_dir):
    (data_dir / "seeds" / "README.md").write_text("notes")
    (data_dir / "seeds" / "draft.txt").write_text("notes")
    assert evaluate(seed_files_sensor, None, data_dir).run_requests == []


def test_the_data_folder_is_the_source_files_resources(tmp_path):
    (tmp_path / "one" / "seeds").mkdir(parents=True)
    write(tmp_path / "one" / "seeds" / "a.jsonl", SEED)
    assert evaluate(seed_files_sensor, None, tmp_path / "two").run_requests == []
    assert len(evaluate(seed_files_sensor, None, tmp_path / "one").run_requests) == 1


def test_a_new_human_file_requests_one_run_and_seed_files_do_not_concern_it(data_dir):
    write(data_dir / "seeds" / "extra.jsonl", SEED)
    assert evaluate(human_files_sensor, None, data_dir).run_requests == []
    write(data_dir / "human" / "pairs.jsonl", {**SEED, "response": "Rain on tin."})
    result = evaluate(human_files_sensor, None, data_dir)
    assert len(result.run_requests) == 1
    assert evaluate(human_files_sensor, result.cursor, data_dir).run_requests == []


def test_a_review_decisions_file_requests_a_refresh_of_the_reviewed_mix(data_dir):
    write(data_dir / "review" / "review_queue.jsonl", {"id": "r1", "decision": ""})
    assert evaluate(review_decisions_sensor, None, data_dir).run_requests == []  # the queue is ours, not the reviewer's
    path = write(data_dir / "review" / "decisions.jsonl", {"id": "r1", "decision": "accept"})
    first = evaluate(review_decisions_sensor, None, data_dir)
    assert len(first.run_requests) == 1
    assert evaluate(review_decisions_sensor, first.cursor, data_dir).run_requests == []
    write(path, {"id": "r1", "decision": "reject"})
    assert len(evaluate(review_decisions_sensor, first.cursor, data_dir).run_requests) == 1


def test_a_bad_cursor_is_an_error_not_a_silent_rerun(data_dir):
    with pytest.raises(ValueError, match="clear the cursor in the UI"):
        evaluate(seed_files_sensor, "not json", data_dir)
    with pytest.raises(ValueError, match="clear the cursor in the UI"):
        evaluate(seed_files_sensor, json.dumps({"seeds/a.jsonl": "abc"}), data_dir)
