import json

from nps import connections


def test_http_connection_with_service_root(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NPS_ONEC", json.dumps(
        {"conn_type": "http", "host": "http://127.0.0.1:18081/demo/odata/standard.odata/", "login": "odata",
         "password": "odata"}))
    conn = connections.get("nps_onec")
    assert conn.base_url == "http://127.0.0.1:18081/demo/odata/standard.odata/"
    assert (conn.login, conn.password) == ("odata", "odata")


def test_uri_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NPS_WAREHOUSE", "postgresql://u%40x:p%2Fw@db.example.com:6543/wh")
    conn = connections.get("nps_warehouse")
    assert conn.conn_type == "postgres"
    assert conn.postgres_url == "postgresql://u%40x:p%2Fw@db.example.com:6543/wh"


def test_host_without_scheme(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NPS_SENDGRID", json.dumps({"conn_type": "http", "host": "api.sendgrid.com",
                                                                 "password": "SG.x"}))
    assert connections.get("nps_sendgrid").base_url == "https://api.sendgrid.com/"
