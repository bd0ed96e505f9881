"""A taxonomy of assistant use: three levels (areas, topics, leaves), each node a short English name and one
sentence. The offline namer matches base clusters to its leaves, and the offline hierarchy places every
base cluster under its leaf's topic and area, so names read as a person would write them and parents stay
the same from day to day.

The default ships in package data (`core/data/taxonomy.json`, its sources in its header); `CLIO_TAXONOMY`
names a replacement with the same schema. Taxonomy words are public vocabulary: the auditor never counts
them as one user's wording.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEPTH = 3  # area, topic, leaf
_ID = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
DEFAULT_TAXONOMY = "taxonomy.json"


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used; the message names the file, the node and the reason."""


class TaxonomyNodeModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=120)
    name: str = Field(min_length=2, max_length=80)
    description: str = Field(min_length=10, max_length=400)
    examples: list[str] = Field(default_factory=list, max_length=20)
    # Marks a branch of requests that trust-and-safety teams track (and all below it): its leaves name a cluster
    # only with the concern facet's support (`core.naming.concern_gate`), never on wording alone.
    concerning: bool = False
    children: list[TaxonomyNodeModel] = Field(default_factory=list)


class TaxonomyDigest(BaseModel):
    """What a reuse fingerprint records of the taxonomy in use."""

    name: str
    version: str
    digest: str


class TaxonomyFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    sources: list[str] = Field(default_factory=list)
    areas: list[TaxonomyNodeModel] = Field(min_length=1)


@dataclass(frozen=True)
class TaxonomyNode:
    id: str
    level: int  # 0 leaf, 1 topic, 2 area: the hierarchy level a node names
    name: str
    description: str
    parent_id: str | None
    examples: tuple[str, ...] = ()
    concerning: bool = False  # in a branch marked `concerning` (harmful request types)

    @property
    def text(self) -> str:
        return f"{self.name}. {self.description}"


@dataclass(frozen=True, eq=False)
class Taxonomy:
    name: str
    version: str
    sources: tuple[str, ...]
    nodes: dict[str, TaxonomyNode]
    # Lower-cased words of every name and description: public words, never a user's own.
    vocabulary: frozenset[str]
    # SHA-256 of the canonical JSON: names change exactly when this changes (reuse fingerprints).
    digest: str

    @property
    def leaves(self) -> list[TaxonomyNode]:
        return [n for n in self.nodes.values() if n.level == 0]

    def context_of(self, node_id: str) -> str:
        """Where a node sits, for a reader of its description: "Topic: Python programming; area: Software…"."""
        node = self.nodes[node_id]
        parts = []
        while node.parent_id is not None:
            node = self.nodes[node.parent_id]
            parts.append(f"{'topic' if node.level == 1 else 'area'}: {node.name}")
        text = "; ".join(parts) + "."
        return text[0].upper() + text[1:] if parts else ""

    def ancestor(self, node_id: str, level: int) -> TaxonomyNode:
        """The node's ancestor at `level` (itself at its own level)."""
        node = self.nodes[node_id]
        while node.level < level:
            if node.parent_id is None:
                raise KeyError(f"{node_id} has no ancestor at level {level}")
            node = self.nodes[node.parent_id]
        return node


def _flatten(area: TaxonomyNodeModel, source: str) -> list[TaxonomyNode]:
    nodes: list[TaxonomyNode] = []

    def walk(node: TaxonomyNodeModel, depth: int, parent: TaxonomyNodeModel | None, concerning: bool) -> None:
        where = f"{source}: node {node.id!r}"
        if not _ID.match(node.id):
            raise TaxonomyError(f"{where}: an id is lower-case letters, digits and _ in dot-separated parts")
        if parent is not None and not node.id.startswith(parent.id + "."):
            raise TaxonomyError(f"{where}: a child's id starts with its parent's id and a dot ({parent.id}.…)")
        level = DEPTH - 1 - depth
        if level > 0 and not node.children:
            raise TaxonomyError(f"{where}: every area and topic needs children (the taxonomy has {DEPTH} levels)")
        if level == 0 and node.children:
            raise TaxonomyError(f"{where}: a leaf (level {DEPTH}) cannot have children")
        concerning = concerning or node.concerning
        nodes.append(TaxonomyNode(node.id, level, " ".join(node.name.split()), " ".join(node.description.split()),
                                  parent.id if parent else None, tuple(node.examples), concerning))
        for child in node.children:
            walk(child, depth + 1, node, concerning)

    walk(area, 0, None, False)
    return nodes


def parse_taxonomy(data: object, source: str = "taxonomy") -> Taxonomy:
    """Validate a taxonomy document (already read from JSON); a TaxonomyError names what is wrong."""
    try:
        model = TaxonomyFileModel.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors(include_input=False, include_url=False)[:5])
        raise TaxonomyError(f"{source}: {problems}") from None
    nodes: dict[str, TaxonomyNode] = {}
    names: dict[tuple[int, str], str] = {}
    for area in model.areas:
        for node in _flatten(area, source):
            if node.id in nodes:
                raise TaxonomyError(f"{source}: node id {node.id!r} appears twice")
            key = (node.level, node.name.lower())
            if key in names:
                raise TaxonomyError(f"{source}: nodes {names[key]!r} and {node.id!r} have the same name {node.name!r}")
            names[key] = node.id
            nodes[node.id] = node
    words = {w.lower() for n in nodes.values() for w in re.findall(r"[^\W\d_][\w'’-]*", f"{n.name} {n.description}")}
    digest = hashlib.sha256(json.dumps(model.model_dump(), sort_keys=True).encode()).hexdigest()
    return Taxonomy(model.name, model.version, tuple(model.sources), nodes, frozenset(words), digest)


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """The shipped taxonomy, or the user's file at `path` (`CLIO_TAXONOMY`)."""
    return _load(str(path) if path is not None else None)


@lru_cache(maxsize=4)
def _load(path: str | None) -> Taxonomy:
    if path is None:
        text = resources.files("clio_dagster.core").joinpath("data", DEFAULT_TAXONOMY).read_text(encoding="utf-8")
        source = f"the shipped taxonomy ({DEFAULT_TAXONOMY})"
    else:
        file = Path(path)
        if not file.is_file():
            raise TaxonomyError(f"CLIO_TAXONOMY points to {file}, which is not a file.")
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TaxonomyError(f"{file}: cannot be read as UTF-8 text ({type(exc).__name__}).") from None
        source = str(file)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaxonomyError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    return parse_taxonomy(data, source)


def leaf_texts(taxonomy: Taxonomy) -> tuple[list[str], list[int]]:
    """Texts that stand for each leaf (its "name. description" and its example requests) and the leaf index
    of each text; a leaf's vector is the mean of its texts' vectors."""
    texts: list[str] = []
    owners: list[int] = []
    for index, leaf in enumerate(taxonomy.leaves):
        for text in (leaf.text, *leaf.examples):
            texts.append(text)
            owners.append(index)
    return texts, owners


@lru_cache(maxsize=4)
def public_words(taxonomy: Taxonomy) -> frozenset[str]:
    """Every word of the taxonomy's names and descriptions, as the auditor's term splitter also reads them
    ("Newton's" is "newton" there): a name or description quoting the taxonomy never holds a rare user term."""
    from clio_dagster.core.terms import terms_of

    folded = {word for node in taxonomy.nodes.values() for term in terms_of(f"{node.name}. {node.description}")
              for word in term.split(" ")}
    return taxonomy.vocabulary | folded


def taxonomy_digest(path: Path | str | None = None) -> TaxonomyDigest:
    taxonomy = load_taxonomy(path)
    return TaxonomyDigest(name=taxonomy.name, version=taxonomy.version, digest=taxonomy.digest)
