"""The `Content-Disposition` of a presigned download: the file's own name, in every browser."""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

# Kept as is in the quoted ASCII fallback; quotes, backslashes, "%" (some browsers decode it),
# ";" and controls become "_".
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9 !#$&'()*+,\-.=@\[\]^_`{}~]")
# RFC 5987 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" /
# "`" / "|" / "~"; everything else is percent-encoded.
_ATTR_CHAR_SAFE = "!#$&+-.^_`|~"


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """`attachment` with an ASCII fallback `filename` and the exact name as RFC 5987 `filename*`
    (RFC 6266), so every browser saves the file under (a version of) its original name;
    `inline` for a preview the browser shows itself (a PDF in a frame), still named."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "download"
    ascii_name = unicodedata.normalize("NFKD", " ".join(name.split()))
    ascii_name = ascii_name.encode("ascii", "ignore").decode()
    ascii_name = " ".join(_UNSAFE_ASCII.sub("_", ascii_name).split())
    if not ascii_name or ascii_name.startswith("."):  # nothing left of the stem (e.g. "日本.txt")
        ascii_name = "download" + ascii_name
    encoded = urllib.parse.quote(name, safe=_ATTR_CHAR_SAFE)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"
