"""Sign-in with a technician's token, sign-out, and the language switch."""

from __future__ import annotations

import asyncio

from aiohttp import web

from collector.alerts.technicians import token_hash
from collector.web.context import WebContext
from collector.web.csrf import checked_form
from collector.web.html import e, page
from collector.web.i18n import LANG_COOKIE, LANGS
from collector.web.sessions import COOKIE

TOKEN_MAX = 200


def _safe_next(target: str | None) -> str:
    """Only a path of this site: no scheme, no //host (an open redirect would phish)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class AuthPages:
    """GET/POST /signin, POST /signout, GET /lang/{lang}."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/signin", self.show)
        app.router.add_post("/signin", self.sign_in)
        app.router.add_post("/signout", self.sign_out)
        app.router.add_get("/lang/{lang}", self.language)

    def _form(
        self, request: web.Request, after: str, error: str = "", status: int = 200
    ) -> web.Response:
        w = self.ctx.words(request)
        msg = f'<p class="err">{e(error)}</p>' if error else ""
        back = f'<input type="hidden" name="next" value="{e(after)}">' if after != "/" else ""
        body = (
            f"<h1>SolarWater</h1><p>{e(w['signin_intro'])}</p>{msg}"
            f'<form method="post" action="/signin">{back}'
            f'<label>{e(w["token"])}<input name="token" type="password" required '
            f'maxlength="{TOKEN_MAX}" autocomplete="current-password"></label>'
            f'<button type="submit">{e(w["signin"])}</button></form>'
        )
        return page(w, "SolarWater", body, here="/signin", status=status)

    async def show(self, request: web.Request) -> web.Response:
        after = _safe_next(request.query.get("next"))  # back to a group's page, say
        if await self.ctx.session(request) is not None:
            raise web.HTTPSeeOther(after)
        return self._form(request, after)

    async def sign_in(self, request: web.Request) -> web.Response:
        # no CSRF token here: there is no session yet, and a forged sign-in could only sign
        # the victim in as the forger, with the forger's secret token
        form = await request.post()
        token, after = form.get("token"), form.get("next")
        after = _safe_next(after if isinstance(after, str) else None)
        client, too_many = self.ctx.limited(request)
        if too_many is not None:
            return too_many  # not even checked: a guessing script learns nothing
        techs = self.ctx.svc.technicians
        who = None
        if isinstance(token, str) and 0 < len(token.strip()) <= TOKEN_MAX:
            await asyncio.to_thread(techs.refresh)  # a rotated token works without a restart
            who = techs.identify(token.strip())
        if who is None or not isinstance(token, str):
            self.ctx.counts["signins_refused"] += 1
            self.ctx.limiter.failed(client)
            return self._form(request, after, self.ctx.words(request)["bad_token"], 401)
        s = await self.ctx.sessions.open(token_hash(token.strip()), self.ctx.svc.clock())
        self.ctx.counts["signins"] += 1
        resp = web.HTTPSeeOther(after)
        # Lax, not Strict: a link tapped in an SMS app or a mail client is a navigation from
        # elsewhere, and a Strict cookie stays home, so every alert link would ask for the
        # token again. Cross-site POSTs still go without it, and every form has a CSRF token.
        resp.set_cookie(
            COOKIE, s.id, max_age=int(self.ctx.settings.session_ttl), path="/",
            secure=self.ctx.settings.secure_cookies, httponly=True, samesite="Lax",
        )  # fmt: skip
        raise resp

    async def sign_out(self, request: web.Request) -> web.Response:
        s = await self.ctx.require(request)
        await checked_form(request, s, self.ctx.counts)
        await self.ctx.sessions.close(s.id)
        resp = web.HTTPSeeOther("/signin")
        resp.del_cookie(COOKIE, path="/")
        raise resp

    async def language(self, request: web.Request) -> web.Response:
        lang = request.match_info["lang"]
        if lang not in LANGS:
            raise web.HTTPNotFound()
        resp = web.HTTPSeeOther(_safe_next(request.query.get("next")))
        resp.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, path="/", httponly=True, samesite="Lax",
            secure=self.ctx.settings.secure_cookies,
        )  # fmt: skip
        raise resp
