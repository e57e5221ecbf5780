"""The transformers backend on a tiny random-weight model built in the test session (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.teacher.base import BackendUnavailable, GenerationRequest, Message, SamplingParams
from resources.teacher.transformers_backend import TransformersBackend, TransformersOptions
from synth_assets.core.verify.run import VerificationConfig, verify_candidates


def ask(text: str, system: str = "", **sampling: object) -> GenerationRequest:
    messages = ((Message("system", system),) if system else ()) + (Message("user", text),)
    params = {"max_tokens": 10, "temperature": 0.9, **sampling}
    return GenerationRequest(messages=messages, sampling=SamplingParams(**params))


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny_model_dir), TransformersOptions(device="cpu"))


def test_every_request_gets_n_completions(backend: TransformersBackend) -> None:
    requests = [ask("add two numbers", n=2), ask("why is the sky blue", n=3), ask("hi")]

    answers = backend.generate(requests)

    assert [len(a) for a in answers] == [2, 3, 1]
    for answer in answers:
        assert len({c.prompt_tokens for c in answer}) == 1 and answer[0].prompt_tokens > 0
        for completion in answer:
            assert 1 <= completion.completion_tokens <= 10
            assert completion.finish_reason in ("stop", "length")
            assert completion.finish_reason == "stop" or completion.completion_tokens == 10
    assert backend.device == "cpu"


def test_same_seed_gives_same_text(backend: TransformersBackend, tiny_model_dir: Path) -> None:
    request = ask("write a function", n=2, seed=7)
    fresh = TransformersBackend(str(tiny_model_dir), TransformersOptions(device="cpu"))

    assert backend.generate([request]) == fresh.generate([request])


def test_different_seeds_give_different_text(backend: TransformersBackend) -> None:
    first, second = backend.generate([ask("write a function", seed=1), ask("write a function", seed=2)])

    assert first[0].text != second[0].text


def test_sample_i_is_seeded_with_seed_plus_i(backend: TransformersBackend) -> None:
    three = backend.generate([ask("explain gravity", n=3, seed=10)])[0]
    alone = backend.generate([ask("explain gravity", n=1, seed=12)])[0]

    assert three[2] == alone[0]
    assert len({c.text for c in three}) == 3


def test_batch_neighbours_and_left_padding_do_not_change_a_sample(tiny_model_dir: Path) -> None:
    target = ask("hi", seed=5)
    neighbours = [ask("a much longer prompt with many words that forces padding " * 3, seed=1), ask("mid", seed=9)]
    batched = TransformersBackend(str(tiny_model_dir), TransformersOptions(device="cpu", max_batch_size=16))
    one_by_one = TransformersBackend(str(tiny_model_dir), TransformersOptions(device="cpu", max_batch_size=1))

    in_batch = batched.generate([neighbours[0], target, neighbours[1]])[1]
    alone = one_by_one.generate([target])[0]

    assert in_batch == alone


def test_temperature_zero_is_greedy(backend: TransformersBackend) -> None:
    answer = backend.generate([ask("hello", n=2, temperature=0.0, seed=1)])[0]
    other_seed = backend.generate([ask("hello", temperature=0.0, seed=99)])[0]

    assert answer[0] == answer[1] == other_seed[0]


def test_requests_with_different_sampling_are_batched_separately(backend: TransformersBackend) -> None:
    short, long = backend.generate([ask("hello", max_tokens=2), ask("hello", max_tokens=12)])

    assert short[0].completion_tokens <= 2
    assert long[0].completion_tokens <= 12


def test_stop_string_cuts_the_text(backend: TransformersBackend) -> None:
    plain = backend.generate([ask("write a poem", max_tokens=24, seed=3)])[0][0]
    assert len(plain.text) > 6, "the random model should say something"
    stop = plain.text[4:6]
    expected = plain.text[: plain.text.find(stop)]

    stopped = backend.generate([ask("write a poem", max_tokens=24, seed=3, stop=(stop,))])[0][0]

    assert stopped.text == expected
    assert stopped.finish_reason == "stop"


def test_system_messages_go_through_the_chat_template(backend: TransformersBackend) -> None:
    with_system = backend.generate([ask("hello", system="be terse", seed=4)])[0][0]
    without = backend.generate([ask("hello", seed=4)])[0][0]

    assert with_system.prompt_tokens > without.prompt_tokens


def test_a_model_that_is_not_there_is_unavailable(tmp_path: Path) -> None:
    backend = TransformersBackend(str(tmp_path / "no-such-model"), TransformersOptions(device="cpu"))

    with pytest.raises(BackendUnavailable, match="cannot load model"):
        backend.generate([ask("hi")])


def test_cuda_without_a_gpu_is_unavailable(tiny_model_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    backend = TransformersBackend(str(tiny_model_dir), TransformersOptions(device="cuda"))

    with pytest.raises(BackendUnavailable, match="no CUDA GPU"):
        backend.generate([ask("hi")])


def test_a_chat_template_can_be_given_as_a_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    template = tmp_path / "template.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    backend = TransformersBackend(str(tiny_model_dir), TransformersOptions(device="cpu", chat_template=str(template)))
    default = TransformersBackend(str(tiny_model_dir), TransformersOptions(device="cpu"))

    custom_tokens = backend.generate([ask("hello")])[0][0].prompt_tokens
    default_tokens = default.generate([ask("hello")])[0][0].prompt_tokens

    assert custom_tokens < default_tokens


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_batch_size", 0), ("device", "tpu"), ("dtype", "int3")],
)
def test_options_are_validated(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"TransformersOptions.{field}"):
        TransformersOptions(**{field: value})


def test_model_is_required() -> None:
    with pytest.raises(ValueError, match=r"TeacherResource.model"):
        TransformersBackend("")


# --- the rubric judge on this backend: no constrained decoding, so parse, validate, retry once ---


def test_the_judge_retries_once_with_the_error_then_records_the_raw_reply_as_unparseable(
    backend: TransformersBackend,
) -> None:
    calls: list[list[GenerationRequest]] = []

    def judge(requests):  # type: ignore[no-untyped-def]
        calls.append(list(requests))
        return backend.generate(requests)

    row = {"id": "c0", "parent_id": "t0", "domain": "general", "instruction": "Explain tides.",
           "response": "The moon pulls the sea.", "finish_reason": "stop", "sample_index": 0, "teacher": "x:y"}

    outcome = verify_candidates([row], lambda jobs: [], judge, VerificationConfig(judge_max_tokens=8),
                                judge_model=backend.teacher_id)

    # The random model answers noise: not the JSON the schema asks for (this backend cannot enforce it).
    (first,), (retry,) = calls
    first_reply = backend.generate([first])[0][0].text
    assert retry.messages[1] == Message("assistant", first_reply)
    assert "not a valid judgment" in retry.messages[2].content
    assert outcome.kept == []
    (rejected,) = outcome.rejected
    assert rejected["reason"] == "judge_unparseable" and rejected["judge_model"] == backend.teacher_id
    assert rejected["score"] is None and rejected["judge_score"] is None
    assert repr(first_reply) in rejected["detail"] and repr(backend.generate([retry])[0][0].text) in rejected["detail"]
