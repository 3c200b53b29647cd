"""Local fakes of 1C OData, Bitrix24 and SendGrid (tests, the demo and benchmarks use them; product code never does).

    from nps_dev.fakes import start_fakes
    with start_fakes(data_dir) as stack:          # data_dir/onec/*.json, data_dir/crm/*.json, data_dir/sendgrid/
        stack.onec_url, stack.crm_url, stack.sendgrid_url
        stack.onec.upsert("Document_РеализацияТоваровУслуг", obj); stack.crm.upsert("crm.contact", obj)
        stack.sendgrid.messages(); stack.sendgrid.emit_events(url, events)
        os.environ.update(stack.airflow_env())

Options (keyword, all optional): `onec_base` ("demo"), `onec_user`/`onec_password` ("odata"), `crm_user` ("1"),
`crm_code` ("demo"), `crm_rate` (2.0/s), `crm_burst` (50), `crm_operating_limit` (480 s per method per 10 min), `sendgrid_api_key` ("SG.fake-demo-key"),
`sendgrid_rate_limit` (600 per `sendgrid_rate_window` 60 s), `latency` / `error_rate` (all three fakes) or the
per-fake `onec_latency`, `onec_error_rate`, `crm_latency`, `crm_error_rate`, `sendgrid_latency`,
`sendgrid_error_rate`; `onec_as_of` (None, a datetime or "clock": serve 1C as it stood then, see
`OneCFake.set_as_of`; the demo uses "clock" to replay weeks out of one generated data set).
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

from nps_dev.fakes.bitrix import Bitrix24Fake
from nps_dev.fakes.onec import OneCFake
from nps_dev.fakes.sendgrid import SendGridFake

_KNOWN = {"onec_base", "onec_user", "onec_password", "crm_user", "crm_code", "crm_rate", "crm_burst",
          "sendgrid_api_key", "sendgrid_rate_limit", "sendgrid_rate_window", "latency", "error_rate", "seed",
          "onec_latency", "onec_error_rate", "crm_latency", "crm_error_rate", "sendgrid_latency",
          "sendgrid_error_rate", "onec_as_of", "crm_operating_limit"}


class FakeStack:
    """The three running fakes; also a context manager that stops them."""

    def __init__(self, onec: OneCFake, crm: Bitrix24Fake, sendgrid: SendGridFake, sendgrid_api_key: str,
                 data_dir: Path | None = None) -> None:
        self.onec, self.crm, self.sendgrid = onec, crm, sendgrid
        self.sendgrid_api_key = sendgrid_api_key
        self.data_dir = data_dir

    @property
    def onec_url(self) -> str:
        return self.onec.service_root

    @property
    def crm_url(self) -> str:
        return self.crm.webhook_url

    @property
    def sendgrid_url(self) -> str:
        return self.sendgrid.base_url

    def airflow_env(self) -> dict[str, str]:
        """AIRFLOW_CONN_NPS_ONEC / _CRM / _SENDGRID (JSON form, as `nps_dev.envfile` writes them) for this stack."""
        return {
            "AIRFLOW_CONN_NPS_ONEC": json.dumps({"conn_type": "http", "host": self.onec_url,
                                                 "login": self.onec.user, "password": self.onec.password}),
            "AIRFLOW_CONN_NPS_CRM": json.dumps({"conn_type": "http", "host": self.crm_url}),
            "AIRFLOW_CONN_NPS_SENDGRID": json.dumps({"conn_type": "http", "host": self.sendgrid_url,
                                                     "password": self.sendgrid_api_key}),
        }

    def stop(self) -> None:
        for fake in (self.onec, self.crm, self.sendgrid):
            fake.stop()

    def __enter__(self) -> FakeStack:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_fakes(data_dir: Path, onec_port: int = 0, crm_port: int = 0, sendgrid_port: int = 0,
                **options) -> FakeStack:
    """Start the three fakes on 127.0.0.1 (port 0 = a free port) serving `data_dir`."""
    unknown = set(options) - _KNOWN
    if unknown:
        raise TypeError(f"start_fakes: unknown options {sorted(unknown)}")
    data_dir = Path(data_dir)

    def fault(prefix: str) -> dict:
        return {"latency": float(options.get(f"{prefix}_latency", options.get("latency", 0.0))),
                "error_rate": float(options.get(f"{prefix}_error_rate", options.get("error_rate", 0.0))),
                "seed": int(options.get("seed", 0))}

    onec_dir, crm_dir = data_dir / "onec", data_dir / "crm"
    key = options.get("sendgrid_api_key", "SG.fake-demo-key")
    started = []
    try:
        onec = OneCFake(onec_dir if onec_dir.is_dir() else None, base=options.get("onec_base", "demo"),
                        user=options.get("onec_user", "odata"), password=options.get("onec_password", "odata"),
                        **fault("onec")).start(onec_port)
        onec.set_as_of(options.get("onec_as_of"))
        started.append(onec)
        crm = Bitrix24Fake(crm_dir if crm_dir.is_dir() else None, user=str(options.get("crm_user", "1")),
                           code=options.get("crm_code", "demo"), rate=float(options.get("crm_rate", 2.0)),
                           burst=int(options.get("crm_burst", 50)),
                           operating_limit=float(options.get("crm_operating_limit", 480.0)), **fault("crm")).start(crm_port)
        started.append(crm)
        sendgrid = SendGridFake(data_dir / "sendgrid", api_keys=(key,),
                                rate_limit=int(options.get("sendgrid_rate_limit", 600)),
                                rate_window=float(options.get("sendgrid_rate_window", 60.0)),
                                **fault("sendgrid")).start(sendgrid_port)
        started.append(sendgrid)
    except BaseException:
        for fake in started:
            fake.stop()
        raise
    return FakeStack(onec, crm, sendgrid, key, data_dir)


__all__ = ["Bitrix24Fake", "FakeStack", "OneCFake", "SendGridFake", "start_fakes"]


def wait_for_stop(*servers) -> None:
    """Block until SIGTERM or Ctrl-C, then stop `servers` (anything with .stop()): a fake run as a process."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()
