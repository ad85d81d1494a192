"""Training pairs for `tasksift adapt --examples`: same-label pairs and the held-out split."""

from __future__ import annotations

from tasksift.adapt.examples import PARTNERS, example_pairs, split_examples

EXAMPLES = [("a", f"a text {n}") for n in range(10)] + [("b", f"b text {n}") for n in range(3)]
EXAMPLES += [("c", "c alone"), ("d", "d one"), ("d", "d two")]


def test_a_fifth_of_each_label_with_three_or_more_is_held_out() -> None:
    training, held = split_examples(EXAMPLES, seed=1)
    assert sorted(label for label, _ in held) == ["a", "a", "b"]
    assert sorted(training + held) == sorted(EXAMPLES)
    assert split_examples(EXAMPLES, seed=1) == (training, held)


def test_pairs_join_examples_of_one_label_only() -> None:
    pairs = example_pairs(EXAMPLES, seed=1)
    label_of = {text: label for label, text in EXAMPLES}
    assert all(label_of[p.query] == label_of[p.text] == p.group for p in pairs)
    assert all(p.query != p.text and p.kind == "example" for p in pairs)
    assert sum(p.group == "a" for p in pairs) == 10 * PARTNERS  # linear, not 10 * 9
    assert sum(p.group == "d" for p in pairs) == 2 and not any(p.group == "c" for p in pairs)
