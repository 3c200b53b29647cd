"""The simulated comments are varied, and the classifier (nps.comments, not a lookup of the generator's phrases)
reads back most of what their writer meant."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from nps.comments import classify
from nps_dev.generator.comments import comment, topics_for
from nps_dev.generator.responses import ResponseModel


@pytest.mark.parametrize("language", ["uk", "ru", "en", "pl"])
def test_classifier_reads_what_the_generated_comments_mean(language):
    rng = random.Random(language)
    meant_total = found_total = hits = 0
    texts, themes = set(), Counter()
    for _ in range(400):
        category = rng.choice(["promoter", "passive", "detractor"])
        causes = rng.choice([[], [], ["delivery_time"], ["not_delivered"], ["completeness"],
                             ["delivery_time", "completeness"]]) if category != "promoter" else []
        text, meant = comment(rng, language, topics_for(rng, category, causes, not causes), days=rng.randint(1, 9))
        score = {"promoter": 9, "passive": 7, "detractor": 3}[category]
        found = {(t.theme, t.tone) for t in classify(text, language, score)}
        texts.add(text)
        themes.update(t for t, _ in found)
        meant_total, found_total, hits = meant_total + len(meant), found_total + len(found), hits + len(meant & found)
    precision, recall = hits / found_total, hits / meant_total
    assert len(texts) > 150, "varied: templates x vocabulary, not a few fixed phrases"
    assert len(themes) >= 6
    print(f"{language}: precision {precision:.2f}, recall {recall:.2f}, {len(texts)} distinct comments")
    assert precision >= 0.85 and recall >= 0.8, (precision, recall)


def test_answers_carry_varied_comments():
    model = ResponseModel(seed=3)
    facts = {"segment": "developer", "language": "uk", "delay_days": 5, "in_full": False}
    comments = [a.comment for i in range(400) if (a := model.decide(facts, random.Random(i))) and a.comment]
    assert len(set(comments)) > 0.7 * len(comments) > 30
