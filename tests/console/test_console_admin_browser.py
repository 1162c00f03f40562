"""/console/admin in a real browser (headless chromium): a key created and shown once with a
working copy button (a script file under the CSP), revoked (the API refuses it, and a browser
signed in with it is signed out), a taxonomy refusal shown next to its field, and no admin for
a key without the scope. Screenshots of each state go to the artefact directory."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready

from tests.console.conftest import sign_in
from tests.console.test_console_stats import browser_sign_in, shot, wait
from tests.service.conftest import Service


def test_create_copy_and_revoke_a_key(console: Service, chrome, artefacts):
    browser_sign_in(chrome, console.url)
    chrome.find_element(By.LINK_TEXT, "Admin").click()
    wait(chrome, ready.url_contains("/console/admin"))
    shot(chrome, artefacts, "admin-01-page")

    chrome.find_element(By.ID, "key-name").send_keys("Nightly import")
    for scope in ("read", "write"):
        chrome.find_element(By.CSS_SELECTOR, f"input[name=scopes][value={scope}]").click()
    chrome.find_element(By.CSS_SELECTOR, "form[action='/console/admin/keys'] button").click()
    field = wait(chrome, ready.visibility_of_element_located((By.ID, "new-key-value")))
    key = field.get_attribute("value")
    assert key.startswith("silo_")
    with console.client(key) as client:
        assert client.get("/files").status_code == 200
        assert client.get("/keys").status_code == 403, "read and write, not admin"

    # The copy button exists only because copy.js ran (it is hidden in the markup).
    chrome.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": console.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    button = chrome.find_element(By.CSS_SELECTOR, "button[data-copy=new-key-value]")
    assert button.is_displayed()
    # Without JavaScript it would stay hidden: the stylesheet honours `hidden` on it.
    shown_without_script = chrome.execute_script(
        "const b = arguments[0].cloneNode(true); b.hidden = true;"
        "arguments[0].after(b); const d = getComputedStyle(b).display; b.remove(); return d"
        , button)  # fmt: skip
    assert shown_without_script == "none"
    button.click()
    wait(chrome, ready.text_to_be_present_in_element((By.ID, "new-key-value-status"), "clipboard"))
    assert button.text == "Copied"
    copied = chrome.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], e => arguments[0]('failed: ' + e))"
    )
    assert copied == key
    shot(chrome, artefacts, "admin-02-key-created")

    # Shown once: a reload of the admin page lists the key by its prefix only.
    chrome.get(console.url + "/console/admin")
    assert key not in chrome.page_source
    row = chrome.find_element(By.XPATH, "//tr[td[normalize-space()='Nightly import']]")
    assert key[:11] in row.text

    # A second browser session, signed in with the new key, ends when it is revoked.
    with httpx.Client(base_url=console.url) as other:
        assert sign_in(other, key).status_code == 303
        assert other.get("/console/files").status_code == 200
        row.find_element(By.CSS_SELECTOR, "a[aria-label='Revoke Nightly import']").click()
        wait(chrome, ready.url_contains("/revoke"))
        assert chrome.find_element(By.TAG_NAME, "h1").text == "Revoke “Nightly import”?"
        assert other.get("/console/files").status_code == 200, "nothing happens until confirmed"
        shot(chrome, artefacts, "admin-03-revoke-confirm")
        chrome.find_element(By.CSS_SELECTOR, "form.actions button.danger").click()
        notice = wait(chrome, ready.visibility_of_element_located((By.CSS_SELECTOR, "p.notice")))
        assert notice.text == "The key is revoked."
        assert not chrome.find_elements(By.XPATH, "//td[normalize-space()='Nightly import']")
        assert other.get("/console/files").status_code == 303
    with console.client(key) as client:
        assert client.get("/files").status_code == 401
    shot(chrome, artefacts, "admin-04-key-revoked")


def test_a_taxonomy_refusal_is_shown_next_to_its_field(console: Service, chrome, artefacts):
    browser_sign_in(chrome, console.url)
    chrome.get(console.url + "/console/admin")
    name = chrome.find_element(By.ID, "categories-new-name")
    name.send_keys("soft SKILLS")  # "Soft skills" exists: names are unique case-insensitively
    name.submit()
    error = wait(chrome, ready.visibility_of_element_located((By.ID, "categories-new-name-error")))
    assert error.text == "category 'soft SKILLS' already exists"
    name = chrome.find_element(By.ID, "categories-new-name")
    assert name.get_attribute("aria-invalid") == "true"
    assert name.get_attribute("aria-describedby") == "categories-new-name-error"
    assert name.get_attribute("value") == "soft SKILLS", "what was typed is kept"
    assert chrome.switch_to.active_element == name, "the field in error has the focus"
    # The error sits right under its field, not elsewhere on the page.
    assert 0 < error.rect["y"] - name.rect["y"] < 80
    shot(chrome, artefacts, "admin-05-taxonomy-refused")

    # A language code the API refuses (422), then a good one, then renamed.
    code = chrome.find_element(By.ID, "languages-new-code")
    code.send_keys("english")
    chrome.find_element(By.ID, "languages-new-name").send_keys("English")
    code.submit()
    error = wait(chrome, ready.visibility_of_element_located((By.ID, "languages-new-code-error")))
    assert error.text == "code 'english' is not a BCP 47 language tag"
    code = chrome.find_element(By.ID, "languages-new-code")
    code.clear()
    code.send_keys("de")
    name = chrome.find_element(By.ID, "languages-new-name")
    name.clear()
    name.send_keys("Deutsch")
    code.submit()
    wait(chrome, ready.visibility_of_element_located((By.CSS_SELECTOR, "p.notice")))
    # A row's Rename is a link to a small form of its own (no field on every row).
    assert not chrome.find_elements(By.ID, "languages-de-name")
    chrome.find_element(By.CSS_SELECTOR, "a[aria-label='Rename Deutsch']").click()
    renamed = wait(chrome, ready.visibility_of_element_located((By.ID, "languages-de-name")))
    renamed.clear()
    renamed.send_keys("German")
    renamed.submit()
    wait(chrome, ready.visibility_of_element_located((By.CSS_SELECTOR, "p.notice")))
    with console.client() as admin:
        languages = {x["code"]: x["name"] for x in admin.get("/languages").json()["items"]}
    assert languages["de"] == "German"
    shot(chrome, artefacts, "admin-06-taxonomy-saved")

    # On a phone's screen: nothing wider than the screen.
    chrome.set_window_size(390, 800)
    try:
        chrome.refresh()
        overflow = chrome.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wide = chrome.execute_script(
            "const w = document.documentElement.clientWidth; return [...document.querySelectorAll("
            "'body *')].filter(e => e.getBoundingClientRect().right > w + 0.5).map(e => e.tagName"
            " + '.' + e.className + '#' + e.id).slice(0, 5)"
        )
        assert overflow <= 0, wide
        shot(chrome, artefacts, "admin-07-phone")
    finally:
        chrome.set_window_size(1280, 800)


def test_a_key_without_admin_gets_no_admin(console: Service, chrome, artefacts):
    with console.client() as admin:
        key = admin.post("/keys", json={"name": "reader", "scopes": ["read"]}).json()["key"]
    browser_sign_in(chrome, console.url, key)
    nav = chrome.find_element(By.CSS_SELECTOR, "header nav").text
    assert "Statistics" in nav and "Admin" not in nav
    chrome.get(console.url + "/console/admin")
    assert "lacks the `admin` scope" in chrome.find_element(By.TAG_NAME, "h1").text
    assert not chrome.find_elements(By.ID, "key-name")
    shot(chrome, artefacts, "admin-08-forbidden")
