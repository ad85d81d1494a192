"""Analysis: turn text into the terms of the lexical (BM25) index.

An :class:`Analyzer` is recorded with an index like its prompts: the same settings must
turn queries into terms at search time, and an update with other settings is refused.
Text is NFKC-normalized and lowercased; words are runs of letters and digits; runs of
Chinese, Japanese or Korean characters, which carry no spaces, become overlapping
character bigrams (as Lucene's CJK analyzer does); stopwords are dropped, the rest are
stemmed with a Snowball stemmer (PyStemmer) and stripped of accents, so that ``café``
matches ``cafe``. Nothing is dropped for being in another script than the language's.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ANALYZER_VERSION = 1
DEFAULT_LANGUAGE = "english"
NO_LANGUAGE = "none"  # no stemmer, no stopwords

# bm25s ships stopword lists for these Snowball languages.
_STOPWORD_LISTS = {
    "english": "STOPWORDS_EN",
    "danish": "STOPWORDS_DANISH",
    "dutch": "STOPWORDS_DUTCH",
    "french": "STOPWORDS_FRENCH",
    "german": "STOPWORDS_GERMAN",
    "italian": "STOPWORDS_ITALIAN",
    "norwegian": "STOPWORDS_NORWEGIAN",
    "portuguese": "STOPWORDS_PORTUGUESE",
    "russian": "STOPWORDS_RUSSIAN",
    "spanish": "STOPWORDS_SPANISH",
    "swedish": "STOPWORDS_SWEDISH",
    "turkish": "STOPWORDS_TURKISH",
}
_CJK = (
    "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f"
)
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_]+", re.UNICODE)
_CJK_RUN = re.compile(rf"[{_CJK}]+")


def languages() -> list[str]:
    """Languages ``--language`` accepts: the Snowball stemmers, and ``none``."""
    import Stemmer

    return sorted(set(Stemmer.algorithms()) - {"porter", "dutch_porter"}) + [NO_LANGUAGE]


@dataclass(frozen=True)
class Analyzer:
    """How text becomes terms; recorded in the manifest."""

    language: str = DEFAULT_LANGUAGE
    stemmer: str | None = "snowball:english"
    stopwords: str | None = "bm25s:english"
    lowercase: bool = True
    fold_accents: bool = True
    cjk: str = "bigrams"
    version: int = ANALYZER_VERSION

    @classmethod
    def for_language(cls, language: str) -> Analyzer:
        """The analyzer of ``language``; a ValueError names the accepted ones."""
        name = language.strip().lower()
        if name not in languages():
            raise ValueError(
                f"unknown language {language!r}; choose one of: {', '.join(languages())}"
            )
        if name == NO_LANGUAGE:
            return cls(language=name, stemmer=None, stopwords=None)
        stopwords = f"bm25s:{name}" if name in _STOPWORD_LISTS else None
        return cls(language=name, stemmer=f"snowball:{name}", stopwords=stopwords)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Analyzer:
        return cls(**data)

    def terms(self, text: str) -> list[str]:
        """The index terms of ``text``, in order (repeats kept: they are term frequencies)."""
        return _pipeline(self)(text)

    def words(self, text: str) -> list[str]:
        """The words of ``text`` that become terms: NFKC-normalized, lowercased as the
        analyzer does, stopwords and all, before stemming (what a person reads)."""
        text = unicodedata.normalize("NFKC", text)
        return _TOKEN.findall(text.lower() if self.lowercase else text)

    def terms_of_all(self, texts: Iterable[str]) -> list[list[str]]:
        run = _pipeline(self)
        return [run(text) for text in texts]


@functools.lru_cache(maxsize=8)
def _pipeline(analyzer: Analyzer) -> Callable[[str], list[str]]:
    """One compiled function per analyzer: split, drop stopwords, stem, fold."""
    stopwords = _stopwords(analyzer.stopwords)
    stem = _stemmer(analyzer.stemmer)
    fold = _fold if analyzer.fold_accents else _same
    cache: dict[str, str] = {}  # word -> term; stemming is the costly step

    def term(word: str) -> str:
        found = cache.get(word)
        if found is None:
            found = cache[word] = fold(stem(word))
            if len(cache) > 500_000:
                cache.clear()
        return found

    def run(text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text)
        if analyzer.lowercase:
            text = text.lower()
        out: list[str] = []
        for word in _TOKEN.findall(text):
            if _CJK_RUN.fullmatch(word):
                out.extend(_bigrams(word))
            elif word not in stopwords:
                out.append(term(word))
        return out

    return run


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _stopwords(name: str | None) -> frozenset[str]:
    if name is None:
        return frozenset()
    return frozenset(getattr(_bm25s_stopwords(), _STOPWORD_LISTS[name.split(":", 1)[1]]))


@functools.cache
def _bm25s_stopwords() -> ModuleType:
    """bm25s's ``stopwords`` module (plain lists), run without the package's ``__init__``,
    which imports scipy.sparse and tqdm: a tenth of a second of every cold search."""
    package = importlib.util.find_spec("bm25s")  # found, not imported
    if package is None or not package.submodule_search_locations:
        raise ImportError("bm25s is not installed; run: pip install bm25s")
    path = Path(package.submodule_search_locations[0]) / "stopwords.py"
    spec = importlib.util.spec_from_file_location("tasksift._bm25s_stopwords", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stemmer(name: str | None) -> Callable[[str], str]:
    if name is None:
        return _same
    import Stemmer

    return Stemmer.Stemmer(name.split(":", 1)[1]).stemWord


def _same(word: str) -> str:
    return word


def _fold(word: str) -> str:
    """``word`` without combining accents (é -> e); other scripts keep their letters."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)) or word


def matching_words(analyzer: Analyzer, query: str, text: str) -> tuple[list[str], list[str]]:
    """The words of ``query`` whose terms occur in ``text``, and the words of ``text`` that
    carry them (each once, in order of appearance): what a person is shown as matched."""
    text_words = _TOKEN.findall(text)
    text_terms = {w: set(analyzer.terms(w)) for w in dict.fromkeys(text_words)}
    held = set().union(*text_terms.values()) if text_terms else set()
    query_words = [w for w in dict.fromkeys(_TOKEN.findall(query)) if set(analyzer.terms(w)) & held]
    wanted = set().union(*(analyzer.terms(w) for w in query_words)) if query_words else set()
    shown = [w for w, terms in text_terms.items() if terms & wanted]
    return query_words, shown
