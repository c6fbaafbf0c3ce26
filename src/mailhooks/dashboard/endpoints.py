"""Endpoints and their keys; rotating and retiring keys, the Event Tester and Validate.

The list and the detail page are `mailhooks endpoint list` in a browser. Admins rotate
and retire keys as `mailhooks endpoint rotate` and `retire-key` do, post one sample event
as SocketLabs' Event Tester does (`mailhooks send`), and run `mailhooks check`. The
secrets these take come in a form body only: never echoed into a page, a URL, a redirect
or a log line, and redacted from every answer shown.

Posting to a URL runs in a worker thread with a bounded time, so a slow or silent target
never holds the event loop; no answer is one line on the page, never a 5xx.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from urllib.parse import quote

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mailhooks.dashboard.core import Core, Session
from mailhooks.dashboard.requests import Form, base, only
from mailhooks.dashboard.search import BadQuery, check_text
from mailhooks.errors import InvalidInput, Unreachable
from mailhooks.protocol.events import Kind
from mailhooks.protocol.samples import SAMPLE_KINDS, sample_fields
from mailhooks.sender.check.report import shown_url, summary
from mailhooks.sender.check.run import describe_sample_events, run_checks
from mailhooks.sender.check.types import CheckOptions, Report
from mailhooks.sender.rules import Verdict
from mailhooks.sender.secret_text import redactor
from mailhooks.sender.send import build_body, redacted, send
from mailhooks.sender.target import parse_target
from mailhooks.store.endpoints import retire_key, rotate_key
from mailhooks.views import endpoints as views
from mailhooks.views.endpoints import EndpointView

#: Seconds the tester waits for each step of an answer (as `mailhooks send`), and for all
#: of it: a target that trickles bytes is cut off too.
SEND_TIMEOUT_S = 10.0
SEND_LIMIT_S = 15.0
#: `mailhooks check` waits this long for each answer here (its default is 10 s), and the
#: page for the whole run (about a dozen posts plus DNS, TCP and TLS).
CHECK_TIMEOUT_S = 5.0
CHECK_LIMIT_S = 60.0
#: Most characters of an answer body shown.
ANSWER_SHOWN = 1000
#: Secrets are pasted, so their length is checked as the API checks it.
SECRET_LENGTHS = (8, 200)
#: The ServerId samples carry when the endpoint has none (as `mailhooks send`).
DEFAULT_SERVER_ID = 1000
#: Each sample's wire Type, for the dropdown ("open" arrives as Tracking).
WIRE_TYPES: dict[Kind, str] = {kind: str(sample_fields(kind)["Type"]) for kind in SAMPLE_KINDS}


@dataclass(frozen=True, slots=True)
class Tested:
    """What the Event Tester shows: the body (SecretKey masked), and after a send the
    answer or, when none came, why."""

    kind: Kind
    url: str
    body: str
    sent: bool
    status: int | None = None
    answer: str = ""
    elapsed_ms: int | None = None
    verdict: Verdict | None = None
    no_answer: str | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    """What Validate shows: `mailhooks check`'s lines, redacted, or why it did not finish."""

    url: str
    lines: list[tuple[str, str, str, str | None, str | None]]
    summary: str
    ok: bool
    no_answer: str | None = None


class EndpointPages:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[BaseRoute]:
        page, change = self.core.page, self.core.change
        return [
            Route("/endpoints", page(self.endpoints), methods=["GET"]),
            Route("/endpoints/{name}", page(self.endpoint), methods=["GET"]),
            Route("/endpoints/{name}/keys", change(self.keys), methods=["POST"]),
            Route("/endpoints/{name}/test", change(self.test), methods=["POST"]),
            Route("/endpoints/{name}/validate", change(self.validate), methods=["POST"]),
        ]

    async def endpoints(self, request: Request, current: Session) -> Response:
        """Every endpoint; removed ones with `?removed=1`."""
        only(request, {"removed"}, once=True)
        removed = request.query_params.get("removed", "")
        if removed not in ("", "0", "1"):
            raise BadQuery("removed must be 1 (show removed endpoints) or 0")
        found = await run_in_threadpool(
            partial(views.endpoints, self.core.engine, include_removed=removed == "1")
        )
        return self.core.render(
            request, "endpoints.html", current, endpoints=found, removed=removed == "1",
            url_of=partial(hook_url, request), age=age,
        )  # fmt: skip

    async def endpoint(self, request: Request, current: Session) -> Response:
        only(request, set())
        return await self._detail(request, current, await self._view(request))

    async def keys(self, request: Request, current: Session, form: Form) -> Response:
        """Add a key beside the old one (rotate), or retire one by its fingerprint."""
        view = await self._view(request)
        action = form.get("action", "")
        engine = self.core.engine
        if action == "rotate":
            secret = _secret(form)
            await run_in_threadpool(rotate_key, engine, view.name, secret)
        elif action == "retire":
            fingerprint = check_text("fingerprint", form.get("fingerprint", "")).strip().lower()
            await run_in_threadpool(retire_key, engine, view.name, fingerprint)
        else:
            raise BadQuery("action must be rotate or retire")
        request.app.state.endpoints_changed()  # this process's receiver reloads at once
        return RedirectResponse(
            f"{base(request)}/endpoints/{quote(view.name, safe='')}", status_code=303
        )

    async def test(self, request: Request, current: Session, form: Form) -> Response:
        """The Event Tester: preview the sample's body, or post it and judge the answer."""
        view = await self._view(request)
        action = form.get("action", "")
        if action not in ("preview", "send"):
            raise BadQuery("action must be preview or send")
        kind = _kind(form.get("type", ""))
        url = _target(request, view, form)
        secret = _secret(form) if action == "send" else form.get("secret", "")[:200]
        body, content_type = build_body(
            kind, view.wire_format, secret=secret or "YOUR-SECRET-KEY",
            server_id=view.server_id if view.server_id is not None else DEFAULT_SERVER_ID,
        )  # fmt: skip
        redact = redactor(secret)
        shown = _text(redacted(body, view.wire_format, secret))
        if action == "preview":
            tested = Tested(kind, redact(shown_url(url)), shown, sent=False)
            return await self._detail(request, current, view, tested=tested)
        post = partial(
            send, url, body, content_type, wire_format=view.wire_format, secret=secret,
            validation_key=view.validation_key, timeout=SEND_TIMEOUT_S,
        )  # fmt: skip
        tested = Tested(kind, redact(shown_url(url)), shown, sent=True)
        try:
            with anyio.fail_after(SEND_LIMIT_S):
                result = await anyio.to_thread.run_sync(post, abandon_on_cancel=True)
        except Unreachable as error:
            failed = replace(tested, no_answer=redact(error.message))
            return await self._detail(request, current, view, tested=failed)
        except TimeoutError:
            line = f"no whole answer from {tested.url} within {SEND_LIMIT_S:g} s"
            failed = replace(tested, no_answer=line)
            return await self._detail(request, current, view, tested=failed)
        answer = result.answer  # already redacted by `send`
        if len(answer) > ANSWER_SHOWN:
            answer = answer[:ANSWER_SHOWN] + " …(truncated)"
        done = Tested(
            kind, tested.url, _text(result.shown_body), sent=True, status=result.status,
            answer=answer, elapsed_ms=round(result.elapsed * 1000), verdict=result.verdict,
        )  # fmt: skip
        return await self._detail(request, current, view, tested=done)

    async def validate(self, request: Request, current: Session, form: Form) -> Response:
        """`mailhooks check` against the endpoint's URL (or the one given), one line per check."""
        view = await self._view(request)
        url = _target(request, view, form)
        secret = _secret(form)
        redact = redactor(secret)
        options = CheckOptions(
            url=url, secret=secret, wire_format=view.wire_format,
            server_id=view.server_id if view.server_id is not None else DEFAULT_SERVER_ID,
            validation_key=view.validation_key, timeout_s=CHECK_TIMEOUT_S,
            validation_only=form.get("validation_only", "") == "1",
        )  # fmt: skip
        shown = redact(shown_url(url))
        try:
            with anyio.fail_after(CHECK_LIMIT_S):
                report: Report = await anyio.to_thread.run_sync(
                    run_checks, options, abandon_on_cancel=True
                )
        except TimeoutError:
            line = f"the checks of {shown} did not finish within {CHECK_LIMIT_S:g} s"
            checked = Checked(shown, [], "", ok=False, no_answer=line)
            return await self._detail(request, current, view, checked=checked)
        lines = [
            (r.status.value, r.name, redact(r.detail),
             redact(r.cause) if r.cause else None, redact(r.fix) if r.fix else None)
            for r in report.results
        ]  # fmt: skip
        checked = Checked(shown, lines, redact(summary(report)), ok=report.ok)
        return await self._detail(request, current, view, checked=checked)

    async def _view(self, request: Request) -> EndpointView:
        name = check_text("endpoint name", request.path_params["name"])
        return await run_in_threadpool(views.endpoint, self.core.engine, name)

    async def _detail(
        self,
        request: Request,
        current: Session,
        view: EndpointView,
        *,
        tested: Tested | None = None,
        checked: Checked | None = None,
    ) -> Response:
        return self.core.render(
            request, "endpoint.html", current, endpoint=view, url=hook_url(request, view),
            age=age, can_change=current.can_change, kinds=WIRE_TYPES, tested=tested,
            checked=checked, sample_events=describe_sample_events(),
        )  # fmt: skip


def hook_url(request: Request, view: EndpointView) -> str:
    """The URL to paste into SocketLabs: this server's origin and the receiver's path.

    Display only (and the tester's default target, which an admin may change anyway): the
    origin comes from the request's Host header, which the client chooses. Links and
    redirects never use it (see `requests.base`).
    """
    # The dashboard is mounted at /ui under the app's root; the receiver at /hooks.
    root = base(request).removesuffix("/ui")
    return f"{request.url.scheme}://{request.url.netloc}{root}{view.path}"


def age(moment: datetime) -> str:
    """How long ago, in its largest unit or two: "3 d 4 h", "5 min"."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h" if hours and days < 10 else f"{days} d"
    if hours:
        return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"
    return f"{rest // 60} min" if rest >= 60 else "under a minute"


def _kind(text: str) -> Kind:
    for kind in SAMPLE_KINDS:
        if text == kind.value:
            return kind
    raise BadQuery(f"type must be one of {', '.join(kind.value for kind in SAMPLE_KINDS)}")


def _secret(form: Form) -> str:
    """The pasted secret key; its value is never part of a refusal."""
    secret = form.get("secret", "")
    shortest, longest = SECRET_LENGTHS
    if not secret.strip():
        raise BadQuery("paste the secret key (the store keeps only its hash)")
    if not shortest <= len(secret) <= longest or "\x00" in secret or secret != secret.strip():
        raise BadQuery(
            f"the secret key must be {shortest} to {longest} characters, without spaces around it"
        )
    return secret


def _target(request: Request, view: EndpointView, form: Form) -> str:
    """The URL to post to: the one given (http or https only), else the endpoint's own."""
    url = check_text("url", form.get("url", "")).strip() or hook_url(request, view)
    if len(url) > 2000:
        raise BadQuery("the URL is longer than 2000 characters")
    try:
        parse_target(url)
    except InvalidInput:
        # Not the URL itself in the line: it may hold a password.
        raise BadQuery("the URL must look like http(s)://host[:port]/path") from None
    return url


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")
