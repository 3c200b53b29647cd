"""`nps collector [--host H] [--port P] [--workers N]`: run the collector with uvicorn (`make collector`)."""

from __future__ import annotations

import argparse
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nps collector", description="the survey collector (answers, SendGrid events)")
    parser.add_argument("--host", default=os.environ.get("NPS_COLLECTOR_HOST", "127.0.0.1"),
                        help="bind address (default 127.0.0.1; 0.0.0.0 inside a container)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("NPS_COLLECTOR_PORT", "18080")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("NPS_COLLECTOR_WORKERS", "1")))
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", action="store_true", help="skip per-request log lines (load tests)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from nps.collector.settings import from_env

    try:
        cfg = from_env()  # fail here with a clear message, not inside a worker
    except (RuntimeError, ValueError) as exc:
        print(f"nps collector: {exc}", file=sys.stderr)
        return 2
    if cfg.webhook_public_key:
        from nps.collector.webhook import load_public_key

        load_public_key(cfg.webhook_public_key)
    import uvicorn

    print(f"collector on http://{args.host}:{args.port}/  (spool: {cfg.spool_dir})", flush=True)
    uvicorn.run("nps.collector.app:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, access_log=not args.no_access_log,
                proxy_headers=True, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
