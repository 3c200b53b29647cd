"""One fake in a process of its own (the bench's clients must not share a GIL with it); prints its URL, then waits.

    python -m bench._fake onec --data DIR        -> the OData service root
    python -m bench._fake sendgrid --options '{"rate_limit": 1000000}'
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nps_dev.fakes import wait_for_stop


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=("onec", "sendgrid"))
    p.add_argument("--data", type=Path)
    p.add_argument("--options", default="{}")
    args = p.parse_args(argv)
    options = json.loads(args.options)
    if args.kind == "onec":
        from nps_dev.fakes.onec import OneCFake

        fake = OneCFake(args.data / "onec", **options).start()
        url = fake.service_root
    else:
        from nps_dev.fakes.sendgrid import SendGridFake

        fake = SendGridFake(args.data / "sendgrid" if args.data else None, **options).start()
        url = fake.base_url
    print(url, flush=True)
    wait_for_stop(fake)
    return 0


if __name__ == "__main__":
    sys.exit(main())
