"""The sentences that interpret results never contradict the numbers they are written from.

Each function of ``celeba_lab.narrative`` runs here on contrasting results (another attribute
hardest, a recipe better, worse or tied, a classifier that did not learn), and the test reads
the sentence back: the attribute it names as hardest has the lowest accuracy, the attributes it
calls better really improved, and so on.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from celeba_lab import narrative
from celeba_lab.evaluation import REPORT_RESULTS

REPORT = {a: REPORT_RESULTS[a]["accuracy"] for a in ("Male", "Eyeglasses", "Smiling")}
BOOK = Path(__file__).resolve().parents[1] / "book"


def _names(fragment: str) -> list[str]:
    return re.findall(r"`(\w+)`", fragment)


# --------------------------------------------------------------------------------------------
# The hardest attribute


def _clause(sentence: str, recipe: str) -> str:
    """The part of the sentence about ``recipe`` ('report's' or 'improved')."""
    match = re.search(rf"with the {recipe} recipe (.*?)(?:;|\.$)", sentence)
    assert match, sentence
    return match.group(1)


def _hardest_named(sentence: str, recipe: str) -> list[str]:
    """The attributes the sentence names as hardest (or lowest) for ``recipe``."""
    return _names(_clause(sentence, recipe).split("(")[0])


SMILING_HARDEST = {"Male": 0.91, "Eyeglasses": 0.97, "Smiling": 0.86}
EYEGLASSES_HARDEST = {"Male": 0.93, "Eyeglasses": 0.84, "Smiling": 0.90}
MALE_HARDEST = {"Male": 0.70, "Eyeglasses": 0.99, "Smiling": 0.95}


@pytest.mark.parametrize("seed", [SMILING_HARDEST, EYEGLASSES_HARDEST, MALE_HARDEST])
@pytest.mark.parametrize("improved", [SMILING_HARDEST, EYEGLASSES_HARDEST, MALE_HARDEST])
def test_the_hardest_attribute_named_is_the_one_with_the_lowest_accuracy(seed, improved):
    sentence = narrative.hardest_attribute_sentence(seed, improved, REPORT)
    for recipe, accuracies in (("report's", seed), ("improved", improved)):
        named = _hardest_named(sentence, recipe)
        truth = min(accuracies, key=accuracies.get)
        assert named == [truth], (recipe, sentence)
        clause = _clause(sentence, recipe)
        # Every clause has its verb: "the hardest is `X` (0.860), ..."
        assert clause.startswith(f"the hardest is `{truth}` ({accuracies[truth]:.3f}), ")
        # Agreement with the report's hardest (Smiling) is said, never "as in the report".
        assert ("the report's hardest too" in clause) == (truth == "Smiling"), sentence
        assert ("where the report's was `Smiling`" in clause) == (truth != "Smiling"), sentence
    assert "as in the report" not in sentence
    # The report's part is the report's numbers: Smiling lowest, the others higher.
    assert sentence.startswith("In the report `Smiling` was the hardest attribute (0.883")
    assert "0.946 for `Male`" in sentence and "0.980 for `Eyeglasses`" in sentence


def test_a_tie_for_hardest_is_named_as_a_tie_and_not_as_agreement_with_the_report():
    tied = {"Male": 0.90, "Eyeglasses": 0.97, "Smiling": 0.9004}  # both print as 0.900
    sentence = narrative.hardest_attribute_sentence(tied, SMILING_HARDEST, REPORT)
    assert _hardest_named(sentence, "report's") == ["Male", "Smiling"]
    clause = _clause(sentence, "report's")
    assert "are tied for hardest (0.900)" in clause and "report's hardest" not in clause


def test_a_hardest_attribute_that_did_not_learn_is_no_evidence_for_or_against_the_report():
    stuck = {"Male": 0.88, "Eyeglasses": 0.58, "Smiling": 0.50}
    sentence = narrative.hardest_attribute_sentence(stuck, SMILING_HARDEST, REPORT)
    clause = _clause(sentence, "report's")
    assert _hardest_named(sentence, "report's") == ["Smiling"]
    assert clause.startswith("the lowest is `Smiling` (0.500)") and "did not learn" in clause
    assert "report's hardest" not in clause and "where the report's" not in clause
    # The improved recipe learned: its clause still compares with the report.
    assert "the report's hardest too" in _clause(sentence, "improved")


def test_lowest_attributes_compares_printed_values_and_refuses_nothing():
    assert narrative.lowest_attributes({"A": 0.8, "B": 0.7, "C": 0.9}) == ["B"]
    assert narrative.lowest_attributes({"A": 0.7001, "B": 0.7}) == ["A", "B"]
    with pytest.raises(ValueError):
        narrative.lowest_attributes({})


# --------------------------------------------------------------------------------------------
# Improved recipe against this build's copy of the report's


def _groups(sentence: str) -> dict[str, list[str]]:
    """{'more': [...], 'less': [...], 'within': [...]} as the sentence states them."""
    body = sentence.split(", the improved recipe is ", 1)[1].split(" (`")[0]
    found = {}
    for key, words in (("more", "more accurate"), ("less", "less accurate"),
                       ("within", "within each other's 95 % intervals")):
        match = re.search(rf"{words} for (.*?)(?=, (?:and )?(?:more|less|within)|$)", body)
        found[key] = _names(match.group(1)) if match else []
    return found


OLD = {"Male": 0.80, "Eyeglasses": 0.90, "Smiling": 0.85}


@pytest.mark.parametrize("new", [
    {"Male": 0.97, "Eyeglasses": 0.99, "Smiling": 0.97},   # better everywhere, beyond noise
    {"Male": 0.55, "Eyeglasses": 0.60, "Smiling": 0.50},   # worse everywhere
    {"Male": 0.82, "Eyeglasses": 0.88, "Smiling": 0.85},   # a few points: noise on 100 images
    {"Male": 0.97, "Eyeglasses": 0.60, "Smiling": 0.88},   # one of each
])
def test_the_recipe_comparison_calls_a_difference_only_beyond_the_intervals(new):
    from celeba_lab.evaluation import accuracy_interval

    sentence = narrative.recipe_comparison_sentence(new, OLD, 100)
    groups = _groups(sentence)
    ours = {a: accuracy_interval(v, 100) for a, v in new.items()}
    theirs = {a: accuracy_interval(v, 100) for a, v in OLD.items()}
    assert sorted(groups["more"]) == sorted(a for a in new if ours[a].low > theirs[a].high)
    assert sorted(groups["less"]) == sorted(a for a in new if ours[a].high < theirs[a].low)
    assert sorted(groups["within"]) == sorted(
        a for a in new if ours[a].low <= theirs[a].high and ours[a].high >= theirs[a].low)
    for a in new:  # every accuracy compared carries its interval
        assert f"`{a}` {ours[a]} against {theirs[a]}" in sentence


def test_the_recipe_comparison_says_what_was_compared_and_refuses_missing_attributes():
    sentence = narrative.recipe_comparison_sentence(
        {"Male": 0.9}, {"Male": 0.5}, 100, where="after 100 steps each")
    assert sentence.startswith("Compared with the report's recipe after 100 steps each, the "
                               "improved recipe is more accurate for `Male`")
    with pytest.raises(ValueError, match="old_accuracies has no accuracy for"):
        narrative.recipe_comparison_sentence({"Smiling": 0.9}, {"Male": 0.5}, 100)


# --------------------------------------------------------------------------------------------
# Did the report's recipe learn?


def test_the_learning_sentence_says_all_learned_only_when_all_did():
    learned = narrative.learning_sentence({"Male": 0.91, "Eyeglasses": 0.97, "Smiling": 0.86})
    assert learned.startswith("All three classifiers learned")
    assert "from 0.860 to 0.970" in learned and "guessing for" not in learned

    one_stuck = narrative.learning_sentence({"Male": 0.91, "Eyeglasses": 0.55, "Smiling": 0.86},
                                            profile_name="quick")
    assert "All three" not in one_stuck
    stuck_part, learned_part = one_stuck.split(" did learn")[0].rsplit(". ", 1)
    assert _names(stuck_part.split("(")[0]) == ["Eyeglasses"]
    assert _names(learned_part) == ["Male", "Smiling"]
    assert "quick profile" in one_stuck and "3,000 steps" in one_stuck


def test_the_learning_threshold_is_applied_to_the_printed_accuracy():
    # 0.5996 prints as 0.600: it must not be called "below 0.6".
    sentence = narrative.learning_sentence({"Male": 0.5996}, threshold=0.6)
    assert sentence.startswith("The classifier learned its attribute") and "0.600" in sentence


# --------------------------------------------------------------------------------------------
# Improved recipe against the report's published numbers


@pytest.mark.parametrize("improved", [
    {"Male": 0.96, "Eyeglasses": 0.99, "Smiling": 0.90},     # beats all three
    {"Male": 0.90, "Eyeglasses": 0.95, "Smiling": 0.80},     # beats none
    {"Male": 0.96, "Eyeglasses": 0.95, "Smiling": 0.883},    # one above, one below, one equal
])
def test_the_report_comparison_claims_only_the_attributes_it_beats(improved):
    sentence = narrative.report_comparison_sentence(improved, REPORT, synthetic=False)
    above = [a for a in REPORT if round(improved[a], 3) > REPORT[a]]
    if len(above) == len(REPORT):
        assert "beats the report on every attribute" in sentence
    elif not above:
        assert "does not beat the report on any attribute" in sentence
    else:
        beats, rest = sentence.split(" but not on ")
        assert _names(beats) == above
        assert _names(rest) == [a for a in REPORT if a not in above]
    for a in REPORT:
        assert f"({improved[a]:.3f} against {REPORT[a]:.3f})" in sentence


def test_on_synthetic_data_the_report_comparison_names_no_winner():
    sentence = narrative.report_comparison_sentence(
        {"Male": 0.99, "Eyeglasses": 0.99, "Smiling": 0.99}, REPORT, synthetic=True)
    assert "beat" not in sentence and "two recipes" in sentence


# --------------------------------------------------------------------------------------------
# The chapter uses them, and its headings claim nothing the numbers could contradict


def test_chapter_3_writes_its_conclusions_with_the_package():
    text = (BOOK / "03_three_attributes.md").read_text()
    for name in ("learning_sentence", "recipe_comparison_sentence",
                 "report_comparison_sentence", "hardest_attribute_sentence"):
        assert f"cl.{name}(" in text, name
    attributes = ("Male", "Eyeglasses", "Smiling")
    for heading in re.findall(r"^#+ .*$", text, re.M):
        if re.search(r"hardest|easiest|better|worse|beats", heading, re.I):
            assert not any(a in heading for a in attributes), heading


def test_a_zero_width_interval_at_the_edge_is_not_reported_as_certainty():
    from celeba_lab.narrative import share_with_interval

    none = share_with_interval(0.0, 0.0, 0.0, 300, "women")
    assert "[0.0%, 0.0%]" not in none and "zero-width" in none and "under 1.0%" in none
    every = share_with_interval(1.0, 1.0, 1.0, 200, "men")
    assert "only men" in every and "over 98.5%" in every
    assert share_with_interval(0.5, 0.4, 0.6, 300, "women") == "50.0% women [40.0%, 60.0%]"
