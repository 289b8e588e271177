"""The page shell: one stylesheet and one small script of our own, security headers, escaping."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from aiohttp import web

from collector.web.i18n import Words
from collector.web.sessions import Session

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a signed link in the address is a key: never hand it on
    "Cache-Control": "no-store",
}
e = escape


def lang_switch(w: Words, here: str) -> str:
    other = "en" if w.lang == "pt" else "pt"
    target = quote(here, safe="/")
    return f'<a class="lang" href="/lang/{other}?next={target}">{e(w["other_lang"])}</a>'


def nav(w: Words, s: Session | None, here: str) -> str:
    if s is None:
        return f"<nav>{lang_switch(w, here)}</nav>"
    return (
        f'<nav><a href="/">{e(w["stations"])}</a> <a href="/map">{e(w["map"])}</a> '
        f"{lang_switch(w, here)}"
        f'<form method="post" action="/signout" class="out">'
        f'<input type="hidden" name="csrf" value="{e(s.csrf)}">'
        f'<button type="submit">{e(w["signout"])}</button></form>'
        f'<span class="who">{e(s.who.name)}</span></nav>'
    )


def page(
    w: Words, title: str, body: str, *, session: Session | None = None, here: str = "/",
    status: int = 200,
) -> web.Response:  # fmt: skip
    html = (
        f'<!DOCTYPE html><html lang="{w.lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{e(title)}</title><link rel="stylesheet" href="/static/app.css">'
        '<script src="/static/app.js" defer></script></head>'
        f"<body>{nav(w, session, here)}<main>{body}</main></body></html>"
    )
    resp = web.Response(
        text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
    )
    resp.enable_compression()  # 2G/3G: a page is a few KB compressed
    return resp


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{e(token)}">'


def dash(v: float | None, fmt: str = "{:.0f}") -> str:
    """A figure, or "—" when it is not known."""
    return "—" if v is None else fmt.format(v)
