"""Security headers of the REST API and of the web page, in one place.

The same values are sent by the FastAPI app (every API response, on AWS and locally), by
the local stack's page server (local/rest.py) and by CloudFront's response headers policy
(infra_cdk/capabilities/web.py), so the page is held to one policy wherever it is served.

- The API answers JSON only: ``default-src 'none'`` lets a response opened as a page run,
  load or frame nothing. The interactive docs page is the one HTML answer; it gets its own
  policy, which names the CDN it loads Swagger UI from and the hash of its inline script.
- The page loads scripts and styles from its own origin only (the build has no inline
  script or style), talks to the REST and WebSocket endpoints of ``/config.json``, and may
  not be framed (clickjacking).
- ``nosniff`` stops a browser from running a JSON or text answer as script or style;
  ``no-referrer`` keeps room ids in the page's URL (``#/rooms/<id>``) out of requests to
  anyone else.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

API_CSP = "default-src 'none'; frame-ancestors 'none'"
REFERRER_POLICY = "no-referrer"

COMMON_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": REFERRER_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
}
API_HEADERS: Mapping[str, str] = {"Content-Security-Policy": API_CSP, **COMMON_HEADERS}

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_SCRIPT_SRC = re.compile(r"""<script\b[^>]*?\bsrc=["']([^"']+)["']""")
_LINK_HREF = re.compile(r"""<link\b[^>]*?\bhref=["']([^"']+)["']""")


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what a CSP source names (a path would narrow
    it to one file unless it ended in ``/``)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def page_csp(connect_to: Iterable[str]) -> str:
    """The web page's policy; ``connect_to``: the REST and WebSocket endpoints it calls
    (URLs or CSP sources; CloudFront's may be deploy-time tokens, taken as they are)."""
    connect = " ".join(dict.fromkeys(["'self'", *connect_to]))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"font-src 'self'; connect-src {connect}; manifest-src 'self'; "
        "base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'none'"
    )


def page_headers(connect_to: Iterable[str]) -> dict[str, str]:
    return {"Content-Security-Policy": page_csp(connect_to), **COMMON_HEADERS}


def docs_csp(html: str) -> str:
    """A policy for one HTML page that runs its own inline scripts (by hash) and loads
    scripts and styles from the hosts its tags name, and nothing else.

    FastAPI's Swagger UI page has one inline script (the set-up, which names the
    OpenAPI URL) and loads its bundle and style sheet from a CDN; hashing what is served
    keeps the policy right when FastAPI changes the page.
    """
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]
    scripts = " ".join([*hashes, *_hosts(_SCRIPT_SRC.findall(html))])
    # style sheets and the icon; Swagger UI also sets style attributes, which cannot run code
    linked = " ".join(_hosts(_LINK_HREF.findall(html)))
    return (
        f"default-src 'none'; script-src {scripts}; style-src {linked} 'unsafe-inline'; "
        f"img-src {linked} data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def _hosts(urls: Iterable[str]) -> list[str]:
    """The origins of the absolute URLs (a relative one is covered by 'self')."""
    return sorted({origin(url) for url in urls if "://" in url} | {"'self'"})
