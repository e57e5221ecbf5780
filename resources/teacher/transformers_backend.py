"""The `transformers` teacher: a local Hugging Face causal LM, on CPU or GPU.

`model` is a local directory or a hub id (a hub id is downloaded by `from_pretrained` on first use;
tests and the benchmark only build models locally, see `build_random_model`). Requests that share
sampling parameters are rendered with the chat template, left-padded and generated together, at
most `max_batch_size` sequences (prompts × n) per `generate` call.

Sampling is done here, not by `generate`'s global random state: a logits processor draws each row's
next token with that row's own `torch.Generator`, seeded `sampling.seed + i` for sample i, and lets
greedy search pick it. So a sample depends on its prompt and seed only, not on which other prompts
share its batch; a request answered alone or in a batch of 16 gives the same text (up to float
rounding differences between batch shapes, which may rarely flip a draw). Temperature 0 is greedy.

The model's own `generation_config` sampling defaults are not applied: a request's
`SamplingParams` are the whole story, as with vLLM. `json_schema` is not enforced here; stages
validate what comes back anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, field_validator

from resources.teacher.base import (
    BackendError,
    BackendUnavailable,
    Completion,
    GenerationRequest,
    SamplingParams,
    TeacherBackend,
)

__all__ = ["TransformersBackend", "TransformersOptions", "build_random_model"]

logger = logging.getLogger(__name__)

_DTYPES = ("auto", "float32", "float16", "bfloat16")


class TransformersOptions(dg.Config):
    """How to load and batch a local Hugging Face model."""

    device: str = Field(default="auto", description="'auto' (CUDA when visible, else CPU), 'cpu', 'cuda' or 'cuda:N'.")
    dtype: str = Field(default="auto", description="'auto' (the checkpoint's), 'float32', 'float16' or 'bfloat16'.")
    max_batch_size: int = Field(default=16, description="Sequences (prompts × n) per generate call.")
    chat_template: str = Field(default="", description="Jinja chat template, or a path to one; empty: the tokenizer's.")
    trust_remote_code: bool = Field(default=False, description="Allow model code from the checkpoint to run.")

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if value not in ("auto", "cpu") and not value.startswith(("cuda", "mps")):
            raise ValueError(f"TransformersOptions.device must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
        return value

    @field_validator("dtype")
    @classmethod
    def _check_dtype(cls, value: str) -> str:
        if value not in _DTYPES:
            raise ValueError(f"TransformersOptions.dtype must be one of {_DTYPES}, got {value!r}")
        return value

    @field_validator("max_batch_size")
    @classmethod
    def _check_batch(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"TransformersOptions.max_batch_size must be >= 1, got {value}")
        return value


class TransformersBackend(TeacherBackend):
    """A local causal LM run with `model.generate`, batched with left padding."""

    name = "transformers"

    def __init__(self, model: str, options: TransformersOptions | None = None):
        if not model:
            raise ValueError("the transformers backend needs a model path or hub id (TeacherResource.model)")
        self._model_name = model
        self._options = options or TransformersOptions()
        self._lm: Any = None  # loaded on first use, so describing the teacher stays cheap
        self._tokenizer: Any = None
        self._device = ""
        self._template: str | None = None
        self._eos_ids: frozenset[int] = frozenset()

    @property
    def model(self) -> str:
        return self._model_name

    @property
    def device(self) -> str:
        """The device the model runs on, once loaded ('' before)."""
        return self._device

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self._load()
        results: list[list[Completion]] = [[] for _ in requests]
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, request in enumerate(requests):
            s = request.sampling
            groups.setdefault((s.temperature, s.top_p, s.max_tokens, s.n, s.stop), []).append(index)
        for indices in groups.values():
            sampling = requests[indices[0]].sampling
            per_call = max(1, self._options.max_batch_size // sampling.n)
            for start in range(0, len(indices), per_call):
                chunk = indices[start : start + per_call]
                answers = self._generate_chunk([requests[i] for i in chunk], sampling)
                for i, completions in zip(chunk, answers, strict=True):
                    results[i] = completions
        return results

    def close(self) -> None:
        on_gpu = self._lm is not None and self._device.startswith("cuda")
        self._lm = None
        self._tokenizer = None
        if on_gpu:
            import torch

            torch.cuda.empty_cache()

    def _load(self) -> None:
        if self._lm is not None:
            return
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise BackendUnavailable("the transformers backend needs torch and transformers installed") from exc
        device = self._options.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable(f"TransformersOptions.device is {device!r} but no CUDA GPU is visible")
        dtype = self._options.dtype if self._options.dtype == "auto" else getattr(torch, self._options.dtype)
        trust = self._options.trust_remote_code
        try:
            tokenizer = AutoTokenizer.from_pretrained(self._model_name, padding_side="left", trust_remote_code=trust)
            lm = AutoModelForCausalLM.from_pretrained(self._model_name, dtype=dtype, trust_remote_code=trust)
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(f"cannot load model {self._model_name!r}: {exc}") from exc
        template = _read_template(self._options.chat_template) or tokenizer.chat_template
        if not template:
            raise BackendUnavailable(
                f"model {self._model_name!r} has no chat template; set TransformersOptions.chat_template"
            )
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token_id is None:
                raise BackendUnavailable(f"the tokenizer of {self._model_name!r} has neither a pad nor an eos token")
            tokenizer.pad_token = tokenizer.eos_token
        eos = lm.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        self._tokenizer, self._template, self._eos_ids = tokenizer, template, frozenset(eos_ids)
        self._lm = lm.to(device).eval()
        self._device = device
        logger.info("loaded %s on %s (%s)", self._model_name, device, lm.dtype)

    def _generate_chunk(
        self, requests: Sequence[GenerationRequest], sampling: SamplingParams
    ) -> list[list[Completion]]:
        """One `generate` call: every request of the chunk shares `sampling` except for its seed."""
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        tokenizer, n = self._tokenizer, sampling.n
        chats = [[{"role": m.role, "content": m.content} for m in r.messages] for r in requests]
        prompts = tokenizer.apply_chat_template(
            chats, tokenize=False, add_generation_prompt=True, chat_template=self._template
        )
        rows = [prompt for prompt in prompts for _ in range(n)]
        seeds = [r.sampling.seed + i for r in requests for i in range(n)]
        batch = tokenizer(rows, return_tensors="pt", padding=True, add_special_tokens=False).to(self._device)
        pad = tokenizer.pad_token_id
        config = GenerationConfig(
            max_new_tokens=sampling.max_tokens,
            do_sample=False,  # the seeded sampler below draws the token; greedy search takes it
            repetition_penalty=1.0,
            pad_token_id=pad,
            eos_token_id=sorted(self._eos_ids) or None,
            stop_strings=list(sampling.stop) or None,
            suppress_tokens=[pad] if pad not in self._eos_ids else None,
        )
        processors = LogitsProcessorList()
        if sampling.temperature > 0:
            processors.append(_SeededSampler(seeds, sampling.temperature, sampling.top_p, self._device))
        try:
            with torch.inference_mode():
                output = self._lm.generate(
                    **batch,
                    generation_config=config,
                    logits_processor=processors,
                    tokenizer=tokenizer if sampling.stop else None,
                )
        except torch.OutOfMemoryError as exc:
            raise BackendError(
                f"out of memory generating {len(rows)} sequences; lower TransformersOptions.max_batch_size"
            ) from exc
        new_tokens = output[:, batch["input_ids"].shape[1] :].tolist()
        prompt_lengths = batch["attention_mask"].sum(dim=1).tolist()
        completions = [
            self._completion(tokens, int(length), sampling.stop) for tokens, length in zip(new_tokens, prompt_lengths, strict=True)
        ]
        return [completions[k * n : (k + 1) * n] for k in range(len(requests))]

    def _completion(self, tokens: list[int], prompt_tokens: int, stop: Sequence[str]) -> Completion:
        """Cut a row at its first eos (or the padding after a stop string) and at the first stop string."""
        pad = self._tokenizer.pad_token_id
        cut = next((k for k, t in enumerate(tokens) if t in self._eos_ids or t == pad), None)
        if cut is None:
            kept, count, finish = tokens, len(tokens), "length"
        else:
            kept, count, finish = tokens[:cut], cut + int(tokens[cut] in self._eos_ids), "stop"
        text = self._tokenizer.decode(kept, skip_special_tokens=True)
        positions = [text.find(s) for s in stop if s in text]
        if positions:
            text, finish = text[: min(positions)], "stop"
        return Completion(text=text, finish_reason=finish, prompt_tokens=prompt_tokens, completion_tokens=count)


class _SeededSampler:
    """A logits processor that draws each row's next token with the row's own generator.

    It returns scores where only the drawn token is finite, so greedy search selects it. Row r of a
    chunk is sample `r % n` of its request and owns a generator seeded `seed + r % n`.
    """

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float, device: str):
        import torch

        self._generators = [torch.Generator(device=device).manual_seed(seed) for seed in seeds]
        self._temperature = temperature
        self._top_p = top_p

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        probs = torch.softmax(scores.float() / self._temperature, dim=-1)
        if self._top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            beyond = sorted_probs.cumsum(dim=-1) - sorted_probs > self._top_p  # outside the nucleus
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs.masked_fill(beyond, 0.0))
        chosen = torch.cat(
            [torch.multinomial(probs[row], 1, generator=gen) for row, gen in enumerate(self._generators)]
        )
        forced = torch.full_like(scores, float("-inf"))
        forced[torch.arange(len(chosen), device=scores.device), chosen] = 0.0
        return forced


def _read_template(value: str) -> str:
    """A chat template given inline or as a path to a file holding it."""
    if value and "{" not in value and Path(value).is_file():
        return Path(value).read_text()
    return value


_RANDOM_MODEL_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_RANDOM_MODEL_SPECIALS = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
_RANDOM_MODEL_CORPUS = [
    "Write a function that returns the sum of a list of numbers.",
    "Explain why the sky is blue in two sentences.",
    "def add(a, b):\n    return a + b",
    "A train travels 60 km in 45 minutes. What is its average speed? The answer is 80 km/h.",
    "Rewrite the instruction so that it is harder, and add one constraint.",
]


def build_random_model(
    path: str | Path,
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 4,
    vocab_size: int = 512,
    seed: int = 0,
) -> Path:
    """Write a random-weight Llama model and a byte-level BPE tokenizer with a chat template to `path`.

    Built offline in a few seconds, for tests and the throughput benchmark: it has the shape of a
    chat model and answers with noise. Never a teacher.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    target = Path(path)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_RANDOM_MODEL_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_RANDOM_MODEL_CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        additional_special_tokens=_RANDOM_MODEL_SPECIALS[3:],
    )
    tokenizer.chat_template = _RANDOM_MODEL_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=max(1, num_heads // 2),
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    # do_sample so that servers which follow the checkpoint's defaults (transformers serve) sample.
    model.generation_config = GenerationConfig(
        do_sample=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
