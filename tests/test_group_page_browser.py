"""A storm's group page in headless Chromium on a 360x640 phone, as a technician uses it.

A collector on the session's Mosquitto and InfluxDB groups three stations' controller faults
into one SMS to a real aiohttp gateway; its signed `/g/` link is opened in the browser. One
technician, with JavaScript off (as the /a/ page is driven in test_webui.py), signs in from
the page and acknowledges their district's alert by its own button; a form changed to name
another district's alert is refused. Another, with our script on, acknowledges all of
theirs with one tap.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from devstack import Influxd, Mosquitto
from devstack.ports import free_port
from tests.alert_support import Hook, two_district_technicians
from tests.browser_support import Page, chromium, chromium_or_skip
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)
from tests.test_acklinks import fault

STATIONS = ("PEMBA-01", "PEMBA-02", "MONTEPUEZ-01")
WIDTH, HEIGHT = 360, 640
ROWS = "[...document.querySelectorAll('ul.hist li')]"
# every element's right edge: nothing may stick out of a 360 px screen
OVERFLOW = "[...document.querySelectorAll('body *')].filter(x => x.getBoundingClientRect().right > innerWidth + 0.5).map(x => x.tagName)"  # noqa: E501


async def fits(page: Page) -> None:
    """The page reads on the phone: no sideways scroll, nothing beyond the screen's edge."""
    assert await page.eval("document.documentElement.scrollWidth") <= WIDTH
    assert await page.eval(OVERFLOW) == []


async def rows(page: Page) -> list[str]:
    return list(await page.eval(f"{ROWS}.map(li => li.innerText)"))


async def buttons(page: Page) -> list[list[str]]:
    """The page's submit buttons but sign-out's: [their text, the alert they name]."""
    js = (
        "[...document.querySelectorAll('main button')]"
        ".map(b => [b.innerText, b.name ? b.value : ''])"
    )
    return list(await page.eval(js))


async def type_token(page: Page, token: str) -> int:
    await page.eval(f"document.querySelector('input[name=token]').value = {token!r}")
    return await page.tap("form[action='/signin'] button")


async def test_group_page_on_a_phone_signs_in_and_acknowledges_by_district(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path,
    hook: Hook,
) -> None:  # fmt: skip
    chromium_or_skip()
    techs = tmp_path / "technicians.yaml"
    ana, bento = two_district_technicians(techs)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sms: dict[str, Any] = {"type": "webhook", "url": hook.url, "backoff_s": 0.05, "timeout_s": 5}
    over = collector_overrides(
        mosquitto, influxd, fresh_db, prefix, tmp_path / "var",
        **{"http.listen": f"127.0.0.1:{port}", "web.enabled": True, "web.secure_cookies": False,
           "alerts.evaluate_interval_s": 0.05, "alerts.min_page_interval": 0,
           "alerts.group_rules": ["controller_fault"], "alerts.group_wait": "2s",
           "alerts.public_url": base, "alerts.technicians_file": str(techs),
           "alerts.notifiers": {"sms": sms},
           "alerts.routes": [{"name": "sul", "districts": ["Pemba", "Montepuez"],
                              "notifiers": ["sms"], "recipients": {"phones": ["+258841110001"]}}],
           "alerts.fallback": {"notifiers": ["sms"], "recipients": {"phones": ["+258849990000"]}}},
    )  # fmt: skip
    async with running_collector(over) as collector, chromium(tmp_path) as browser:
        svc = collector.alerts
        assert svc is not None
        client = publisher(mosquitto)
        try:
            await asyncio.to_thread(publish_all, client, [fault(prefix, s) for s in STATIONS])
        finally:
            client.loop_stop()
            client.disconnect()
        await wait_until(lambda: hook.events(event="firing"), 20, 0.05)
        (sent,) = hook.events(event="firing")  # one SMS for the three
        link = str(sent["link"])
        assert link.startswith(f"{base}/g/")
        ids = dict(zip(sent["stations"], sent["alert_ids"], strict=True))
        assert sorted(ids) == sorted(STATIONS)

        # Bento, no JavaScript: the link shows the three, and a way to sign in, no button
        bento_page = await browser.page(WIDTH, HEIGHT)
        await bento_page.send("Emulation.setScriptExecutionDisabled", {"value": True})
        await bento_page.goto(link)
        assert bento_page.statuses == [200]
        shown = await rows(bento_page)
        assert [next(s for s in STATIONS if s in r) for r in shown] == list(ids)
        assert await buttons(bento_page) == []
        await fits(bento_page)
        await bento_page.tap("main a[href^='/signin']")
        assert await bento_page.eval("location.pathname") == "/signin"
        await type_token(bento_page, bento)
        assert await bento_page.eval("location.href") == link  # back on the group's page
        assert sum("fora dos seus distritos" in r for r in await rows(bento_page)) == 2
        # the severity colours the station's name, not the row's "not yours" and buttons
        colours = f"{ROWS}.map(li => [getComputedStyle(li).color, li.querySelector('b').className])"
        assert await bento_page.eval(colours) == [["rgb(34, 34, 34)", "critical"]] * 3
        mont = str(ids["MONTEPUEZ-01"])
        assert await buttons(bento_page) == [
            ["Confirmar os meus (1)", ""],
            ["Confirmar: MONTEPUEZ-01", mont],
        ]
        await fits(bento_page)

        # a form changed to name a Pemba alert is refused; nothing is acknowledged
        pemba = str(ids["PEMBA-01"])
        bento_page.statuses.clear()
        retarget = f"document.querySelector('button[value=\"{mont}\"]').value = {pemba!r}"
        await bento_page.eval(retarget)
        await bento_page.tap(f"button[value='{pemba}']")
        assert bento_page.statuses == [403]
        assert "Sem acesso" in await bento_page.eval("document.body.innerText")
        assert all(a.acked_ms is None for a in svc.active.values())

        await bento_page.tap("main a")  # the way back to the group's page
        assert await bento_page.eval("location.href") == link

        # a page of an earlier session (signed in again since): refused, in words, with a
        # way back to a fresh form
        stale = "document.querySelectorAll('main input[name=csrf]').forEach(i => i.value = 'x' + i.value.slice(1))"  # noqa: E501
        await bento_page.eval(stale)
        bento_page.statuses.clear()
        await bento_page.tap(f"button[value='{mont}']")
        assert bento_page.statuses == [403]
        assert "O formulário expirou" in await bento_page.eval("document.body.innerText")
        assert all(a.acked_ms is None for a in svc.active.values())
        await bento_page.tap("main a")
        assert await bento_page.eval("location.href") == link

        # Montepuez's own button: acknowledged as Bento, and the page shows it after a GET
        bento_page.statuses.clear()
        await bento_page.tap(f"button[value='{mont}']")
        assert bento_page.statuses == [200] and await bento_page.eval("location.href") == link
        row = next(r for r in await rows(bento_page) if "MONTEPUEZ-01" in r)
        assert "Confirmado por Bento Montepuez" in row
        assert await buttons(bento_page) == []
        acked = {a.station: a.acked_by for a in svc.active.values()}
        assert acked == {"PEMBA-01": None, "PEMBA-02": None, "MONTEPUEZ-01": "Bento Montepuez"}

        # Ana, with our script (it disables a tapped button: the button's alert must still
        # be posted), signed in first: PEMBA-01's own button, then "mine" for the rest
        ana_page = await browser.page(WIDTH, HEIGHT)
        await ana_page.goto(base + "/signin")
        await type_token(ana_page, ana)
        # she taps the link in her SMS app: a navigation from elsewhere, not from our pages
        # (a page of another site here: localhost is not 127.0.0.1), and still signed in
        await ana_page.goto(f"http://localhost:{port}/signin")
        await ana_page.eval(f"document.body.innerHTML = '<a id=sms href={link}>SMS</a>'")
        await ana_page.tap("#sms")
        assert await ana_page.eval("location.href") == link
        assert await ana_page.eval("document.scripts.length") == 1  # /static/app.js
        p1, p2 = str(ids["PEMBA-01"]), str(ids["PEMBA-02"])
        assert await buttons(ana_page) == [
            ["Confirmar os meus (2)", ""],
            ["Confirmar: PEMBA-01", p1],
            ["Confirmar: PEMBA-02", p2],
        ]
        await fits(ana_page)
        await ana_page.tap(f"button[value='{p1}']")
        assert await ana_page.eval("location.href") == link
        assert await buttons(ana_page) == [
            ["Confirmar os meus (1)", ""],
            ["Confirmar: PEMBA-02", p2],
        ]
        assert {a.station: a.acked_by for a in svc.active.values()}["PEMBA-02"] is None
        ana_page.statuses.clear()
        await ana_page.tap("main form:not(:has(button[name])) button")
        assert ana_page.statuses == [200] and await ana_page.eval("location.href") == link
        assert await buttons(ana_page) == []
        assert sum("Confirmado por Ana Pemba" in r for r in await rows(ana_page)) == 2
        acked = {a.station: a.acked_by for a in svc.active.values()}
        assert acked == {"PEMBA-01": "Ana Pemba", "PEMBA-02": "Ana Pemba",
                         "MONTEPUEZ-01": "Bento Montepuez"}  # fmt: skip
        await fits(ana_page)
