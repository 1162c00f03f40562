"""`JSONResponse` rendered with orjson: the same bytes as Starlette's (compact, UTF-8, no ASCII
escaping) in a tenth of the time, which matters for a page of 100 file objects on every list
request. Content must be plain JSON data (str keys, no NaN): what the read handlers build."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as _StarletteJSONResponse


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
