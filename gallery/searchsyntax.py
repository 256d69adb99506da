"""The search box's syntax: what a query means, read the same way on every database.

Pure: no Django, no database. `parse()` turns what someone typed into a `Query`, which
`gallery.search` writes out for PostgreSQL (`to_tsquery`) or SQLite (FTS5 `MATCH`). Nothing a
person types reaches either engine's own parser, so no input can make one fail.

The syntax is that of web search engines (and of PostgreSQL's `websearch_to_tsquery`):

- words: every one must match (`redis exporter`);
- `"quoted words"`: a phrase, the words next to each other in this order;
- `-word` or `-"a phrase"`: must not match;
- `or` between two items: either may match (`nginx or apache`).

Words are split where repository names are split: at every character that is neither a letter
nor a digit. A word typed with such characters in it is a phrase of its parts, so
`redis-exporter`, `library/nginx` and `hello_world` find those names, and `exporter` finds
`redis-exporter`. The last word typed may be the beginning of a word of a name (`postg` finds
`postgres`), because people search while they type.

Limits keep every query small whatever is pasted: `MAX_ITEMS` words or phrases, `MAX_WORDS`
words in a phrase, `MAX_WORD_CHARS` characters in a word, `MAX_CHARS` characters read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from registry import names

MAX_CHARS = 256
MAX_ITEMS = 10
MAX_WORDS = 8
MAX_WORD_CHARS = 64
# A lone word is read as the start of a name's word only from this length (`pos` would
# match half the catalog); within a phrase (`redis-ex`) from two characters.
PREFIX_MIN = 3
PREFIX_MIN_IN_PHRASE = 2

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"[^\W_]+")  # letters and digits (any script); "_" separates, as in names


@dataclass(frozen=True)
class Phrase:
    """One word, or several that must appear next to each other in this order."""

    words: tuple[str, ...]
    # The last word may be the beginning of a word of a repository name.
    prefix: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed query: every clause must match (one of its phrases), no exclusion may."""

    clauses: tuple[tuple[Phrase, ...], ...] = ()
    excluded: tuple[Phrase, ...] = ()
    # The query as a repository name, when it reads as one: the exact name ranks first.
    name: str = ""
    text: str = field(default="", compare=False)  # what was typed, normalized

    def __bool__(self) -> bool:
        return bool(self.clauses or self.excluded)

    @property
    def words(self) -> list[str]:
        """Every word that must (or may, in an `or`) match, in order, once each."""
        found = []
        for clause in self.clauses:
            for phrase in clause:
                found += [word for word in phrase.words if word not in found]
        return found


def normalize(text: str) -> str:
    """Compatibility forms folded, lower case, no control characters, single spaces."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower()
    text = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    return " ".join(text.split())


def _phrase(token: str) -> Phrase | None:
    words = tuple(word[:MAX_WORD_CHARS] for word in _WORD.findall(token)[:MAX_WORDS])
    return Phrase(words) if words else None


def parse(text: str) -> Query:
    text = normalize(text)
    # ("+" | "-" | "or", the phrase, typed as a bare word: may be a prefix)
    items: list[tuple[str, Phrase | None, bool]] = []
    for match in _TOKEN.finditer(text):
        minus, quoted, bare = match.groups()
        if quoted is not None:
            items.append(("-" if minus else "+", _phrase(quoted), False))
        elif bare == "or":
            items.append(("or", None, False))
        elif bare.startswith("-"):
            items.append(("-", _phrase(bare[1:]), False))
        else:
            items.append(("+", _phrase(bare), True))

    clauses: list[tuple[Phrase, ...]] = []
    excluded: list[Phrase] = []
    either = False  # the previous item was `or`
    count = 0
    for index, (kind, phrase, bare) in enumerate(items):
        if kind == "or":
            either = bool(clauses)
            continue
        if phrase is None or count == MAX_ITEMS:
            either = False
            continue
        count += 1
        if kind == "-":
            excluded.append(phrase)
        else:
            if bare and index == len(items) - 1 and _may_be_prefix(phrase):
                phrase = Phrase(phrase.words, prefix=True)
            if either:
                clauses[-1] = (*clauses[-1], phrase)
            else:
                clauses.append((phrase,))
        either = False

    name = text if " " not in text and names.is_valid_name(text) else ""
    return Query(tuple(clauses), tuple(excluded), name, text)


def _may_be_prefix(phrase: Phrase) -> bool:
    last = phrase.words[-1]
    if len(phrase.words) == 1:
        return len(last) >= PREFIX_MIN
    return len(last) >= PREFIX_MIN_IN_PHRASE
