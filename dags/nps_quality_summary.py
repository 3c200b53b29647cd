"""
### nps_quality_summary: the daily data-quality e-mail to the data team

Every morning at 07:00 (Europe/Kyiv) summarises the previous day: failed checks of every gate run (counts and sample
keys from `quality.expectation_results`), the alerts raised (`quality.alerts`) and the NPS drift of the month, and
e-mails it through SendGrid (`nps_sendgrid`) to `NPS_DQ_SUMMARY_EMAILS` (else `NPS_ALERT_EMAILS`). Without
recipients the summary is written to the task log only. Logic: `plugins/nps/quality/summary.py`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronTriggerTimetable, dag, task

from nps.dag_defaults import DAG_KWARGS, TIMEZONE


@dag(
    dag_id="nps_quality_summary",
    schedule=CronTriggerTimetable("0 7 * * *", timezone=TIMEZONE, interval=timedelta(days=1)),
    **DAG_KWARGS,
    tags=["nps", "quality", "alerts"],
    doc_md=__doc__,
)
def nps_quality_summary():
    @task
    def send_summary(data_interval_start=None) -> dict:
        import logging

        from nps.connections import warehouse_dsn
        from nps.quality.settings import quality_settings
        from nps.quality.summary import build_daily_summary, send_daily_summary

        day = data_interval_start.in_timezone(TIMEZONE).date()
        dsn = warehouse_dsn()
        if quality_settings().summary_emails:
            summary = send_daily_summary(dsn, day)
        else:
            summary = build_daily_summary(dsn, day)
            logging.getLogger(__name__).warning("no NPS_DQ_SUMMARY_EMAILS / NPS_ALERT_EMAILS: summary not e-mailed\n%s",
                                                summary.text)
        return {"day": day.isoformat(), "failed_checks": len(summary.failed), "alerts": len(summary.alerts),
                "drifts": len(summary.drifts)}

    send_summary()


nps_quality_summary()
