"""The dashboard's login: nothing without it, sessions that expire, CSRF, the API token,
slower answers to wrong passwords, and the password never in a log."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from edgewatch.errors import EdgewatchError
from edgewatch.web.server import WebServer

from .tools import API_TOKEN, PASSWORD, Client, make_config


def test_pages_redirect_to_the_login_and_the_api_answers_401(client):
    for page in ("/", "/panels", "/events", "/system"):
        answer = client.get(page + "?camera=yard")
        assert answer.status == 303, page
        assert answer.headers["Location"] == f"/login?next=%2F{page[1:]}%3Fcamera%3Dyard"
    for path in ("/api/cameras", "/api/events", "/api/counts", "/api/system",
                 "/api/panels/yard", "/api/snapshots/yard/x.jpg", "/api/openapi.json",
                 "/api/docs", "/api/session", "/static/common.js"):  # fmt: skip
        answer = client.get(path)
        assert answer.status == 401, path
        assert answer.json() == {"detail": "log in first"}
    assert client.post("/api/logout").status == 401


def test_the_login_page_and_its_assets_need_no_session(client):
    assert client.get("/login").status == 200
    assert b"login-form" in client.get("/login").body
    assert client.get("/static/login.js").status == 200
    assert client.get("/static/style.css").status == 200


def test_login_gives_an_httponly_strict_cookie_and_opens_everything(client):
    answer = client.login()
    assert answer.status == 200
    assert answer.json()["ok"] is True and len(answer.json()["csrf"]) > 20
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # served over plain http here
    assert client.get("/api/session").json() == {"user": "admin", "csrf": client.csrf}
    for path in ("/", "/events", "/api/cameras", "/api/openapi.json", "/api/docs",
                 "/static/common.js"):  # fmt: skip
        assert client.get(path).status == 200, path
    docs = client.get("/api/docs").body.decode()
    assert "/api/events" in docs and "cdn" not in docs.lower()


def test_a_wrong_password_or_user_is_refused(client):
    assert client.login(password="wrong").status == 401
    time.sleep(0.6)  # the penalty of the first failure
    answer = client.login(username="root")
    assert answer.status == 401
    assert answer.json() == {"detail": "wrong user name or password"}
    assert client.get("/api/cameras").status == 401


def test_failed_logins_are_answered_slower_and_parallel_tries_refused(client, server):
    started = time.monotonic()
    assert client.login(password="wrong").status == 401
    first = time.monotonic() - started
    started = time.monotonic()
    assert client.login(password="wrong").status == 401
    second = time.monotonic() - started
    assert first >= 0.45 and second >= 0.95 and second > first
    # A guess sent while the client is penalised is refused without a look at it.
    guesser = Client(server.url)
    results = []
    worker = threading.Thread(target=lambda: results.append(client.login(password="wrong")))
    worker.start()
    time.sleep(0.3)
    answer = guesser.login()  # even the right password must wait its turn
    worker.join()
    assert answer.status == 429 and "Retry-After" in answer.headers
    guesser.close()


def test_a_form_post_logs_in_and_goes_on_to_a_page_of_this_site_only(client):
    body = b"username=admin&password=" + PASSWORD.encode() + b"&next=%2Fevents"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = client.request("POST", "/api/login", body, form)
    assert answer.status == 303 and answer.headers["Location"] == "/events"
    body = body.replace(b"%2Fevents", b"%2F%2Fevil.example")
    answer = client.request("POST", "/api/login", body, form)
    assert answer.status == 303 and answer.headers["Location"] == "/"


def test_posts_need_the_csrf_token_and_the_same_origin(logged_in):
    client = logged_in
    assert client.post("/api/logout", csrf=False).status == 403
    assert client.post("/api/logout", csrf=False, **{"X-CSRF-Token": "forged"}).status == 403
    evil = client.post("/api/logout", Origin="http://evil.example")
    assert evil.status == 403
    assert client.get("/api/session").status == 200  # still logged in
    # A login posted from another site is refused too (login CSRF).
    cross = client.request("POST", "/api/login", {"username": "admin", "password": PASSWORD},
                           {"Origin": "http://evil.example"})  # fmt: skip
    assert cross.status == 403
    answer = client.post("/api/logout", Origin=client.origin)
    assert answer.status == 200 and "Max-Age=0" in answer.headers["Set-Cookie"]
    assert client.get("/api/session").status == 401
    assert client.get("/").status == 303


def test_sessions_expire(tmp_path, port):
    config = make_config(tmp_path, port, session_ttl="1s")
    with WebServer(config) as server:
        client = Client(server.url)
        assert client.login().status == 200
        assert "Max-Age=1" in client.login().headers["Set-Cookie"]
        assert client.get("/api/cameras").status == 200
        time.sleep(1.2)
        assert client.get("/api/cameras").status == 401
        assert client.get("/events").status == 303
        client.close()


def test_the_api_token_opens_the_api_without_a_session(client):
    bearer = {"Authorization": f"Bearer {API_TOKEN}"}
    assert client.request("GET", "/api/cameras", headers=bearer).status == 200
    assert client.request("GET", "/api/session", headers=bearer).json() == {
        "user": "token",
        "csrf": None,
    }
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.request("GET", "/api/cameras", headers=wrong).status == 401
    assert client.request("GET", "/api/cameras", headers={"Authorization": "Basic x"}).status == 401


def test_the_start_line_names_the_address_and_where_the_password_is(
    tmp_path, port, monkeypatch, caplog
):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("EDGEWATCH_WEB_PASSWORD", raising=False)
    config = make_config(tmp_path, port, password=None)
    caplog.set_level(logging.INFO, logger="edgewatch")
    with WebServer(config) as server:
        generated = tmp_path / "state" / "edgewatch" / "web-password"
        line = f"web: http://127.0.0.1:{port} (user admin, password in {generated})"
        assert line in caplog.text
        client = Client(server.url)
        assert client.login(password=generated.read_text().strip()).status == 200
        client.close()
    caplog.clear()
    with WebServer(make_config(tmp_path, port)):
        start = (
            f"web: http://127.0.0.1:{port} (user admin, password from the config's web.password)"
        )
        assert start in caplog.text
    caplog.clear()
    monkeypatch.setenv("EDGEWATCH_WEB_PASSWORD", PASSWORD)
    with WebServer(make_config(tmp_path, port, password=None)):
        start = f"web: http://127.0.0.1:{port} (user admin, password from $EDGEWATCH_WEB_PASSWORD)"
        assert start in caplog.text
    assert PASSWORD not in caplog.text


def test_a_port_in_use_is_one_clear_error(config):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", config.web.port))
        taken.listen()
        server = WebServer(config)
        with pytest.raises(EdgewatchError, match=f"web port {config.web.port} on 127.0.0.1 is "
                           "already in use"):  # fmt: skip
            server.start()
