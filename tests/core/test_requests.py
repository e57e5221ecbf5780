"""Cache keys of teacher requests: stable across the faster paths that compute them."""

import dataclasses
import hashlib
import json

import pytest

from synth_assets.core.requests import GenerationRequest, Message, SamplingParams


def reference_key(request: GenerationRequest, teacher: str, index: int) -> str:
    """The key as first defined: sha256 over teacher, prompt, every sampling field but n, index."""
    params = dataclasses.asdict(request.sampling)
    params.pop("n")
    material = "\x1f".join([teacher, request.prompt_text, json.dumps(params, sort_keys=True), str(index)])
    return hashlib.sha256(material.encode()).hexdigest()


@pytest.mark.parametrize(
    "sampling",
    [
        SamplingParams(),
        SamplingParams(temperature=0, max_tokens=16),
        SamplingParams(temperature=1, top_p=0.95, n=4, seed=7, stop=("\n\n", "END"), json_schema='{"type": "object"}'),
    ],
)
def test_cache_keys_match_the_original_definition(sampling: SamplingParams) -> None:
    request = GenerationRequest((Message("system", "Be brief."), Message("user", "Add 2 and 3. ünïcode")), sampling)

    keys = request.cache_keys("rules:rule-based-v1")

    assert len(keys) == sampling.n
    assert keys == tuple(reference_key(request, "rules:rule-based-v1", i) for i in range(sampling.n))
    assert keys == tuple(request.cache_key("rules:rule-based-v1", i) for i in range(sampling.n))


def test_the_sampling_key_is_computed_once_and_still_tells_params_apart() -> None:
    sampling = SamplingParams(temperature=0.2)

    assert sampling.cache_key() is sampling.cache_key()
    assert sampling.cache_key() != SamplingParams(temperature=0.3).cache_key()
    assert sampling.cache_key() == dataclasses.replace(sampling, n=5).cache_key()
    assert sampling == SamplingParams(temperature=0.2)  # the memo is not a field
