"""The offline backend's facets: real heuristics, labelled as such, multilingual, PII-free summaries."""

from clio_dagster.core.records import Conversation, Message
from clio_dagster.llm import OfflineBackend


def _conv(cid: str, *texts: str) -> Conversation:
    roles = ["user", "assistant"]
    return Conversation(
        conversation_id=cid,
        messages=tuple(Message(role=roles[i % 2], text=t) for i, t in enumerate(texts)),
    )


CONVERSATIONS = [
    _conv("en", "Can you help me write a cover letter for a nursing job? My email is jane.doe@example.com.", "Sure."),
    _conv("zh", "请帮我写一首关于秋天的诗，要求七言绝句。", "好的。"),
    _conv("ru", "Как приготовить борщ по классическому рецепту? Сколько нужно свёклы?", "Вот рецепт."),
    _conv("es", "¿Cómo puedo mejorar mi pronunciación del inglés si vivo en un pueblo pequeño?", "Claro."),
]


def test_languages_detected_for_en_zh_ru_es():
    results = OfflineBackend().extract_facets(CONVERSATIONS)
    assert [(r.language_code, r.language) for r in results] == [
        ("en", "English"), ("zh", "Chinese"), ("ru", "Russian"), ("es", "Spanish"),
    ]


def test_summaries_are_extractive_scrubbed_and_labelled_heuristic():
    result = OfflineBackend().extract_facets(CONVERSATIONS[:1])[0]
    assert "cover letter" in result.request
    assert "jane.doe@example.com" not in result.request and "[EMAIL]" in result.request
    assert result.redactions == 1
    assert result.method.startswith("heuristic")
    assert result.task is None and result.concerning == 1  # harm-lexicon heuristic: nothing concerning


def test_summary_length_is_bounded():
    long_text = "Please explain " + "the history of the printing press and its effects on literacy " * 20
    result = OfflineBackend(summary_max_chars=120).extract_facets([_conv("long", long_text)])[0]
    assert len(result.request) <= 120 and result.summary_truncated
