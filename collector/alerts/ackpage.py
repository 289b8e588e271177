"""The page a signed link opens: the alert, and a button that acknowledges it in one tap.

Server-rendered HTML, every value escaped, no script (works without JavaScript), sized for a
phone, in the alerts' language. The form carries a CSRF token derived from the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from aiohttp import web

from collector.alerts.links import LinkRefused, LinkSigner
from collector.alerts.model import Alert
from collector.alerts.service import AlertService

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the link is the key: never hand it on
    "Cache-Control": "no-store",
}
STYLE = (
    "body{font-family:sans-serif;margin:0 auto;max-width:32em;padding:1em;line-height:1.4}"
    "h1{font-size:1.3em}dt{font-weight:bold}dd{margin:0 0 .6em 0}"
    ".critical{color:#b00}.warning{color:#a60}"
    "button{font-size:1.2em;padding:.8em;width:100%;margin-top:.5em}"
    "input{font-size:1em;padding:.5em;width:100%;box-sizing:border-box}"
)


@dataclass(frozen=True)
class Words:
    """The page's words in one language."""

    lang: str
    alert: str
    station: str
    district: str
    device: str
    state: str
    since: str
    firing: str
    resolved: str
    acked: str  # {by} {at}
    ack: str
    name: str
    forged: str
    expired: str
    missing: str
    not_active: str
    bad_form: str


WORDS = {
    "pt": Words(
        "pt",
        "Alerta",
        "Estação",
        "Distrito",
        "Equipamento",
        "Estado",
        "Desde",
        "ativo",
        "resolvido",
        "Confirmado por {by} às {at}.",
        "Confirmar (parar lembretes)",
        "O seu nome (opcional)",
        "Este link não é válido.",
        "Este link expirou. Peça um novo ao coordenador ou use a API.",
        "Este alerta já não existe.",
        "Este alerta já não está ativo.",
        "O formulário expirou; abra o link de novo.",
    ),
    "en": Words(
        "en",
        "Alert",
        "Station",
        "District",
        "Device",
        "State",
        "Since",
        "active",
        "resolved",
        "Acknowledged by {by} at {at}.",
        "Acknowledge (stop reminders)",
        "Your name (optional)",
        "This link is not valid.",
        "This link has expired. Ask the coordinator or use the API.",
        "This alert no longer exists.",
        "This alert is no longer active.",
        "The form is out of date; open the link again.",
    ),
}
NAME_MAX = 100


def _page(words: Words, title: str, body: str, status: int = 200) -> web.Response:
    html = (
        f'<!DOCTYPE html><html lang="{words.lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
    return web.Response(
        text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
    )


class AckPage:
    """GET and POST /a/{token}, bound to one AlertService and its link signer."""

    def __init__(self, service: AlertService) -> None:
        self.svc = service
        self.words = WORDS.get(service.settings.language, WORDS["en"])

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/a/{token}", self.show)
        app.router.add_post("/a/{token}", self.acknowledge)

    def _refusal(self, msg: str, status: int) -> web.Response:
        return _page(self.words, "SolarWater", f"<h1>SolarWater</h1><p>{escape(msg)}</p>", status)

    def _verify(self, request: web.Request) -> tuple[LinkSigner, int, str] | web.Response:
        signer = self.svc.signer
        if signer is None:
            return self._refusal(self.words.forged, 403)  # links are off: none is ours
        token = request.match_info["token"]
        try:
            link = signer.verify(token, self.svc.clock())
        except LinkRefused as exc:
            if exc.expired:
                return self._refusal(self.words.expired, 410)
            return self._refusal(self.words.forged, 403)
        return signer, link.alert_id, token

    async def show(self, request: web.Request) -> web.Response:
        checked = self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        signer, alert_id, token = checked
        a = await self.svc.get_alert(alert_id)
        if a is None:
            return self._refusal(self.words.missing, 404)
        return self.render(a, token, signer.csrf(token))

    def render(self, a: Alert, token: str, csrf: str) -> web.Response:
        w, m = self.words, self.svc.messages
        now_ms = int(self.svc.clock() * 1000)
        title = m.title(a.rule)
        station = self.svc.fleet.get(a.station)
        where = f"{a.station} ({station.name})" if station and station.name else a.station
        rows = [
            (w.station, where),
            (w.district, a.district or "-"),
            (w.device, a.device or "-"),
            (w.state, w.firing if a.state == "firing" else w.resolved),
            (w.since, m.local(a.since_ms, now_ms)),
        ]
        detail = a.detail if a.state == "firing" else a.resolved_detail
        parts = [
            f'<h1 class="{escape(a.severity)}">{escape(title)}</h1>',
            f"<p>{escape(detail)}</p><dl>",
            *(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows),
            "</dl>",
        ]
        if a.acked_ms is not None:
            at = m.local(a.acked_ms, now_ms)
            parts.append(f"<p>{escape(w.acked.format(by=a.acked_by or '-', at=at))}</p>")
        elif a.state == "firing":
            parts.append(
                f'<form method="post" action="{escape(token)}">'
                f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
                f'<label>{escape(w.name)}<input name="name" maxlength="{NAME_MAX}"'
                ' autocomplete="name"></label>'
                f'<button type="submit">{escape(w.ack)}</button></form>'
            )
        return _page(w, f"{w.alert} #{a.id}: {title} {a.station}", "".join(parts))

    async def acknowledge(self, request: web.Request) -> web.Response:
        checked = self._verify(request)
        if isinstance(checked, web.Response):
            return checked
        signer, alert_id, token = checked
        form = await request.post()
        csrf, name = form.get("csrf"), form.get("name")
        if not isinstance(csrf, str) or not signer.csrf_ok(token, csrf):
            return self._refusal(self.words.bad_form, 403)
        who = name.strip()[:NAME_MAX] if isinstance(name, str) and name.strip() else None
        a = await self.svc.ack(alert_id, who or "link", via="link")
        if a is None:
            return self._refusal(
                self.words.missing if await self.svc.get_alert(alert_id) is None
                else self.words.not_active, 409,
            )  # fmt: skip
        # after the POST, back to the page: a reload does not post again
        raise web.HTTPSeeOther(location=token, headers=HEADERS)
