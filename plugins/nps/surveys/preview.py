"""Preview the survey e-mail as one customer gets it: `python -m nps.surveys.preview --language uk --out x.html`.

With `--png` it also takes a screenshot with headless Chromium (`chromium`, Debian's package), as the README's
docs/img/survey_email_uk.png was made. The token is signed with a throw-away preview secret, not the real one.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from nps import tokens
from nps.i18n import LANGUAGES
from nps.surveys import render

PREVIEW_SECRET = "preview-only-not-a-real-secret"
SAMPLE_NAMES = {"uk": "Олена", "ru": "Ольга", "en": "Helen", "pl": "Helena"}


def write_preview(language: str, kind: str, out: Path, base_url: str = "https://nps.example.com") -> Path:
    token = tokens.mint("preview-survey", issued_at=datetime(2026, 3, 2, 8, tzinfo=UTC), secret=PREVIEW_SECRET)
    email = render.render_for(language, kind, base_url, token, SAMPLE_NAMES[language])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(email.html, encoding="utf-8")
    out.with_suffix(".txt").write_text(f"Subject: {email.subject}\n\n{email.text}", encoding="utf-8")
    return out


def screenshot(html: Path, png: Path, size: str = "700,640") -> Path:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        raise RuntimeError("no Chromium found: apt-get install -y chromium")
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={png.resolve()}", f"--window-size={size}", html.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nps.surveys.preview", description=__doc__.splitlines()[0])
    parser.add_argument("--language", choices=LANGUAGES, default=LANGUAGES[0])
    parser.add_argument("--kind", choices=render.KINDS, default="invite")
    parser.add_argument("--out", type=Path, default=Path("survey_email.html"))
    parser.add_argument("--png", type=Path, help="also write a screenshot here")
    args = parser.parse_args(argv)
    html = write_preview(args.language, args.kind, args.out)
    print(html)
    if args.png:
        print(screenshot(html, args.png))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
