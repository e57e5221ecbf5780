"""Sentence embeddings already computed, kept in the warehouse: the corpus is rebuilt from every
seed batch on each refresh, so without this every refresh would embed every text again.

Keyed by (model, SHA-256 of the text). The model key is a fingerprint of the model directory (every
file's name and size, and its config) and the backend, so another model or another copy of the
weights never reads this one's vectors. Rebuilding the cache costs one embedding pass; losing it
loses nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from resources.warehouse import Warehouse, has_table

__all__ = ["EMBEDDING_CACHE_TABLE", "EmbeddingCache", "model_fingerprint"]

EMBEDDING_CACHE_TABLE = "embedding_cache"

_COLUMNS = "model VARCHAR, text_sha256 VARCHAR, vector FLOAT[], created_at TIMESTAMP DEFAULT current_timestamp"
_KEY = ("model", "text_sha256")


def model_fingerprint(model_dir: Path, backend: str) -> str:
    """`<directory name>:<backend>:<16 hex digits>` over the directory's files (names, sizes) and
    its config.json, so a changed model or another one gets its own vectors."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(model_dir)}\0{path.stat().st_size}\0".encode())
    config = model_dir / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    return f"{model_dir.name}:{backend}:{digest.hexdigest()[:16]}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    def __init__(self, warehouse: Warehouse, model: str):
        self._warehouse = warehouse
        self._model = model

    def get_many(self, texts: Sequence[str]) -> dict[int, np.ndarray]:
        """Index of each text whose vector is cached -> the vector (float32)."""
        if not texts:
            return {}
        keys = [_sha(t) for t in texts]
        with self._warehouse.connect() as con:
            if not has_table(con, EMBEDDING_CACHE_TABLE):  # nothing cached yet; the first put creates it
                return {}
            con.register("_wanted", pa.table({"text_sha256": list(dict.fromkeys(keys))}))
            found = con.execute(
                f"SELECT c.text_sha256, c.vector FROM {EMBEDDING_CACHE_TABLE} c JOIN _wanted USING (text_sha256) "
                "WHERE c.model = ?", [self._model]).arrow()
        if hasattr(found, "read_all"):  # DuckDB releases that return a record batch reader
            found = found.read_all()
        if not found.num_rows:
            return {}
        vectors = found.column("vector").combine_chunks()
        dim = len(vectors[0])
        matrix = np.asarray(vectors.flatten(), dtype=np.float32).reshape(-1, dim)
        by_key = dict(zip(found.column("text_sha256").to_pylist(), matrix, strict=True))
        return {i: by_key[key] for i, key in enumerate(keys) if key in by_key}

    def put_many(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        if not len(texts):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        flat = pa.array(vectors.reshape(-1))
        table = pa.table({
            "model": [self._model] * len(texts),
            "text_sha256": [_sha(t) for t in texts],
            "vector": pa.ListArray.from_arrays(pa.array(np.arange(0, len(flat) + 1, vectors.shape[1]), pa.int32()),
                                               flat),
        })
        upsert = self._warehouse.upsert_sql(EMBEDDING_CACHE_TABLE, "(SELECT DISTINCT ON (text_sha256) * FROM _new)",
                                            _KEY, ("model", "text_sha256", "vector"))

        def put(con) -> None:
            con.execute(self._warehouse.keyed_table_sql(EMBEDDING_CACHE_TABLE, _COLUMNS, _KEY))
            con.register("_new", table)
            con.execute(upsert)

        self._warehouse.transaction(put)
