"""Sentences that interpret results, written from the results themselves.

A page then never states a conclusion its own table contradicts. Comparisons use the numbers
as printed (three decimals); two recipes differ only where their 95 % intervals do not overlap.

Example:
    >>> print(recipe_comparison_sentence({"Male": 0.99}, {"Male": 0.80}, 100))
    ... # doctest: +NORMALIZE_WHITESPACE
    Compared with the report's recipe on the same test images, the improved recipe is more
    accurate for `Male` (`Male` 0.990 [0.946, 0.998] against 0.800 [0.711, 0.867]).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

__all__ = [
    "lowest_attributes", "learning_sentence", "recipe_comparison_sentence",
    "report_comparison_sentence", "hardest_attribute_sentence", "share_with_interval",
]

_COUNT_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def attribute_list(names: Sequence[str]) -> str:
    """Attribute names as code, joined the way a sentence lists them.

    Args:
        names: Attribute names, in reading order.

    Returns:
        Each name in backticks, joined by commas and a final "and" ("" for no names).

    Example:
        >>> attribute_list(["Male", "Eyeglasses", "Smiling"])
        '`Male`, `Eyeglasses` and `Smiling`'
    """
    return _join([f"`{name}`" for name in names])


def _join(clauses: Sequence[str]) -> str:
    if len(clauses) <= 1:
        return "".join(clauses)
    return ", ".join(clauses[:-1]) + " and " + clauses[-1]


def _printed(value: float) -> float:
    """An accuracy as a sentence prints it (three decimals)."""
    return round(float(value), 3)


def lowest_attributes(accuracies: Mapping[str, float]) -> list[str]:
    """The attributes whose accuracy, to the three decimals a page prints, is the lowest.

    Args:
        accuracies: Accuracy per attribute.

    Returns:
        The attributes tied at the lowest printed accuracy, in the order of ``accuracies``.

    Raises:
        ValueError: ``accuracies`` is empty.

    Example:
        >>> lowest_attributes({"Male": 0.95, "Eyeglasses": 0.98, "Smiling": 0.88})
        ['Smiling']
    """
    if not accuracies:
        raise ValueError("No accuracies: pass one accuracy per attribute.")
    lowest = min(_printed(value) for value in accuracies.values())
    return [name for name, value in accuracies.items() if _printed(value) == lowest]


def learning_sentence(accuracies: Mapping[str, float], *, threshold: float = 0.6,
                      profile_name: str = "quick", report_steps: int | None = None) -> str:
    """Whether classifiers learned, from their accuracies on balanced test samples.

    Args:
        accuracies: Accuracy per attribute on its balanced test sample.
        threshold: The accuracy below which a classifier is still close to guessing.
        profile_name: The run profile that trained them, named when one did not learn.
        report_steps: Training steps of the report's recipe; default: from its settings.

    Returns:
        One or two sentences of Markdown.

    Raises:
        ValueError: ``accuracies`` is empty.

    Example:
        >>> print(learning_sentence({"Male": 0.91, "Smiling": 0.85}))
        ... # doctest: +NORMALIZE_WHITESPACE
        Both classifiers learned their attribute: their accuracies on the balanced test
        samples range from 0.850 to 0.910, against 0.5 for guessing.
    """
    if not accuracies:
        raise ValueError("No accuracies: pass one accuracy per attribute.")
    if report_steps is None:
        from .evaluation import REPORT_SETTINGS
        report_steps = (math.ceil(REPORT_SETTINGS["sizes"][0] / REPORT_SETTINGS["batch_size"])
                        * REPORT_SETTINGS["epochs"])
    printed = {name: _printed(value) for name, value in accuracies.items()}
    stuck = [name for name, value in printed.items() if value < threshold]
    learned = [name for name in printed if name not in stuck]

    def span(names):
        low, high = min(printed[n] for n in names), max(printed[n] for n in names)
        return f"{low:.3f}" if low == high else f"from {low:.3f} to {high:.3f}"

    if not stuck:
        n = len(learned)
        subject = ("The classifier" if n == 1 else "Both classifiers" if n == 2
                   else f"All {_COUNT_WORDS.get(n, n)} classifiers")
        verb = "its accuracy on the balanced test sample is" if n == 1 else (
            "their accuracies on the balanced test samples range")
        whose = "its" if n == 1 else "their"
        return (f"{subject} learned {whose} attribute: {verb} {span(learned)}, against 0.5 for "
                "guessing.")
    sentence = (f"In this run the report's network is still close to guessing for "
                f"{attribute_list(stuck)} (accuracy {span(stuck)}, below {threshold} on the "
                "balanced test sample): it starts on a plateau that takes a few hundred steps "
                f"to leave, more than the {profile_name} profile gave it; the full profile "
                f"trains for the report's {report_steps:,} steps.")
    if learned:
        sentence += (f" {attribute_list(learned)} did learn (accuracy {span(learned)}).")
    return sentence


def recipe_comparison_sentence(new_accuracies: Mapping[str, float],
                               old_accuracies: Mapping[str, float], n: int, *,
                               new: str = "the improved recipe",
                               old: str = "the report's recipe",
                               where: str = "on the same test images") -> str:
    """Which attributes a recipe is more, less or not measurably differently accurate for.

    A recipe counts as more (less) accurate only where its 95 % interval
    (:func:`celeba_lab.evaluation.accuracy_interval`) lies wholly above (below) the other's.

    Args:
        new_accuracies: The new recipe's accuracy per attribute.
        old_accuracies: The old recipe's, measured on the same images.
        n: Images each accuracy was measured on.
        new: How the sentence names the new recipe.
        old: How the sentence names the old recipe.
        where: What was compared, ending the first clause.

    Returns:
        One sentence of Markdown, every accuracy with its interval.

    Raises:
        ValueError: ``new_accuracies`` is empty or names an attribute ``old_accuracies`` lacks.

    Example:
        >>> print(recipe_comparison_sentence({"Male": 0.95, "Smiling": 0.9},
        ...                                  {"Male": 0.7, "Smiling": 0.88}, 100))
        ... # doctest: +NORMALIZE_WHITESPACE
        Compared with the report's recipe on the same test images, the improved recipe is
        more accurate for `Male`, and within each other's 95 % intervals for `Smiling`
        (`Male` 0.950 [0.888, 0.978] against 0.700 [0.604, 0.781], `Smiling` 0.900
        [0.826, 0.945] against 0.880 [0.802, 0.930]).
    """
    from .evaluation import accuracy_interval

    if not new_accuracies:
        raise ValueError("No accuracies: pass one accuracy per attribute for each recipe.")
    missing = [a for a in new_accuracies if a not in old_accuracies]
    if missing:
        raise ValueError(f"old_accuracies has no accuracy for {missing}: pass both recipes' "
                         "accuracies on the same attributes.")
    ours = {a: accuracy_interval(_printed(v), n) for a, v in new_accuracies.items()}
    theirs = {a: accuracy_interval(_printed(old_accuracies[a]), n) for a in new_accuracies}
    groups = (("more accurate", [a for a in ours if ours[a].low > theirs[a].high]),
              ("less accurate", [a for a in ours if ours[a].high < theirs[a].low]))
    apart = {a for _, names in groups for a in names}
    groups += (("within each other's 95 % intervals", [a for a in ours if a not in apart]),)
    clauses = [f"{words} for {attribute_list(names)}" for words, names in groups if names]
    said = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + ", and " + clauses[-1]
    numbers = ", ".join(f"`{a}` {ours[a]} against {theirs[a]}" for a in ours)
    return f"Compared with {old} {where}, {new} is {said} ({numbers})."


def report_comparison_sentence(accuracies: Mapping[str, float],
                               report_accuracies: Mapping[str, float], *,
                               synthetic: bool) -> str:
    """How a recipe's accuracies stand against the report's published ones.

    Args:
        accuracies: This build's accuracy per attribute.
        report_accuracies: The report's accuracy per attribute.
        synthetic: Whether this build ran on the synthetic CelebA: then the sentence says the
            comparison measures the data as much as the models, instead of naming a winner.

    Returns:
        One or two sentences of Markdown.

    Example:
        >>> print(report_comparison_sentence({"Male": 0.95, "Smiling": 0.85},
        ...                                  {"Male": 0.946, "Smiling": 0.883}, synthetic=False))
        ... # doctest: +NORMALIZE_WHITESPACE
        On real CelebA the improved recipe beats the report on `Male` (0.950 against 0.946)
        but not on `Smiling` (0.850 against 0.883) in this run.
    """
    if synthetic:
        return ("Comparing these columns with the report's measures the data as much as the "
                "models: cartoon faces and short runs are a different problem from the "
                "report's photographs. The comparison that means something here is the one "
                "between the two recipes, trained and tested on the same images.")
    names = [a for a in accuracies if a in report_accuracies]
    mine = {a: _printed(accuracies[a]) for a in names}
    theirs = {a: _printed(report_accuracies[a]) for a in names}

    def detail(group):
        return _join([f"`{a}` ({mine[a]:.3f} against {theirs[a]:.3f})" for a in group])

    above = [a for a in names if mine[a] > theirs[a]]
    not_above = [a for a in names if a not in above]
    if not not_above:
        return ("On real CelebA the improved recipe beats the report on every attribute: "
                f"{detail(above)}.")
    if not above:
        return ("On real CelebA the improved recipe does not beat the report on any attribute "
                f"in this run: {detail(not_above)}.")
    return (f"On real CelebA the improved recipe beats the report on {detail(above)} but not "
            f"on {detail(not_above)} in this run.")


def _hardest_clause(accuracies: Mapping[str, float], report_hardest: list[str],
                    threshold: float) -> str:
    """``the hardest is `Smiling` (0.870), the report's hardest too`` and its variants."""
    lowest = lowest_attributes(accuracies)
    value = _printed(accuracies[lowest[0]])
    if value < threshold:
        # A classifier close to guessing says nothing about how hard its attribute is.
        verb = "is" if len(lowest) == 1 else "are"
        return (f"the lowest {verb} {attribute_list(lowest)} ({value:.3f}), but that classifier "
                "did not learn, so it is no evidence either way")
    if len(lowest) > 1:
        return f"{attribute_list(lowest)} are tied for hardest ({value:.3f})"
    agreement = ("the report's hardest too" if lowest == report_hardest
                 else f"where the report's was {attribute_list(report_hardest)}")
    return f"the hardest is `{lowest[0]}` ({value:.3f}), {agreement}"


def hardest_attribute_sentence(accuracies_report: Mapping[str, float],
                               accuracies_improved: Mapping[str, float],
                               report_accuracies: Mapping[str, float], *,
                               threshold: float = 0.6) -> str:
    """Which attribute was hardest in the report and for each of this build's recipes.

    "Hardest" is the lowest accuracy on the balanced test sample, ties named as ties. A lowest
    accuracy below ``threshold`` belongs to a classifier that did not learn, and is said so.

    Args:
        accuracies_report: This build's accuracy per attribute with the report's recipe.
        accuracies_improved: The same with the improved recipe.
        report_accuracies: The report's published accuracy per attribute.
        threshold: The accuracy below which a classifier counts as not having learned.

    Returns:
        Two sentences of Markdown: the report's hardest attribute, then this build's per recipe.

    Example:
        >>> report = {"Male": 0.946, "Eyeglasses": 0.980, "Smiling": 0.883}
        >>> ours = {"Male": 0.9, "Eyeglasses": 0.8, "Smiling": 0.85}
        >>> improved = {"Male": 0.95, "Eyeglasses": 0.97, "Smiling": 0.9}
        >>> print(hardest_attribute_sentence(ours, improved, report))
        ... # doctest: +NORMALIZE_WHITESPACE
        In the report `Smiling` was the hardest attribute (0.883 accuracy, against 0.946 for
        `Male` and 0.980 for `Eyeglasses`). In this build, by the lowest accuracy on the
        balanced test samples, with the report's recipe the hardest is `Eyeglasses` (0.800),
        where the report's was `Smiling`; with the improved recipe the hardest is `Smiling`
        (0.900), the report's hardest too.
    """
    report_hardest = lowest_attributes(report_accuracies)
    others = _join([f"{_printed(v):.3f} for `{a}`" for a, v in report_accuracies.items()
                    if a not in report_hardest])
    verb = "was the hardest attribute" if len(report_hardest) == 1 else (
        "were the hardest attributes, tied")
    first = (f"In the report {attribute_list(report_hardest)} {verb} "
             f"({_printed(report_accuracies[report_hardest[0]]):.3f} accuracy"
             + (f", against {others}" if others else "") + ").")
    second = ("In this build, by the lowest accuracy on the balanced test samples, with the "
              "report's recipe "
              f"{_hardest_clause(accuracies_report, report_hardest, threshold)}; with the "
              f"improved recipe {_hardest_clause(accuracies_improved, report_hardest, threshold)}.")
    return f"{first} {second}"


def share_with_interval(share: float, low: float, high: float, n: int, what: str) -> str:
    """A share and its interval in words, saying what a zero-width interval at 0 or 1 means.

    A bootstrap of 300 faces none of which was read as a woman gives "0.0 % [0.0 %, 0.0 %]":
    not certainty. Then the phrase says so and gives the rule of three (with none of ``n``
    faces, the true share is below ``3 / n`` at about 95 % confidence).

    Args:
        share: The estimated share (0-1).
        low: Lower end of its interval.
        high: Upper end of its interval.
        n: Faces the share was estimated from.
        what: What is counted, plural (e.g. ``"women"``).

    Returns:
        A phrase such as ``"41.3% women [35.2%, 47.0%]"``.

    Example:
        >>> share_with_interval(0.0, 0.0, 0.0, 300, "women")
        'no women among 300 faces (a zero-width interval: resampling cannot create what the sample lacks; by the rule of three, under 1.0%)'
        >>> share_with_interval(0.413, 0.352, 0.47, 300, "women")
        '41.3% women [35.2%, 47.0%]'
    """
    if high - low < 1e-9 and share <= 1e-9:
        return (f"no {what} among {n:,} faces (a zero-width interval: resampling cannot create "
                f"what the sample lacks; by the rule of three, under {3 / n:.1%})")
    if high - low < 1e-9 and share >= 1 - 1e-9:
        return (f"only {what} among {n:,} faces (a zero-width interval: resampling cannot "
                f"create what the sample lacks; by the rule of three, over {1 - 3 / n:.1%})")
    return f"{share:.1%} {what} [{low:.1%}, {high:.1%}]"
