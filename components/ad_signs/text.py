"""Text helpers and measures shared by the filters, the privacy checks, the data analysis and the
benchmarks: words, word shingles, normalisation, distinct-n; Markdown tables for the data and model cards."""
import random
import re
import unicodedata
from typing import Iterable, List, Sequence, Set, Tuple

MARKDOWN = ("**", "__", "##", "`")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def words(text: str) -> List[str]:
    return _WORD.findall(text.lower())


def shingles(text: str, n: int = 3) -> Set[Tuple[str, ...]]:
    tokens = words(text)
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def normalize(text: str) -> str:
    """Case, punctuation and spacing do not make a sentence new."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def non_latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum("LATIN" not in unicodedata.name(c, "") for c in letters) / len(letters)


def distinct_n(token_lists: Sequence[Sequence[str]], n: int) -> float:
    """Distinct n-grams over all n-grams of a set of sentences (1.0: no n-gram repeats)."""
    grams = [tuple(tokens[i : i + n]) for tokens in token_lists for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def distinct_n_at(token_lists: Sequence[Sequence[str]], n: int, size: int, samples: int = 20, seed: int = 0) -> float:
    """distinct-n of `size` sentences drawn at random, averaged over `samples` draws: distinct-n
    falls as a set grows, so sets of different sizes compare only at the same size."""
    token_lists = list(token_lists)
    if len(token_lists) <= size:
        return distinct_n(token_lists, n)
    rng = random.Random(seed)
    return sum(distinct_n(rng.sample(token_lists, size), n) for _ in range(samples)) / samples


def has_markdown(text: str) -> bool:
    return any(mark in text for mark in MARKDOWN) or text.lstrip().startswith(("- ", "* ", "# "))


def lower_tokens(doc) -> List[str]:
    """A Doc's tokens, lowercased, without whitespace tokens (the unit of length and distinct-n)."""
    return [t.lower_ for t in doc if not t.is_space]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A Markdown table (the data cards, the model cards' README)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])
