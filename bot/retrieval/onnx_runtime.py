"""Run the embedding model with ONNX Runtime: the same vectors, two to three times faster for a question.

PyTorch spends most of a short question's forward pass in per-operator
overhead. The same model exported to ONNX once and run by ONNX Runtime
(``FAQBOT_EMBEDDING_RUNTIME=onnx``, the default) gives vectors within 2e-7 of
PyTorch's. Measured on this 2-core machine over Banking77's questions, one at
a time, with the KB's adapter: PyTorch p50 15.0 / p95 21.8 ms, ONNX Runtime
p50 4.4 / p95 8.0 ms. The ONNX Runtime figures are with 2 threads that sleep
between calls rather than spin. Spinning threads slowed the n-gram work that
follows (p95 of the whole question 28 ms with spinning, 15 without).
Batches for index builds are 10-15 % faster too.

The export is made from the weights on disk, never downloaded. It is
checked against PyTorch on probe texts, and a model whose export disagrees
(or cannot be exported) stays on PyTorch, with a warning. The file is cached
beside what it was made from: the base model's under
``<var>/cache/onnx/``, an adapted model's in its adapter's folder. Its name
carries a key over the weights' identity and the library versions, so an
upgrade re-exports.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bot.errors import ModelError

log = logging.getLogger(__name__)

#: Bump when the exported graph changes, so cached exports are redone.
EXPORT_VERSION = 1
#: The largest difference to PyTorch's vectors an export may show on the probes.
TOLERANCE = 1e-4
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
    """The cache key of an export: the weights' identity, the graph's version and the libraries that make and run it."""
    import onnxruntime
    import torch
    import transformers

    setup = f"{EXPORT_VERSION}\0{torch.__version__}\0{transformers.__version__}\0{onnxruntime.__version__}\0{identity}"
    return hashlib.sha256(setup.encode("utf-8")).hexdigest()[:16]


class OnnxEncoder:
    """A mean-pooled transformer exported to ONNX: texts in, L2-normalised float32 vectors out."""

    def __init__(self, path: Path, tokenizer: Tokenizer, max_tokens: int, lower_case: bool = False) -> None:
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

    def tokens(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The model's inputs for ``texts`` (stripped, as sentence-transformers does), padded to the longest."""
        clean = [str(t).strip().lower() if self.lower_case else str(t).strip() for t in texts]
        encoded = self.tokenizer(clean, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="np")
        return {name: np.asarray(encoded[name], dtype=np.int64) for name in self.inputs}

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
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
) -> OnnxEncoder:
    """The cached export of a model (``folder/<stem>-<key>.onnx``), made now when missing.

    ``transformer`` returns the (Hugging Face) model to export, mean-pooled and
    normalised in the graph; ``reference`` embeds texts with PyTorch, for the check.
    Raises ModelError when ONNX Runtime is missing or the export fails or disagrees.
    """
    missing = available()
    if missing:
        raise ModelError(missing)
    path = folder / f"{stem}-{export_key(identity)}.onnx"
    if path.exists():
        try:
            return OnnxEncoder(path, tokenizer, max_tokens, lower_case)
        except ModelError as exc:
            log.warning("re-exporting %s: %s", path, exc)
    folder.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{stem}-", suffix=".onnx", dir=folder)
    os.close(handle)
    try:
        _export(transformer(), tokenizer, max_tokens, Path(staging), lower_case)
        encoder = OnnxEncoder(Path(staging), tokenizer, max_tokens, lower_case)
        _check(encoder, reference)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    for old in folder.glob(f"{stem}-{'?' * len(path.stem[len(stem) + 1 :])}.onnx"):  # earlier exports of this model
        if old != path:
            old.unlink(missing_ok=True)
    log.info("exported %s to %s", stem, path)
    encoder.path = path  # the session checked above has the model in memory: no second load
    return encoder


def _export(
    model: Callable[..., Sequence], tokenizer: Tokenizer, max_tokens: int, path: Path, lower_case: bool
) -> None:
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
            hidden = self.transformer(**named)[0]
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


def _check(encoder: OnnxEncoder, reference: Reference) -> None:
    """Raise ModelError unless the export embeds the probes as PyTorch does, alone and in a batch."""
    texts = list(PROBES)
    expected = reference(texts)
    batched = encoder.encode(texts, batch_size=len(texts))
    alone = np.vstack([encoder.encode([text]) for text in texts])
    worst = float(max(np.abs(batched - expected).max(), np.abs(alone - expected).max()))
    if not worst <= TOLERANCE:
        raise ModelError(f"the ONNX export differs from PyTorch by {worst:.2g} (more than {TOLERANCE})")
