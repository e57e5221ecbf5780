"""The vLLM backend: requests -> `vllm.SamplingParams`, one batched `LLM.chat`, `RequestOutput` -> results.

vLLM needs a CUDA GPU, so most tests inject stand-ins shaped like vLLM's documented API (keyword
names and fields as in `vllm.SamplingParams`, `LLM.chat`, `RequestOutput`, `CompletionOutput`).
The test marked `gpu` runs the real engine where vLLM and CUDA are importable.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from resources.teacher.base import (
    BackendError,
    BackendUnavailable,
    GenerationRequest,
    Message,
    RequestRejected,
    SamplingParams,
)
from resources.teacher.vllm_backend import (
    VLLMApi,
    VLLMBackend,
    VLLMOptions,
    engine_kwargs,
    to_completions,
    to_sampling_params,
)
from synth_assets.core.verify.judge import ASPECTS, JUDGE_SCHEMA, judge_request, parse_judgment

# --- stand-ins with vLLM's field and keyword names ---------------------------------------------


@dataclass
class FakeSamplingParams:  # vllm.SamplingParams: only the fields the backend may set
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = 16
    seed: int | None = None
    stop: str | list[str] | None = None
    structured_outputs: Any = None


@dataclass
class FakeGuidedSamplingParams:  # vLLM before 0.12: `guided_decoding` instead of `structured_outputs`
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = 16
    seed: int | None = None
    stop: str | list[str] | None = None
    guided_decoding: Any = None


@dataclass
class FakeStructuredOutputsParams:  # vllm.sampling_params.StructuredOutputsParams
    json: str | dict | None = None


@dataclass
class FakeCompletionOutput:  # vllm.outputs.CompletionOutput
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: Any
    finish_reason: str | None = None
    stop_reason: int | str | None = None


@dataclass
class FakeRequestOutput:  # vllm.outputs.RequestOutput
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int] | None
    prompt_logprobs: Any
    outputs: list[FakeCompletionOutput]
    finished: bool


@dataclass
class FakeLLM:
    """Answers `chat` the way vLLM does: one RequestOutput per conversation, in order, with
    samples seeded `seed + index` (returned in reverse order to check the backend sorts them)."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    error: Exception | None = None

    def chat(
        self,
        messages: list[list[dict[str, str]]],
        sampling_params: Any = None,
        use_tqdm: bool = True,
        lora_request: Any = None,
        chat_template: str | None = None,
        chat_template_content_format: str = "auto",
        add_generation_prompt: bool = True,
        continue_final_message: bool = False,
        tools: Any = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        mm_processor_kwargs: dict[str, Any] | None = None,
    ) -> list[FakeRequestOutput]:
        self.calls.append(
            {
                "messages": messages,
                "params": sampling_params,
                "use_tqdm": use_tqdm,
                "chat_template": chat_template,
                "add_generation_prompt": add_generation_prompt,
            }
        )
        if self.error is not None:
            raise self.error
        outputs = []
        for k, (conversation, params) in enumerate(zip(messages, sampling_params, strict=True)):
            prompt = conversation[-1]["content"]
            samples = [
                FakeCompletionOutput(
                    index=i,
                    text=f"{prompt}#{params.seed + i}",
                    token_ids=list(range(min(params.max_tokens, 3))),
                    cumulative_logprob=None,
                    logprobs=None,
                    finish_reason="length" if params.max_tokens <= 3 else "stop",
                )
                for i in reversed(range(params.n))
            ]
            outputs.append(FakeRequestOutput(str(k), None, list(range(len(prompt.split()) + 4)), None, samples, True))
        return outputs


API = VLLMApi(llm=FakeLLM, sampling_params=FakeSamplingParams, structured_outputs=FakeStructuredOutputsParams)


def ask(text: str, **sampling: object) -> GenerationRequest:
    return GenerationRequest(
        messages=(Message("system", "be brief"), Message("user", text)), sampling=SamplingParams(**sampling)
    )


# --- mapping ------------------------------------------------------------------------------------


def test_sampling_params_carry_every_field() -> None:
    sampling = SamplingParams(temperature=0.3, top_p=0.9, max_tokens=64, n=4, seed=11, stop=("###", "\n\n"))

    params = to_sampling_params(sampling, API)

    assert params == FakeSamplingParams(n=4, temperature=0.3, top_p=0.9, max_tokens=64, seed=11, stop=["###", "\n\n"])


def test_no_stop_strings_means_none() -> None:
    assert to_sampling_params(SamplingParams(), API).stop is None


def test_json_schema_becomes_structured_outputs() -> None:
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}

    params = to_sampling_params(SamplingParams(json_schema=json.dumps(schema)), API)

    assert params.structured_outputs == FakeStructuredOutputsParams(json=schema)


def test_json_schema_uses_guided_decoding_on_older_vllm() -> None:
    older = VLLMApi(llm=FakeLLM, sampling_params=FakeGuidedSamplingParams, guided_decoding=FakeStructuredOutputsParams)

    params = to_sampling_params(SamplingParams(json_schema='{"type": "object"}'), older)

    assert params.guided_decoding == FakeStructuredOutputsParams(json={"type": "object"})


def test_invalid_json_schema_is_rejected() -> None:
    with pytest.raises(RequestRejected, match="json_schema"):
        to_sampling_params(SamplingParams(json_schema="{not json"), API)


def test_request_output_becomes_completions_in_sample_order() -> None:
    output = FakeRequestOutput(
        "0",
        None,
        [1, 2, 3, 4, 5],
        None,
        [
            FakeCompletionOutput(1, "second", [7, 8], None, None, "length"),
            FakeCompletionOutput(0, "first", [9], None, None, "stop"),
        ],
        True,
    )

    completions = to_completions(output, n=2)

    assert [c.text for c in completions] == ["first", "second"]
    assert [c.finish_reason for c in completions] == ["stop", "length"]
    assert [c.completion_tokens for c in completions] == [1, 2]
    assert {c.prompt_tokens for c in completions} == {5}


def test_a_missing_sample_is_an_error() -> None:
    output = FakeRequestOutput("0", None, [1], None, [FakeCompletionOutput(0, "only", [1], None, None, "stop")], True)

    with pytest.raises(BackendError, match="1 samples where n=2"):
        to_completions(output, n=2)


def test_engine_kwargs_pass_the_options_and_leave_unset_ones_to_vllm() -> None:
    options = VLLMOptions(tensor_parallel_size=2, gpu_memory_utilization=0.8, enable_prefix_caching=False)

    kwargs = engine_kwargs("Qwen/Qwen2.5-7B-Instruct", options)

    assert kwargs["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert kwargs["tensor_parallel_size"] == 2 and kwargs["gpu_memory_utilization"] == 0.8
    assert kwargs["enable_prefix_caching"] is False
    assert "max_model_len" not in kwargs and "quantization" not in kwargs
    assert engine_kwargs("m", VLLMOptions(max_model_len=4096, quantization="awq"))["max_model_len"] == 4096


# --- the backend around an injected engine -----------------------------------------------------


def test_all_prompts_go_to_the_engine_in_one_chat_call() -> None:
    engine = FakeLLM()
    backend = VLLMBackend("tiny", api=API, engine=engine)
    requests = [ask(f"question {i}", n=2, seed=100 * i, max_tokens=50) for i in range(5)]

    answers = backend.generate(requests)

    assert len(engine.calls) == 1
    call = engine.calls[0]
    assert call["messages"][3] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "question 3"}]
    assert [p.seed for p in call["params"]] == [0, 100, 200, 300, 400]
    assert call["use_tqdm"] is False and call["add_generation_prompt"] is True and call["chat_template"] is None
    assert [[c.text for c in a] for a in answers][3] == ["question 3#300", "question 3#301"]
    assert backend.teacher_id == "vllm:tiny"


def test_length_finish_is_recorded() -> None:
    backend = VLLMBackend("tiny", api=API, engine=FakeLLM())

    (answer,) = backend.generate([ask("long question", max_tokens=3)])

    assert answer[0].finish_reason == "length" and answer[0].completion_tokens == 3


def test_a_chat_template_file_is_read_and_passed(tmp_path: Path) -> None:
    template = tmp_path / "chat.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    engine = FakeLLM()

    VLLMBackend("tiny", VLLMOptions(chat_template=str(template)), api=API, engine=engine).generate([ask("x")])

    assert engine.calls[0]["chat_template"] == template.read_text()


def test_an_engine_value_error_is_a_rejected_request() -> None:
    engine = FakeLLM(error=ValueError("The decoder prompt (length 9000) is longer than the maximum model length"))
    backend = VLLMBackend("tiny", api=API, engine=engine)

    with pytest.raises(RequestRejected, match="maximum model length") as raised:
        backend.generate([ask("x")])
    assert isinstance(raised.value.__cause__, ValueError)


def test_an_engine_that_fails_to_start_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("resources.teacher.vllm_backend._require_gpu", lambda: None)

    def broken_llm(**kwargs: Any) -> None:
        raise RuntimeError("CUDA out of memory while loading weights")

    backend = VLLMBackend("big-model", api=VLLMApi(llm=broken_llm, sampling_params=FakeSamplingParams))

    with pytest.raises(BackendUnavailable, match=r"could not start 'big-model'.*out of memory"):
        backend.generate([ask("x")])


def test_the_engine_is_started_once_with_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("resources.teacher.vllm_backend._require_gpu", lambda: None)
    started: list[dict[str, Any]] = []

    def llm(**kwargs: Any) -> FakeLLM:
        started.append(kwargs)
        return FakeLLM()

    backend = VLLMBackend(
        "m", VLLMOptions(max_model_len=2048), api=VLLMApi(llm=llm, sampling_params=FakeSamplingParams)
    )
    backend.generate([ask("a")])
    backend.generate([ask("b")])

    assert len(started) == 1 and started[0]["max_model_len"] == 2048


def test_without_a_gpu_the_backend_says_so() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    backend = VLLMBackend("m", api=API)

    with pytest.raises(BackendUnavailable, match="needs a CUDA GPU"):
        backend.generate([ask("x")])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_without_vllm_the_backend_gives_the_install_hint() -> None:
    with pytest.raises(BackendUnavailable, match=r"pip install -e '\.\[vllm\]'"):
        VLLMBackend("m")


@pytest.mark.parametrize(
    ("field", "value"),
    [("tensor_parallel_size", 0), ("gpu_memory_utilization", 1.5), ("max_model_len", -1)],
)
def test_options_are_validated(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"VLLMOptions.{field}"):
        VLLMOptions(**{field: value})


# --- the real engine ----------------------------------------------------------------------------


def _vllm_and_cuda() -> bool:
    if importlib.util.find_spec("vllm") is None or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not _vllm_and_cuda(), reason="needs vLLM and a CUDA GPU")
def test_real_engine_on_a_tiny_random_model(tmp_path: Path) -> None:
    from resources.teacher.transformers_backend import build_random_model

    # head size 64: what vLLM's attention kernels support
    model_dir = build_random_model(tmp_path / "tiny", hidden_size=128, num_heads=2)
    backend = VLLMBackend(
        str(model_dir), VLLMOptions(gpu_memory_utilization=0.3, max_model_len=512, enforce_eager=True)
    )
    requests = [ask(f"question {i}", n=2, seed=i, max_tokens=8, temperature=0.8) for i in range(4)]
    try:
        first = backend.generate(requests)
        again = backend.generate(requests)
        schema = '{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}'
        (structured,) = backend.generate([ask("json please", json_schema=schema, max_tokens=40, temperature=0.0)])
    finally:
        backend.close()

    assert [len(a) for a in first] == [2, 2, 2, 2]
    assert first == again, "seeded samples must repeat"
    assert all(c.completion_tokens <= 8 and c.prompt_tokens > 0 for a in first for c in a)
    assert structured[0].text.lstrip().startswith("{")


# --- the rubric judge on this backend: structured outputs constrain the reply ---------------------


def test_the_judges_request_becomes_structured_outputs_with_the_judge_schema() -> None:
    llm = FakeLLM()
    backend = VLLMBackend("judge-model", api=API, engine=llm)

    backend.generate([judge_request("Explain tides.", "The moon pulls the sea.")])

    (params,) = llm.calls[0]["params"]
    assert params.structured_outputs == FakeStructuredOutputsParams(json=JUDGE_SCHEMA)
    assert params.temperature == 0.0


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not _vllm_and_cuda(), reason="needs vLLM and a CUDA GPU")
def test_real_engine_judges_in_the_schema(tmp_path: Path) -> None:
    from resources.teacher.transformers_backend import build_random_model

    model_dir = build_random_model(tmp_path / "tiny", hidden_size=128, num_heads=2)
    backend = VLLMBackend(
        str(model_dir), VLLMOptions(gpu_memory_utilization=0.3, max_model_len=2048, enforce_eager=True)
    )
    requests = [judge_request("Explain tides.", f"Answer {i}: the moon pulls the sea.", max_tokens=256) for i in range(3)]
    try:
        replies = [answers[0] for answers in backend.generate(requests)]
    finally:
        backend.close()

    # A random model, held to the schema by the grammar: every reply is the JSON object, and every
    # reply that finished (not cut off at max_tokens) is a valid judgment.
    assert all(reply.text.lstrip().startswith("{") for reply in replies)
    for reply in replies:
        if reply.finish_reason == "stop":
            judgment = parse_judgment(reply.text)
            assert set(judgment.aspects) == set(ASPECTS) and all(1 <= v <= 5 for v in judgment.aspects.values())
