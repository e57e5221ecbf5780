"""TeacherResource: backend selection (config and environment), the response cache in front of
every backend, per-batch durability, and the GPU flag the concurrency pool reads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from resources.teacher.base import GenerationRequest, Message, SamplingParams
from resources.teacher.cache import CACHE_TABLE
from resources.teacher.factory import make_backend
from resources.teacher.openai_backend import OpenAIOptions
from resources.teacher.resource import (
    ENV_VARS,
    ROLE_RESOURCES,
    ROLES,
    JudgingTeacher,
    TeacherResource,
    role_env_vars,
    teacher_from_env,
)
from resources.teacher.transformers_backend import TransformersOptions
from resources.warehouse import Warehouse
from synth_assets.core.verify.judge import ASPECTS, judge_request, parse_judgment
from synth_assets.core.verify.run import VerificationConfig, verify_candidates

REPO = Path(__file__).resolve().parents[2]


def ask(text: str, **sampling: object) -> GenerationRequest:
    return GenerationRequest(messages=(Message("user", text),), sampling=SamplingParams(**sampling))


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(path=str(tmp_path / "warehouse.duckdb"))


def openai_teacher(warehouse: Warehouse, url: str, **fields: Any) -> TeacherResource:
    return TeacherResource(
        backend="openai",
        model="m",
        warehouse=warehouse,
        openai=OpenAIOptions(base_urls=[url], max_concurrency=1),
        **fields,
    )


# --- the cache in front of a backend ------------------------------------------------------------


def test_a_rerun_makes_no_teacher_calls(warehouse: Warehouse, chat_server: Any) -> None:
    server = chat_server()
    requests = [ask("one", n=2), ask("two"), ask("three", seed=4)]

    first = openai_teacher(warehouse, server.url).generate(requests)
    calls = len(server.bodies)
    second = openai_teacher(warehouse, server.url).generate(requests)

    assert calls == 4 and len(server.bodies) == 4
    assert second.completions == first.completions
    assert (first.stats.cache_hits, first.stats.cache_misses) == (0, 3)
    assert (second.stats.cache_hits, second.stats.cache_misses) == (3, 0)
    assert first.stats.completion_tokens > 0 and second.stats.completion_tokens == 0


def test_changed_sampling_is_a_new_key(warehouse: Warehouse, chat_server: Any) -> None:
    server = chat_server()
    openai_teacher(warehouse, server.url).generate([ask("one", temperature=0.7)])

    batch = openai_teacher(warehouse, server.url).generate([ask("one", temperature=0.2)])

    assert batch.stats.cache_misses == 1 and len(server.bodies) == 2


def test_the_same_request_twice_in_one_call_is_asked_once(warehouse: Warehouse, chat_server: Any) -> None:
    server = chat_server()

    batch = openai_teacher(warehouse, server.url).generate([ask("same"), ask("other"), ask("same")])

    assert len(server.bodies) == 2
    assert batch.completions[0] == batch.completions[2]
    assert (batch.stats.cache_hits, batch.stats.cache_misses) == (1, 2)


def test_use_cache_false_always_asks(warehouse: Warehouse, chat_server: Any) -> None:
    server = chat_server()
    teacher = openai_teacher(warehouse, server.url, use_cache=False)

    teacher.generate([ask("one")])
    teacher.generate([ask("one")])

    assert len(server.bodies) == 2
    assert not warehouse.table_exists(CACHE_TABLE)


def test_each_batch_is_cached_as_it_arrives(warehouse: Warehouse, chat_server: Any) -> None:
    server = chat_server()
    server.faults.extend([None, None, 400])  # the third request (second batch) is refused
    teacher = openai_teacher(warehouse, server.url, batch_size=2)

    with pytest.raises(Exception, match="400"):
        teacher.generate([ask(f"q{i}") for i in range(4)])

    assert len(warehouse.read_table(CACHE_TABLE)) == 2


def test_a_killed_run_keeps_finished_batches_and_the_rerun_asks_only_the_rest(
    warehouse: Warehouse, chat_server: Any
) -> None:
    server = chat_server()
    server.hang_after = 2  # answer the first batch (2 requests), then hang on the second
    script = textwrap.dedent(
        f"""
        from resources.teacher.base import GenerationRequest, Message, SamplingParams
        from resources.teacher.openai_backend import OpenAIOptions
        from resources.teacher.resource import TeacherResource
        from resources.warehouse import Warehouse
        teacher = TeacherResource(backend="openai", model="m", batch_size=2, warehouse=Warehouse(path={warehouse.path!r}),
                                  openai=OpenAIOptions(base_urls=[{server.url!r}], max_concurrency=1, timeout_s=60))
        teacher.generate([GenerationRequest(messages=(Message("user", f"q{{i}}"),)) for i in range(4)])
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while len(server.bodies) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "the child should be waiting on its second batch"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)

    server.hang_after = None
    batch = openai_teacher(warehouse, server.url, batch_size=2).generate([ask(f"q{i}") for i in range(4)])

    assert (batch.stats.cache_hits, batch.stats.cache_misses) == (2, 2)
    assert [b["messages"][0]["content"] for b in server.bodies[3:]] == ["q2", "q3"]



def test_a_cheap_backend_is_asked_in_large_batches_and_cached_once(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules teacher answers in microseconds: one backend call and one cache write per call
    (a write per `batch_size` made a large stage quadratic in the cache's size), same answers."""
    from resources.teacher import cache as cache_module

    writes: list[int] = []
    put_many = cache_module.ResponseCache.put_many
    monkeypatch.setattr(cache_module, "_PUT_CHUNK", 7)  # the write itself goes in chunks

    def counting_put_many(self, teacher, entries):  # type: ignore[no-untyped-def]
        writes.append(len(entries))
        return put_many(self, teacher, entries)

    monkeypatch.setattr(cache_module.ResponseCache, "put_many", counting_put_many)
    requests = [
        GenerationRequest((Message("user", f"task {i}"),), SamplingParams(n=2),
                          {"kind": "solve", "domain": "general", "instruction": f"task {i}"})
        for i in range(20)
    ]
    teacher = TeacherResource(warehouse=warehouse, batch_size=2)

    first = teacher.generate(requests)
    second = teacher.generate(requests)

    assert teacher.engine.cheap and writes == [40]
    assert len(warehouse.read_table(CACHE_TABLE)) == 40
    assert (first.stats.cache_misses, second.stats.cache_hits) == (20, 20)
    assert second.completions == first.completions == make_backend("rules", "").generate(requests)

def test_stats_become_asset_metadata(warehouse: Warehouse, chat_server: Any) -> None:
    server = chat_server()

    metadata = openai_teacher(warehouse, server.url).generate([ask("one")]).stats.as_metadata()

    assert set(metadata) == {
        "teacher/requests",
        "teacher/cache_hits",
        "teacher/cache_misses",
        "teacher/tokens_in",
        "teacher/tokens_out",
        "teacher/seconds",
    }


# --- selection from the launchpad and from the environment ------------------------------------


def test_launchpad_config_selects_and_configures_the_backend(warehouse: Warehouse, chat_server: Any) -> None:
    server = chat_server()

    @dg.asset
    def answers(teacher: TeacherResource) -> dg.MaterializeResult:
        batch = teacher.generate([ask("hello")])
        return dg.MaterializeResult(metadata={"teacher": teacher.describe(), **batch.stats.as_metadata()})

    run_config = {
        "resources": {
            "teacher": {"config": {"backend": "openai", "model": "served-model", "openai": {"base_urls": [server.url]}}}
        }
    }
    result = dg.materialize(
        [answers], resources={"teacher": TeacherResource(warehouse=warehouse)}, run_config=run_config
    )

    assert result.success
    metadata = result.asset_materializations_for_node("answers")[0].metadata
    assert metadata["teacher"].value == "openai:served-model"
    assert metadata["teacher/cache_misses"].value == 1
    assert server.bodies[0]["model"] == "served-model"


def test_no_environment_means_the_offline_rules_teacher(warehouse: Warehouse) -> None:
    teacher = teacher_from_env(warehouse, environ={})

    assert teacher.backend == "rules" and teacher.uses_gpu is False
    assert "NOT a language model" in teacher.describe()


def test_environment_selects_an_openai_teacher_with_several_servers(warehouse: Warehouse) -> None:
    environ = {
        "TEACHER_BACKEND": "openai",
        "TEACHER_MODEL": "Qwen/Qwen2.5-7B-Instruct",
        "TEACHER_BASE_URL": "http://gpu1:8000/v1, http://gpu2:8000/v1/",
        "TEACHER_API_KEY_ENV": "VLLM_API_KEY",
        "TEACHER_MAX_CONCURRENCY": "32",
        "TEACHER_SEND_N": "true",
        "TEACHER_BATCH_SIZE": "64",
    }

    teacher = teacher_from_env(warehouse, environ=environ)

    assert (teacher.backend, teacher.model, teacher.batch_size) == ("openai", "Qwen/Qwen2.5-7B-Instruct", 64)
    assert teacher.openai.base_urls == ["http://gpu1:8000/v1", "http://gpu2:8000/v1"]
    assert teacher.openai.api_key_env == "VLLM_API_KEY" and teacher.openai.max_concurrency == 32
    assert teacher.openai.send_n is True


def test_environment_reads_the_process_environment_when_called(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEACHER_BACKEND", "vllm")
    monkeypatch.setenv("TEACHER_MODEL", "meta-llama/Llama-3.1-8B-Instruct")
    monkeypatch.setenv("TEACHER_TENSOR_PARALLEL_SIZE", "2")
    monkeypatch.setenv("TEACHER_DTYPE", "bfloat16")

    teacher = teacher_from_env(warehouse)

    assert teacher.vllm.tensor_parallel_size == 2
    assert teacher.vllm.dtype == teacher.transformers.dtype == "bfloat16"
    assert teacher.uses_gpu is True


def test_a_bad_environment_value_names_the_variable(warehouse: Warehouse) -> None:
    with pytest.raises(ValueError, match="TEACHER_MAX_CONCURRENCY"):
        teacher_from_env(warehouse, environ={"TEACHER_MAX_CONCURRENCY": "0"})
    with pytest.raises(ValueError, match="TEACHER_BACKEND must be one of"):
        teacher_from_env(warehouse, environ={"TEACHER_BACKEND": "gpt"})


def test_every_environment_variable_is_documented() -> None:
    docs = (REPO / "docs" / "teachers.md").read_text()

    assert [var for var in ENV_VARS if var not in docs] == []


# --- the GPU flag and the factory ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "device", "expected"),
    [
        ("rules", "auto", False),
        ("openai", "auto", False),
        ("vllm", "auto", True),
        ("transformers", "cpu", False),
        ("transformers", "cuda:1", True),
    ],
)
def test_uses_gpu(warehouse: Warehouse, backend: str, device: str, expected: bool) -> None:
    teacher = TeacherResource(backend=backend, warehouse=warehouse, transformers=TransformersOptions(device=device))

    assert teacher.uses_gpu is expected


def test_an_unknown_backend_is_refused_when_used(warehouse: Warehouse) -> None:
    with pytest.raises(ValueError, match=r"TeacherResource.backend must be one of"):
        _ = TeacherResource(backend="gpt", warehouse=warehouse).teacher_id


@pytest.mark.parametrize("backend", ["openai", "transformers"])
def test_language_model_backends_need_a_model(backend: str) -> None:
    with pytest.raises(ValueError, match=r"TeacherResource.model"):
        make_backend(backend, "")


def test_the_transformers_teacher_through_the_cache(warehouse: Warehouse, tiny_model_dir: Path) -> None:
    teacher = TeacherResource(
        backend="transformers",
        model=str(tiny_model_dir),
        warehouse=warehouse,
        transformers=TransformersOptions(device="cpu"),
    )
    requests = [ask("hello", n=2, max_tokens=5, seed=3), ask("bye", max_tokens=5)]

    first = teacher.generate(requests)
    second = TeacherResource(backend="transformers", model=str(tiny_model_dir), warehouse=warehouse).generate(requests)

    assert second.completions == first.completions
    assert (second.stats.cache_hits, second.stats.cache_misses) == (2, 0)
    assert first.stats.completion_tokens > 0 and first.stats.prompt_tokens > 0


# --- a teacher per role ---------------------------------------------------------------------------


def test_with_no_environment_the_offline_judge_is_a_different_rules_model(warehouse: Warehouse) -> None:
    roles = {role: teacher_from_env(warehouse, environ={}, role=role) for role in ROLES}

    assert {role: t.role for role, t in roles.items()} == {role: role for role in ROLES}
    assert roles["generation"].teacher_id == roles["answering"].teacher_id == "rules:rule-based-v1"
    assert roles["judging"].teacher_id == "rules:rule-judge-v1"


def test_each_role_reads_its_own_variables_and_one_without_any_shares_the_generators(warehouse: Warehouse) -> None:
    environ = {
        "TEACHER_BACKEND": "openai", "TEACHER_MODEL": "writer", "TEACHER_BASE_URL": "http://gen:8000/v1",
        "JUDGE_BACKEND": "openai", "JUDGE_MODEL": "grader", "JUDGE_BASE_URL": "http://judge:8000/v1",
        "JUDGE_API_KEY_ENV": "JUDGE_KEY",
    }

    judge = teacher_from_env(warehouse, environ=environ, role="judging")
    answerer = teacher_from_env(warehouse, environ=environ, role="answering")

    assert (judge.backend, judge.model, judge.openai.base_urls) == ("openai", "grader", ["http://judge:8000/v1"])
    assert judge.openai.api_key_env == "JUDGE_KEY" and judge.role == "judging"
    assert (answerer.model, answerer.openai.base_urls, answerer.role) == ("writer", ["http://gen:8000/v1"], "answering")


def test_a_role_with_any_variable_set_does_not_mix_in_the_generators(warehouse: Warehouse) -> None:
    environ = {"TEACHER_BACKEND": "openai", "TEACHER_MODEL": "writer", "ANSWER_MODEL": "rule-based-v1",
               "ANSWER_BACKEND": "rules", "JUDGE_BACKEND": "rules"}

    assert teacher_from_env(warehouse, environ=environ, role="judging").teacher_id == "rules:rule-judge-v1"
    assert teacher_from_env(warehouse, environ=environ, role="answering").teacher_id == "rules:rule-based-v1"


def test_a_bad_role_variable_is_named(warehouse: Warehouse) -> None:
    with pytest.raises(ValueError, match="JUDGE_MAX_CONCURRENCY"):
        teacher_from_env(warehouse, environ={"JUDGE_MAX_CONCURRENCY": "0"}, role="judging")
    with pytest.raises(ValueError, match="ANSWER_BACKEND must be one of"):
        teacher_from_env(warehouse, environ={"ANSWER_BACKEND": "gpt"}, role="answering")
    with pytest.raises(ValueError, match="teacher role must be one of"):
        teacher_from_env(warehouse, environ={}, role="grading")


def test_the_judge_is_configured_in_the_launchpad(warehouse: Warehouse) -> None:
    @dg.asset
    def judged(judge: TeacherResource) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"judge": judge.teacher_id, "role": judge.role})

    run_config = {"resources": {"judge": {"config": {"model": "rule-based-v1"}}}}
    result = dg.materialize([judged], resources={"judge": JudgingTeacher(warehouse=warehouse)},
                            run_config=run_config)

    metadata = result.asset_materializations_for_node("judged")[0].metadata
    assert (metadata["judge"].value, metadata["role"].value) == ("rules:rule-based-v1", "judging")


def test_the_cache_keys_include_the_roles_model(warehouse: Warehouse) -> None:
    request = judge_request("Explain tides.", "The moon pulls the sea. " * 10)
    generator, judge = TeacherResource(warehouse=warehouse), JudgingTeacher(warehouse=warehouse)

    judge.generate([request])
    by_generator = generator.generate([request])
    again = judge.generate([request])

    assert by_generator.stats.cache_misses == 1  # the judge's cached answer is not the generator's
    assert (again.stats.cache_hits, again.stats.cache_misses) == (1, 0)
    teachers = warehouse.query(f"SELECT teacher, count(*) AS n FROM {CACHE_TABLE} GROUP BY teacher ORDER BY teacher")
    assert teachers.values.tolist() == [["rules:rule-based-v1", 1], ["rules:rule-judge-v1", 1]]


def test_the_rules_judge_gives_structured_verdicts_offline(warehouse: Warehouse) -> None:
    judge = JudgingTeacher(warehouse=warehouse)
    rows = [{"id": f"c{i}", "parent_id": f"t{i}", "domain": "general", "instruction": "Explain why the sky is blue.",
             "response": text, "finish_reason": "stop", "sample_index": 0, "teacher": "rules:rule-based-v1"}
            for i, text in enumerate(["The sky is blue because air scatters blue sunlight more than red light. " * 3,
                                      "I'm sorry, but I can't help with that request."])]

    outcome = verify_candidates(rows, lambda jobs: [], lambda requests: judge.generate(requests).completions,
                                VerificationConfig(), judge_model=judge.teacher_id)

    (kept,), (refused,) = outcome.kept, outcome.rejected
    assert kept["id"] == "c0" and refused["reason"] == "low_judge_score"
    for row in (kept, refused):
        assert row["judge_model"] == "rules:rule-judge-v1"
        aspects = json.loads(row["judge_aspects"])
        assert list(aspects) == list(ASPECTS) and all(1 <= v <= 5 for v in aspects.values())
        assert row["judge_score"] == parse_judgment(json.dumps(aspects)).overall


def test_every_role_variable_is_documented() -> None:
    docs = (REPO / "docs" / "teachers.md").read_text()

    # Every TEACHER_* variable is in the table (test above); the other roles' are the same names
    # with their prefix, and the docs say so and show the ones a separate judge needs.
    for role, prefix in ROLES.items():
        assert f"`{prefix}_*`" in docs, role
        assert [var for var in role_env_vars(role) if var.endswith(("_BACKEND", "_MODEL", "_BASE_URL"))
                and var not in docs] == [], role


@pytest.mark.parametrize(
    ("role", "backend", "model"),
    [("generation", "rules", ""), ("judging", "rules", ""), ("judging", "rules", "rule-based-v1"),
     ("answering", "openai", "served")],
)
def test_the_model_id_is_the_teacher_id_without_starting_the_backend(
    warehouse: Warehouse, role: str, backend: str, model: str
) -> None:
    teacher = ROLE_RESOURCES[role](warehouse=warehouse, backend=backend, model=model)

    model_id = teacher.model_id
    assert teacher._backend is None  # nothing was built to name it
    assert model_id == teacher.teacher_id
