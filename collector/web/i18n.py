"""The pages' words in Portuguese (default) and English, and relative times ("há 3 h")."""

from __future__ import annotations

from typing import Final, Literal

LANGS: Final = ("pt", "en")
LANG_COOKIE = "sw_lang"

_WORDS: Final[dict[str, dict[str, str]]] = {
    "pt": {
        "stations": "Estações", "map": "Mapa", "signout": "Sair", "other_lang": "English",
        "signin": "Entrar", "token": "Token do técnico", "bad_token": "Token inválido.",
        "signin_intro": "Entre com o token que o coordenador lhe deu.",
        "alerting": "em alerta", "silent": "sem sinal", "stale": "desatualizada", "ok": "normal",
        "state": "Estado", "battery": "Bateria", "autonomy": "Autonomia", "water": "Água",
        "seen": "Visto", "alerts": "Alertas", "none": "nenhum", "days": "{n} d",
        "ago": "há {d}", "now": "agora", "never": "nunca",
        "last48": "Últimas 48 h", "no_data": "Sem dados.", "devices": "Equipamentos",
        "device": "Equipamento", "reading": "Última leitura", "clock": "Desvio do relógio",
        "history": "Histórico de alertas", "ack": "Confirmar", "silence": "Silenciar 4 h",
        "acked": "Confirmado por {by}", "silenced": "silenciado", "cause": "Causa",
        "firing": "ativo", "resolved": "resolvido", "since": "Desde", "district": "Distrito",
        "station": "Estação", "alert": "Alerta", "name": "O seu nome (opcional)",
        "ack_long": "Confirmar (parar lembretes)", "forbidden": "Sem acesso a esta estação.",
        "not_found": "Não encontrado.", "forged": "Este link não é válido.",
        "expired": "Este link expirou. Peça um novo ao coordenador ou use a API.",
        "missing": "Este alerta já não existe.", "not_active": "Este alerta já não está ativo.",
        "bad_form": "O formulário expirou; abra o link de novo.",
        "back_to_group": "Voltar aos alertas",
        "open_station": "Ver a estação", "districts": "Distritos: {d}",
        "group_title": "{n} alertas enviados juntos", "ack_all": "Confirmar os meus ({n})",
        "not_yours": "fora dos seus distritos", "signin_to_ack": "Entre para confirmar",
        "group_no_web": "Para confirmar, responda OK <n.º> por SMS ou use a API.",
        "too_many": "Demasiadas tentativas. Tente de novo mais tarde.",
        "legend": "Cores: vermelho em alerta, cinzento sem sinal, amarelo desatualizada, "
        "verde normal.",
    },
    "en": {
        "stations": "Stations", "map": "Map", "signout": "Sign out", "other_lang": "Português",
        "signin": "Sign in", "token": "Technician token", "bad_token": "Token not valid.",
        "signin_intro": "Sign in with the token the coordinator gave you.",
        "alerting": "alerting", "silent": "silent", "stale": "stale", "ok": "ok",
        "state": "State", "battery": "Battery", "autonomy": "Autonomy", "water": "Water",
        "seen": "Seen", "alerts": "Alerts", "none": "none", "days": "{n} d",
        "ago": "{d} ago", "now": "now", "never": "never",
        "last48": "Last 48 h", "no_data": "No data.", "devices": "Devices",
        "device": "Device", "reading": "Last reading", "clock": "Clock offset",
        "history": "Alert history", "ack": "Acknowledge", "silence": "Silence 4 h",
        "acked": "Acknowledged by {by}", "silenced": "silenced", "cause": "Cause",
        "firing": "active", "resolved": "resolved", "since": "Since", "district": "District",
        "station": "Station", "alert": "Alert", "name": "Your name (optional)",
        "ack_long": "Acknowledge (stop reminders)", "forbidden": "No access to this station.",
        "not_found": "Not found.", "forged": "This link is not valid.",
        "expired": "This link has expired. Ask the coordinator or use the API.",
        "missing": "This alert no longer exists.", "not_active": "This alert is no longer active.",
        "bad_form": "The form is out of date; open the link again.",
        "back_to_group": "Back to the alerts",
        "open_station": "Open the station", "districts": "Districts: {d}",
        "group_title": "{n} alerts sent together", "ack_all": "Acknowledge mine ({n})",
        "not_yours": "not in your districts", "signin_to_ack": "Sign in to acknowledge",
        "group_no_web": "To acknowledge, reply OK <id> by SMS or use the API.",
        "too_many": "Too many attempts. Try again later.",
        "legend": "Colours: red alerting, grey silent, yellow stale, green ok.",
    },
}  # fmt: skip


class Words:
    """The words of one language: `w["stations"]`, or `w.f("ago", d="3 h")`."""

    def __init__(self, lang: str) -> None:
        self.lang: Literal["pt", "en"] = "en" if lang == "en" else "pt"
        self._w = _WORDS[self.lang]

    def __getitem__(self, key: str) -> str:
        return self._w[key]

    def f(self, key: str, **kw: object) -> str:
        return self._w[key].format(**kw)

    def ago(self, then_ms: int | None, now_ms: int) -> str:
        """'há 3 h' / '3 h ago'; 'agora' under a minute, 'nunca' for never."""
        if then_ms is None:
            return self["never"]
        s = max(0, (now_ms - then_ms) // 1000)
        if s < 60:
            return self["now"]
        if s < 3600:
            d = f"{s // 60} min"
        elif s < 86400 * 2:
            d = f"{s // 3600} h"
        else:
            d = f"{s // 86400} d"
        return self.f("ago", d=d)


def pick_lang(cookie: str | None, default: str) -> str:
    return cookie if cookie in LANGS else default
