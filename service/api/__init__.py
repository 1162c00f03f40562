"""Every HTTP handler, one module per resource. A handler only translates HTTP: it authorizes,
parses the request, calls the domain and renders the result. Failures are raised, never
returned, and rendered by the one handler of service/app.py (see service/errors.py).

    files.py      /files: upload (form), list, read, content, update, delete
    tus.py        /uploads: the tus 1.0.0 protocol (rules and state: uploads/tus.py)
    direct.py     /uploads/direct: declare, complete, cancel
    keys.py       /keys
    taxonomy.py   /categories, /languages, /roles
    stats.py      /stats
    health.py     /healthz, /readyz
    responses.py  the orjson response class of the file endpoints
    openapi/      the OpenAPI document
"""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]


def resource(path: str, **handlers: Handler) -> Route:
    """One route per path with a handler per method, so a wrong method gets a 405 whose
    `Allow` lists every method of the path (separate Routes would each list only their own)."""
    by_method = {method.upper(): handler for method, handler in handlers.items()}

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await by_method[method](request)

    dispatch.__name__ = dispatch.__qualname__ = "_".join(h.__name__ for h in handlers.values())
    return Route(path, dispatch, methods=list(by_method))
