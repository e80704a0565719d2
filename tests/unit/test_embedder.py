import numpy as np
import pytest

from bot.errors import ConfigError, ModelError
from bot.retrieval import onnx_runtime
from bot.retrieval.embedder import INT8_SUFFIX, CachingEmbedder, SentenceTransformerEmbedder
from bot.settings import from_env
from tests.conftest import HashingEmbedder


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


def test_the_runtime_is_a_setting_onnx_by_default_and_int8_stays_on_pytorch(tmp_path):
    assert from_env({}).embedding_runtime == "onnx"
    assert from_env({"FAQBOT_EMBEDDING_RUNTIME": "torch"}).embedding_runtime == "torch"
    with pytest.raises(ConfigError):
        from_env({"FAQBOT_EMBEDDING_RUNTIME": "tensorflow"})
    with pytest.raises(ModelError):
        SentenceTransformerEmbedder(runtime="onnx")  # nowhere to keep the export
    assert SentenceTransformerEmbedder(int8=True, runtime="onnx", onnx_dir=tmp_path).runtime == "torch"
    onnx = SentenceTransformerEmbedder(runtime="onnx", onnx_dir=tmp_path)
    assert onnx.name == SentenceTransformerEmbedder().name  # the same vectors, so the same indexes


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
