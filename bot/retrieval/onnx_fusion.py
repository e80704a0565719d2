"""ONNX Runtime's fused attention for an exported BERT-style encoder: the same vectors, a fifth faster.

Exported as PyTorch runs it, each of the model's six attention layers is
about a dozen small operators (reshapes, transposes, two matrix products,
the mask, a softmax), and for a short question their per-operator overhead
is much of the forward pass. ONNX Runtime's transformer optimizer replaces
each layer with one ``Attention`` kernel, and the embeddings with one
``EmbedLayerNormalization``, when it recognises the graph. It recognises the
attention as BERT first wrote it (scores divided by the square root of the
head size, plus an additive mask), not as transformers 5 writes it (scores
multiplied by the inverse, and its own mask code). So the export for fusion
runs the model with that classic attention and gives it the additive mask,
both the same arithmetic, and names the number of heads in the reshapes
where transformers writes -1.

Measured on this 2-core machine over Banking77's questions, one at a time:
p50 6.3 / p95 11.4 ms before, 4.9 / 9.4 ms fused, vectors within 2e-7.
A model whose graph the optimizer cannot fuse whole is exported without
fusion (see ``onnx_runtime.load_or_export``), and every export is checked
against PyTorch's vectors either way.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ModelError

#: The name the classic attention is registered under with transformers.
CLASSIC_ATTENTION = "faqbot_classic"
#: ONNX Runtime's optimizer logs under these names (its modules import each other without the package).
OPTIMIZER_LOGGERS = ("fusion", "onnx_model", "optimizer", "shape_infer")


def classic_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """Scaled dot-product attention written as BERT's original code: what ONNX Runtime's fuser recognises.

    The arguments and results of transformers' attention functions
    (``ALL_ATTENTION_FUNCTIONS``); ``attention_mask`` is additive.
    """
    import torch

    divisor = 1.0 / scaling if scaling else math.sqrt(query.size(-1))
    scores = torch.matmul(query, key.transpose(2, 3)) / divisor
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = torch.nn.functional.softmax(scores, dim=-1)
    weights = torch.nn.functional.dropout(weights, p=dropout, training=bool(getattr(module, "training", False)))
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


@contextlib.contextmanager
def classic_attention_in(model: Any) -> Iterator[None]:
    """``model`` (a Hugging Face model) runs ``classic_attention`` meanwhile; ModelError when it cannot."""
    try:
        from transformers import AttentionInterface

        AttentionInterface.register(CLASSIC_ATTENTION, classic_attention)
        previous = model.config._attn_implementation
        model.set_attn_implementation(CLASSIC_ATTENTION)
    except Exception as exc:  # an older transformers, or a model without the attention interface
        raise ModelError(f"the model cannot take another attention function: {exc}") from exc
    try:
        yield
    finally:
        model.set_attn_implementation(previous or "eager")


def additive_mask(attention_mask: Any) -> Any:
    """A (texts, tokens) 0/1 mask as BERT's additive (texts, 1, 1, tokens) one, in the ops the fuser matches."""
    import torch

    expanded = attention_mask.unsqueeze(1).unsqueeze(2).to(torch.float32)
    return (1.0 - expanded) * torch.finfo(torch.float32).min


def fuse(source: Path, target: Path, heads: int, hidden: int, layers: int) -> None:
    """Write ``source`` (an export made with ``classic_attention``) with fused attention to ``target``.

    Raises ModelError unless every one of the ``layers`` attention layers fuses.
    """
    import onnx

    try:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        options = FusionOptions("bert")
        # Symbolic shape inference copies the whole model, weights included,
        # five times: 10 s of an 11 s fusion, and the same six layers fuse without it.
        options.enable_shape_inference = False
        with _quiet():
            graph = onnx.load(str(source))
            _name_heads(graph, heads)
            optimized = optimize_model(
                graph,
                model_type="bert",
                num_heads=heads,
                hidden_size=hidden,
                optimization_options=options,
                opt_level=0,
            )
            fused = int(optimized.get_fused_operator_statistics().get("Attention", 0))
            if fused != layers:
                raise ModelError(f"ONNX Runtime fused {fused} of the model's {layers} attention layers")
            optimized.save_model_to_file(str(target))
    except ModelError:
        raise
    except Exception as exc:  # the optimizer raises many unrelated types
        raise ModelError(f"cannot fuse the model's attention: {exc}") from exc


def attention_layers(path: Path) -> int:
    """How many fused ``Attention`` operators the model at ``path`` has."""
    import onnx

    return sum(node.op_type == "Attention" for node in onnx.load(str(path), load_external_data=False).graph.node)


def _name_heads(graph: Any, heads: int) -> None:
    """Reshapes to (texts, tokens, -1, head size) become (texts, tokens, ``heads``, head size).

    The optimizer reads the number of heads from those shapes, and
    transformers 5 writes it as -1 (inferred).
    """
    from onnx import numpy_helper
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(graph)  # a view: changes go to ``graph``
    producers = model.output_name_to_node()
    for node in model.get_nodes_by_op_type("Reshape"):
        concat = model.get_parent(node, 1, producers)
        if concat is None or concat.op_type != "Concat" or len(concat.input) != 4:
            continue
        value = model.get_constant_value(concat.input[2])
        if not isinstance(value, np.ndarray) or value.size != 1 or int(value.reshape(-1)[0]) != -1:
            continue
        name = f"{concat.input[2]}_heads"
        if model.get_initializer(name) is None:
            model.add_initializer(numpy_helper.from_array(np.array([heads], dtype=value.dtype), name))
        concat.input[2] = name


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The optimizer's own log lines (every pattern it tried) are kept out of ours."""
    quietened = []
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(OPTIMIZER_LOGGERS):
            logger = logging.getLogger(name)
            quietened.append((logger, logger.level))
            logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in quietened:
            logger.setLevel(level)
