"""HTTP handlers, one module per resource. Each handler only translates HTTP: it authorizes,
parses the request, calls the domain (service/files.py, taxonomy.py, stats.py; the keys
repository for /keys) and renders the result. Failures are raised, never returned, and
rendered by the one handler of service/app.py (see service/errors.py)."""

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
