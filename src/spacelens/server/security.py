"""Who may talk to the analyzer, and how much: Host names, an access token, body sizes.

The page reads the whole registry, so the server checks every request before routing it:

- :class:`HostCheck`: the ``Host`` header must name this server (loopback names, the
  address it was started on, names the user allowed). A web page on another site that
  re-points its own name at 127.0.0.1 (DNS rebinding) sends its own name and is refused;
  a cross-site request carrying a foreign ``Origin`` is refused too.
- :class:`TokenCheck`: beyond loopback, a random token generated at start is required,
  given once as ``?token=`` (then kept in an HttpOnly, SameSite=Strict cookie) or as
  ``Authorization: Bearer TOKEN``.
- :class:`BodyLimit`: request bodies above a limit are refused with 413 before they are
  read (by ``Content-Length``, or while streaming when it is absent).

These are plain ASGI middlewares (no per-request Python objects beyond a header scan).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD = frozenset({"0.0.0.0", "::", ""})
TOKEN_PARAM = "token"


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    h = host_name(host)
    if h in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """The name part of a Host header value (no port, no IPv6 brackets, lower case)."""
    h = (host or "").strip().lower()
    if h.startswith("["):
        return h[1:h.index("]")] if "]" in h else h[1:]
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


def allowed_host_names(bind: str | None, extra=()) -> frozenset[str] | None:
    """Host names a server bound to ``bind`` answers to; ``None`` means any (``"*"`` in extra).

    Always the loopback names and ``bind`` itself; for a wildcard bind (0.0.0.0, ::) also
    this machine's host name, its fully qualified name and the addresses they resolve to.
    """
    names = set(LOOPBACK_NAMES)
    extra = [host_name(e) if e != "*" else "*" for e in extra]
    if "*" in extra:
        return None
    names.update(e for e in extra if e)
    b = host_name(bind or "")
    if b in WILDCARD:
        for n in {socket.gethostname(), socket.getfqdn()}:
            names.add(n.lower())
            try:
                names.update(info[4][0].lower() for info in socket.getaddrinfo(n, None))
            except OSError:
                pass
    else:
        names.add(b)
    return frozenset(names)


def _header(scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return None


async def _send_error(send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": message, "error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class HostCheck:
    """Refuse requests whose Host (or Origin) names another server: 400 (403 for Origin)."""

    def __init__(self, app, allowed: frozenset[str] | None):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.allowed is None:
            return await self.app(scope, receive, send)
        host = _header(scope, b"host") or ""
        if host_name(host) not in self.allowed:
            shown = host[:80] or "(none)"
            return await _send_error(send, 400, f"Host {shown!r} is not served here. Open the page by the address "
                                     "'spacelens ui' printed, or start it with --allow-host NAME to add a name")
        origin = _header(scope, b"origin")
        if origin and origin != "null" and host_name(urlsplit(origin).netloc) not in self.allowed:
            return await _send_error(send, 403, "Requests from other sites are refused")
        return await self.app(scope, receive, send)


class TokenCheck:
    """Require ``token`` (query parameter once, then a cookie; or a Bearer header): else 401."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token
        self.cookie = "spacelens_token_" + hashlib.sha256(token.encode()).hexdigest()[:8]

    def _ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(value.encode(), self.token.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = next((v for k, v in query if k == TOKEN_PARAM), None)
        auth = _header(scope, b"authorization") or ""
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        cookie = cookie_parser(_header(scope, b"cookie") or "").get(self.cookie)
        if not (self._ok(given) or self._ok(bearer) or self._ok(cookie)):
            return await _send_error(send, 401, "This analyzer needs its access token. Open the address "
                                     "'spacelens ui' printed (it ends in ?token=...), or send "
                                     "'Authorization: Bearer TOKEN'", [(b"www-authenticate", b"Bearer")])
        if not self._ok(given):
            return await self.app(scope, receive, send)
        set_cookie = (f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict").encode()
        if scope["method"] == "GET" and not scope["path"].startswith("/api/"):
            # the page itself: keep the token, then drop it from the address bar (and history)
            rest = urlencode([(k, v) for k, v in query if k != TOKEN_PARAM])
            location = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", location.encode()), (b"set-cookie", set_cookie),
                                    (b"content-length", b"0"), (b"cache-control", b"no-store")]})
            return await send({"type": "http.response.body", "body": b""})

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", set_cookie)]}
            await send(message)

        return await self.app(scope, receive, send_with_cookie)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (``large_bytes`` for paths ending in one of
    ``large_paths``, e.g. an export's row list) with 413, without reading them first."""

    def __init__(self, app, max_bytes: int, large_bytes: int | None = None, large_paths: tuple[str, ...] = ()):
        self.app, self.max_bytes = app, max_bytes
        self.large_bytes, self.large_paths = large_bytes or max_bytes, large_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.large_bytes if scope["path"].endswith(self.large_paths) and self.large_paths else self.max_bytes
        message = f"The request body is larger than {_size(limit)}"
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return await _send_error(send, 400, "The Content-Length header is not a number")
            if n > limit:
                return await _send_error(send, 413, message)
        seen = 0

        async def limited_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, message)
            return msg

        return await self.app(scope, limited_receive, send)


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n / 2**10:g} KiB" if n >= 2**10 else f"{n} bytes"
