"""``hub console``: the compliance officers' web pages (FastAPI, Jinja2, no JavaScript needed).

Sessions are a random token in an HttpOnly, SameSite=Strict cookie, kept in the store as its
SHA-256 and expiring after ``console_session_minutes``; every form carries a CSRF token (the
session's, or before sign-in a double-submit cookie).  An officer sees the hand-offs of their
scope only: one outside it answers 403, and the attempt is audited like every look.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import urllib.parse
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from hub.audit.stamps import Stamps
from hub.audit.timestamps import stamped_bytes
from hub.audit.transparency import prove
from hub.console import ledger_book, params, pictures
from hub.console.auth import (
    SignInRefused,
    sign_in,
    sign_in_with_certificate,
)
from hub.console.handoff import handoff_view
from hub.console.headers import PLAIN, secured
from hub.console.looks import latest_looks, look
from hub.console.search import Filters, in_scope, search
from hub.console.service import Console
from hub.console.static_files import FAVICON_SVG, static_script
from hub.console.words import install as install_words
from hub.core.clock import BEIJING
from hub.lifecycle.states import State
from hub.report.render import to_html
from hub.report.weekly import weekly_report_from_store
from hub.report.xlsx import to_xlsx
from hub.sla.weekly import week_of
from hub.storage.officers import Officer, Session
from hub.wire.families import FAMILIES

log = logging.getLogger("hub.console")

COOKIE = "hub_console"
LOGIN_CSRF = "hub_console_login"
PAGES = Environment(
    loader=PackageLoader("hub.console", "templates"), autoescape=select_autoescape()
)
install_words(PAGES)
TSR = "application/timestamp-reply"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NO_CERTIFICATES = "证书登录未启用 Certificate sign-in is not enabled here."
WRONG = "账号、密码或动态口令错误 Account, password or code is wrong."


class NotSignedIn(Exception):
    pass


def create_app(console: Console) -> FastAPI:
    app = FastAPI(title="hub console", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def checked(request: Request, call_next: Any) -> Response:
        """Every parameter checked before a page is built (400, plain text); every answer with
        the security headers."""
        wrong = params.problem(request.url.path, request.query_params.multi_items())
        if wrong is not None:
            answer: Response = Response(wrong, status_code=400, media_type=PLAIN)
        else:
            answer = await call_next(request)
        return secured(request.url.path, answer)

    def page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(PAGES.get_template(name).render(**values), status_code=status)

    def current(request: Request) -> tuple[Officer, Session]:
        token = request.cookies.get(COOKIE, "")
        session = console.officers.session(token, now=console.clock()) if token else None
        officer = console.officers.get(session.officer) if session else None
        if session is None or officer is None or officer.disabled:
            raise NotSignedIn
        return officer, session

    def denied(
        officer: Officer, what: str, *, message_id: str | None = None,
        filters: dict[str, str] | None = None, csrf: str | None = None, status: int = 403,
    ) -> Response:  # fmt: skip
        """403 (or ``status``), once the refused look is in the audit log like any other."""
        console.looks.write(look(officer.name, what, console.clock(), message_id=message_id,
                                 filters=filters, outcome="denied"))  # fmt: skip
        log.warning("console: %s refused %s %s (scope %s)", officer.name, what,
                    message_id or filters or "", officer.scope)  # fmt: skip
        if csrf is None:
            return Response("outside your scope", status_code=status, media_type=PLAIN)
        return page("denied.html", status, officer=officer, csrf=csrf)

    def visible(officer: Officer, message_id: str) -> dict[str, Any] | None:
        entry = console.ledger.entry(message_id[:64])
        if entry is None or not in_scope(officer.scope, entry.get("sender_region"),
                                         entry.get("recipient_region")):  # fmt: skip
            return None
        return entry

    @app.exception_handler(NotSignedIn)
    async def to_login(request: Request, exc: NotSignedIn) -> Response:
        return RedirectResponse("/login", status_code=303)

    def login_page(status: int = 200, error: str | None = None) -> HTMLResponse:
        """The sign-in form with a fresh double-submit token, whatever brought the officer here:
        a form that expired or was refused is always one that can be sent again."""
        csrf = secrets.token_urlsafe(24)
        response = page("login.html", status, login_csrf=csrf, officer=None, error=error,
                        certificates=console.certificate_proxy is not None)  # fmt: skip
        response.set_cookie(LOGIN_CSRF, csrf, httponly=True, samesite="strict",
                            secure=console.secure_cookies)  # fmt: skip
        return response

    @app.get("/login")
    def login_form(request: Request) -> HTMLResponse:
        return login_page()

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        csrf = str(form.get("csrf", ""))
        if not csrf or not secrets.compare_digest(csrf, request.cookies.get(LOGIN_CSRF, "")):
            return login_page(400, "表单已过期，请重试 The form expired; try again.")
        name = str(form.get("name", ""))[:64]
        try:
            # argon2 takes ~50 ms of CPU on purpose: off the event loop, so sign-ins never
            # stall every other officer's page.
            officer = await run_in_threadpool(
                sign_in, console.officers, name, str(form.get("password", "")),
                str(form.get("code", "")), console.clock(), code_time=console.code_clock(),
            )  # fmt: skip
        except SignInRefused as exc:
            log.warning("console sign-in refused for %r: %s", name, exc.detail)
            return login_page(401, WRONG)
        return _signed_in(officer)

    @app.get("/login/certificate")
    def login_certificate(request: Request) -> Response:
        proxy = console.certificate_proxy
        if proxy is None:
            return page("login.html", 404, login_csrf="", officer=None, error=NO_CERTIFICATES)
        try:
            sha256 = proxy.fingerprint(request.headers, console.clock())
            officer = sign_in_with_certificate(console.officers, sha256, console.clock())
        except (SignInRefused, ValueError) as exc:
            log.warning("console certificate sign-in refused: %s", exc)
            return page("login.html", 401, login_csrf="", officer=None, error=WRONG)
        return _signed_in(officer)

    def _signed_in(officer: Officer) -> Response:
        token, _ = console.officers.new_session(officer.name, now=console.clock(),
                                                lifetime=console.session_lifetime)  # fmt: skip
        log.info("console: %s signed in", officer.name)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict",
                            secure=console.secure_cookies,
                            max_age=int(console.session_lifetime.total_seconds()))  # fmt: skip
        response.delete_cookie(LOGIN_CSRF)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        officer, session = current(request)
        form = await request.form()
        if not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
            # Refused whole: the session and its cookie stay as they were (a forged sign-out
            # must neither end it nor leave a browser without its cookie and a live session).
            return Response("the sign-out form expired: sign out from a page of the console",
                            status_code=400, media_type=PLAIN)  # fmt: skip
        console.officers.end_session(request.cookies.get(COOKIE, ""))
        log.info("console: %s signed out", officer.name)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/")
    def search_page(request: Request) -> HTMLResponse:
        officer, session = current(request)
        f = Filters.of(dict(request.query_params))
        now = console.clock()
        console.looks.write(look(officer.name, "search", now, filters=f.as_facts()))
        rows, more = search(console.store.engine, f, scope=officer.scope, now=now)
        for r in rows:
            r["delivered"] = r["delivered_at"].astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
        query = dict(request.query_params)
        return page(
            "search.html", officer=officer, csrf=session.csrf, f=f, rows=rows, more=more,
            families=sorted(n for n, fam in FAMILIES.items() if not fam.hub_only),
            states=[s.value for s in State],
            next=urllib.parse.urlencode({**query, "page": f.page + 1}),
            prev=urllib.parse.urlencode({**query, "page": max(1, f.page - 1)}),
        )  # fmt: skip

    @app.get("/handoffs/{message_id}")
    def handoff_page(message_id: str, request: Request) -> Response:
        officer, session = current(request)
        now = console.clock()
        if console.ledger.entry(message_id) is None:
            console.looks.write(look(officer.name, "handoff", now, message_id=message_id,
                                     outcome="not_found"))  # fmt: skip
            return page("denied.html", 404, officer=officer, csrf=session.csrf)
        if visible(officer, message_id) is None:  # the same answer as "not there"
            return denied(officer, "handoff", message_id=message_id, csrf=session.csrf,
                          status=404)  # fmt: skip
        console.looks.write(look(officer.name, "handoff", now, message_id=message_id))
        view = handoff_view(message_id, ledger=console.ledger, store=console.store,
                            audit=console.audit, directory=console.directory(),
                            calendar=console.calendar, now=now,
                            tsa_roots=console.tsa_roots,
                            archive_dir=console.archive_dir)  # fmt: skip
        config = {**console.pinned(), "proofs_url": f"/handoffs/{message_id}/proofs"}
        return page("handoff.html", officer=officer, csrf=session.csrf, v=view,
                    config=json.dumps(config), can_verify=bool(console.pinned()))  # fmt: skip

    @app.get("/handoffs/{message_id}/proofs")
    def proofs(message_id: str, request: Request) -> Response:
        officer, _ = current(request)
        if visible(officer, message_id) is None:
            return denied(officer, "proofs", message_id=message_id[:64])
        if console.checkpoint_key is None:
            return JSONResponse({"detail": "no key to sign the tree head"}, status_code=503)
        console.looks.write(look(officer.name, "proofs", console.clock(), message_id=message_id))
        return JSONResponse(prove(console.audit, message_id, key=console.checkpoint_key))

    @app.get("/handoffs/{message_id}/timestamp/{seq}.{part}")
    def timestamp(message_id: str, seq: int, part: str, request: Request) -> Response:
        """The TSA's token (.tsr) on a checkpoint and the bytes it stamps (.dat), for
        ``openssl ts -verify``.  A checkpoint dates the whole log, no one hand-off's contents,
        so any stamped one is served to an officer who may see the hand-off asking."""
        officer, _ = current(request)
        if visible(officer, message_id) is None:
            return denied(officer, "timestamp", message_id=message_id[:64])
        found = Stamps(console.audit).covering(seq)
        if part not in ("tsr", "dat") or found is None or found[0].seq != seq:
            return Response(status_code=404)
        console.looks.write(look(officer.name, "timestamp", console.clock(),
                                 message_id=message_id[:64], outcome="downloaded"))  # fmt: skip
        cp, token = found
        body, kind = (token, TSR) if part == "tsr" else (stamped_bytes(cp), "text/plain")
        disposition = f"attachment; filename={cp.seq}.{part}"
        return Response(body, media_type=kind, headers={"Content-Disposition": disposition})

    @app.get("/favicon.ico")
    @app.get("/favicon.svg")
    def favicon() -> Response:
        return Response(FAVICON_SVG, media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip

    @app.get("/static/{name:path}")
    def static(name: str) -> Response:
        text = static_script(name)
        return Response(text, media_type="text/javascript") if text else Response(status_code=404)

    def _weekly_args(request: Request, officer: Officer) -> tuple[str, str]:
        region = request.query_params.get("region", officer.scope).strip() or officer.scope
        week = request.query_params.get("week", "").strip() or week_of(console.clock())
        return region, week

    def _refused_region(officer: Officer, region: str) -> bool:
        return not (len(region) == 6 and region.isdigit() and in_scope(officer.scope, region))

    @app.get("/weekly")
    def weekly_page(request: Request) -> Response:
        officer, session = current(request)
        region, week = _weekly_args(request, officer)
        if _refused_region(officer, region):
            return denied(officer, "weekly", filters={"region": region}, csrf=session.csrf)
        return page("weekly.html", officer=officer, csrf=session.csrf, region=region, week=week)

    def _report(request: Request, outcome: str) -> tuple[Any, str, str] | Response:
        """(the report, region, week) once the look is written, or the answer refusing it."""
        officer, _ = current(request)
        region, week = _weekly_args(request, officer)
        if _refused_region(officer, region):
            return denied(officer, "weekly", filters={"region": region})
        try:
            report = weekly_report_from_store(console.audit, region, week)
        except ValueError as exc:
            return Response(str(exc), status_code=400, media_type=PLAIN)
        where = {"region": region, "week": week}
        console.looks.write(
            look(officer.name, "weekly", console.clock(), filters=where, outcome=outcome)
        )
        return report, region, week

    @app.get("/weekly/print")
    def weekly_print(request: Request) -> Response:
        found = _report(request, "shown")
        return found if isinstance(found, Response) else HTMLResponse(to_html(found[0]))

    @app.get("/weekly.xlsx")
    def weekly_xlsx(request: Request) -> Response:
        found = _report(request, "downloaded")
        if isinstance(found, Response):
            return found
        report, region, week = found
        name = urllib.parse.quote(f"周报表-{region}-{week}.xlsx")
        return Response(
            to_xlsx(report),
            media_type=XLSX,
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
        )

    @app.get("/pictures")
    def pictures_page(request: Request) -> HTMLResponse:
        officer, session = current(request)
        now = console.clock()
        since, until = pictures.period(request.query_params.get("since", ""),
                                       request.query_params.get("until", ""), now)  # fmt: skip
        first, last = _days(since, until)
        console.looks.write(look(officer.name, "pictures", now,
                                 filters={"since": first, "until": last}))  # fmt: skip
        engine = console.store.engine
        flows = pictures.flows(engine, officer.scope, since, until)
        overdue = pictures.overdue_by_region(engine, officer.scope, now)
        met = pictures.compliance(engine, officer.scope, since, until)
        return page(
            "pictures.html", officer=officer, csrf=session.csrf, since=first, until=last,
            flows=sorted(flows.items()), overdue=overdue.most_common(),
            flows_svg=pictures.flows_svg(flows), overdue_svg=pictures.overdue_svg(overdue),
            compliance_svg=pictures.compliance_svg(met), compliance=pictures.compliance_rows(met),
        )  # fmt: skip

    def _ledger_args(request: Request, officer: Officer) -> tuple[str, datetime, datetime]:
        region = request.query_params.get("region", officer.scope).strip() or officer.scope
        q = request.query_params
        since, until = pictures.period(q.get("since", ""), q.get("until", ""), console.clock())
        return region, since, until

    @app.get("/ledger")
    def ledger_page(request: Request) -> Response:
        officer, session = current(request)
        region, since, until = _ledger_args(request, officer)
        first, last = _days(since, until)
        if _refused_region(officer, region):
            return denied(officer, "ledger", filters={"region": region}, csrf=session.csrf)
        where = {"region": region, "since": first, "until": last}
        console.looks.write(look(officer.name, "ledger", console.clock(), filters=where))
        found = list(itertools.islice(ledger_book.rows(console.store.engine, region, since,
                                                       until), 501))  # fmt: skip
        return page("ledger.html", officer=officer, csrf=session.csrf, region=region,
                    since=first, until=last, rows=found[:500], more=len(found) > 500,
                    columns=ledger_book.COLUMNS)  # fmt: skip

    @app.get("/ledger.xlsx")
    def ledger_xlsx(request: Request) -> Response:
        officer, _ = current(request)
        region, since, until = _ledger_args(request, officer)
        first, last = _days(since, until)
        if _refused_region(officer, region):
            return denied(officer, "ledger", filters={"region": region})
        where = {"region": region, "since": first, "until": last}
        console.looks.write(
            look(officer.name, "ledger", console.clock(), outcome="downloaded", filters=where)
        )
        body = ledger_book.to_xlsx(ledger_book.rows(console.store.engine, region, since, until),
                                   f"台账 {region} {first} — {last}")  # fmt: skip
        name = urllib.parse.quote(f"台账-{region}-{first}-{last}.xlsx")
        disposition = f"attachment; filename*=UTF-8''{name}"
        return Response(body, media_type=XLSX, headers={"Content-Disposition": disposition})

    @app.get("/looks")
    def looks_page(request: Request) -> Response:
        officer, session = current(request)
        if officer.role != "supervisor":
            return denied(officer, "looks", csrf=session.csrf)
        q = request.query_params
        who, mid = q.get("officer", "").strip(), q.get("message_id", "").strip()
        number = int(q.get("page", "1") or 1)
        filters = {k: v for k, v in (("officer", who), ("message_id", mid)) if v}
        console.looks.write(look(officer.name, "looks", console.clock(), filters=filters))
        rows, more = latest_looks(console.audit, officer=who, message_id=mid, page=number)
        return page("looks.html", officer=officer, csrf=session.csrf, looks=rows, more=more,
                    who=who, mid=mid, number=number,
                    prev=urllib.parse.urlencode({**filters, "page": number - 1}),
                    next=urllib.parse.urlencode({**filters, "page": number + 1}))  # fmt: skip

    return app


def _days(since: datetime, until: datetime) -> tuple[str, str]:
    """[since, until) as the first and last Beijing days, as the forms show them."""
    last = until - timedelta(days=1)
    return since.astimezone(BEIJING).date().isoformat(), last.astimezone(BEIJING).date().isoformat()
