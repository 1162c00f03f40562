"""The console in a real browser (headless chromium): sign in, upload two files and watch both
progress bars reach 100 %, see a refused file's message, find a file by text search, open its
preview, edit its title, sign out. Each page is saved as a screenshot (see conftest.py)."""

from __future__ import annotations

import hashlib
import os
import re
import time
import urllib.parse
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

from provisioning.smoke.samples import make_png
from tests.console.conftest import wait_until_clean
from tests.faults import PausableProxy
from tests.service.conftest import ADMIN_KEY, Service
from tests.service.helpers import jpeg, pdf

WAIT_SECONDS = 30
# One size format on every page (service/console/charts.py `size`): "665 B", "39.1 KiB".
SIZE = re.compile(r"\d+(\.\d)? (B|KiB|MiB|GiB)")
WINDOW_HEIGHT = 800  # a laptop: 1280x800


def harbour_png() -> bytes:
    """A 320x200 picture (sky over sea), so the preview shows something."""
    width, height = 320, 200
    rows = []
    for y in range(height):
        colour = bytes((70, 130, 200)) if y < height * 0.55 else bytes((20, 60, 110))
        rows.append(colour * width)
    return make_png(width, height, b"".join(rows))


@pytest.fixture
def samples(tmp_path: Path) -> dict[str, Path]:
    files = {
        "harbour.png": harbour_png(),
        "minutes.pdf": pdf(40_000),
        # JPEG bytes under a PDF's name: the API refuses it, and the console says why.
        "report.pdf": jpeg(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


UNLABELLED = """
return [...document.querySelectorAll("input, select, textarea")]
  .filter((c) => c.type !== "hidden" && !c.labels.length && !c.getAttribute("aria-label"))
  .map((c) => c.outerHTML);
"""


def assert_page_is_sound(chrome) -> None:
    """Every control has a label, and the browser blocked nothing (the CSP would say so)."""
    assert chrome.execute_script(UNLABELLED) == [], chrome.current_url
    problems = [
        entry["message"]
        for entry in chrome.get_log("browser")
        if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]
    ]
    # The refusals the test provokes (the upload's 415, the edit's 422) are logged by the
    # browser as failed requests: expected.
    problems = [m for m in problems if not re.search(r"status of (415|422) ", m)]
    assert problems == [], problems


def wait(chrome, condition, seconds: float = WAIT_SECONDS):
    return WebDriverWait(chrome, seconds).until(condition)


def sign_in(chrome, base_url: str) -> None:
    chrome.get(base_url + "/console/sign-in")
    chrome.find_element(By.ID, "key").send_keys(ADMIN_KEY)
    chrome.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(chrome, ready.url_contains("/console/files"))


def test_sign_in_upload_search_preview_edit_sign_out(
    console: Service, chrome, artefacts: Path, samples: dict[str, Path]
):
    def shot(name: str) -> None:
        """The whole page (the window grown to its height for the picture), checked first."""
        assert_page_is_sound(chrome)
        width = chrome.get_window_size()["width"]
        height = chrome.execute_script("return document.documentElement.scrollHeight")
        chrome.set_window_size(width, max(WINDOW_HEIGHT, min(height + 140, 4000)))
        chrome.save_screenshot(str(artefacts / f"{name}.png"))
        chrome.set_window_size(width, WINDOW_HEIGHT)

    # Signing in: /console sends a stranger to the sign-in form.
    chrome.get(console.url + "/console")
    wait(chrome, ready.url_contains("/console/sign-in"))
    shot("01-sign-in")
    # By keyboard alone: the key field has the focus, Enter submits.
    assert chrome.switch_to.active_element.get_attribute("id") == "key"
    chrome.switch_to.active_element.send_keys(ADMIN_KEY + Keys.ENTER)
    wait(chrome, ready.url_contains("/console/files"))
    assert chrome.find_element(By.TAG_NAME, "h1").text == "Files"
    assert ADMIN_KEY not in chrome.page_source

    # Two files at once, a title each, shared metadata; both bars reach 100 %.
    chrome.find_element(By.LINK_TEXT, "Upload").click()
    wait(chrome, ready.url_contains("/console/upload"))
    # Upload with nothing chosen: said once, and gone as soon as files are chosen.
    chrome.find_element(By.ID, "start").click()
    form_error = chrome.find_element(By.ID, "form-error")
    assert form_error.is_displayed() and form_error.text == "Choose at least one file to upload."
    # The file input is hidden behind its "Choose files" button, which the keyboard reaches.
    chrome.find_element(By.TAG_NAME, "body").click()
    chooser = chrome.find_element(By.CSS_SELECTOR, "label[for=files]")
    assert chooser.text == "Choose files" and chooser.is_displayed()
    assert chrome.find_element(By.ID, "files").size["width"] <= 1, "the browser's own button"
    for _ in range(20):
        if chrome.switch_to.active_element.get_attribute("id") == "files":
            break
        ActionChains(chrome).send_keys(Keys.TAB).perform()
    assert chrome.switch_to.active_element.get_attribute("id") == "files"
    assert chrome.execute_script("return getComputedStyle(arguments[0]).outlineStyle", chooser) == (
        "solid"
    ), "the focus shows on the button"
    chrome.find_element(By.ID, "files").send_keys(
        f"{samples['harbour.png']}\n{samples['minutes.pdf']}"
    )
    titles = chrome.find_elements(By.CSS_SELECTOR, "#queue input[name=title]")
    assert len(titles) == 2
    assert not form_error.is_displayed(), "the stale error is gone"
    for name in chrome.find_elements(By.CSS_SELECTOR, "#queue .name"):
        assert re.fullmatch(rf"\S+ \({SIZE.pattern}\)", name.text), name.text
    titles[0].clear()
    titles[0].send_keys("Harbour at dawn")
    titles[1].clear()
    titles[1].send_keys("Board minutes")
    Select(chrome.find_element(By.ID, "category")).select_by_visible_text("Skills")
    Select(chrome.find_element(By.ID, "language")).select_by_value("en")
    chrome.find_element(By.ID, "start").click()
    wait(
        chrome,
        lambda c: (
            len(c.find_elements(By.CSS_SELECTOR, "#queue .status.done")) == 2
            or c.find_elements(By.CSS_SELECTOR, "#queue .status.failed")
        ),
    )
    assert not chrome.find_elements(By.CSS_SELECTOR, "#queue .status.failed"), chrome.find_element(
        By.ID, "queue"
    ).text
    for bar in chrome.find_elements(By.CSS_SELECTOR, "#queue progress"):
        assert bar.get_attribute("value") == "100"
    percents = [p.text for p in chrome.find_elements(By.CSS_SELECTOR, "#queue .percent")]
    assert percents == ["100 %", "100 %"]
    finished = chrome.find_element(By.ID, "finished")
    assert finished.text == "2 files uploaded. Go to files"
    shot("02-upload-done")

    # A refused file: the API's message, next to that file.
    chrome.find_element(By.ID, "files").send_keys(str(samples["report.pdf"]))
    chrome.find_element(By.ID, "start").click()
    refused = wait(
        chrome,
        ready.visibility_of_element_located(
            (By.CSS_SELECTOR, '#queue li[data-filename="report.pdf"] .status.failed')
        ),
    )
    assert refused.text == "content is jpeg but the name says .pdf"
    refused_title = chrome.find_element(
        By.CSS_SELECTOR, '#queue li[data-filename="report.pdf"] input[name=title]'
    )
    assert refused_title.get_attribute("aria-invalid") is None  # not the title's fault
    # And metadata the API refuses: the message by that file's title, which is marked invalid.
    chrome.find_element(By.ID, "files").send_keys(str(samples["harbour.png"]))
    untitled = chrome.find_elements(By.CSS_SELECTOR, "#queue li")[-1]
    untitled.find_element(By.NAME, "title").clear()
    chrome.find_element(By.ID, "start").click()
    wait(
        chrome,
        lambda c: (
            "failed" in untitled.find_element(By.CSS_SELECTOR, ".status").get_attribute("class")
        ),
    )
    title = untitled.find_element(By.NAME, "title")
    assert untitled.find_element(By.CSS_SELECTOR, ".status").text == "`title` must not be empty"
    assert title.get_attribute("aria-invalid") == "true"
    assert title.get_attribute("aria-describedby") == untitled.find_element(
        By.CSS_SELECTOR, ".status"
    ).get_attribute("id")
    shot("03-upload-refused")
    # A refused file can be taken off the list (by keyboard too: it is a button).
    untitled.find_element(By.CSS_SELECTOR, "button.remove").send_keys(Keys.ENTER)
    assert len(chrome.find_elements(By.CSS_SELECTOR, "#queue li")) == 3

    # Served (previews included) once the scan has passed them.
    links = chrome.find_elements(By.CSS_SELECTOR, "#queue .status.done a")
    wait_until_clean(console, *(a.get_attribute("href").rsplit("/", 1)[1] for a in links))

    # Text search finds one of the two (sent side by side: either may have finished first).
    chrome.find_element(By.LINK_TEXT, "Go to files").click()
    wait(chrome, ready.url_contains("/console/files"))
    rows = chrome.find_elements(By.CSS_SELECTOR, "table.files tbody tr")
    assert sorted(r.find_element(By.TAG_NAME, "a").text for r in rows) == [
        "Board minutes",
        "Harbour at dawn",
    ]
    # A count, an Upload button, the scan's status as a badge, sizes in the one format; the
    # filters other than the search box folded away.
    assert chrome.find_element(By.ID, "count").text == "Showing 2 files, newest first."
    assert chrome.find_element(By.CSS_SELECTOR, ".page-head a.button").text == "Upload"
    badges = chrome.find_elements(By.CSS_SELECTOR, "table.files .badge.scan-clean")
    assert [b.text for b in badges] == ["clean", "clean"]
    for cell in chrome.find_elements(By.CSS_SELECTOR, "td[data-label=Size]"):
        assert SIZE.fullmatch(cell.text), cell.text
    assert not chrome.find_element(By.ID, "category").is_displayed()
    assert chrome.find_element(By.ID, "q").rect["y"] < 250
    shot("04-files")
    search = chrome.find_element(By.ID, "q")
    search.send_keys("harbour")
    search.submit()
    wait(chrome, ready.url_contains("q=harbour"))
    rows = chrome.find_elements(By.CSS_SELECTOR, "table.files tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == ["Harbour at dawn"]
    assert chrome.find_element(By.ID, "count").text == "Showing 1 file, newest first."
    shot("05-files-search")

    # A PDF's page: its preview framed under the file's name (the frame's title too).
    chrome.find_element(By.ID, "q").clear()
    chrome.find_element(By.ID, "q").send_keys("minutes" + Keys.ENTER)
    wait(chrome, ready.url_contains("q=minutes"))
    chrome.find_element(By.LINK_TEXT, "Board minutes").click()
    frame = wait(
        chrome, ready.presence_of_element_located((By.CSS_SELECTOR, "figure.preview iframe"))
    )
    assert frame.get_attribute("title") == "Board minutes (minutes.pdf)"
    shot("06-file-pdf")
    chrome.find_element(By.LINK_TEXT, "All files").click()
    wait(chrome, ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Files"))
    chrome.find_element(By.ID, "q").send_keys("harbour" + Keys.ENTER)
    wait(chrome, ready.url_contains("q=harbour"))

    # Its page: the preview is the image itself, loaded from storage.
    chrome.find_element(By.LINK_TEXT, "Harbour at dawn").click()
    image = wait(
        chrome, ready.visibility_of_element_located((By.CSS_SELECTOR, "figure.preview img"))
    )
    wait(chrome, lambda c: c.execute_script("return arguments[0].naturalWidth", image) == 320)
    back = chrome.find_element(By.LINK_TEXT, "All files")
    assert back.get_attribute("href") == console.url + "/console/files"
    facts = chrome.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "bytes" not in facts.lower()
    size = chrome.find_element(By.XPATH, "//dt[.='Size']/following-sibling::dd[1]").text
    assert re.fullmatch(rf"{SIZE.pattern}( \([\d,]+ B\))?", size), size
    assert chrome.find_element(By.CSS_SELECTOR, "dl.facts .badge.scan-clean").text == "clean"
    shot("06-file-preview")

    # Edit the title in place: a refusal next to the field, then a change that sticks.
    title = chrome.find_element(By.ID, "title")
    title.clear()
    chrome.find_element(By.CSS_SELECTOR, "form.metadata button[type=submit]").click()
    error = wait(chrome, ready.visibility_of_element_located((By.ID, "title-error")))
    assert error.text == "`title` must not be empty"
    assert chrome.find_element(By.ID, "title").get_attribute("aria-describedby") == "title-error"
    shot("07-file-edit-refused")
    title = chrome.find_element(By.ID, "title")
    title.send_keys("Harbour at dusk")
    chrome.find_element(By.CSS_SELECTOR, "form.metadata button[type=submit]").click()
    wait(chrome, ready.text_to_be_present_in_element((By.CSS_SELECTOR, "p.notice"), "Saved."))
    assert chrome.find_element(By.TAG_NAME, "h1").text == "Harbour at dusk"
    shot("08-file-edited")
    with console.client() as admin:
        found = admin.get("/files", params={"q": "dusk"}).json()["items"]
    assert [f["title"] for f in found] == ["Harbour at dusk"]

    # Deleting asks first; cancelling keeps the file.
    chrome.find_element(By.LINK_TEXT, "Delete…").click()
    wait(chrome, ready.url_contains("/delete"))
    assert chrome.find_element(By.TAG_NAME, "h1").text == "Delete “Harbour at dusk”?"
    shot("09-file-delete-confirm")
    chrome.find_element(By.LINK_TEXT, "Cancel").click()
    wait(chrome, ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Harbour at dusk"))

    # The other pages of the navigation.
    for label, name in (("Statistics", "10-stats"), ("Admin", "11-admin")):
        chrome.find_element(By.LINK_TEXT, label).click()
        wait(chrome, ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), label))
        shot(name)

    # On a phone's screen: the list as cards, nothing wider than the screen.
    chrome.set_window_size(390, WINDOW_HEIGHT)
    chrome.get(console.url + "/console/files")
    overflow = chrome.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    shot("12-files-phone")
    chrome.set_window_size(1280, WINDOW_HEIGHT)

    # Signing out: back at the sign-in form, and the files are out of reach.
    chrome.find_element(By.CSS_SELECTOR, "form.sign-out button").click()
    wait(chrome, ready.url_contains("/console/sign-in"))
    chrome.get(console.url + "/console/files")
    wait(chrome, ready.url_contains("/console/sign-in"))
    assert chrome.find_elements(By.ID, "key")
    shot("13-signed-out")


def test_an_upload_cut_mid_way_resumes_and_stores_the_whole_file(
    console: Service, chrome, artefacts: Path, tmp_path: Path
):
    """The browser reaches the service through a proxy that cuts every connection once part of
    the file has gone: the page says so, finds the server's offset and sends the rest."""
    data = os.urandom(12 * 1024 * 1024)
    path = tmp_path / "long-recording.pdf"
    path.write_bytes(b"%PDF-1.7\n" + data)
    proxy = PausableProxy(urllib.parse.urlsplit(console.url).port)
    base = f"http://127.0.0.1:{proxy.port}"
    try:
        sign_in(chrome, base)
        chrome.get(base + "/console/upload")
        # Slow enough (about 4 s for the file) for the cut to land in the middle.
        chrome.set_network_conditions(
            offline=False, latency=0, download_throughput=-1, upload_throughput=3 * 1024 * 1024
        )
        chrome.find_element(By.ID, "files").send_keys(str(path))
        chrome.find_element(By.ID, "start").click()
        bar = chrome.find_element(By.CSS_SELECTOR, "#queue progress")
        wait(chrome, lambda c: int(bar.get_attribute("value")) >= 25)
        with proxy.refusing():
            time.sleep(1.5)
        item = chrome.find_element(By.CSS_SELECTOR, "#queue li")
        wait(
            chrome,
            lambda c: (
                c.find_elements(By.CSS_SELECTOR, "#queue .status.done")
                or c.find_elements(By.CSS_SELECTOR, "#queue .status.failed")
            ),
            seconds=90,
        )
        chrome.save_screenshot(str(artefacts / "14-upload-resumed.png"))
        status = item.find_element(By.CSS_SELECTOR, ".status")
        assert "done" in status.get_attribute("class"), status.text
        assert int(item.get_attribute("data-retries")) >= 1
        assert bar.get_attribute("value") == "100"
    finally:
        chrome.delete_network_conditions()
        proxy.close()
    file_id = status.find_element(By.TAG_NAME, "a").get_attribute("href").rsplit("/", 1)[1]
    with console.client() as admin:
        stored = admin.get(f"/files/{file_id}").json()
    assert stored["size"] == path.stat().st_size
    assert stored["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
