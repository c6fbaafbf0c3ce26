"""Reading a dashboard request: its query string, its form, where the dashboard is mounted.

Every page refuses what it does not take with a 400 and one line (`BadQuery`), so a typo in
a query string never silently changes nothing.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request

from mailhooks.dashboard.search import BadQuery, check_text

#: Largest form body the dashboard reads (a token and a reason fit many times over).
MAX_FORM_BYTES = 16 * 1024
#: Most fields one form may carry: a page of suppressions to remove and a few more.
MAX_FORM_FIELDS = 60


class Form(dict[str, str]):
    """A form's fields, the first value of each name; `every` gives repeats (checkboxes)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__()
        self.pairs = pairs
        for name, value in pairs:
            self.setdefault(name, value)

    def every(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


def base(request: Request) -> str:
    """Where the dashboard is mounted (`/ui`): links and redirects are paths, never built
    from the Host header."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def only(request: Request, allowed: set[str], *, once: bool = False) -> None:
    """Refuse a query parameter the page does not take (a typo would change nothing), and
    with `once` a repeated one (which of the two would count?)."""
    names = [name for name, _ in request.query_params.multi_items()]
    for name in names:
        if name not in allowed:
            raise BadQuery(f"unknown query parameter {name[:40]!r}")
        if once and names.count(name) > 1:
            raise BadQuery(f"query parameter {name!r} is given more than once")
    for name, value in request.query_params.items():
        check_text(name, value)


def whole(text: str, name: str, most: int) -> int:
    """A whole number from 1 to `most`, or a 400 saying so."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text[:12]) <= most:
        raise BadQuery(f"{name} must be a whole number from 1 to {most}")
    return int(text)


async def read_form(request: Request) -> Form:
    """A urlencoded form's fields (the first of each name, repeats kept in `every`).

    Any other body holds no fields, so it has no CSRF value either and is refused with 403.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return Form([])
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "the form is too large")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form cannot be read") from None
    return Form(pairs)
