"""The QR code on the 1C invoice (issue 23): a sale's signed survey link and its picture; `nps qr`.

The link is `<NPS_COLLECTOR_BASE_URL>/q/<token>`, the token `tokens.mint_qr` of the sale's survey (the survey id dbt
gives the purchase, so a QR answer and an e-mail answer are answers to one survey): it cannot be guessed or altered
and carries no personal data. 1C cannot compute our HMAC, so its print form asks the collector for the picture
(`GET /qr/{sale_ref}.png`, HTTP Basic with `NPS_QR_API_KEY`), or someone runs `nps qr --sale <Ref_Key>`.
"""

from __future__ import annotations

import argparse
import io
import re
import sys

import segno

from nps import tokens
from nps.config import settings
from nps.i18n import LANGUAGES

SALE_REF = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
MEDIA_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


def sale_ref(value: str) -> str:
    """A 1C document Ref_Key as OData writes it (a GUID in lower case); ValueError for anything else."""
    ref = value.strip().lower()
    if not SALE_REF.match(ref) or ref == EMPTY_REF:
        raise ValueError(f"{value!r:.60} is not a 1C document Ref_Key (a GUID)")
    return ref


def link(ref: str, lang: str | None = None, base_url: str | None = None, secret: str | None = None) -> str:
    """The scan URL of a sale; `lang` (uk, ru, en, pl) fixes the page's language, else the phone's language decides."""
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}")
    token = tokens.mint_qr(tokens.sale_survey_id(sale_ref(ref)), secret=secret)
    base = (base_url or settings().collector_base_url).rstrip("/")
    return f"{base}/q/{token}" + (f"?lang={lang}" if lang else "")


def image(url: str, kind: str) -> bytes:
    """The QR code of `url` as SVG or PNG (segno: pure Python, no Pillow)."""
    code = segno.make(url, error="m", micro=False)  # level M: a crease or a smudge on paper still scans
    out = io.BytesIO()
    code.save(out, kind=kind, scale=8 if kind == "png" else 4, border=4)  # PNG: ~350 px, sharp on a 300 dpi print
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nps qr", description="the survey link of a 1C sale and its QR code")
    parser.add_argument("--sale", required=True, help="the sale's Ref_Key (Document_РеализацияТоваровУслуг)")
    parser.add_argument("--format", choices=("url", *MEDIA_TYPES), default="url")
    parser.add_argument("--lang", choices=LANGUAGES, help="the survey page's language (default: the phone's)")
    parser.add_argument("--out", help="write to this file (default: standard output)")
    args = parser.parse_args(argv)
    try:
        url = link(args.sale, args.lang)
    except (ValueError, RuntimeError) as exc:
        print(f"nps qr: {exc}", file=sys.stderr)
        return 2
    data = (url + "\n").encode() if args.format == "url" else image(url, args.format)
    if args.out:
        with open(args.out, "wb") as handle:
            handle.write(data)
    else:
        sys.stdout.buffer.write(data)
    return 0
