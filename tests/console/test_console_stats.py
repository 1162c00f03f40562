"""/console/stats in a real browser (headless chromium), against a tenant with downloads on
many days: every bar the page draws carries the figure GET /stats answers for the same period,
drawn to scale, under the console's strict Content-Security-Policy. Screenshots of the page
(laptop, phone, an error) go to the artefact directory."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from service.stats.events import CONTENT, METADATA, AccessEvent, write_batch
from tests.console.conftest import sign_in
from tests.service.conftest import ADMIN_KEY, Service, running_service
from tests.service.helpers import pdf, png
from tests.support.waiting import eventually

WINDOW = (1280, 800)
MENTOR = "Mentor/Coach"
# A company name that would break out of an attribute or element if it were not escaped.
HOSTILE_COMPANY = 'Acme "<b>&</b>" Ltd'


def shot(chrome, artefacts: Path, name: str) -> None:
    """The whole page: the window grown to the page's height for the picture."""
    # The pointer off the charts, so that no bar is shown hovered.
    ActionChains(chrome).move_to_element(chrome.find_element(By.TAG_NAME, "h1")).perform()
    width = chrome.get_window_size()["width"]
    height = chrome.execute_script("return document.documentElement.scrollHeight")
    chrome.set_window_size(width, max(WINDOW[1], min(height + 140, 6000)))
    chrome.save_screenshot(str(artefacts / f"{name}.png"))
    chrome.set_window_size(width, WINDOW[1])


def wait(chrome, condition, seconds: float = 30):
    return WebDriverWait(chrome, seconds).until(condition)


def browser_sign_in(chrome, url: str, key: str = ADMIN_KEY) -> None:
    chrome.get(url + "/console/sign-in")
    chrome.delete_all_cookies()
    chrome.get(url + "/console/sign-in")
    chrome.find_element(By.ID, "key").send_keys(key)
    chrome.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(chrome, lambda c: "/console/sign-in" not in c.current_url)


def today() -> date:
    return datetime.now(UTC).date()


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def usage(console: Service) -> dict[str, str]:
    """Three files (one found infected), downloads on a dozen past days written as the recorder
    writes them, and two downloads made through the API today."""
    with console.client() as admin:
        roles = {r["name"]: r["id"] for r in admin.get("/roles").json()["items"]}

        def upload(title: str, data: bytes, name: str, ctype: str, **fields) -> str:
            answer = admin.post(
                "/files", files={"file": (name, data, ctype)}, data={"title": title, **fields}
            )
            assert answer.status_code == 201, answer.text
            return answer.json()["id"]

        talk = upload("Harbour talk", pdf(30_000), "t.pdf", "application/pdf",
                      category="Skills", language="en", roles=MENTOR)  # fmt: skip
        guide = upload("Conflict guide", pdf(9_000), "g.pdf", "application/pdf",
                       category="Conflict resolution", language="fr")  # fmt: skip
        photo = upload("Team photo", png(), "p.png", "image/png")

    events = []
    for d in range(1, 13):
        day = today() - timedelta(days=d)
        for i in range(d % 4 + 1):
            country = ("FR", "IT", "DE")[(d + i) % 3]
            company = HOSTILE_COMPANY if i % 2 else "Beta"
            role = roles[MENTOR] if d % 2 else None
            events.append(AccessEvent(talk, CONTENT, "u1", role, country, company, "en",
                                      "k", at(day)))  # fmt: skip
    events += [AccessEvent(guide, CONTENT, None, None, None, None, "fr", "k",
                           at(today() - timedelta(days=5)))] * 3  # fmt: skip
    events += [AccessEvent(talk, METADATA, at=at(today() - timedelta(days=2)))] * 2
    # Outside the default 30 days: only a longer period counts it.
    events += [AccessEvent(guide, CONTENT, None, None, "ES", None, "fr", "k",
                           at(today() - timedelta(days=40)))]  # fmt: skip

    async def write() -> None:
        async with await psycopg.AsyncConnection.connect(
            console.settings.database_url, autocommit=True
        ) as conn:
            await write_batch(conn, events)

    asyncio.run(write())
    # The scanner's verdict on one file, as the scan worker records it (the row stays).
    with psycopg.connect(console.settings.database_url, autocommit=True) as conn:
        conn.execute("UPDATE files SET scan_status = 'infected' WHERE id = %s", (guide,))

    # And two downloads today the real way, recorded by the service itself.
    with console.client() as admin:
        period = {"from": today().isoformat(), "to": today().isoformat()}
        for _ in range(2):
            answer = admin.get(f"/files/{photo}/content", headers={"X-Silo-Country": "GB"})
            assert answer.status_code == 302
        eventually(
            lambda: admin.get("/stats", params=period).json()["downloads"]["count"] >= 2,
            timeout=15,
            interval=0.1,
            message="today's downloads never reached the rollups",
        )
    return {"talk": talk, "guide": guide, "photo": photo}


def api_stats(console: Service, first: date, last: date) -> dict:
    with console.client() as admin:
        answer = admin.get("/stats", params={"from": first.isoformat(), "to": last.isoformat()})
    assert answer.status_code == 200, answer.text
    return answer.json()


def drawn(chrome, chart_id: str) -> dict[str, int]:
    """{label: value} of the bars of one chart, as the page carries them."""
    bars = chrome.find_elements(By.CSS_SELECTOR, f"#{chart_id} rect.bar")
    found = {b.get_attribute("data-label"): int(b.get_attribute("data-value")) for b in bars}
    assert len(found) == len(bars), f"{chart_id}: a label drawn twice"
    return found


def assert_to_scale(chrome, chart_id: str, axis: str) -> None:
    """The rendered bars' lengths (what the eye sees) are proportional to their values."""
    bars = chrome.find_elements(By.CSS_SELECTOR, f"#{chart_id} rect.bar")
    sized = [(int(b.get_attribute("data-value")), b.rect[axis]) for b in bars]
    top_value, top_length = max(sized)
    assert top_length > 50, f"{chart_id}: the largest bar is drawn"
    for value, length in sized:
        assert length == pytest.approx(top_length * value / top_value, abs=1.5), chart_id


def assert_page_matches(chrome, body: dict, first: date, last: date) -> None:
    files, downloads = body["files"], body["downloads"]
    heads = {
        h.find_element(By.TAG_NAME, "dt").text: int(
            h.find_element(By.TAG_NAME, "dd").get_attribute("data-value")
        )
        for h in chrome.find_elements(By.CSS_SELECTOR, "dl.headlines > div")
    }
    assert heads == {
        "Downloads": downloads["count"],
        "Metadata reads": body["metadata_reads"]["count"],
        "Files uploaded": files["files"],
        "Bytes uploaded": files["bytes"],
        "Infected files": files["infected"]["files"],
    }

    per_day = {d["day"]: d["count"] for d in downloads["per_day"]}
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    assert drawn(chrome, "downloads-per-day") == {d: per_day.get(d, 0) for d in days}
    assert drawn(chrome, "downloads-country") == {
        x["country"] or "Unknown": x["downloads"] for x in downloads["by_country"]
    }
    assert drawn(chrome, "downloads-company") == {
        x["company"] or "Unknown": x["downloads"] for x in downloads["by_company"]
    }
    assert drawn(chrome, "downloads-role") == {
        x["name"] or "No role given": x["downloads"] for x in downloads["by_role"]
    }
    assert drawn(chrome, "downloads-language") == {
        f"{x['name']} ({x['code']})" if x["code"] else "No language": x["downloads"]
        for x in downloads["by_language"]
    }
    assert drawn(chrome, "downloads-top-files") == {
        x["title"]: x["downloads"] for x in downloads["top_files"]
    }
    for dim, label in (
        ("category", lambda x: x["name"] or "No category"),
        ("type", lambda x: x["type"]),
        ("language", lambda x: f"{x['name']} ({x['code']})" if x["code"] else "No language"),
        ("role", lambda x: x["name"] or "No audience"),
    ):
        entries = files[f"by_{dim}"]
        assert drawn(chrome, f"files-{dim}") == {label(x): x["files"] for x in entries}
        assert drawn(chrome, f"bytes-{dim}") == {label(x): x["bytes"] for x in entries}


def test_the_charts_show_the_apis_figures_for_the_default_period(console, usage, chrome, artefacts):
    chrome.set_window_size(*WINDOW)
    browser_sign_in(chrome, console.url)
    chrome.find_element(By.LINK_TEXT, "Statistics").click()
    wait(chrome, ready.presence_of_element_located((By.ID, "downloads-per-day")))
    first, last = today() - timedelta(days=29), today()
    assert chrome.find_element(By.ID, "from").get_attribute("value") == first.isoformat()
    assert chrome.find_element(By.ID, "to").get_attribute("value") == last.isoformat()

    body = api_stats(console, first, last)
    assert body["downloads"]["count"] == sum(d % 4 + 1 for d in range(1, 13)) + 3 + 2
    assert_page_matches(chrome, body, first, last)
    assert body["files"]["infected"] == {"files": 1, "bytes": 9_000}
    assert len(chrome.find_elements(By.CSS_SELECTOR, "#downloads-per-day rect.bar")) == 30
    assert drawn(chrome, "downloads-country")["GB"] == 2, "today's downloads, through the API"
    assert HOSTILE_COMPANY in drawn(chrome, "downloads-company"), "the name, as text"
    assert_to_scale(chrome, "downloads-per-day", "height")
    assert_to_scale(chrome, "downloads-country", "width")
    assert_to_scale(chrome, "bytes-type", "width")

    # The stylesheet is in force under the CSP (the bars take its colour, not the attribute's),
    # and the browser reported no blocked script, style or image.
    fill = chrome.execute_script("return getComputedStyle(document.querySelector('rect.bar')).fill")
    assert fill == "rgb(31, 95, 191)"
    blocked = [e for e in chrome.get_log("browser") if "Content Security Policy" in e["message"]]
    assert not blocked, blocked
    # Every chart's numbers are also a table (for screen readers, and for copying).
    table = chrome.find_element(By.CSS_SELECTOR, "#downloads-country details.chart-data")
    table.find_element(By.TAG_NAME, "summary").click()
    cells = table.find_elements(By.CSS_SELECTOR, "td[data-value]")
    assert {int(c.get_attribute("data-value")) for c in cells} == set(
        drawn(chrome, "downloads-country").values()
    )
    shot(chrome, artefacts, "stats-01-last-30-days")

    # On paper: no navigation or buttons, the charts whole (not scrolled), in grey.
    chrome.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not chrome.find_element(By.CSS_SELECTOR, "header.top").is_displayed()
        assert not chrome.find_element(By.CSS_SELECTOR, "form.period button").is_displayed()
        fill = chrome.execute_script(
            "return getComputedStyle(document.querySelector('rect.bar')).fill"
        )
        assert fill == "rgb(68, 68, 68)"
        shot(chrome, artefacts, "stats-05-print")
    finally:
        chrome.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    # A phone: the charts fit the screen.
    chrome.set_window_size(390, WINDOW[1])
    chrome.refresh()
    overflow = chrome.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    shot(chrome, artefacts, "stats-02-phone")
    chrome.set_window_size(*WINDOW)


def test_a_period_chosen_in_the_form_shows_that_periods_figures(console, usage, chrome, artefacts):
    browser_sign_in(chrome, console.url)
    chrome.get(console.url + "/console/stats")
    first, last = today() - timedelta(days=45), today() - timedelta(days=1)
    # A date input's typing format depends on the browser's locale: set the values directly.
    for field, value in (("from", first), ("to", last)):
        chrome.execute_script(
            "arguments[0].value = arguments[1]", chrome.find_element(By.ID, field),
            value.isoformat(),
        )  # fmt: skip
    chrome.find_element(By.CSS_SELECTOR, "form.period button[type=submit]").click()
    wait(chrome, ready.url_contains(f"from={first.isoformat()}"))
    body = api_stats(console, first, last)
    assert body["downloads"]["count"] == sum(d % 4 + 1 for d in range(1, 13)) + 3 + 1
    assert_page_matches(chrome, body, first, last)
    assert drawn(chrome, "downloads-country")["ES"] == 1, "the day 40 days ago is in"
    assert "GB" not in drawn(chrome, "downloads-country"), "today is out"
    shot(chrome, artefacts, "stats-03-chosen-period")


def test_a_bad_period_is_the_apis_422_next_to_the_field(console, usage, chrome, artefacts):
    with httpx.Client(base_url=console.url) as client:
        assert sign_in(client).status_code == 303
        answer = client.get("/console/stats", params={"from": "2026-02-01", "to": "2026-01-01"})
        assert answer.status_code == 422
        answer = client.get("/console/stats", params={"from": "soon"})
        assert answer.status_code == 422
        assert "`from` must be a date, YYYY-MM-DD" in answer.text
    browser_sign_in(chrome, console.url)
    chrome.get(console.url + "/console/stats?from=2026-02-01&to=2026-01-01")
    error = chrome.find_element(By.ID, "from-error")
    assert error.text == "`from` is after `to`"
    assert chrome.find_element(By.ID, "from").get_attribute("aria-describedby") == "from-error"
    assert not chrome.find_elements(By.CSS_SELECTOR, "rect.bar")
    shot(chrome, artefacts, "stats-04-bad-period")


def test_a_period_without_downloads_says_so(console, usage, chrome):
    browser_sign_in(chrome, console.url)
    chrome.get(console.url + "/console/stats?from=2001-01-01&to=2001-01-31")
    days = chrome.find_elements(By.CSS_SELECTOR, "#downloads-per-day rect.bar")
    assert len(days) == 31 and {d.get_attribute("data-value") for d in days} == {"0"}
    empty = chrome.find_element(By.CSS_SELECTOR, "#downloads-country .chart-none")
    assert empty.text == "Nothing in this period."


def test_an_open_ended_period_draws_the_days_with_downloads_not_millennia(console, usage, chrome):
    browser_sign_in(chrome, console.url)
    chrome.get(console.url + "/console/stats?from=0001-01-01&to=9999-12-31")
    days = drawn(chrome, "downloads-per-day")
    first = (today() - timedelta(days=40)).isoformat()
    assert min(days) == first and max(days) == today().isoformat() and len(days) == 41
    everything = api_stats(console, date(1, 1, 1), date(9999, 12, 31))["downloads"]["count"]
    assert sum(days.values()) == everything
    caption = chrome.find_element(By.CSS_SELECTOR, "#downloads-per-day figcaption").text
    assert caption == f"Downloads per day, {first} to {today().isoformat()}"


def test_a_write_only_key_has_no_statistics(console, usage, chrome):
    with console.client() as admin:
        key = admin.post("/keys", json={"name": "writer", "scopes": ["write"]}).json()["key"]
    with httpx.Client(base_url=console.url) as client:
        assert sign_in(client, key).status_code == 303
        assert client.get("/console/stats").status_code == 403
        assert 'href="/console/stats"' not in client.get("/console/upload").text


def test_a_long_periods_chart_spans_the_days_with_downloads_and_today():
    from service.console.stats import _chart_span

    report = {"downloads": {"per_day": [{"day": "2021-03-04", "count": 1},
                                        {"day": "2024-05-06", "count": 2}]}}  # fmt: skip
    now = date(2026, 11, 27)
    # Short enough to draw per day or week: the period as asked.
    assert _chart_span(report, date(2026, 1, 1), date(2026, 12, 31), now) == (
        date(2026, 1, 1), date(2026, 12, 31))  # fmt: skip
    # Long: from the first download to today (the latest of the data and today).
    assert _chart_span(report, date(1970, 1, 1), date(9999, 12, 1), now) == (
        date(2021, 3, 4), now)  # fmt: skip
    assert _chart_span(report, date(2022, 1, 1), date(2025, 1, 1), now) == (
        date(2022, 1, 1), date(2025, 1, 1)), "never wider than the period"  # fmt: skip
    assert _chart_span({"downloads": {"per_day": []}}, date(1970, 1, 1), date(9999, 12, 1),
                       now) == (now, now)  # fmt: skip


def test_the_consoles_own_views_are_not_downloads(pg, s3, aws_credentials):
    """Opening a file in the console (its page loads the preview from storage), downloading it
    there and opening its delete confirmation change no figure of /stats; the same file
    downloaded and read through the API does. The page says what the figures count."""
    with running_service(pg, s3) as svc, svc.client() as admin:
        answer = admin.post(
            "/files", files={"file": ("p.pdf", pdf(4000), "application/pdf")},
            data={"roles": [MENTOR, "Mentee/Coachee"]},
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        file_id = answer.json()["id"]
        # Until scanned (served only then), by the list: a GET /files/{id} is a metadata read.
        eventually(
            lambda: admin.get("/files").json()["items"][0]["scan"]["status"] == "clean",
            timeout=20,
        )
        period = {"from": today().isoformat(), "to": today().isoformat()}

        def figures() -> tuple[int, int, list]:
            body = admin.get("/stats", params=period).json()
            tops = [(t["id"], t["downloads"]) for t in body["downloads"]["top_files"]]
            return body["downloads"]["count"], body["metadata_reads"]["count"], tops

        with httpx.Client(base_url=svc.url, timeout=30) as browser:
            assert sign_in(browser).status_code == 303
            page = browser.get(f"/console/files/{file_id}")
            assert page.status_code == 200 and "<iframe" in page.text  # the preview
            assert browser.get(f"/console/files/{file_id}/download").status_code == 302
            assert browser.get(f"/console/files/{file_id}/delete").status_code == 200
            # Then one download and one metadata read through the API, written after whatever
            # the console might have recorded: once they are in, anything before is too.
            assert admin.get(f"/files/{file_id}/content").status_code == 302
            assert admin.get(f"/files/{file_id}").status_code == 200
            eventually(lambda: min(figures()[:2]) >= 1, timeout=15)
            # Another flush interval (SILO_EVENTS_FLUSH_MS, 500 ms), were anything still
            # buffered: then the figures are what was recorded.
            time.sleep(0.6)
            assert figures() == (1, 1, [(file_id, 1)])

            stats = browser.get("/console/stats").text
            assert (
                "Opening, previewing or downloading a file in this console is not counted" in stats
            )
            assert "counts once under each of them" in stats
