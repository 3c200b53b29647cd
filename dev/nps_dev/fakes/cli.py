"""`nps fakes`: the fake 1C, Bitrix24 and SendGrid in the foreground (Ctrl-C stops them).

Data: `NPS_FAKE_DATA` (a directory in the generator's layout) or `--data`; by default demo data is generated once
under `.nps/fake-data`. Ports: NPS_FAKE_ONEC_PORT (18081), NPS_FAKE_CRM_PORT (18082), NPS_FAKE_SENDGRID_PORT (18083).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _default_data() -> Path:
    from nps.config import state_dir

    path = state_dir() / "fake-data"
    if not (path / "meta" / "summary.json").exists():
        from nps_dev.generator import GeneratorConfig, generate

        print(f">> generating demo data into {path}")
        generate(path, GeneratorConfig())
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nps fakes", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=os.environ.get("NPS_FAKE_DATA") or None)
    p.add_argument("--onec-port", type=int, default=int(os.environ.get("NPS_FAKE_ONEC_PORT", 18081)))
    p.add_argument("--crm-port", type=int, default=int(os.environ.get("NPS_FAKE_CRM_PORT", 18082)))
    p.add_argument("--sendgrid-port", type=int, default=int(os.environ.get("NPS_FAKE_SENDGRID_PORT", 18083)))
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests answered with a 500")
    args = p.parse_args(argv)
    data = args.data or _default_data()
    if not data.is_dir():
        p.error(f"data directory {data} does not exist")

    from nps_dev.fakes import start_fakes, wait_for_stop

    stack = start_fakes(data, args.onec_port, args.crm_port, args.sendgrid_port, latency=args.latency,
                        error_rate=args.error_rate)
    print(f"fake 1C        {stack.onec_url}  (login odata / odata)")
    print(f"fake Bitrix24  {stack.crm_url}")
    print(f"fake SendGrid  {stack.sendgrid_url}  (API key {stack.sendgrid_api_key}; public key "
          f"{stack.sendgrid.public_key[:24]}…)")
    print(f"data           {data}\nCtrl-C to stop")
    wait_for_stop(stack)
    return 0
