"""Text measures shared by the filters, the data analysis and the benchmarks."""
import random
from typing import List, Sequence

MARKDOWN = ("**", "__", "##", "`")


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
