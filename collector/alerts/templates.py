"""Alert texts in Portuguese (the field language) and English, short enough for one SMS."""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from devices.catalogue import RULE_KINDS as KINDS
from devices.fieldinfo import Lang, Text

SMS_MAX = 160
EVENTS = ("firing", "reminder", "resolved")
PLACEHOLDERS = (
    "severity", "title", "rule", "station", "station_name", "district", "device",
    "detail", "value", "threshold", "duration", "since", "id",
)  # fmt: skip

# GSM 03.38 basic set: anything else turns an SMS into UCS-2 (70 characters), so SMS
# bodies are folded into it (accents dropped where the set lacks the letter).
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


@dataclass(frozen=True)
class Language:
    """The words of one language."""

    severity: Mapping[str, str]
    titles: Mapping[str, str]
    texts: Mapping[str, str]
    code: Lang  # picks the catalogue's field labels
    silent_detail: str
    back_detail: str
    decimal: str
    budget: str  # the once-per-window notice that a station's pages are being dropped
    group: Mapping[str, str]  # one notification for several stations, per event
    digest: str  # what came and went while a station was silent
    causes: Mapping[str, str]  # a silence's likely cause and what to bring


PT = Language(
    severity={"warning": "AVISO", "critical": "CRÍTICO"},
    titles={
        "battery_low": "Bateria fraca",
        "battery_critical": "Bateria crítica",
        "tank_low": "Tanque baixo",
        "tank_empty": "Tanque vazio",
        "controller_fault": "Falha do controlador",
        "tank_sensor_fault": "Avaria do sensor do tanque",
        "station_silent": "Estação sem dados",
        "device_clock_skew": "Relógio do aparelho desacertado",
        "battery_forecast_low": "Bateria a acabar",
        "water_forecast_low": "Água a acabar",
        "tank_leak_suspected": "Suspeita de fuga no tanque",
        "catchment_blocked": "Captação entupida",
    },
    texts={
        "firing": "{severity} {title}: {station} ({district}) {detail} há {duration},"
        " desde {since} #{id}",
        "reminder": "LEMBRETE {severity} {title}: {station} ({district}) {detail}"
        " há {duration} #{id}",
        "resolved": "RESOLVIDO {title}: {station} ({district}) {detail}, durou {duration} #{id}",
    },
    code="pt",
    silent_detail="sem telemetria (limite {limit})",
    back_detail="voltou a comunicar",
    decimal=",",
    budget="Limite de avisos excedido para {station}: {count} alertas não enviados"
    " (máx. {budget} por {window})",
    group={
        "firing": "{severity} {title}: {count} estações ({route}): {stations}",
        "reminder": "LEMBRETE {severity} {title}: {count} estações ({route}): {stations}",
        "resolved": "RESOLVIDO {title}: {count} estações ({route}): {stations}",
        "digest": "RESUMO de {count} estações ({route}): {stations}",
    },
    digest="RESUMO {station}: enquanto sem dados, vieram e passaram: {items}",
    causes={
        "power": "provável falta de energia: levar uma bateria carregada",
        "network": "provável falha de comunicação: verificar o modem e o crédito do SIM",
        "district_network": "várias estações do distrito caladas: provável falha da rede GSM",
    },
)

EN = Language(
    severity={"warning": "WARNING", "critical": "CRITICAL"},
    titles={
        "battery_low": "Battery low",
        "battery_critical": "Battery critical",
        "tank_low": "Tank low",
        "tank_empty": "Tank empty",
        "controller_fault": "Controller fault",
        "tank_sensor_fault": "Tank sensor fault",
        "station_silent": "Station silent",
        "device_clock_skew": "Device clock off",
        "battery_forecast_low": "Battery running out",
        "water_forecast_low": "Water running out",
        "tank_leak_suspected": "Tank leak suspected",
        "catchment_blocked": "Catchment blocked",
    },
    texts={
        "firing": "{severity} {title}: {station} ({district}) {detail} for {duration},"
        " since {since} #{id}",
        "reminder": "REMINDER {severity} {title}: {station} ({district}) {detail}"
        " for {duration} #{id}",
        "resolved": "RESOLVED {title}: {station} ({district}) {detail}, lasted {duration} #{id}",
    },
    code="en",
    silent_detail="no telemetry (limit {limit})",
    back_detail="reporting again",
    decimal=".",
    budget="Notification budget exceeded for {station}: {count} alerts not paged"
    " (max {budget} per {window})",
    group={
        "firing": "{severity} {title}: {count} stations ({route}): {stations}",
        "reminder": "REMINDER {severity} {title}: {count} stations ({route}): {stations}",
        "resolved": "RESOLVED {title}: {count} stations ({route}): {stations}",
        "digest": "DIGEST of {count} stations ({route}): {stations}",
    },
    digest="DIGEST {station}: while silent, came and went: {items}",
    causes={
        "power": "likely power: take a charged battery",
        "network": "likely communications: check the modem and the SIM's credit",
        "district_network": "several stations of the district silent: likely a GSM outage",
    },
)

LANGUAGES: dict[str, Language] = {"pt": PT, "en": EN}
# Field labels by language, from the catalogue: by (kind, field), and by field alone for a
# caller without the kind (a field several kinds share keeps the first kind's label).
_LABELS: dict[tuple[str | None, str], tuple[Text, str]] = {}
for _kind in KINDS.values():
    for _name, _info in _kind.info.items():
        _LABELS[(_kind.name, _name)] = (_info.short, _info.sms_unit())
        _LABELS.setdefault((None, _name), (_info.short, _info.sms_unit()))


def label(lang: Language, field: str, kind: str | None = None) -> tuple[str, str]:
    """The short label and unit of a field, as the catalogue gives them (its name otherwise)."""
    found = _LABELS.get((kind, field)) or _LABELS.get((None, field))
    if found is None:
        return field, ""
    text, unit = found
    return text(lang.code), unit


def number(lang: Language, value: float | int | str) -> str:
    """A value as people read it: at most one decimal, the language's decimal mark."""
    if isinstance(value, str):
        return value
    text = f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return text.replace(".", lang.decimal)


def to_gsm7(text: str) -> str:
    """Fold `text` into the GSM 7-bit basic set so an SMS keeps its 160 characters."""
    out = []
    for ch in text:
        if ch in GSM7:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if c in GSM7)
        out.append(base or "?")
    return "".join(out)


def sms_text(text: str, suffix: str = "") -> str:
    """`text` folded to GSM-7 and cut so that it and `suffix` (a link, kept whole) fit one SMS."""
    folded, room = to_gsm7(text), max(SMS_MAX - len(suffix), 20)
    return (folded if len(folded) <= room else folded[: room - 2].rstrip() + "..") + suffix


def render(lang: Language, overrides: Mapping[str, str], event: str, ctx: Mapping[str, str]) -> str:
    """The text of one notification; a too long one loses the district first."""
    template = overrides.get(event) or lang.texts[event]
    text = template.format_map(ctx)
    if len(to_gsm7(text)) > SMS_MAX and ctx.get("district"):
        text = template.format_map({**ctx, "district": "-"}).replace(" (-)", "")
    return text


def check_templates(language: str, overrides: Mapping[str, str]) -> None:
    """Raise ValueError for an unknown event or placeholder in configured templates."""
    for event, template in overrides.items():
        if event not in EVENTS:
            raise ValueError(f"templates: unknown text {event!r} (texts: {', '.join(EVENTS)})")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise ValueError(f"templates.{event}: {exc}") from None
        for f in fields:
            if f not in PLACEHOLDERS:
                raise ValueError(
                    f"templates.{event}: unknown placeholder {{{f}}}"
                    f" (placeholders: {', '.join(PLACEHOLDERS)})"
                )
