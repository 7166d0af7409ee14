"""Who may drive the panel: the holder of the run's token, through the address it is bound to.

- A random token is made at start; every request carries it as ``?token=`` or
  ``Authorization: Bearer``, compared in constant time.
- The ``Host`` header must name the bound address (DNS rebinding: a page on evil.example that
  resolves to 127.0.0.1 sends ``Host: evil.example``).
- Nothing changes on GET; a POST must come from the panel's own origin when the browser says
  where it comes from (``Origin``), and no CORS header is ever sent, so a page on another
  origin can neither read an answer nor send the token it does not have.
- Answers forbid framing, sniffing and sending the URL (with its token) as a referrer.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'none'"
    ),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


@dataclass
class Guard:
    """The checks every request passes before a handler sees it."""

    token: str
    host: str  # as bound: 127.0.0.1, ::1, 192.168.1.5, 0.0.0.0 ...
    port: int  # set once bound, when the system chose it (port 0)

    def allowed_hosts(self) -> set[str] | None:
        """The ``Host`` headers accepted (None: any, for a wildcard bind with --panel-public,
        where the token alone keeps others out)."""
        if is_wildcard(self.host):
            return None
        name = f"[{self.host}]" if ":" in self.host else self.host
        names = set(LOOPBACK_NAMES) if is_loopback(self.host) else {name}
        return {f"{n}:{self.port}" for n in names}

    def origin(self, request: web.Request) -> str:
        return f"http://{request.host}"

    def problem(self, request: web.Request) -> tuple[int, str] | None:
        """(status, message) when the request must be refused, else None."""
        hosts = self.allowed_hosts()
        if hosts is not None and request.host not in hosts:
            return 421, f"unknown Host {request.host!r}; use the URL printed at start"
        if not self._has_token(request):
            return 401, "missing or wrong token; open the URL printed at start"
        origin = request.headers.get("Origin")
        if request.method != "GET" and origin is not None and origin != self.origin(request):
            return 403, f"requests from {origin} are not accepted"
        return None

    def _has_token(self, request: web.Request) -> bool:
        given = request.query.get("token", "")
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header[len("Bearer ") :]
        return hmac.compare_digest(given.encode(), self.token.encode())


def guard_middleware(guard: Guard) -> Callable[[web.Request, Handler], Awaitable]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        problem = guard.problem(request)
        if problem is not None:
            status, message = problem
            response: web.StreamResponse = web.json_response({"error": message}, status=status)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = web.json_response({"error": exc.reason}, status=exc.status)
        if not response.prepared:
            response.headers.update(_SECURITY_HEADERS)
        return response

    return middleware
