"""Run the embedding model with ONNX Runtime: the same vectors, two to three times faster for a question.

PyTorch spends most of a short question's forward pass in per-operator
overhead. The same model exported to ONNX once and run by ONNX Runtime
(``FAQBOT_EMBEDDING_RUNTIME=onnx``, the default) gives vectors within 2e-7 of
PyTorch's. Measured on this 2-core machine over Banking77's questions, one at
a time, with the KB's adapter: PyTorch p50 15.0 / p95 21.8 ms, ONNX Runtime
p50 4.4 / p95 8.0 ms. The ONNX Runtime figures are with 2 threads that sleep
between calls rather than spin. Spinning threads slowed the n-gram work that
follows (p95 of the whole question 28 ms with spinning, 15 without).
Batches for index builds are 10-15 % faster too. Since then the export uses
ONNX Runtime's fused attention (see onnx_fusion), another fifth off a
question's forward pass with the same vectors; a model whose graph does not
fuse is exported as it is.

The export is made from the weights on disk, never downloaded. It is
checked against PyTorch on probe texts, and a model whose export disagrees
(or cannot be exported) stays on PyTorch, with a warning. The file is cached
beside what it was made from: the base model's under
``<var>/cache/onnx/``, an adapted model's in its adapter's folder. Its name
carries a key over the weights' identity and the library versions, so an
upgrade re-exports.

Once the file exists, ``load_cached`` runs it without PyTorch,
sentence-transformers or transformers: the model's own ``tokenizer.json``
through the ``tokenizers`` library (the engine of transformers' fast
tokenizers: the same ids) and the graph through ONNX Runtime. Importing
sentence-transformers costs a process about 700 MB of memory (PyTorch alone
about 500); each of faqbot's processes that embeds (the action server, the
web app, ``faqbot run`` building the index) used to hold that.

With ``FAQBOT_EMBEDDING_INT8=on`` a plain (unfused) export is quantised to
int8 once (``<stem>-<key>-int8.onnx``; the float file is not kept): weights a
quarter of the size, one scale per output channel. A question's forward pass
is 30-40 % faster than the plain float export's (Banking77, with its adapter:
p50 5.1 / p95 8.6 ms against 7.4 / 12.9 in the same run), and
the vectors keep a cosine of 0.995 on average to the float ones (PyTorch's
int8: 0.85-0.95 on the probes). It is not the default: CLINC150's in-scope
accuracy falls from 95.0 to 94.9 %, under the target (see docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ModelError
from bot.retrieval import onnx_fusion

log = logging.getLogger(__name__)

#: Bump when the exported graph changes, so cached exports are redone.
EXPORT_VERSION = 2  # 2: fused attention
#: The largest difference to PyTorch's vectors an export may show on the probes.
TOLERANCE = 1e-4
#: The lowest cosine to PyTorch's float vector an int8 model may give a probe.
INT8_AGREEMENT = 0.95  # measured 0.977-0.994 on the probes (PyTorch's int8: 0.85-0.95)
#: Ends the name of an int8 model's file.
INT8_SUFFIX = "-int8"
#: Texts per forward pass when a batch is embedded (index builds). Small batches keep a pass's activations in the
#: core's cache: measured on 2,048 distractor passages of the scale benchmark (~28 tokens, 2 threads, load 7-11,
#: back to back, vectors within 3e-8): 64 texts 102-124 passages/s (192-214 per CPU-second), 16 texts 136-151
#: (239-268), 8 texts 166-300 (271-289). One text at a time gives a question its vector: the same to 3e-8.
BATCH_SIZE = 8
#: Texts the export is checked on, alone and as one padded batch.
PROBES = (
    "where is my parcel",
    "a much longer question about how the refund for an order I cancelled last week is worked out",
    "x",
    "كيف أغير كلمة المرور",
    "Когда придёт моя посылка?",
)
#: The tokenizer outputs a BERT-style model may take, in the order the graph takes them.
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

Tokenizer = Callable[..., dict]
Reference = Callable[[list[str]], np.ndarray]


def available() -> str | None:
    """None when ONNX Runtime and the exporter can be imported, else why not."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        return f"ONNX Runtime is not installed ({exc})"
    return None


def model_identity(path: str) -> str:
    """What identifies a model folder's weights: its path and each file's size and time (cheap, no hashing of 90 MB)."""
    root = Path(path)
    parts = [str(root.resolve()) if root.exists() else path]
    if root.is_dir():
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            stat = file.stat()
            parts.append(f"{file.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(parts)


def export_key(identity: str) -> str:
    """The cache key of an export: the weights' identity, the graph's version and the libraries that make and run it
    (their installed versions, read without importing them)."""
    versions = "\0".join(metadata.version(name) for name in ("torch", "transformers", "onnxruntime"))
    setup = f"{EXPORT_VERSION}\0{versions}\0{identity}"
    return hashlib.sha256(setup.encode("utf-8")).hexdigest()[:16]


class FastTokenizer:
    """A model folder's ``tokenizer.json`` on the ``tokenizers`` library, called as ``OnnxEncoder`` calls
    transformers' tokenizer (padded to the longest text, truncated at ``max_tokens``): the same ids, masks and
    token types, without importing transformers or PyTorch."""

    def __init__(self, path: Path, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(path))
        padding = self.tokenizer.padding or {}
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.enable_padding(
            pad_id=int(padding.get("pad_id", 0)),
            pad_type_id=int(padding.get("pad_type_id", 0)),
            pad_token=str(padding.get("pad_token", "[PAD]")),
        )

    def __call__(self, texts: Sequence[str], **_: Any) -> dict[str, np.ndarray]:
        encoded = self.tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }


def load_cached(folder: Path, stem: str, identity: str, model_path: str, int8: bool = False) -> OnnxEncoder | None:
    """The export ``load_or_export`` made for the same arguments, run without PyTorch, or None when there is none
    yet (or the model folder has no ``tokenizer.json`` and ``sentence_bert_config.json``): then load the model and
    call ``load_or_export``."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    path = folder / f"{stem}-{export_key(identity)}{INT8_SUFFIX if int8 else ''}.onnx"
    model = Path(model_path)
    if not path.exists() or not (model / "tokenizer.json").exists():
        return None
    try:
        config = json.loads((model / "sentence_bert_config.json").read_text("utf-8"))
        max_tokens = int(config["max_seq_length"])
        lower_case = bool(config.get("do_lower_case", False))
        tokenizer = FastTokenizer(model / "tokenizer.json", max_tokens)
        return OnnxEncoder(path, tokenizer, max_tokens, lower_case, one_at_a_time=int8)
    except Exception as exc:  # files, JSON, tokenizers and ONNX Runtime each raise their own types
        log.warning("cannot run %s without PyTorch (%s): loading the model", path, exc)
        return None


class OnnxEncoder:
    """A mean-pooled transformer exported to ONNX: texts in, L2-normalised float32 vectors out."""

    def __init__(
        self, path: Path, tokenizer: Tokenizer, max_tokens: int, lower_case: bool = False, one_at_a_time: bool = False
    ) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # Threads sleep between calls instead of spinning: a question's
        # n-gram and classifier work runs right after the forward pass.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own unrelated types
            raise ModelError(f"cannot load {path}: {exc}") from exc
        self.path = path
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dimension = int(self.session.get_outputs()[0].shape[-1])
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.lower_case = lower_case
        #: int8 activations are scaled over the whole input, padding and
        #: batch-mates included: one text at a time, a KB's phrasings get
        #: exactly the vectors a question would.
        self.one_at_a_time = one_at_a_time

    def tokens(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The model's inputs for ``texts`` (stripped, as sentence-transformers does), padded to the longest."""
        clean = [str(t).strip().lower() if self.lower_case else str(t).strip() for t in texts]
        encoded = self.tokenizer(clean, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="np")
        return {name: np.asarray(encoded[name], dtype=np.int64) for name in self.inputs}

    def encode(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """L2-normalised vectors of ``texts``, in their order: batches of ``batch_size`` texts of alike lengths."""
        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if self.one_at_a_time:
            batch_size = 1
        # Batches of alike lengths: little padding.
        order = sorted(range(len(texts)), key=lambda n: len(texts[n]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            result[chunk] = self.session.run(None, self.tokens([texts[n] for n in chunk]))[0]
        return result


def load_or_export(
    folder: Path,
    stem: str,
    identity: str,
    transformer: Callable[[], Callable[..., Sequence]],
    tokenizer: Tokenizer,
    max_tokens: int,
    reference: Reference,
    lower_case: bool = False,
    int8: bool = False,
) -> OnnxEncoder:
    """The cached export of a model (``folder/<stem>-<key>.onnx``), made now when missing.

    ``transformer`` returns the (Hugging Face) model to export, mean-pooled and
    normalised in the graph; ``reference`` embeds texts with PyTorch, for the check.
    With ``int8``, the export's int8 quantisation (``<stem>-<key>-int8.onnx``, see
    ``quantized``), and a ModelError that says what to set when it cannot run.
    Raises ModelError when ONNX Runtime is missing or the export fails or disagrees.
    """
    missing = available()
    if missing:
        raise ModelError(missing)
    key = export_key(identity)
    if int8:
        try:
            return _load_or_quantise(
                folder, stem, key, identity, transformer, tokenizer, max_tokens, reference, lower_case
            )
        except ModelError as exc:  # no fallback: PyTorch's int8 gives other vectors than the index holds
            raise ModelError(
                f"{folder / stem} cannot run in int8 on ONNX Runtime ({exc}): set FAQBOT_EMBEDDING_RUNTIME=torch"
                " or FAQBOT_EMBEDDING_INT8=off, then run 'faqbot kb build'"
            ) from exc
    path = folder / f"{stem}-{key}.onnx"
    if path.exists():
        try:
            return OnnxEncoder(path, tokenizer, max_tokens, lower_case)
        except ModelError as exc:
            log.warning("re-exporting %s: %s", path, exc)
    folder.mkdir(parents=True, exist_ok=True)
    with staging_file(folder, stem) as staging:
        encoder = _export_checked(transformer(), tokenizer, max_tokens, staging, lower_case, reference, fused=True)
        os.replace(staging, path)
    remove_older(folder, f"{stem}-{'?' * len(key)}.onnx", path)
    log.info("exported %s to %s", stem, path)
    encoder.path = path  # the session checked above has the model in memory: no second load
    return encoder


#: A staging file older than this was left by a process killed while exporting (no export takes an hour).
STALE_STAGING_SECONDS = 3600.0


@contextlib.contextmanager
def staging_file(folder: Path, stem: str) -> Iterator[Path]:
    """A new hidden file in ``folder`` to write a model to, removed afterwards unless moved away.

    Staging files of ``stem`` that a killed process left behind (older than an hour; an export in progress
    elsewhere is younger) are removed first: each can hold a whole float model.
    """
    now = time.time()
    for left in folder.glob(f".{stem}-*.onnx"):
        with contextlib.suppress(OSError):
            if now - left.stat().st_mtime > STALE_STAGING_SECONDS:
                left.unlink()
    handle, name = tempfile.mkstemp(prefix=f".{stem}-", suffix=".onnx", dir=folder)
    os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _export_checked(
    model: Any,
    tokenizer: Tokenizer,
    max_tokens: int,
    path: Path,
    lower_case: bool,
    reference: Reference,
    fused: bool,
) -> OnnxEncoder:
    """``model`` exported to ``path`` and checked against ``reference``.

    With ``fused``, ONNX Runtime's fused attention (see onnx_fusion) when the
    model's graph fuses and still agrees, else the plain export.
    """
    if fused:
        try:
            _export_fused(model, tokenizer, max_tokens, path, lower_case)
            encoder = OnnxEncoder(path, tokenizer, max_tokens, lower_case)
            _check(encoder, reference)
            return encoder
        except ModelError as exc:
            log.info("exporting the model without fused attention: %s", exc)
    _export(model, tokenizer, max_tokens, path, lower_case)
    encoder = OnnxEncoder(path, tokenizer, max_tokens, lower_case)
    _check(encoder, reference)
    return encoder


def _load_or_quantise(
    folder: Path,
    stem: str,
    key: str,
    identity: str,
    transformer: Callable[[], Callable[..., Sequence]],
    tokenizer: Tokenizer,
    max_tokens: int,
    reference: Reference,
    lower_case: bool,
) -> OnnxEncoder:
    """The cached int8 quantisation of the model's export (``folder/<stem>-<key>-int8.onnx``), made now when missing."""
    path = folder / f"{stem}-{key}{INT8_SUFFIX}.onnx"
    if path.exists():
        try:
            return OnnxEncoder(path, tokenizer, max_tokens, lower_case, one_at_a_time=True)
        except ModelError as exc:
            log.warning("quantising %s again: %s", path, exc)
    folder.mkdir(parents=True, exist_ok=True)
    # Quantised from a plain export, made for it and not kept: ONNX Runtime's
    # quantiser cannot type the fused attention's outputs, and the int8
    # quality measured (docs/benchmarks.md) is the plain graph's.
    with staging_file(folder, stem) as staging:
        exported = _export_checked(transformer(), tokenizer, max_tokens, staging, lower_case, reference, fused=False)
        encoder = quantized(exported, path, reference)
    remove_older(folder, f"{stem}-{'?' * len(key)}{INT8_SUFFIX}.onnx", path)
    return encoder


def quantized(exported: OnnxEncoder, path: Path, reference: Reference) -> OnnxEncoder:
    """``exported`` with its linear layers quantised to int8, written to ``path`` once checked against ``reference``.

    Dynamic quantisation with one scale per output channel of each weight
    matrix: weights a quarter of the size, activations quantised on the fly.
    One scale per whole matrix (ONNX Runtime's default) kept a mean cosine of
    only 0.975 to the float vectors on Banking77's questions; per channel keeps
    0.995 at the same speed.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with staging_file(path.parent, path.stem) as staging:
        try:
            with warnings.catch_warnings(), without_records(QUANTISER_ADVICE):
                warnings.simplefilter("ignore")
                quantize_dynamic(str(exported.path), str(staging), weight_type=QuantType.QInt8, per_channel=True)
        except Exception as exc:  # the quantiser raises many unrelated types
            raise ModelError(f"cannot quantise {exported.path} to int8: {exc}") from exc
        encoder = OnnxEncoder(staging, exported.tokenizer, exported.max_tokens, exported.lower_case, one_at_a_time=True)
        _check_int8(encoder, reference)
        os.replace(staging, path)
    log.info("quantised %s to %s", exported.path, path)
    encoder.path = path
    return encoder


#: What ONNX Runtime's quantiser logs every time, about static quantisation.
QUANTISER_ADVICE = "pre-processing before quantization"


@contextlib.contextmanager
def without_records(text: str) -> Iterator[None]:
    """Drop root-logger records containing ``text`` meanwhile."""

    def keep(record: logging.LogRecord) -> bool:
        return text not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def remove_older(folder: Path, pattern: str, keep: Path) -> None:
    """Earlier exports of this model (another key), which nothing uses any more."""
    for old in folder.glob(pattern):
        if old != keep:
            old.unlink(missing_ok=True)


def _export_fused(model: Any, tokenizer: Tokenizer, max_tokens: int, path: Path, lower_case: bool) -> None:
    """``_export`` with ONNX Runtime's fused attention, or a ModelError when the model's graph does not fuse."""
    config = getattr(model, "config", None)
    heads, hidden, layers = (
        getattr(config, name, 0) for name in ("num_attention_heads", "hidden_size", "num_hidden_layers")
    )
    if not all(isinstance(size, int) and size > 0 for size in (heads, hidden, layers)):
        raise ModelError("the model's config gives no number of heads, hidden size and layers")
    with staging_file(path.parent, path.stem) as unfused:
        with onnx_fusion.classic_attention_in(model):
            _export(model, tokenizer, max_tokens, unfused, lower_case, additive_mask=True)
        onnx_fusion.fuse(unfused, path, heads, hidden, layers)


def _export(
    model: Any, tokenizer: Tokenizer, max_tokens: int, path: Path, lower_case: bool, additive_mask: bool = False
) -> None:
    """Write ``model`` (a Hugging Face model), mean-pooled and normalised, to ``path`` as ONNX.

    With ``additive_mask`` the model is given BERT's additive attention mask
    rather than the 0/1 one (what ``onnx_fusion.fuse`` needs).
    """
    import torch

    sample = tokenizer([PROBES[0]], padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    names = [name for name in INPUTS if name in sample]
    if "input_ids" not in names or "attention_mask" not in names:
        raise ModelError("the model's tokenizer gives no input_ids and attention_mask")

    class Pooled(torch.nn.Module):
        """The transformer, mean pooling over the real tokens and L2 normalisation: sentence-transformers' pipeline."""

        def __init__(self) -> None:
            super().__init__()
            self.transformer = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            named = dict(zip(names, inputs, strict=True))
            given = (
                dict(named, attention_mask=onnx_fusion.additive_mask(named["attention_mask"]))
                if additive_mask
                else named
            )
            hidden = self.transformer(**given)[0]
            mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    axes = {name: {0: "texts", 1: "tokens"} for name in names}
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled().eval(),
                tuple(sample[name] for name in names),
                str(path),
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={**axes, "sentence_embedding": {0: "texts"}},
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many unrelated types
        raise ModelError(f"cannot export the model to ONNX: {exc}") from exc


def _check_int8(encoder: OnnxEncoder, reference: Reference) -> None:
    """Raise ModelError unless the int8 model's probe vectors stay within quantisation error of PyTorch's."""
    texts = list(PROBES)
    expected = reference(texts)
    alone = np.vstack([encoder.encode([text]) for text in texts])
    worst = float(np.min(np.sum(alone * expected, axis=1)))
    if not worst >= INT8_AGREEMENT:
        raise ModelError(
            f"the int8 model's vectors agree with PyTorch's to a cosine of {worst:.3f} (less than {INT8_AGREEMENT})"
        )


def _check(encoder: OnnxEncoder, reference: Reference) -> None:
    """Raise ModelError unless the export embeds the probes as PyTorch does, alone and in a batch."""
    texts = list(PROBES)
    expected = reference(texts)
    batched = encoder.encode(texts, batch_size=len(texts))
    alone = np.vstack([encoder.encode([text]) for text in texts])
    worst = float(max(np.abs(batched - expected).max(), np.abs(alone - expected).max()))
    if not worst <= TOLERANCE:
        raise ModelError(f"the ONNX export differs from PyTorch by {worst:.2g} (more than {TOLERANCE})")
