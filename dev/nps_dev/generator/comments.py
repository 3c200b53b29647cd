"""The simulated customers' comments: clauses that praise or blame one theme each, picked from the answer's facts
and score, written from templates × vocabulary in uk / ru / en / pl, joined by "but", now and then with an emoji, a
typo or a clause in a second language (surzhyk, an English phrase). The demo's theme marts are then the
classifier's reading of varied text (`nps.comments`), not a lookup of a few fixed phrases.

    text, meant = comment(rng, "uk", [("delivery_time", "-"), ("manager", "+")], days=4)
    # "Доставка затрималася на 4 дні, але менеджер молодець 👍", {("delivery_time", "-"), ("manager", "+")}

`meant` is what the writer meant (theme, tone): dev/tests measure how much of it the classifier finds.
"""

from __future__ import annotations

import random

# language -> (theme, tone) -> clause templates; {days} is the delay. Every template names its theme once.
CLAUSES: dict[str, dict[tuple[str, str], list[str]]] = {
    "uk": {
        ("delivery_time", "-"): ["доставка затрималася на {days} дні", "{thing} привезли на {days} дні пізніше",
                                 "знову запізнилися з доставкою", "чекали на доставку {days} дні"],
        ("delivery_time", "+"): ["доставка вчасно", "{thing} привезли швидко", "доставка наступного дня",
                                 "доставили навіть раніше терміну"],
        ("not_delivered", "-"): ["{thing} досі не привезли", "доставки так і не дочекалися"],
        ("order_accuracy", "-"): ["привезли не все, недовезли {thing}", "привезли не той колір", "у замовленні не вистачало {thing}"],
        ("delivery_service", "+"): ["водій допоміг розвантажити", "кур'єр дуже ввічливий", "водій попередив заздалегідь"],
        ("delivery_service", "-"): ["водій не попередив про приїзд", "кур'єр був грубий"],
        ("manager", "+"): ["менеджер молодець", "менеджер завжди на зв'язку", "менеджер швидко все вирішив"],
        ("manager", "-"): ["менеджер не передзвонив", "менеджер не відповідає на дзвінки"],
        ("price", "+"): ["ціни найкращі в місті", "ціна приємна"],
        ("price", "-"): ["дорого", "ціни зросли, конкуренти дешевше"],
        ("product_quality", "+"): ["якість {thing} відмінна", "якісний товар"],
        ("product_quality", "-"): ["якість {thing} погана", "{thing} неякісні"],
    },
    "ru": {
        ("delivery_time", "-"): ["доставка задержалась на {days} дня", "{thing} привезли на {days} дня позже",
                                 "опять опоздали с доставкой", "ждали доставку {days} дня"],
        ("delivery_time", "+"): ["доставка вовремя", "{thing} привезли быстро", "доставка на следующий день",
                                 "доставили даже раньше срока"],
        ("not_delivered", "-"): ["{thing} до сих пор не привезли", "доставку так и не дождались"],
        ("order_accuracy", "-"): ["привезли не всё, не довезли {thing}", "привезли не тот цвет", "в заказе не хватило {thing}"],
        ("delivery_service", "+"): ["водитель помог с разгрузкой", "курьер очень вежливый"],
        ("delivery_service", "-"): ["водитель не предупредил о приезде", "курьер был груб"],
        ("manager", "+"): ["менеджер молодец", "менеджер всегда на связи", "менеджер быстро всё решил"],
        ("manager", "-"): ["менеджер не перезвонил", "менеджер не берёт трубку"],
        ("price", "+"): ["лучшие цены в городе", "цена приятная"],
        ("price", "-"): ["дорого", "цены выросли, у конкурентов дешевле"],
        ("product_quality", "+"): ["качество {thing} отличное", "качественный товар"],
        ("product_quality", "-"): ["качество {thing} плохое", "{thing} некачественные"],
    },
    "en": {
        ("delivery_time", "-"): ["the delivery was {days} days late", "the {thing} arrived {days} days late",
                                 "late delivery again", "we waited {days} days for the delivery"],
        ("delivery_time", "+"): ["delivery on time", "the {thing} arrived fast", "next day delivery",
                                 "delivered a day early"],
        ("not_delivered", "-"): ["the {thing} never arrived", "still not delivered"],
        ("order_accuracy", "-"): ["the {thing} were missing from the order", "wrong colour delivered",
                                  "the order was incomplete"],
        ("delivery_service", "+"): ["the driver helped us unload", "the courier was very polite"],
        ("delivery_service", "-"): ["the driver didn't call ahead", "the courier was rude"],
        ("manager", "+"): ["our manager is great", "the sales manager is always available"],
        ("manager", "-"): ["the manager never called back", "our manager doesn't answer the phone"],
        ("price", "+"): ["best prices in town", "good prices"],
        ("price", "-"): ["too expensive", "prices went up, competitors are cheaper"],
        ("product_quality", "+"): ["excellent quality of the {thing}", "great quality"],
        ("product_quality", "-"): ["poor quality of the {thing}", "bad quality"],
    },
    "pl": {
        ("delivery_time", "-"): ["dostawa spóźniła się o {days} dni", "towar przyjechał {days} dni później",
                                 "znowu spóźniona dostawa", "na dostawę czekaliśmy {days} dni"],
        ("delivery_time", "+"): ["dostawa na czas", "szybka dostawa", "dostawa następnego dnia",
                                 "przyjechało dzień wcześniej"],
        ("not_delivered", "-"): ["towar do dziś nie dotarł", "zamówienie nigdy nie dotarło"],
        ("order_accuracy", "-"): ["zabrakło części zamówienia", "przywieźli nie ten kolor", "niekompletne zamówienie"],
        ("delivery_service", "+"): ["kierowca pomógł rozładować", "kurier bardzo uprzejmy"],
        ("delivery_service", "-"): ["kierowca nie uprzedził o przyjeździe", "kurier był niemiły"],
        ("manager", "+"): ["handlowiec jest świetny", "opiekun zawsze dostępny"],
        ("manager", "-"): ["handlowiec nie oddzwonił", "opiekun nie odbiera telefonu"],
        ("price", "+"): ["najlepsze ceny w okolicy", "dobre ceny"],
        ("price", "-"): ["za drogo", "ceny wzrosły, u konkurencji taniej"],
        ("product_quality", "+"): ["świetna jakość", "jakość bardzo dobra"],
        ("product_quality", "-"): ["słaba jakość", "jakość fatalna"],
    },
}
THINGS = {"uk": ["плитку", "гіпсокартон", "профілі", "мішки цементу", "фарбу"],
          "ru": ["плитку", "гипсокартон", "профили", "мешки цемента", "краску"],
          "en": ["tiles", "plasterboard", "profiles", "cement bags", "paint"],
          "pl": ["płytki", "płyty", "profile", "worki cementu", "farbę"]}
BUT = {"uk": "але", "ru": "но", "en": "but", "pl": "ale"}
NO_THEME = {"uk": ["Дякую!", "Все супер", "Загалом нормально", "Без коментарів"],
            "ru": ["Спасибо!", "Всё супер", "В целом нормально"],
            "en": ["Thanks!", "All good", "Fine overall"],
            "pl": ["Dziękuję!", "Wszystko super", "Ogólnie w porządku"]}
EMOJI = {"+": ["👍", "🙂", "🔥"], "-": ["😡", "👎", "😞"]}
SECOND = {"uk": "ru", "ru": "uk", "en": "en", "pl": "en"}  # a clause in the other language a customer mixes in


def _typo(rng: random.Random, text: str) -> str:
    """Two neighbouring letters swapped inside one long word (not its first two)."""
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 8 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(2, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


def comment(rng: random.Random, language: str, topics: list[tuple[str, str]], days: int = 3
            ) -> tuple[str, set[tuple[str, str]]]:
    """A comment saying `topics` ((theme, tone); theme `not_delivered` is delivery_time), and what it means."""
    if not topics:
        return rng.choice(NO_THEME[language]), set()
    clauses, meant = [], set()
    for n, (topic, tone) in enumerate(topics):
        lang = SECOND[language] if n and rng.random() < 0.15 else language
        template = rng.choice(CLAUSES[lang][(topic, tone)])
        clauses.append(template.format(days=max(days, 2), thing=rng.choice(THINGS[lang])))
        meant.add(("delivery_time" if topic == "not_delivered" else topic, tone))
    tones = [tone for _, tone in topics]
    text = clauses[0]
    for clause, tone, previous in zip(clauses[1:], tones[1:], tones, strict=False):
        text += f", {BUT[language]} {clause}" if tone != previous else f". {clause[0].upper()}{clause[1:]}"
    text = text[0].upper() + text[1:]
    if rng.random() < 0.1:
        text = _typo(rng, text)
    if rng.random() < 0.2 and len(set(tones)) == 1:
        text += " " + rng.choice(EMOJI[tones[0]])
    elif rng.random() < 0.5:
        text += "."
    return text, meant


def topics_for(rng: random.Random, category: str, causes: list[str], on_time: bool) -> list[tuple[str, str]]:
    """What a customer writes about: the causes of a low score first, then now and then one more thing in the
    score's tone (a promoter praises, a detractor mostly blames); sometimes nothing in particular."""
    topics = [("not_delivered" if c == "not_delivered" else "order_accuracy" if c == "completeness" else c, "-")
              for c in causes]
    if category == "promoter" and on_time and rng.random() < 0.5:
        topics.append(("delivery_time", "+"))
    if not topics or rng.random() < 0.35:
        tone = "+" if category == "promoter" else "-" if category == "detractor" and rng.random() < 0.8 else \
            rng.choice("+-")
        others = [t for t in ("manager", "price", "product_quality", "delivery_service")
                  if t not in {x for x, _ in topics}]
        topics.append((rng.choice(others), tone))
    if rng.random() < 0.1 and category != "detractor":
        return []
    return topics
