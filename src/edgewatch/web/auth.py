"""Who may see the dashboard: one user with a password, sessions that expire, an optional
bearer token for scripts, and CSRF checks for what changes things.

The password lives in memory only as a salted scrypt hash, compared in constant time; a
session is a random token in an HttpOnly, SameSite=Strict cookie that maps, on the server,
to its user, its CSRF token and its expiry (a restart logs everyone out, which is fine on
one box). Browsers send cookies by themselves, so a POST with a session cookie must also
carry the session's CSRF token in the ``X-CSRF-Token`` header (only the page's own script
can read it) and, when the browser says where it comes from (``Origin``), come from this
very origin. Failed logins are answered slower and slower per client, so guessing costs
time. It all runs as one ASGI middleware in front of every route (pages, API, static
files, the OpenAPI docs), so no route can forget to ask.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

SESSION_COOKIE = "edgewatch_session"
CSRF_HEADER = "x-csrf-token"
#: Reachable without a session: the login page, its own script and the stylesheets (no
#: data in either), and the login call itself.
PUBLIC_PATHS = frozenset({"/login", "/api/login", "/favicon.ico"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: scrypt as OWASP suggests for interactive logins: 16 MiB, ~50-80 ms on a small CPU.
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
MAX_SESSIONS = 1000  # beyond this the oldest session goes (a login loop cannot fill memory)


def is_public(path: str) -> bool:
    if path in PUBLIC_PATHS:
        return True
    if path.startswith("/static/"):
        name = path.rsplit("/", 1)[-1]
        return name.startswith("login") or name.endswith(".css")
    return False


class PasswordCheck:
    """The user name and a salted scrypt hash of the password; never the password."""

    def __init__(self, username: str, password: str) -> None:
        if not password:
            raise ValueError("the web password is empty")
        self.username = username
        self._salt = os.urandom(16)
        self._digest = self._hash(password)

    def _hash(self, password: str) -> bytes:
        return hashlib.scrypt(password.encode("utf-8"), salt=self._salt, **SCRYPT)

    def check(self, username: str, password: str) -> bool:
        """Constant time in what matters: the hash is computed even for a wrong user."""
        user_ok = hmac.compare_digest(username.encode("utf-8"), self.username.encode("utf-8"))
        password_ok = hmac.compare_digest(self._hash(password), self._digest)
        return user_ok and password_ok


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user: str
    csrf: str | None  # None for the API token: browsers never send it by themselves
    expires: float  # on the Sessions clock


class Sessions:
    """Server-side sessions: token -> user, CSRF token, expiry (``ttl_s`` after login)."""

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def create(self, user: str) -> Session:
        session = Session(
            secrets.token_urlsafe(32), user, secrets.token_urlsafe(24), self.clock() + self.ttl_s
        )
        with self._lock:
            self._prune()
            while len(self._sessions) >= MAX_SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is not None and session.expires <= self.clock():
                del self._sessions[token]
                return None
            return session

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def _prune(self) -> None:
        now = self.clock()
        for token in [t for t, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[token]


class LoginThrottle:
    """Failed logins cost time, per client: the answer to the nth failure in a row waits
    0.5 s, 1 s, 2 s ... up to ``max_delay_s``, and until then the client's further tries
    are refused at once (429), so parallel guesses gain nothing. A success, or
    ``forget_s`` without failures, clears it."""

    def __init__(
        self, *, base_s: float = 0.5, max_delay_s: float = 8.0, forget_s: float = 900.0
    ) -> None:
        self.base_s, self.max_delay_s, self.forget_s = base_s, max_delay_s, forget_s
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (failures, not before)

    def wait_s(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        with self._lock:
            entry = self._failures.get(client)
        return 0.0 if entry is None else max(0.0, entry[1] - time.monotonic())

    def failed(self, client: str) -> float:
        """Counts a failure; the seconds to wait before answering it."""
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 10_000:  # a flood of addresses: start over
                self._failures.clear()
            count, until = self._failures.get(client, (0, now))
            count = 0 if now - until > self.forget_s else count
            delay = min(self.base_s * 2**count, self.max_delay_s)
            self._failures[client] = (count + 1, now + delay)
        return delay

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


class Auth:
    """Everything the middleware and the login routes ask: who is this request?"""

    def __init__(
        self,
        *,
        username: str,
        password: str,
        api_token: str | None = None,
        session_ttl_s: float = 12 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.password = PasswordCheck(username, password)
        self.sessions = Sessions(session_ttl_s, clock=clock)
        self.throttle = LoginThrottle()
        self._api_token = api_token.encode("utf-8") if api_token else None

    @property
    def username(self) -> str:
        return self.password.username

    def login(self, username: str, password: str) -> Session | None:
        if not self.password.check(username, password):
            return None
        return self.sessions.create(self.username)

    def identify(self, headers: dict[str, str]) -> Session | None:
        """The session of a request (cookie), or a token pseudo-session (bearer)."""
        authorization = headers.get("authorization", "")
        if authorization[:7].lower() == "bearer " and self._api_token is not None:
            offered = authorization[7:].strip().encode("utf-8")
            if hmac.compare_digest(offered, self._api_token):
                return Session("", "token", None, float("inf"))
            return None
        return self.sessions.get(cookie_value(headers.get("cookie", ""), SESSION_COOKIE))


def cookie_value(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def session_cookie(session: Session, *, secure: bool, ttl_s: float) -> str:
    """The Set-Cookie value: the browser keeps it as long as the server does."""
    cookie = (
        f"{SESSION_COOKIE}={session.token}; Path=/; Max-Age={max(1, round(ttl_s))}; "
        "HttpOnly; SameSite=Strict"
    )
    return cookie + "; Secure" if secure else cookie


def expired_cookie(*, secure: bool) -> str:
    cookie = f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
    return cookie + "; Secure" if secure else cookie


def same_origin(headers: dict[str, str], scheme: str) -> bool:
    """No Origin header (old browsers, scripts) passes; one that names another site fails.
    ``Host`` is what the browser connected to, so a page from there sends that origin."""
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    parts = urllib.parse.urlsplit(origin)
    return parts.scheme == scheme and parts.netloc == host


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site only (``//evil`` and URLs go to /)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class AuthMiddleware:
    """Pure ASGI, so streaming answers (MJPEG) pass through untouched and cheaply."""

    def __init__(self, app, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        scheme = scope.get("scheme", "http")
        if scope["type"] == "websocket":
            # Browsers send cookies with WebSockets from any site: the origin must match.
            ws_scheme = "https" if scheme == "wss" else "http"
            session = self.auth.identify(headers)
            if session is None or not same_origin(headers, ws_scheme):
                await send({"type": "websocket.close", "code": 1008})
                return
            scope.setdefault("state", {})["session"] = session
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if is_public(path):
            if method in UNSAFE_METHODS and not same_origin(headers, scheme):
                await _json(send, 403, "cross-site request refused")
                return
            await self.app(scope, receive, send)
            return
        session = self.auth.identify(headers)
        if session is None:
            if path.startswith("/api/") or path.startswith("/static/"):
                await _json(send, 401, "log in first", {"www-authenticate": "Bearer"})
            else:
                query = scope.get("query_string", b"").decode("latin-1")
                target = path + ("?" + query if query else "")
                location = "/login?" + urllib.parse.urlencode({"next": target})
                await _plain(send, 303, {"location": location})
            return
        if method in UNSAFE_METHODS and session.csrf is not None:
            offered = headers.get(CSRF_HEADER, "")
            if not (
                hmac.compare_digest(offered.encode("latin-1"), session.csrf.encode("latin-1"))
                and same_origin(headers, scheme)
            ):
                await _json(send, 403, "missing or wrong X-CSRF-Token, or a cross-site request")
                return
        scope.setdefault("state", {})["session"] = session
        await self.app(scope, receive, send)


async def _json(send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    extra = {"content-type": "application/json", **(headers or {})}
    await _plain(send, status, extra, body)


async def _plain(send, status: int, headers: dict[str, str], body: bytes = b"") -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    raw.append((b"cache-control", b"no-store"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
