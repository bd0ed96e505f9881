"""Distinctive phrases in any language: segmentation, stop words, the user floor, fragments and diversity."""

from clio_dagster.core.keyphrases import cluster_phrases, holds, mmr, phrases_of


def test_chinese_is_segmented_into_words_not_character_pairs():
    phrases = phrases_of("请你写出一个可以生成随机数的程序", "zh")
    assert "随机数" in phrases and "程序" in phrases
    # No broken pairs across word boundaries and no function words.
    assert "下问" not in phrases_of("回答以下问题", "zh")
    assert not {"一个", "可以", "请你", "的"} & set(phrases)


def test_russian_and_english_stop_words_never_start_end_or_sit_inside_a_phrase():
    ru = phrases_of("Напиши, пожалуйста, эссе на тему изменения климата для школы", "ru")
    assert "изменения климата" in ru
    assert not [p for p in ru if {"на", "для", "не", "пожалуйста"} & set(p.split())]
    en = phrases_of("How do I fill a DataTable from a LINQ query?", "en")
    assert "linq query" in en and not [p for p in en if {"a", "from", "do"} & set(p.split())]


def test_a_language_s_script_is_that_of_most_of_its_stop_words():
    from clio_dagster.core.keyphrases import script_of_language

    # The Russian list holds a few Latin entries, which sorted first and made Russian a Latin-script language.
    assert [script_of_language(code) for code in ("ru", "zh", "ko", "nl")] == ["CYRILLIC", "CJK", "HANGUL", "LATIN"]


def test_latin_stop_words_of_other_languages_apply_only_to_that_language():
    # German "die" is a stop word in German text, an English verb in English text.
    assert "die" not in phrases_of("Wie die Pflanzen wachsen", "de")
    assert "plants die" in phrases_of("why plants die in winter", "en")


def test_scripts_with_vowel_signs_keep_whole_words():
    """Devanagari, Bengali, Tamil and decomposed accents carry combining marks inside words: never cut there."""
    hindi = phrases_of("मुझे पायथन में फ़ाइल पढ़ना सिखाओ", "hi")
    assert "पायथन" in hindi and "फ़ाइल" in hindi
    assert not {"म", "मझ", "पढ", "नह"} & set(hindi)  # what the standard library's \\w left of these words
    bengali = phrases_of("আমাকে রান্নার রেসিপি দাও", "bn")
    assert "রান্নার" in bengali and "রেসিপি" in bengali and "র" not in bengali
    assert "வணக்கம்" in phrases_of("வணக்கம் நண்பரே", "ta")
    assert "café" in phrases_of("un cafe\u0301 noir", "fr")  # é typed as e + combining acute
    from clio_dagster.core.terms import terms_of

    assert "पायथन" in terms_of("मुझे पायथन सिखाओ")  # the auditor's rare-word count reads the same words


def test_phrases_never_cross_punctuation_and_contractions_leave_no_fragments():
    phrases = phrases_of("I've got pandas, numpy and matplotlib; plot it", "en")
    assert "pandas numpy" not in phrases and "ve" not in phrases
    assert {"pandas", "numpy", "matplotlib"} <= set(phrases)


def test_user_floor_proper_nouns_and_exclusions():
    labels, texts, users = [], [], []
    for i in range(6):
        labels.append(0), texts.append(f"Ask Natasja about sourdough bread recipes, try {i}"), users.append(f"u{i}")
    for i in range(6):
        labels.append(0), texts.append("zanzibarian oleander"), users.append("solo")
    for i in range(6):
        labels.append(1), texts.append("fix python dataframe merge"), users.append(f"p{i}")
    phrases = cluster_phrases(labels, texts, users, min_unique_users=3)
    zero = [p.text for p in phrases[0]]
    assert "sourdough bread recipes" in zero
    assert not [p for p in zero if "zanzibarian" in p or "natasja" in p]
    assert all(p.cluster_users >= 2 for p in phrases[0])
    # A name typed with a combining accent ("Zoë" as e + U+0308) is blocked like the same name typed whole.
    decomposed = cluster_phrases(labels + [1] * 6, texts + [f"ask Zoe\u0308 about kefir, try {i}" for i in range(6)],
                                 users + [f"z{i}" for i in range(6)], min_unique_users=3)
    assert not [p for ps in decomposed.values() for p in ps if "zo" in p.text]
    again = cluster_phrases(labels, texts, users, min_unique_users=3, excluded_by_cluster={0: frozenset({"sourdough"})})
    assert not [p for p in again[0] if "sourdough" in p.text.split()]
    assert [p.text for p in again[1]] == [p.text for p in phrases[1]]


def test_a_fragment_gives_way_to_the_phrase_holding_it():
    labels = [0] * 8 + [1] * 8
    texts = ["train a machine learning model"] * 7 + ["learning guitar"] + ["bake bread"] * 8
    users = [f"u{i}" for i in range(16)]
    zero = [p.text for p in cluster_phrases(labels, texts, users, min_unique_users=3)[0]]
    assert zero[0] == "train machine learning model" or "machine learning" in zero[0]
    assert "machine" not in zero and "learning" not in zero


def test_mmr_prefers_diverse_phrases_and_holds_respects_words():
    ranked = [("python code", 1.0), ("python code error", 0.95), ("unit tests", 0.6), ("python", 0.5)]
    assert mmr(ranked, 2) == ["python code", "unit tests"]
    assert holds("machine learning model", "learning") and not holds("restart", "art")
    assert holds("机器学习模型", "学习")


def test_deterministic_and_order_independent():
    labels = [0] * 6 + [1] * 6
    texts = ["write a poem about rain"] * 6 + ["translate this letter to french"] * 6
    users = [f"u{i}" for i in range(12)]
    a = cluster_phrases(labels, texts, users, min_unique_users=3)
    b = cluster_phrases(labels[::-1], texts[::-1], users[::-1], min_unique_users=3)
    assert a == b


def test_chinese_words_join_only_where_they_touch_in_the_text():
    # "生成 文章" has a space: the auditor reads "生成" and "文章" apart, so no phrase may join them there.
    spaced = phrases_of("生成 文章", "zh")
    assert spaced == ["生成", "文章"]
    assert "生成文章" in phrases_of("生成文章", "zh")
