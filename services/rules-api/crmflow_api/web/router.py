"""GET /settings/automations (the page) and GET /static/... (its hand-written ES modules and CSS).

The page is a static HTML shell that needs no auth to load: it asks for the practice's API key,
keeps it in sessionStorage and calls the JSON API like any other client.  Strict headers keep it
self-contained: only same-origin scripts, styles and requests, nothing cached that could hold PHI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

WEB_DIR: Final = Path(__file__).resolve().parent
STATIC_DIR: Final = WEB_DIR / "static"
MEDIA_TYPES: Final = {".js": "text/javascript", ".css": "text/css"}
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

PAGE: Final = (WEB_DIR / "automations.html").read_text(encoding="utf-8")

router = APIRouter(include_in_schema=False)


@router.api_route("/settings/automations", methods=["GET", "HEAD"])
def automations_page() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
def static_file(path: str) -> FileResponse:
    """A file of web/static; anything outside it, or of another kind, is a 404."""
    file = (STATIC_DIR / path).resolve()
    media_type = MEDIA_TYPES.get(file.suffix)
    if media_type is None or not file.is_relative_to(STATIC_DIR) or not file.is_file():
        raise HTTPException(404, "not found")
    # no-cache: the browser revalidates (ETag) so a deploy is picked up without versioned names.
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return FileResponse(file, media_type=media_type, headers=headers)
