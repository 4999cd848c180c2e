"""User search text to a safe FTS5 query.

FTS5 has its own query language, and passing user text straight to MATCH turns a stray quote or
``ver1.1`` into a syntax error. Here every word becomes a quoted FTS5 string, so nothing the user
types is read as syntax except what we choose to honour:

- ``"a phrase"`` stays a phrase (an unclosed quote runs to the end);
- a trailing ``*`` asks for a prefix match (``deploy*``);
- a leading ``-`` excludes a word or phrase (``-test``);
- ``AND``, ``OR`` and ``NOT`` (upper case) are operators when they stand between two terms, and
  plain words anywhere else. Words are ANDed; OR binds looser than AND, as in FTS5.

Parentheses are not grouping: in code-heavy text ``print(x)`` is far more often a search for
code than a sub-expression, so they are left inside the quoted word (the tokenizer drops them).
Anything that leaves nothing to search for is a ``QueryError`` with a message for the user.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_QUERY_CHARS = 2000
MAX_TERMS = 64
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A double-quoted run (closed or not), or a run of anything else up to whitespace.
_TOKEN = re.compile(r'(-?)"([^"]*)"?(\*?)|(\S+)')


class QueryError(ValueError):
    """The search text cannot be made into a query; the message says why, for the user."""


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    prefix: bool = False
    negated: bool = False

    def render(self) -> str:
        quoted = '"' + self.text.replace('"', '""') + '"'
        return quoted + ("*" if self.prefix else "")


def has_token_chars(text: str) -> bool:
    """True if the unicode61 tokenizer would find a token in ``text`` (letters, numbers, Co)."""
    return any(
        unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "Co" for ch in text
    )


def phrase(text: str) -> str | None:
    """``text`` as one quoted FTS5 phrase (matched token by token), or None if it has no token."""
    text = _CONTROL.sub(" ", text)
    return Term(text).render() if has_token_chars(text) else None


def _lex(text: str) -> list[Term | str]:
    """Terms and the operator keywords (as plain strings), in order."""
    items: list[Term | str] = []
    for match in _TOKEN.finditer(text):
        minus, phrase, star, word = match.groups()
        if word is None:
            items.append(Term(phrase, prefix=bool(star), negated=bool(minus)))
        elif word in _KEYWORDS:
            items.append(word)
        else:
            negated = word.startswith("-") and len(word) > 1
            body = word[1:] if negated else word
            prefix = body.endswith("*")
            items.append(Term(body.rstrip("*"), prefix=prefix, negated=negated))
    return items


def _resolve(items: list[Term | str]) -> list[Term | str]:
    """Keep a keyword as an operator only between two terms; elsewhere it is a word to find."""
    resolved: list[Term | str] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            before = resolved[-1] if resolved else None
            after = items[i + 1] if i + 1 < len(items) else None
            if isinstance(before, Term) and isinstance(after, Term):
                resolved.append(item)
                continue
            item = Term(item)
        resolved.append(item)
    return resolved


def to_fts(text: str) -> str:
    """The FTS5 MATCH expression for ``text``; raises QueryError when nothing can be searched."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"q: the search text is longer than {MAX_QUERY_CHARS} characters")
    # FTS5 reads its query as a C string: a NUL would end it inside a quoted term.
    text = _CONTROL.sub(" ", text)
    groups: list[list[str]] = [[]]  # OR-separated groups of ANDed terms
    excluded: list[str] = []
    pending_not = False
    count = 0
    for item in _resolve(_lex(text)):
        if item == "OR":
            groups.append([])
            continue
        if item == "AND":
            continue
        if item == "NOT":
            pending_not = True
            continue
        assert isinstance(item, Term)
        negated, pending_not = item.negated or pending_not, False
        if not has_token_chars(item.text):
            continue  # nothing the tokenizer would index, e.g. "**" or an emoji
        count += 1
        if count > MAX_TERMS:
            raise QueryError(f"q: too many search terms (at most {MAX_TERMS})")
        (excluded if negated else groups[-1]).append(item.render())
    groups = [g for g in groups if g]
    if not groups:
        raise QueryError(
            "q: nothing to search for; give at least one word (letters or digits) "
            "that is not excluded with - or NOT"
        )
    positive = " OR ".join("(" + " AND ".join(g) + ")" for g in groups)
    if excluded and len(groups) > 1:
        positive = f"({positive})"
    return positive + "".join(f" NOT {term}" for term in excluded)
