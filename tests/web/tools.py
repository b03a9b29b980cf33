"""What the dashboard's tests share: a config over the test's folder, and a small HTTP
client (http.client on one keep-alive connection, the session cookie and CSRF token kept
like a browser keeps them, no redirect followed: the tests look at them)."""

from __future__ import annotations

import http.client
import json
import urllib.parse

from edgewatch.config import Config

PASSWORD = "hunter2"  # in secrets_guard.TEST_SECRETS: it must never reach a log
API_TOKEN = "tok-3f9a"


class Answer:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.body[:200]!r})"


class Client:
    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.origin = f"http://{self.host}:{self.port}"
        self.cookie: str | None = None
        self.csrf: str | None = None
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(self, method: str, path: str, body=None, headers=None) -> Answer:
        headers = dict(headers or {})
        if self.cookie:
            headers.setdefault("Cookie", self.cookie)
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            self.connection.request(method, path, body, headers)
            response = self.connection.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self.connection.close()  # the server closed a kept-alive connection: again
            self.connection.request(method, path, body, headers)
            response = self.connection.getresponse()
        return Answer(response.status, response.headers, response.read())

    def get(self, path: str, **headers) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, body=None, *, csrf: bool = True, **headers) -> Answer:
        if csrf and self.csrf:
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.request("POST", path, body if body is not None else b"", headers)

    def login(self, username: str = "admin", password: str = PASSWORD) -> Answer:
        answer = self.request("POST", "/api/login", {"username": username, "password": password})
        if answer.status == 200:
            cookie = answer.headers["Set-Cookie"]
            self.cookie = cookie.split(";", 1)[0]
            self.csrf = answer.json()["csrf"]
        return answer

    def close(self) -> None:
        self.connection.close()


def make_config(tmp_path, port: int, **web) -> Config:
    return Config.model_validate(
        {
            "cameras": [{"name": name, "source": "sample"} for name in ("yard", "street")],
            "web": {"port": port, "password": PASSWORD, "api_token": API_TOKEN,
                    "history_path": str(tmp_path / "history.sqlite3"), **web},
            "events": {
                "store_path": str(tmp_path / "events.sqlite3"),
                "snapshots": {"dir": str(tmp_path / "snapshots")},
                "lines": [{"name": "gate", "camera": "yard", "a": [10, 10], "b": [10, 200]}],
                "zones": [{"name": "porch", "camera": "yard",
                           "points": [[0, 0], [100, 0], [100, 100]]}],
            },
            "outputs": {
                "mqtt": {"outbox_path": str(tmp_path / "outbox.sqlite3")},
                "influx": {"spool_path": str(tmp_path / "spool.sqlite3")},
            },
        }
    )  # fmt: skip
