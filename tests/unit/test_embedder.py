import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.errors import ConfigError, ModelError
from bot.retrieval import onnx_fusion, onnx_runtime
from bot.retrieval.adaptation import AdaptedEmbedder
from bot.retrieval.embedder import (
    INT8_SUFFIX,
    ONNX_INT8_SUFFIX,
    CachingEmbedder,
    SentenceTransformerEmbedder,
    resolve_model_path,
)
from bot.settings import PROJECT_ROOT, from_env
from tests.conftest import HashingEmbedder

RUNTIME_CASES = [(False, "torch"), (False, "onnx"), (True, "torch"), (True, "onnx")]


def test_int8_is_another_model_name_and_off_by_default():
    assert from_env({}).embedding_int8 is False
    assert from_env({"FAQBOT_EMBEDDING_INT8": "on"}).embedding_int8 is True
    plain, int8 = SentenceTransformerEmbedder("all-MiniLM-L6-v2"), SentenceTransformerEmbedder(int8=True)
    assert plain.name == "all-MiniLM-L6-v2" and int8.name == "all-MiniLM-L6-v2" + INT8_SUFFIX
    assert int8.model == plain.model  # the same weights, loaded from the same place


@pytest.mark.slow
def test_int8_vectors_stay_close_to_the_float_ones():
    texts = ["where is my parcel", "how do I reset my password", "my card was declined at the shop"]
    plain = SentenceTransformerEmbedder().encode(texts)
    int8 = SentenceTransformerEmbedder(int8=True).encode(texts)
    assert int8.shape == plain.shape and np.allclose(np.linalg.norm(int8, axis=1), 1, atol=1e-4)
    assert not np.allclose(plain, int8, atol=1e-3)  # really another model
    assert (np.sum(plain * int8, axis=1) > 0.85).all()
    # ... and still tell the texts apart: each is closest to itself
    assert (np.argmax(int8 @ plain.T, axis=1) == np.arange(len(texts))).all()


@pytest.mark.slow
def test_a_text_gets_the_same_vector_alone_or_in_a_batch():
    texts = ["where is my parcel", "a longer question about how the refund for a cancelled order is worked out", "x"]
    for embedder in (SentenceTransformerEmbedder(), SentenceTransformerEmbedder(int8=True)):
        alone = np.vstack([embedder.encode([text]) for text in texts])
        assert np.allclose(embedder.encode(texts * 3)[:3], alone, atol=1e-5), embedder.name


def test_the_caching_embedder_encodes_each_text_once_and_forgets_the_oldest():
    inner = HashingEmbedder()
    cached = CachingEmbedder(inner, size=3)
    assert cached.name == inner.name and cached.dimension == inner.dimension
    first = cached.encode(["a b", "c d", "a b"])
    assert np.array_equal(first, inner.encode(["a b", "c d", "a b"])) and inner.calls[0] == ["a b", "c d"]
    inner.calls.clear()
    assert np.array_equal(cached.encode(["c d", "e f"]), inner.encode(["c d", "e f"]))
    assert inner.calls[0] == ["e f"]  # "c d" was kept
    cached.encode(["g h"])  # four texts seen, three kept: "a b" (least recently used) is forgotten
    inner.calls.clear()
    cached.encode(["a b", "g h"])
    assert inner.calls == [["a b"]] and cached.encode([]).shape == (0, inner.dimension)


def test_the_runtime_is_a_setting_onnx_by_default(tmp_path):
    assert from_env({}).embedding_runtime == "onnx"
    assert from_env({"FAQBOT_EMBEDDING_RUNTIME": "torch"}).embedding_runtime == "torch"
    with pytest.raises(ConfigError):
        from_env({"FAQBOT_EMBEDDING_RUNTIME": "tensorflow"})
    with pytest.raises(ModelError):
        SentenceTransformerEmbedder(runtime="onnx")  # nowhere to keep the export
    onnx = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=tmp_path)
    assert onnx.name == SentenceTransformerEmbedder().name  # the same vectors, so the same indexes
    # int8 vectors depend on the quantisation: each runtime's have their own name (and indexes)
    onnx_int8 = SentenceTransformerEmbedder(int8=True, runtime="onnx", onnx_dir=tmp_path)
    assert onnx_int8.runtime == "onnx" and onnx_int8.name == onnx.name + ONNX_INT8_SUFFIX
    assert len({onnx.name, onnx_int8.name, SentenceTransformerEmbedder(int8=True).name}) == 3
    adapted = [AdaptedEmbedder(onnx.model, tmp_path, "k", int8=int8, runtime=r) for int8, r in RUNTIME_CASES]
    assert [a.name for a in adapted] == [
        f"{onnx.model}{suffix}@k" for suffix in ("", "", INT8_SUFFIX, ONNX_INT8_SUFFIX)
    ]
    assert [a.runtime for a in adapted] == [r for _, r in RUNTIME_CASES]


TORCH_FREE = """
import json, sys
from pathlib import Path
from bot.retrieval.embedder import SentenceTransformerEmbedder
from bot.retrieval.tokens import word_tokens
embedder = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=Path(sys.argv[1]))
vectors = embedder.encode(json.loads(sys.argv[2]))
tokens = word_tokens("en", "Where is my parcel?")  # spaCy's tokenizer: spaCy's thinc would import PyTorch
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
import torch  # still importable by whoever needs it (an export)
print(json.dumps({"backend": embedder.backend, "heavy": heavy, "tokens": tokens, "vectors": vectors.tolist()}))
"""


@pytest.mark.slow
def test_a_cached_export_runs_without_pytorch_with_the_same_vectors(tmp_path):
    """A process that only embeds and ranks (the action server, the web app) does not import PyTorch,
    transformers or sentence-transformers (about 700 MB) once the export exists, and gets the very same
    vectors; spaCy's tokenizers do not pull PyTorch in either."""
    texts = ["where is my parcel", "  كيف أغير كلمة المرور  ", "Когда придёт моя посылка?", "x", "",
             "a very long question " * 80, "emoji 🙂 and accents: déjà vu, Ærø"]  # fmt: skip
    folder = tmp_path / "onnx"
    exported = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=folder)
    expected = exported.encode(texts)  # exports (PyTorch loaded here)
    run = subprocess.run(
        [sys.executable, "-c", TORCH_FREE, str(folder), json.dumps(texts)],
        capture_output=True, text=True, cwd=PROJECT_ROOT, check=True, timeout=300,
    )  # fmt: skip
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["backend"] == "onnx" and result["heavy"] == [] and result["tokens"]
    assert np.array_equal(np.asarray(result["vectors"], dtype=np.float32), expected)


@pytest.mark.slow
def test_the_fast_tokenizer_gives_the_models_own_tokens():
    from transformers import AutoTokenizer

    path = Path(resolve_model_path("all-MiniLM-L6-v2"))
    reference = AutoTokenizer.from_pretrained(str(path))
    fast = onnx_runtime.FastTokenizer(path / "tokenizer.json", 256)
    texts = [q["question"] for q in yaml.safe_load((PROJECT_ROOT / "knowledge_base" / "tests.yml").read_text())]
    texts += ["", "x", "word " * 400, "MiXeD CaSe, punctuation!?", "١٢٣ ٤٥٦", "tab\tand\nnewline"]
    for batch in (texts, texts[:1], texts[-3:]):
        want = reference(batch, padding=True, truncation=True, max_length=256, return_tensors="np")
        got = fast(batch)
        for name in onnx_runtime.INPUTS:
            assert np.array_equal(got[name], want[name]), name


@pytest.mark.slow
def test_onnx_runtime_gives_pytorchs_vectors_and_exports_once(tmp_path, caplog):
    texts = ["where is my parcel", "a longer question about how the refund for a cancelled order is worked out", "x",
             "  كيف أغير كلمة المرور  ", "Когда придёт моя посылка?"]  # fmt: skip
    torch_vectors = SentenceTransformerEmbedder().encode(texts)
    folder = tmp_path / "onnx"
    onnx = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=folder)
    vectors = onnx.encode(texts)
    assert onnx.backend == "onnx" and vectors.dtype == np.float32
    assert np.abs(vectors - torch_vectors).max() < 1e-5
    alone = np.vstack([onnx.encode([text]) for text in texts])
    assert np.abs(alone - torch_vectors).max() < 1e-5  # padding in a batch changes nothing
    (export,) = folder.glob("*.onnx")
    assert onnx_fusion.attention_layers(export) == 6  # each of MiniLM-L6's layers is one fused kernel
    stamp = export.stat().st_mtime_ns
    # another process (here: another embedder) loads the cached export
    again = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=folder)
    assert np.array_equal(again.encode(texts), vectors) and export.stat().st_mtime_ns == stamp
    # a damaged file is made again, not trusted
    export.write_bytes(b"not a model")
    repaired = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=folder)
    assert np.abs(repaired.encode(texts) - torch_vectors).max() < 1e-5 and repaired.backend == "onnx"
    assert [p.name for p in folder.glob("*.onnx")] == [export.name]


@pytest.mark.slow
def test_the_classic_attention_gives_transformers_vectors_and_is_put_back():
    import torch

    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    module = embedder._model[0]
    bert = module.auto_model
    before = bert.config._attn_implementation
    batch = module.tokenizer(["where is my parcel", "a much longer question about a refund", "x"], padding=True,
                             return_tensors="pt")  # fmt: skip
    with torch.inference_mode():
        expected = bert(**batch)[0]
        with onnx_fusion.classic_attention_in(bert):
            assert bert.config._attn_implementation == onnx_fusion.CLASSIC_ATTENTION
            mask = onnx_fusion.additive_mask(batch["attention_mask"])
            classic = bert(**dict(batch, attention_mask=mask))[0]
    assert bert.config._attn_implementation == before
    real = batch["attention_mask"].bool()  # padding positions are never pooled
    assert torch.allclose(classic[real], expected[real], atol=1e-5)


@pytest.mark.slow
def test_a_graph_onnx_runtime_cannot_fuse_is_exported_plain(tmp_path, monkeypatch, caplog):
    def partial(source, target, heads, hidden, layers):
        raise ModelError(f"ONNX Runtime fused 5 of the model's {layers} attention layers")

    monkeypatch.setattr(onnx_fusion, "fuse", partial)
    texts = ["where is my parcel", "a longer question about how the refund for a cancelled order is worked out"]
    embedder = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=tmp_path)
    with caplog.at_level("INFO"):
        vectors = embedder.encode(texts)
    assert embedder.backend == "onnx" and "without fused attention: ONNX Runtime fused 5" in caplog.text
    assert np.abs(vectors - SentenceTransformerEmbedder().encode(texts)).max() < 1e-5
    (export,) = tmp_path.glob("*.onnx")
    assert onnx_fusion.attention_layers(export) == 0 and not list(tmp_path.glob(".*"))


@pytest.mark.slow
def test_a_model_the_export_gets_wrong_stays_on_pytorch(tmp_path, monkeypatch, caplog):
    real = onnx_runtime.OnnxEncoder.encode

    def off(self, texts, batch_size=64):
        return real(self, texts, batch_size) + 0.01  # an export that disagrees with PyTorch

    monkeypatch.setattr(onnx_runtime.OnnxEncoder, "encode", off)
    embedder = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=tmp_path)
    with caplog.at_level("WARNING"):
        vectors = embedder.encode(["where is my parcel"])
    assert embedder.backend == "torch" and "differs from PyTorch" in caplog.text
    assert np.allclose(vectors, SentenceTransformerEmbedder().encode(["where is my parcel"]), atol=1e-6)
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*"))  # nothing half-written kept


@pytest.mark.slow
def test_int8_on_onnx_runtime_quantises_the_export_once_and_stays_close(tmp_path):
    texts = ["where is my parcel", "a longer question about how the refund for a cancelled order is worked out", "x",
             "كيف أغير كلمة المرور", "Когда придёт моя посылка?"]  # fmt: skip
    plain = SentenceTransformerEmbedder().encode(texts)
    folder = tmp_path / "onnx"
    int8 = SentenceTransformerEmbedder(int8=True, runtime="onnx", onnx_dir=folder)
    vectors = int8.encode(texts)
    assert int8.backend == "onnx" and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    cosines = np.sum(plain * vectors, axis=1)
    assert not np.allclose(plain, vectors, atol=1e-3) and (cosines >= onnx_runtime.INT8_AGREEMENT).all()
    # per-channel scales: closer to the float vectors than PyTorch's int8 (one scale per matrix)
    torch_int8 = SentenceTransformerEmbedder(int8=True).encode(texts)
    assert cosines.mean() > np.sum(plain * torch_int8, axis=1).mean()
    # activations are scaled per input: one text at a time, so a batch changes nothing
    alone = np.vstack([int8.encode([text]) for text in texts])
    assert np.array_equal(int8.encode(texts * 2)[: len(texts)], alone)
    # quantised from a plain export that is not kept
    (quantised,) = folder.glob("*.onnx")
    assert quantised.name.endswith(f"{onnx_runtime.INT8_SUFFIX}.onnx") and onnx_fusion.attention_layers(quantised) == 0
    weights = Path(resolve_model_path(int8.model)) / "model.safetensors"
    assert quantised.stat().st_size < 0.4 * weights.stat().st_size
    stamp = quantised.stat().st_mtime_ns
    again = SentenceTransformerEmbedder(int8=True, runtime="onnx", onnx_dir=folder)
    assert np.array_equal(again.encode(texts), vectors) and quantised.stat().st_mtime_ns == stamp
    quantised.write_bytes(b"not a model")  # damaged: quantised again
    repaired = SentenceTransformerEmbedder(int8=True, runtime="onnx", onnx_dir=folder)
    assert np.allclose(repaired.encode(texts), vectors, atol=1e-6) and not list(folder.glob(".*"))


@pytest.mark.slow
def test_int8_that_cannot_run_on_onnx_runtime_is_an_error_not_other_vectors(tmp_path, monkeypatch):
    real = onnx_runtime.OnnxEncoder.encode

    def off(self, texts, batch_size=64):
        vectors = real(self, texts, batch_size)
        return vectors[:, ::-1].copy() if self.one_at_a_time else vectors  # a quantisation gone wrong

    monkeypatch.setattr(onnx_runtime.OnnxEncoder, "encode", off)
    embedder = SentenceTransformerEmbedder(int8=True, runtime="onnx", onnx_dir=tmp_path)
    with pytest.raises(ModelError, match="cannot run in int8 on ONNX Runtime.*FAQBOT_EMBEDDING_RUNTIME=torch"):
        embedder.encode(["where is my parcel"])
    assert not list(tmp_path.glob(f"*{onnx_runtime.INT8_SUFFIX}.onnx")) and not list(tmp_path.glob(".*"))


@pytest.mark.slow
def test_a_build_embeds_in_small_batches_with_the_vectors_a_question_gets(monkeypatch):
    """Index builds run ONNX Runtime on batches of at most onnx_runtime.BATCH_SIZE texts (faster per text than
    64: docs/scaling.md), and each text's vector is the one it gets alone, as a customer's question is embedded."""
    embedder = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=from_env({}).onnx_dir)
    embedder.warm_up()
    session = embedder._onnx.session
    sizes: list[int] = []
    real_run = session.run

    class Counting:
        def run(self, outputs, feed):
            sizes.append(len(feed["input_ids"]))
            return real_run(outputs, feed)

    words = "the refund for a cancelled order is worked out from the day it was returned".split()
    texts = [" ".join(words[: 1 + n % len(words)]) + f" {n}" for n in range(3 * onnx_runtime.BATCH_SIZE + 3)]
    monkeypatch.setattr(embedder._onnx, "session", Counting())
    batched = embedder.encode(texts)
    assert sizes and max(sizes) == onnx_runtime.BATCH_SIZE and sum(sizes) == len(texts)
    alone = np.vstack([embedder.encode([text]) for text in texts])
    assert np.abs(batched - alone).max() < 1e-5
