"""Customer comments: offline enrichment (language, lemmas, negation, clauses) and themes with a tone each.

    from nps.comments import classify, enrich, format_themes
    classify("Доставка вчасно, але менеджер не передзвонив", "uk", score=6)
    # [Theme(theme='delivery_time', tone='+', source='rule'), Theme(theme='manager', tone='-', source='rule')]

Everything runs on this machine: simplemma's dictionaries come inside its wheel, the themes from `themes.yml`
beside this file (a business user extends it; see its header). `nps comments classify` is the same code over a CSV.
"""

from nps.comments.classify import Theme, classify, format_themes, score_tone, themes_of
from nps.comments.dictionary import THEMES, Dictionary, load
from nps.comments.enrich import Clause, Enrichment, Word, enrich, normalize

__all__ = ["THEMES", "Clause", "Dictionary", "Enrichment", "Theme", "Word", "classify", "enrich", "format_themes",
           "load", "normalize", "score_tone", "themes_of"]
