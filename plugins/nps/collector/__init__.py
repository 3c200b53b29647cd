"""The survey collector (contract §6): a small public FastAPI service for answers and SendGrid events.

It writes only to `landing` as `nps_collector` (INSERT only) and imports nothing from Airflow: it ships as a slim
service of its own (`nps collector`, a docker-compose service). When the database is down, accepted answers go to a
local fsync'ed spool (`nps.collector.spool`) and are replayed later; nothing accepted is lost.
"""
