"""Signing in (an API key exchanged for a session cookie) and out, and the console's front door.

The sign-in form has no session to take a CSRF token from, so it carries its own: a random
value in a short-lived cookie and in the form, which must match (a site that cannot read our
cookies cannot forge it), on top of the same-origin check every console POST gets.
"""

from __future__ import annotations

import secrets
import urllib.parse

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service import errors
from service.console import pages, sessions
from service.console.sessions import Session

SIGN_IN_COOKIE = "silo_console_signin"
SIGN_IN_COOKIE_SECONDS = 3600


def _next(value: str | None) -> str:
    """Where to go after signing in: a console page of this host, never another site (`//evil`,
    `https://evil`) nor a path that only starts like one (`/consolex/../..`)."""
    if not value or "\\" in value:
        return "/console"
    parts = urllib.parse.urlsplit(value)
    inside = parts.path == "/console" or parts.path.startswith("/console/")
    if parts.scheme or parts.netloc or not inside or ".." in parts.path.split("/"):
        return "/console"
    return value


def _form(request: Request, *, status: int = 200, error: str | None = None, next_: str) -> Response:
    token = request.cookies.get(sessions.cookie_name(request, SIGN_IN_COOKIE))
    fresh = not token or len(token) > 100
    if fresh:
        token = secrets.token_urlsafe(32)
    response = pages.render(
        request,
        None,
        "sign_in.html",
        status=status,
        csrf=token,
        error=error,
        next=next_,
    )
    if fresh:
        sessions.set_cookie(request, response, SIGN_IN_COOKIE, token, SIGN_IN_COOKIE_SECONDS)
    return response


async def sign_in_page(request: Request) -> Response:
    next_ = _next(request.query_params.get("next"))
    if await sessions.current(request) is not None:
        return pages.redirect(request, next_)
    return _form(request, next_=next_)


async def sign_in(request: Request) -> Response:
    try:
        form = await pages.read_form(request)
        cookie = request.cookies.get(sessions.cookie_name(request, SIGN_IN_COOKIE))
        if not pages.same_origin(request) or not cookie:
            raise errors.CrossSiteRequest()
        if not sessions.csrf_matches(cookie, form.get("csrf")):
            raise errors.CrossSiteRequest()
    except errors.APIError as exc:
        return pages.error_page(request, None, exc)
    next_ = _next(form.get("next"))
    response = pages.redirect(request, next_)
    try:
        await sessions.sign_in(request, form.get("key", ""), response)
    except errors.Unauthorized as exc:
        return _form(request, status=401, error=exc.message, next_=next_)
    sessions.clear_cookie(request, response, SIGN_IN_COOKIE)
    return response


@pages.page(None)
async def sign_out(request: Request, session: Session) -> Response:
    response = pages.redirect(request, pages.SIGN_IN_PATH)
    await sessions.sign_out(request, response)
    return response


async def home(request: Request) -> Response:
    """/console: the files for a key that may read them, else the upload page."""
    session = await sessions.current(request)
    if session is None:
        return pages.sign_in_redirect(request)
    return pages.redirect(
        request, "/console/files" if session.allows("read") else "/console/upload"
    )


routes = [
    Route("/console", home, methods=["GET"]),
    Route(pages.SIGN_IN_PATH, sign_in_page, methods=["GET"]),
    Route(pages.SIGN_IN_PATH, sign_in, methods=["POST"]),
    Route("/console/sign-out", sign_out, methods=["POST"]),
]
