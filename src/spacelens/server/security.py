"""Who may talk to the analyzer, and how much: Host names, an access token, body sizes.

The page reads the whole registry, so the server checks every request before routing it:

- :class:`HostCheck`: the ``Host`` header must name this server (loopback names, the
  address it was started on, names the user allowed). A web page on another site that
  re-points its own name at 127.0.0.1 (DNS rebinding) sends its own name and is refused;
  a cross-site request carrying a foreign ``Origin`` is refused too, and so is the opaque
  ``Origin: null`` (a sandboxed frame, a ``file:`` or ``data:`` page). With ``--allow-host
  '*'`` any Host is served, but the Origin must still be the server's own (the one the
  ``Host`` header names).
- :class:`TokenCheck`: beyond loopback, a random token generated at start is required,
  given once as ``?token=`` (then kept in an HttpOnly, SameSite=Strict cookie) or as
  ``Authorization: Bearer TOKEN``.
- :class:`BodyLimit`: request bodies above a limit are refused with 413 before they are
  read (by ``Content-Length``, or while streaming when it is absent).

- :class:`SecurityHeaders`: every answer carries a Content-Security-Policy (no inline
  script, no plugins, no ``<base>``, not framed by other sites), ``nosniff`` and no referrer.

These are plain ASGI middlewares (no per-request Python objects beyond a header scan). They
check WebSocket handshakes as they check HTTP requests (a refused handshake is closed before
it is accepted); only the ``lifespan`` scope passes unchecked.
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


async def _send_error(send, status: int, message: str, headers: list | None = None, scope=None,
                      receive=None) -> None:
    if scope is not None and scope["type"] == "websocket":
        # refuse the handshake: read the connect message, then close before accepting (an HTTP 403)
        if receive is not None:
            await receive()
        return await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
    body = json.dumps({"detail": message, "error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def checked(scope) -> bool:
    """Whether a middleware checks this ASGI scope: every one but the server's ``lifespan``
    (HTTP requests and WebSocket handshakes alike, so no other protocol slips past)."""
    return scope["type"] != "lifespan"


def _origin_netloc(origin: str) -> str | None:
    """``host[:port]`` of an ``Origin`` header value (lower case), or None when it names no
    HTTP(S) server: ``null`` (sandboxed frames, file: and data: pages), other schemes, junk."""
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return parts.netloc.lower()


class HostCheck:
    """Refuse requests whose Host (or Origin) names another server: 400 (403 for Origin).

    ``allowed``: the Host names served; ``None`` serves any Host (``--allow-host '*'``), and
    then an ``Origin`` must name the very server the ``Host`` header names. ``Origin: null``
    is always refused: a page with an opaque origin is never the analyzer's own."""

    def __init__(self, app, allowed: frozenset[str] | None):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope, receive, send):
        if not checked(scope):
            return await self.app(scope, receive, send)
        host = _header(scope, b"host") or ""
        if self.allowed is not None and host_name(host) not in self.allowed:
            shown = host[:80] or "(none)"
            return await _send_error(send, 400, f"Host {shown!r} is not served here. Open the page by the address "
                                     "'spacelens ui' printed, or start it with --allow-host NAME to add a name",
                                     scope=scope, receive=receive)
        origin = _header(scope, b"origin")
        if origin is not None:
            netloc = _origin_netloc(origin)
            ok = netloc is not None and (host_name(netloc) in self.allowed if self.allowed is not None
                                         else netloc == host.strip().lower())
            if not ok:
                return await _send_error(send, 403, "Requests from other sites are refused", scope=scope,
                                         receive=receive)
        return await self.app(scope, receive, send)


class TokenCheck:
    """Require ``token`` (query parameter once, then a cookie; or a Bearer header): else 401."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token
        self.cookie = "spacelens_token_" + hashlib.sha256(token.encode()).hexdigest()[:8]

    def _ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(value.encode(), self.token.encode())

    async def __call__(self, scope, receive, send):
        if not checked(scope):
            return await self.app(scope, receive, send)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = next((v for k, v in query if k == TOKEN_PARAM), None)
        auth = _header(scope, b"authorization") or ""
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        cookie = cookie_parser(_header(scope, b"cookie") or "").get(self.cookie)
        if not (self._ok(given) or self._ok(bearer) or self._ok(cookie)):
            return await _send_error(send, 401, "This analyzer needs its access token. Open the address "
                                     "'spacelens ui' printed (it ends in ?token=...), or send "
                                     "'Authorization: Bearer TOKEN'", [(b"www-authenticate", b"Bearer")],
                                     scope=scope, receive=receive)
        if not self._ok(given) or scope["type"] != "http":
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


# The page's policy. Scripts only from the server's own files: no inline <script>, no on*=
# handler attributes, no javascript: URLs, so markup that slips into the page runs nothing.
# 'unsafe-eval' because regl (the maps' WebGL) compiles its draw commands with Function();
# our code never evaluates strings. Inline style attributes are allowed (colour swatches).
# Images may come from http(s) and data: URLs (a dataset's image column), nothing else from
# elsewhere; no plugins, no <base>, no form posts, not framed by any page.
PAGE_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data: blob: http: https:; connect-src 'self'; worker-src 'self' blob:; "
               "font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")
# Everything under /api/ is data: opened as a document (an SVG image, say) it may do nothing.
API_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; " \
             "form-action 'none'; frame-ancestors 'none'"
# FastAPI's interactive docs load Swagger UI from a CDN with an inline script: no policy there.
UNPOLICED = ("/api/docs", "/api/docs/oauth2-redirect")


class SecurityHeaders:
    """Add a Content-Security-Policy (the page's, or the API's stricter one), ``nosniff`` and
    ``Referrer-Policy: no-referrer`` to every HTTP answer that does not set its own."""

    def __init__(self, app, page_policy: str = PAGE_POLICY, api_policy: str = API_POLICY):
        self.app, self.page_policy, self.api_policy = app, page_policy, api_policy

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        policy = (None if path in UNPOLICED else self.api_policy if path.startswith("/api/") else self.page_policy)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if policy:
                    extra.append((b"content-security-policy", policy.encode()))
                headers += [(k, v) for k, v in extra if k not in have]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


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
