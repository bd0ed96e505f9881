from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from clio_dagster.core.pii import PLACEHOLDERS
from clio_dagster.core.records import Conversation, Message
from clio_dagster.core.summarize import RequestSummary, computed_facets, extractive_request_summary


def conv(*turns: tuple[str, str]) -> Conversation:
    return Conversation(conversation_id="c1", messages=tuple(Message(role=r, text=t) for r, t in turns))


def test_takes_leading_sentences_of_first_user_turn() -> None:
    c = conv(
        ("user", "How do I reverse a list in Python? I tried slicing. It did not work for tuples."),
        ("assistant", "Use reversed() or [::-1]."),
        ("user", "Thanks, and for strings?"),
    )
    s = extractive_request_summary(c, max_chars=55)
    assert s.text == "How do I reverse a list in Python? I tried slicing."
    assert s.truncated is True
    assert extractive_request_summary(c).truncated is False


def test_code_blocks_and_pastes_are_dropped() -> None:
    code = "```python\nimport pandas as pd\ndf = pd.read_csv('x.csv')\nprint(df.head())\n```"
    log = "Traceback (most recent call last):\n  File \"x.py\", line 1\nx = 1/0;\nZeroDivisionError: division by zero;"
    c = conv(("user", f"Why does my script crash?\n{code}\n\n{log}\n\nI am on Python 3.11."))
    s = extractive_request_summary(c)
    assert s.text == "Why does my script crash? I am on Python 3.11."
    assert "import" not in s.text and "Traceback" not in s.text and "[" not in s.text


def test_greeting_only_first_turn_pulls_in_next_user_turn() -> None:
    c = conv(("user", "hello?"), ("assistant", "Hi! How can I help?"), ("user", "Write a haiku about autumn rain."))
    assert extractive_request_summary(c).text == "hello? Write a haiku about autumn rain."


def test_cjk_sentences_split_and_cut() -> None:
    c = conv(("user", "请帮我写一首关于秋天的诗。要求押韵！谢谢你的帮助。"))
    assert extractive_request_summary(c).text == "请帮我写一首关于秋天的诗。要求押韵！谢谢你的帮助。"
    short = extractive_request_summary(c, max_chars=20)
    assert short.text == "请帮我写一首关于秋天的诗。要求押韵！"
    assert short.truncated


def test_long_sentence_is_cut_at_word_boundary() -> None:
    c = conv(("user", "Please explain " + "very " * 100 + "carefully how transformers work"))
    s = extractive_request_summary(c, max_chars=60)
    assert len(s.text) <= 60
    assert s.text.endswith("very") and s.truncated


def test_pii_is_scrubbed_and_reported() -> None:
    c = conv(("user", "Draft a reply to Mr. Jones at jones@acme.com about invoice 42."))
    s = extractive_request_summary(c)
    assert s.text == "Draft a reply to [NAME] at [EMAIL] about invoice 42."
    assert [r.kind for r in s.redactions] == ["NAME", "EMAIL"]


def test_only_code_still_yields_a_summary() -> None:
    c = conv(("user", "```\nSELECT * FROM users;\n```"))
    s = extractive_request_summary(c)
    assert s.text.strip()
    assert "SELECT" in s.text


def test_no_user_text_gives_empty_summary() -> None:
    c = conv(("assistant", "How can I help?"), ("user", "   "))
    assert extractive_request_summary(c) == RequestSummary("", (), False)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=4), st.integers(min_value=10, max_value=400))
def test_never_empty_never_too_long(turns: list[str], max_chars: int) -> None:
    c = conv(*[("user", t) for t in turns])
    s = extractive_request_summary(c, max_chars=max_chars)
    if any(t.strip() for t in turns):
        assert s.text.strip()
    assert len(s.text) <= max_chars
    assert not any(s.text.endswith(p[:-1]) for p in PLACEHOLDERS)


def test_computed_facets() -> None:
    c = conv(("system", "be nice"), ("user", "abc"), ("assistant", "hello"), ("user", "de"), ("tool", "{}"))
    assert computed_facets(c) == {"n_turns": 5, "n_user_turns": 2, "user_chars": 5, "assistant_chars": 5}
