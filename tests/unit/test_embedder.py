import numpy as np
import pytest

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
