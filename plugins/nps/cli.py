"""`nps` command line: the verbs behind the Makefile targets.

The product's verbs are in PRODUCT; any installed distribution adds its own through the `nps.commands` entry-point
group (the development package `nps-dev` adds fakes, generate, demo, env and db-*), so this package never imports
development code and a production install simply has fewer verbs.
"""

from __future__ import annotations

import importlib
import logging
import sys
from importlib.metadata import entry_points

log = logging.getLogger("nps")

# `nps <name> [args...]` calls `<module>.main(args)`; each module keeps its own argument parsing.
PRODUCT = {
    "collector": ("nps.collector.cli:main", "run the survey collector"),
    "quality": ("nps.quality.cli:main", "data-quality gates by hand: raw | drift | summary"),
    "comments": ("nps.comments.cli:main", "customer comments, offline: classify (themes with a tone)"),
    "qr": ("nps.collector.qr:main", "the survey link and QR code of a 1C sale, for the invoice"),
    "kiosk": ("nps.collector.kiosk:main", "shop kiosks: add | revoke | list locations and their tokens"),
    "bi": ("nps.bi:main", "the Superset dashboard: setup | serve | bundle | managers (in Superset's venv)"),
}


def commands() -> dict[str, tuple[str, str]]:
    """Verb -> (module:function, help): the product's, then those other installed distributions register."""
    found = dict(PRODUCT)
    for ep in entry_points(group="nps.commands"):
        found.setdefault(ep.name, (ep.value, f"from {ep.dist.name if ep.dist else 'a plugin'}"))
    return found


def usage(found: dict[str, tuple[str, str]]) -> str:
    width = max(map(len, found))
    lines = [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in sorted(found.items())]
    return "usage: nps <command> [args...]\n\ncommands:\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    found = commands()
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(found))
        return 0 if argv else 2
    if argv[0] not in found:
        print(f"nps: unknown command {argv[0]!r}\n\n{usage(found)}", file=sys.stderr)
        return 2
    module_name, _, function = found[argv[0]][0].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        print(f"nps {argv[0]}: not installed here ({exc}); development verbs come with `pip install -e dev`",
              file=sys.stderr)
        return 2
    return int(getattr(module, function or "main")(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
