from clio_dagster.core.naming import name_clusters
from clio_dagster.core.terms import terms_of


def test_terms_drop_placeholders_stopwords_and_id_like_tokens():
    terms = terms_of("Please help me email [EMAIL] about my pandas dataframe abc12345 merge")
    assert "email" in terms and "pandas" in terms and "pandas dataframe" in terms
    assert not any("[" in t or t == "please" or t == "help" for t in terms)
    assert "abc12345" not in terms


def test_terms_use_character_bigrams_for_chinese():
    assert terms_of("布洛芬区别") == ["布洛", "洛芬", "芬区", "区别"]


def _cluster(label, texts, users):
    return [label] * len(texts), texts, users


def test_names_use_only_terms_shared_by_enough_distinct_users():
    labels, texts, users = [], [], []
    # Cluster 0: five users ask about sourdough bread; one user mentions a rare word "zanzibarian" many times.
    for i in range(5):
        labels.append(0), texts.append("bake sourdough bread at home"), users.append(f"u{i}")
    for _ in range(6):
        labels.append(0), texts.append("zanzibarian zanzibarian recipe"), users.append("u-solo")
    # Cluster 1: python questions from four users.
    for i in range(4):
        labels.append(1), texts.append("fix python dataframe merge error"), users.append(f"p{i}")
    names = {n.cluster_id: n for n in name_clusters(labels, texts, users, min_unique_users=3)}
    assert set(names) == {0, 1}
    assert "sourdough" in names[0].name or "sourdough bread" in names[0].terms
    assert all("zanzibarian" not in t for t in names[0].terms)
    assert "zanzibarian" not in names[0].name + names[0].description
    assert any("python" in t for t in names[1].terms)
    assert names[0].taxonomy_id is None and not names[0].taxonomy_matched  # no centroids given: phrases only


def test_cluster_without_shared_terms_gets_generic_name():
    names = name_clusters([0, 0], ["alpha beta", "gamma delta"], ["a", "b"], min_unique_users=2)
    assert names[0].terms == ()
    assert names[0].name == "Requests with no term shared by enough users"


def test_naming_is_deterministic_and_order_independent_within_cluster():
    labels = [0] * 6 + [1] * 6
    texts = ["write a poem about rain"] * 6 + ["translate this letter to french"] * 6
    users = [f"u{i}" for i in range(12)]
    a = name_clusters(labels, texts, users, min_unique_users=3)
    b = name_clusters(labels[::-1], texts[::-1], users[::-1], min_unique_users=3)
    assert a == b


def test_plurals_fold_only_when_the_singular_occurs():
    from clio_dagster.core.terms import plural_folding

    folding = plural_folding({"insults", "insult", "stories", "story", "pandas", "class", "classes"})
    assert folding == {"insults": "insult", "stories": "story"}


def test_proper_nouns_never_become_terms_even_when_many_users_share_them():
    from clio_dagster.core.terms import proper_nouns

    texts = [f"Please write a reference letter for Natasja Kowalczyk, attempt {i}" for i in range(8)]
    texts += ["I love python and pandas", "How do I install Python on Windows"]
    assert {"natasja", "kowalczyk"} <= proper_nouns(texts)
    assert "python" not in proper_nouns(texts)  # also written in lower case
    other = [f"Translate this menu into french, part {i}" for i in range(8)]
    other += [f"Plan a vegetarian dinner party menu for guests, option {i}" for i in range(8)]
    labels = [0] * 10 + [1] * 8 + [2] * 8
    names = name_clusters(labels, texts + other, [f"u{i}" for i in range(26)], min_unique_users=3)
    assert "natasja" not in names[0].name.lower() and "kowalczyk" not in names[0].description.lower()
    assert "reference letter" in names[0].terms or "reference" in names[0].name


def test_per_cluster_exclusions_regenerate_names_in_one_pass():
    labels = [0] * 6 + [1] * 6 + [2] * 6
    texts = ["bake sourdough bread loaf"] * 6 + ["tune guitar strings"] * 6 + ["repot orchid plant"] * 6
    users = [f"u{i}" for i in range(18)]
    plain = {n.cluster_id: n for n in name_clusters(labels, texts, users, min_unique_users=3)}
    again = {n.cluster_id: n for n in name_clusters(labels, texts, users, min_unique_users=3,
                                                    excluded_by_cluster={0: frozenset({"sourdough"})})}
    assert "sourdough" in plain[0].name and "sourdough" not in again[0].name + again[0].description
    assert again[1] == plain[1] and again[2] == plain[2]  # other clusters unchanged


# ---- taxonomy-grounded names ------------------------------------------------------------------------------

import numpy as np  # noqa: E402

from clio_dagster.core.keyphrases import Phrase  # noqa: E402
from clio_dagster.core.naming import (  # noqa: E402
    GENERIC_NAMES,
    LeafMatch,
    ConcernSupport,
    compose_name,
    concern_support,
    contrastive_scores,
    generic_shares,
    is_generic_name,
    match_leaves,
)
from clio_dagster.core.taxonomy import TaxonomyNode  # noqa: E402

LEAVES = [
    TaxonomyNode("code.python.debug", 0, "Debug and fix Python code", "Fix Python errors and tracebacks.", "code.python"),
    TaxonomyNode("food.recipes.bake", 0, "Bake bread and cakes", "Recipes and baking techniques.", "food.recipes"),
    TaxonomyNode("misc.chat.hello", 0, "Greet the assistant", "Hellos and small talk.", "misc.chat"),
]


def test_a_leaf_close_to_every_cluster_does_not_absorb_them():
    # Leaf 2 is a hub: somewhat similar to every cluster, most similar to none once its mean is subtracted.
    leaves = np.array([[1, 0, 0, 0.0], [0, 1, 0, 0], [0.6, 0.6, 0.5, 0.1]], dtype=np.float32)
    centroids = np.array([[1, 0.1, 0.2, 0]] * 6 + [[0.1, 1, 0.2, 0]] * 6 + [[0, 0, 0, 1]] * 2, dtype=np.float32)
    raw, score = contrastive_scores(centroids, leaves)
    assert raw[0].argmax() == 0 and score[0].argmax() == 0
    matches = match_leaves(centroids, leaves, LEAVES, min_margin=0.15)
    assert [m.leaf.id for m in matches[:12]] == ["code.python.debug"] * 6 + ["food.recipes.bake"] * 6
    assert all(m.matched for m in matches[:12])
    # The last clusters are close to no leaf: below the threshold, so not named by one.
    assert not matches[-1].matched


FRAUD = TaxonomyNode("harm.fraud.plan", 0, "Plan financial fraud", "Forge documents and scam banks.", "harm.fraud",
                     concerning=True)


def test_concern_support_counts_scored_and_concerning_conversations_per_cluster():
    support = concern_support([0, 0, 0, 0, 1, 1], [1, 3, 5, None, None, None])
    assert support[0] == ConcernSupport(scored=0.75, concerning=2 / 3)
    assert support[1] == ConcernSupport(scored=0.0, concerning=0.0)


def test_a_concerning_leaf_names_a_cluster_only_with_the_concern_facets_support():
    # Every cluster's centroid is nearest the fraud leaf by wording; the banking leaf is a close second.
    leaves = [LEAVES[0], FRAUD]
    leaf_vectors = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32)
    centroids = np.array([[0.66, 0.75, 0.1]] * 4 + [[0.1, 1, 0.1]], dtype=np.float32)  # fraud leads by 0.006
    support = [ConcernSupport(1.0, 0.05),  # English, scored, benign: banking questions
               ConcernSupport(1.0, 0.4),  # scored, concerning: real fraud requests
               ConcernSupport(0.1, 0.0),  # another language: wording must lead clearly, and barely does
               None,  # nothing known: never a concerning leaf
               ConcernSupport(0.1, 0.0)]  # another language, and the fraud leaf leads by far
    matches = match_leaves(centroids, leaf_vectors, leaves, min_margin=-1.0, support=support)
    assert [m.leaf.id for m in matches] == [LEAVES[0].id, FRAUD.id, LEAVES[0].id, LEAVES[0].id, FRAUD.id]
    # Mostly concerning by the facet: a concerning leaf names it even where the wording sits nearer a benign one.
    mostly = match_leaves(np.array([[1, 0.2, 0.1]], dtype=np.float32), leaf_vectors, leaves, min_margin=-1.0,
                          support=[ConcernSupport(1.0, 0.6)])
    assert mostly[0].leaf.id == FRAUD.id
    # Without any support, as before the concern facet ran, concerning leaves are never chosen.
    assert all(m.leaf.id == LEAVES[0].id for m in match_leaves(centroids[:4], leaf_vectors, leaves, min_margin=-1.0))


def test_names_are_the_leaf_refined_by_latin_phrases_it_does_not_already_say():
    phrases = [Phrase("python", 1.0, 20, True), Phrase("pandas dataframe", 0.9, 15, True),
               Phrase("数据框", 0.8, 12, False), Phrase("merge", 0.7, 11, True)]
    named = compose_name(3, LeafMatch(LEAVES[0], 0.8, True), phrases, 10)
    assert named.name == "Debug and fix Python code (pandas dataframe, merge)"
    # What kind of request it is in the taxonomy's words, then what the users wrote (Latin, then other scripts).
    assert named.description == f"{LEAVES[0].description} Users wrote: python, pandas dataframe, merge, 数据框."
    assert "Topic:" not in named.description  # where it sits is the hierarchy's to show
    assert named.taxonomy_id == "code.python.debug" and named.taxonomy_matched


def test_without_a_close_leaf_the_phrases_name_the_cluster_and_generic_only_without_either():
    phrases = [Phrase("新手机", 1.0, 30, False), Phrase("phone launch", 0.9, 25, True)]
    named = compose_name(1, LeafMatch(LEAVES[2], 0.1, False), phrases, 10)
    assert named.name == "Requests about phone launch and 新手机"
    assert not named.taxonomy_matched and named.taxonomy_id == "misc.chat.hello"  # still placed in the tree
    assert not is_generic_name(named.name)
    # Only phrases an English reader can't read, or none: the nearest leaf names it, said to be a weak match.
    unreadable = compose_name(2, LeafMatch(LEAVES[2], 0.1, False), phrases[:1], 10)
    assert unreadable.name == "Greet the assistant" and "weak match" in unreadable.description
    assert "新手机" in unreadable.description
    # An everyday word names the cluster only when nothing more telling is left.
    everyday = [Phrase("python", 1.0, 30, True), Phrase("write", 0.9, 25, True, common=True)]
    assert compose_name(3, LeafMatch(LEAVES[0], 0.1, False), everyday, 10).name == "Requests about python"
    assert compose_name(3, None, everyday[1:], 10).name == "Requests about write"
    # Generic only where neither a leaf nor a phrase exists.
    nothing = compose_name(2, None, [], 10)
    assert is_generic_name(nothing.name) and nothing.name in GENERIC_NAMES


def test_generic_shares_weigh_conversations_per_level():
    nodes = [{"level": 0, "name": "Bake bread and cakes", "conversations": 90},
             {"level": 0, "name": "Requests with no term shared by enough users", "conversations": 10},
             {"level": 1, "name": "Other requests within: Food", "conversations": 5},
             {"level": 1, "name": "Cooking", "conversations": 95}]
    assert generic_shares(nodes) == {"0": 0.1, "1": 0.05}


def test_offline_backend_names_clusters_from_the_shipped_taxonomy():
    from clio_dagster.llm import NamingInput, OfflineBackend
    from clio_dagster.core.embedding import SentenceEmbedder

    embedder = SentenceEmbedder("all-MiniLM-L6-v2")
    texts = ([f"my python script raises a KeyError traceback when reading the config file, attempt {i}" for i in range(12)]
             + [f"give me a recipe to bake sourdough bread with a crispy crust, version {i}" for i in range(12)])
    labels = [0] * 12 + [1] * 12
    vectors = embedder.encode(texts)
    centroids = np.stack([vectors[:12].mean(axis=0), vectors[12:].mean(axis=0)])
    backend = OfflineBackend(taxonomy_min_margin=0.1)
    names = backend.name_clusters(NamingInput(labels, texts, [f"u{i}" for i in range(24)], min_unique_users=5,
                                              languages=["en"] * 24, centroids=centroids, embed=embedder.encode))
    by_id = {n.cluster_id: n for n in names}
    assert by_id[0].taxonomy_id.startswith("software.python") and by_id[0].taxonomy_matched
    assert by_id[1].taxonomy_id.startswith("everyday.cooking") and by_id[1].taxonomy_matched
    leaf_names = {leaf.name for leaf in backend.taxonomy.leaves}
    assert any(by_id[0].name.startswith(name) for name in leaf_names)


def test_offline_backend_reads_the_shipped_leaf_vectors_instead_of_embedding_the_taxonomy(tmp_path):
    """For a bundled embedder and the default taxonomy the leaf vectors come from package data (equal to a
    fresh embedding: test_taxonomy) and the embedder is asked for nothing; a user's taxonomy is embedded."""
    import json

    from clio_dagster.core.embedding import SentenceEmbedder
    from clio_dagster.core import taxonomy_vectors
    from clio_dagster.llm import OfflineBackend

    embedder = SentenceEmbedder("all-MiniLM-L6-v2")
    centroids = embedder.encode(["fix the KeyError in my python script", "a sourdough bread recipe"])
    asked: list[int] = []

    def counting_embed(texts):
        asked.append(len(texts))
        return embedder.encode(texts)

    taxonomy_vectors._CACHE.clear()
    matches = OfflineBackend(taxonomy_min_margin=0.1).leaf_matches(centroids, counting_embed, "all-MiniLM-L6-v2")
    assert asked == []
    assert matches[0].leaf.id.startswith("software.python") and matches[1].leaf.id.startswith("everyday.cooking")

    leaf = {"id": "a.t.l", "name": "Bake bread", "description": "Recipes for bread.", "examples": ["bread recipe"]}
    topic = {"id": "a.t", "name": "Baking", "description": "Requests about baking.", "children": [leaf]}
    area = {"id": "a", "name": "Food", "description": "Requests about food and cooking.", "children": [topic]}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"name": "mine", "version": "1", "areas": [area]}), encoding="utf-8")
    matches = OfflineBackend(taxonomy=str(path)).leaf_matches(centroids, counting_embed, "all-MiniLM-L6-v2")
    assert asked == [2] and matches[1].leaf.id == "a.t.l"  # the leaf's "name. description" and its example
    taxonomy_vectors._CACHE.clear()
