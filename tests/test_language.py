from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from clio_dagster.core.language import LanguageGuess, detect_language, detect_languages

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.parametrize(
    ("text", "code", "name"),
    [
        ("Could you help me plan a week of healthy dinners for a family of four?", "en", "English"),
        ("请帮我写一封邮件，告诉老板我下周要请假三天。", "zh", "Chinese"),
        ("Как мне настроить сервер nginx, чтобы он обслуживал несколько доменов?", "ru", "Russian"),
        ("¿Cómo puedo mejorar mi currículum para conseguir un trabajo de ingeniero?", "es", "Spanish"),
        ("Pourriez-vous m'expliquer la différence entre ces deux approches, s'il vous plaît ?", "fr", "French"),
        ("Wie kann ich meine Steuererklärung online einreichen und was brauche ich dafür?", "de", "German"),
        ("東京で一番おいしいラーメン屋さんはどこですか？教えてください。", "ja", "Japanese"),
        ("ما هي أفضل طريقة لتعلم البرمجة بسرعة في المنزل؟", "ar", "Arabic"),
    ],
)
def test_detects_common_languages(text: str, code: str, name: str) -> None:
    guess = detect_language(text)
    assert isinstance(guess, LanguageGuess)
    assert guess.code == code
    assert guess.name == name
    assert 0.5 < guess.confidence <= 1.0


@pytest.mark.parametrize("text", ["", "   \n\t", "!!! ??? ... ---", "12345 67.89", "```\nx = 1\n```", "😀😀😀"])
def test_nothing_to_judge_is_undetermined(text: str) -> None:
    assert detect_language(text) == LanguageGuess("und", "Unknown", 0.0)


def test_code_and_urls_do_not_outvote_the_prose() -> None:
    text = (
        "这段代码为什么报错？我应该怎么修改？\n"
        "```python\nimport numpy as np\ndef mean(values):\n    return np.sum(values) / len(values)\n"
        "print(mean([1, 2, 3]))\nresult = mean(data)\n```\n"
        "参考了 https://docs.python.org/3/library/functions.html 但还是不明白"
    )
    assert detect_language(text).code == "zh"


def test_unfenced_code_is_ignored_too() -> None:
    text = (
        "Почему эта функция возвращает неправильный результат?\n"
        "def add(a, b):\n    return a - b\nprint(add(2, 3))\nvalue = add(x, y)\nimport os, sys"
    )
    assert detect_language(text).code == "ru"


def test_batch_helper_keeps_order() -> None:
    texts = ["Hello, how are you doing today my friend?", "", "Bonjour, comment allez-vous aujourd'hui ?"]
    assert [g.code for g in detect_languages(texts)] == ["en", "und", "fr"]


def _iso_primary(sib_code: str) -> str:
    import langcodes

    base = sib_code.split("_")[0]
    macro = {"arb": "ar", "swh": "sw", "zho": "zh", "cmn": "zh", "pes": "fa", "zsm": "ms"}
    return macro.get(base) or langcodes.standardize_tag(base).split("-")[0]


@pytest.mark.shared_data
@pytest.mark.skipif(not (SHARED_DATA / "sib200").is_dir(), reason="../shared/data not present")
def test_accuracy_on_sib200() -> None:
    by_lang: dict[str, list[str]] = defaultdict(list)
    for path in sorted((SHARED_DATA / "sib200").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if len(by_lang[rec["language"]]) < 30:
                by_lang[rec["language"]].append(rec["text"])
    accuracy: dict[str, float] = {}
    for lang, texts in by_lang.items():
        expected = _iso_primary(lang)
        got = Counter(g.code.split("-")[0] for g in detect_languages(texts))
        accuracy[expected] = got[expected] / len(texts)
    for must in ["en", "zh", "ru", "es"]:
        assert must in accuracy
    low = {code: acc for code, acc in accuracy.items() if acc < 0.8}
    assert not low, f"accuracy below 0.8: {low} (all: {accuracy})"
