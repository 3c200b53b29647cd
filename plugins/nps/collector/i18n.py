"""Page texts in the survey languages (uk, ru, en, pl) and the language choice for a request."""

from __future__ import annotations

LANGUAGES = ("uk", "ru", "en", "pl")
REASONS = ("delivery_speed", "delivery_accuracy", "product_quality", "price", "service", "other")

TEXTS: dict[str, dict[str, str]] = {
    "uk": {
        "title": "Опитування",
        "question": "Наскільки ймовірно, що ви порекомендуєте нас другові чи колезі?",
        "low": "Зовсім малоймовірно", "high": "Дуже ймовірно",
        "your_score": "Ваша оцінка", "saved": "Оцінку збережено. Дякуємо!",
        "reasons": "Що найбільше вплинуло на оцінку?",
        "delivery_speed": "Швидкість доставки", "delivery_accuracy": "Точність доставки",
        "product_quality": "Якість товару", "price": "Ціна", "service": "Менеджер / обслуговування",
        "other": "Інше",
        "comment": "Коментар (необов'язково)", "submit": "Надіслати",
        "thanks_title": "Дякуємо!", "thanks": "Вашу відповідь отримано. Ви допомагаєте нам ставати кращими.",
        "expired_title": "Опитування завершено",
        "expired": "Термін дії цього посилання минув. Дякуємо, що знайшли час!",
        "missing_title": "Опитування не знайдено", "missing": "Перевірте посилання з листа.",
        "invalid_title": "Не вдалося зберегти", "invalid": "Перевірте відповідь і спробуйте ще раз.",
        "busy_title": "Забагато запитів", "busy": "Будь ласка, спробуйте трохи пізніше.",
        "back": "Назад до опитування",
    },
    "ru": {
        "title": "Опрос",
        "question": "Насколько вероятно, что вы порекомендуете нас другу или коллеге?",
        "low": "Совсем маловероятно", "high": "Очень вероятно",
        "your_score": "Ваша оценка", "saved": "Оценка сохранена. Спасибо!",
        "reasons": "Что больше всего повлияло на оценку?",
        "delivery_speed": "Скорость доставки", "delivery_accuracy": "Точность доставки",
        "product_quality": "Качество товара", "price": "Цена", "service": "Менеджер / обслуживание",
        "other": "Другое",
        "comment": "Комментарий (необязательно)", "submit": "Отправить",
        "thanks_title": "Спасибо!", "thanks": "Ваш ответ получен. Вы помогаете нам становиться лучше.",
        "expired_title": "Опрос завершён",
        "expired": "Срок действия этой ссылки истёк. Спасибо, что нашли время!",
        "missing_title": "Опрос не найден", "missing": "Проверьте ссылку из письма.",
        "invalid_title": "Не удалось сохранить", "invalid": "Проверьте ответ и попробуйте ещё раз.",
        "busy_title": "Слишком много запросов", "busy": "Пожалуйста, попробуйте немного позже.",
        "back": "Назад к опросу",
    },
    "en": {
        "title": "Survey",
        "question": "How likely are you to recommend us to a friend or colleague?",
        "low": "Not at all likely", "high": "Extremely likely",
        "your_score": "Your score", "saved": "Your score is saved. Thank you!",
        "reasons": "What mattered most for your score?",
        "delivery_speed": "Delivery speed", "delivery_accuracy": "Delivery accuracy",
        "product_quality": "Product quality", "price": "Price", "service": "Manager / service",
        "other": "Other",
        "comment": "Comment (optional)", "submit": "Send",
        "thanks_title": "Thank you!", "thanks": "We have received your answer. It helps us get better.",
        "expired_title": "This survey has closed",
        "expired": "This link has expired. Thank you for taking the time!",
        "missing_title": "Survey not found", "missing": "Please check the link in your e-mail.",
        "invalid_title": "Could not save", "invalid": "Please check your answer and try again.",
        "busy_title": "Too many requests", "busy": "Please try again a little later.",
        "back": "Back to the survey",
    },
    "pl": {
        "title": "Ankieta",
        "question": "Jak bardzo prawdopodobne jest, że polecisz nas znajomemu lub współpracownikowi?",
        "low": "Zupełnie nieprawdopodobne", "high": "Bardzo prawdopodobne",
        "your_score": "Twoja ocena", "saved": "Ocena zapisana. Dziękujemy!",
        "reasons": "Co najbardziej wpłynęło na ocenę?",
        "delivery_speed": "Szybkość dostawy", "delivery_accuracy": "Dokładność dostawy",
        "product_quality": "Jakość produktu", "price": "Cena", "service": "Opiekun / obsługa",
        "other": "Inne",
        "comment": "Komentarz (opcjonalnie)", "submit": "Wyślij",
        "thanks_title": "Dziękujemy!", "thanks": "Otrzymaliśmy Twoją odpowiedź. Pomagasz nam być lepszymi.",
        "expired_title": "Ankieta zakończona",
        "expired": "Ten link wygasł. Dziękujemy za poświęcony czas!",
        "missing_title": "Nie znaleziono ankiety", "missing": "Sprawdź link z wiadomości e-mail.",
        "invalid_title": "Nie udało się zapisać", "invalid": "Sprawdź odpowiedź i spróbuj ponownie.",
        "busy_title": "Zbyt wiele żądań", "busy": "Spróbuj ponownie za chwilę.",
        "back": "Wróć do ankiety",
    },
}


def choose(query_lang: str | None, accept_language: str | None, default: str = "uk") -> str:
    """`?lang=` (the sender appends the survey's language to every link) wins; then Accept-Language; then default."""
    if query_lang:
        code = query_lang.strip().lower()[:2]
        if code in LANGUAGES:
            return code
    if accept_language:
        ranked = []
        for i, part in enumerate(accept_language.split(",")[:20]):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            ranked.append((-quality, i, tag.strip().lower()[:2]))
        for _, _, code in sorted(ranked):
            if code in LANGUAGES:
                return code
    return default if default in LANGUAGES else "uk"
