"""Embedding matrices as Arrow columns (DuckDB FLOAT[dim] / FLOAT[]) and back, without copies where possible."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)


def vectors_to_arrow(vectors: np.ndarray) -> pa.FixedSizeListArray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])


def vector_dim(column: pa.ChunkedArray | pa.Array) -> int | None:
    """The vectors' dimension: the fixed size of a FLOAT[dim] column, or the common length of a FLOAT[] one (a
    lake's); None for an empty variable-size column."""
    if pa.types.is_fixed_size_list(column.type):
        return column.type.list_size
    lengths = pa.compute.list_value_length(column).to_numpy(zero_copy_only=False)
    if len(lengths) == 0:
        return None
    if (lengths != lengths[0]).any():
        raise ValueError(f"Stored embeddings have different lengths ({sorted(set(lengths.tolist()))[:3]}): "
                         "one embedding model per storage.")
    return int(lengths[0])


def arrow_to_vectors(column: pa.ChunkedArray | pa.Array, dim: int | None = None) -> np.ndarray:
    """A (rows × dim) float32 matrix from a FLOAT[dim] or FLOAT[] column; `dim` for an empty column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    dim = vector_dim(column) or dim or 0
    if len(column) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(len(column), dim)
