"""What every console page shares: the `page` decorator (session, scope, CSRF, errors), the
templates, the security headers and form reading.

A handler is `async def handler(request: Request[State], session: Session) -> Response`, decorated
with `@page("read")` (or "write", "admin"; `@page("read", "write")` for a form that changes a
file and shows it): it runs only for a signed-in session whose key holds those scopes, after
the CSRF check of any unsafe method, and returns `render(...)` or a redirect.
Failures are raised as the API raises them (`errors.APIError`, `errors.DomainError`) and shown
as an HTML page with the API's message and status.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from service import errors
from service.console import charts, sessions
from service.console.sessions import Session
from service.http import inputs

if TYPE_CHECKING:
    from service.state import State

HERE = Path(__file__).parent
SIGN_IN_PATH = "/console/sign-in"
# A form is a few fields; a bigger body is not one of ours.
MAX_FORM_BYTES = 64 * 1024
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# One way to write a size on every page ("665 B", "1.5 KiB"), the charts' own; `count` for
# exact figures ("1,536").
templates.filters["size"] = charts.size
templates.filters["count"] = charts.count

Page = Callable[[Request, Session], Awaitable[Response]]


def content_security_policy(media_origins: Iterable[str] = ()) -> str:
    """No inline script or style, nothing from elsewhere; `media_origins` (object storage, for
    a preview through its presigned URL) may be shown as images, media and frames."""
    media = " ".join(dict.fromkeys(media_origins))
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' {media}".strip(),
            f"media-src {media}" if media else "media-src 'none'",
            f"frame-src {media}" if media else "frame-src 'none'",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def secure(response: Response, *, media_origins: Iterable[str] = (), cache: bool = False):
    """The console's headers on `response` (every page, redirect and error)."""
    response.headers.setdefault("Content-Security-Policy", content_security_policy(media_origins))
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not cache:
        response.headers["Cache-Control"] = "no-store"
    return response


def render(
    request: Request[State],
    session: Session | None,
    template: str,
    *,
    status: int = 200,
    media_origins: Iterable[str] = (),
    **context: Any,
) -> Response:
    """`template` (which extends base.html) with `session`, the tenant and `context`."""
    html = templates.get_template(template).render(
        session=session,
        tenant=request.state["tenant"],
        path=request.url.path,
        **context,
    )
    return secure(HTMLResponse(html, status_code=status), media_origins=media_origins)


def redirect(request: Request[State], location: str) -> Response:
    """303: after a POST the browser GETs `location` (a path of this console)."""
    return secure(RedirectResponse(location, status_code=303))


def same_origin(request: Request[State]) -> bool:
    """False for a request a browser says came from another site: `Sec-Fetch-Site`, or an
    `Origin` whose host is not this one. (Requests without either come from non-browsers,
    which carry no ambient cookie to abuse.)"""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = urllib.parse.urlsplit(origin).netloc
    return host != "" and host == request.headers.get("host")


async def read_form(request: Request[State]) -> ImmutableMultiDict:
    """The urlencoded body (cached on the request), read with the API's cap and idle timeout."""
    cached = getattr(request.state, "console_form", None)
    if cached is not None:
        return cached
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise errors.UnsupportedMediaType("the console's forms are urlencoded")
    body = await inputs.bounded_body(request, MAX_FORM_BYTES, "forms")
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=200
        )
    except (UnicodeDecodeError, ValueError):
        raise errors.BadRequest("the form is not valid UTF-8 urlencoded data") from None
    form = ImmutableMultiDict(pairs)
    request.state.console_form = form
    return form


async def check_csrf(request: Request[State], session_token: str) -> None:
    """A form's `csrf` field (or an `X-CSRF-Token` header, from the upload script) must be the
    session's token, and the browser must not call the request cross-site."""
    if not same_origin(request):
        raise errors.CrossSiteRequest()
    presented = request.headers.get("x-csrf-token")
    if presented is None:
        presented = (await read_form(request)).get("csrf")
    if not sessions.csrf_matches(session_token, presented):
        raise errors.CrossSiteRequest()


_FIELD_IN_MESSAGE = re.compile(r"`([a-z_]+)`")


def field_of(exc: BaseException) -> str | None:
    """Which form field an error is about: its `field`, else the first `name` its message
    quotes (the API's messages name fields that way: "`title` is required")."""
    field = getattr(exc, "field", None)
    if isinstance(field, str):
        return field
    found = _FIELD_IN_MESSAGE.search(str(exc))
    return found.group(1) if found else None


def error_page(request: Request[State], session: Session | None, exc: BaseException) -> Response:
    """The API's status and message, as a page (a dependency's failure too: 503)."""
    error = errors.from_exception(exc)
    return render(
        request,
        session,
        "error.html",
        status=error.status,
        message=error.message,
        code=error.code,
    )


def sign_in_redirect(request: Request[State]) -> Response:
    """To the sign-in page, coming back here afterwards (a GET; a POST cannot be replayed)."""
    back = request.url.path if request.method == "GET" else "/console"
    if request.method == "GET" and request.url.query:
        back += "?" + request.url.query
    return redirect(request, f"{SIGN_IN_PATH}?{urllib.parse.urlencode({'next': back})}")


def page(*scopes: str | None) -> Callable[[Page], Callable[[Request], Awaitable[Response]]]:
    """A console page for sessions whose key holds every one of `scopes` (None, or none given:
    any signed-in key; see the module's docstring). A page or form that shows a file's data or
    a presigned URL needs `read`, as the API's reads do, on top of what it changes: `write`
    does not imply `read`, in the console as in the API."""
    needed = [scope for scope in scopes if scope is not None]

    def decorate(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request[State]) -> Response:
            session = await sessions.current(request)
            if session is None:
                return sign_in_redirect(request)
            try:
                for scope in needed:
                    if not session.allows(scope):
                        raise errors.Forbidden(f"this API key lacks the `{scope}` scope")
                if request.method not in SAFE_METHODS:
                    await check_csrf(request, session.csrf_token)
                return await handler(request, session)
            except errors.TRANSLATED as exc:
                return error_page(request, session, exc)

        return endpoint

    return decorate


def query_without_blanks(params: Mapping[str, str]) -> dict[str, str]:
    """A GET form's fields, without those left empty (the API reads `type=` as a bad type)."""
    return {name: value for name, value in params.items() if value.strip() != ""}
