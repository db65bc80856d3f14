#!/usr/bin/env python3
"""Drives the Rampart console in headless Chromium (selenium), for
tests/console.rs: logs in, reads the overview's plot, looks up a banned
address, unblocks it through the confirmation page, and visits the other
pages, saving a screenshot of each. Prints one JSON object of what it saw;
any failure raises (exit status 1) with the page's text in the message.

usage: browser.py URL USER PASSWORD ADDR SHOTS_DIR
"""
import json
import os
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

URL, USER, PASSWORD, ADDR, SHOTS = sys.argv[1:6]
WAIT = 20


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,900", "--hide-scrollbars", "--force-color-profile=srgb",
              f"--user-data-dir={tempfile.mkdtemp(prefix='rampart-chromium-')}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def shot(d, name, most=2000):
    """A full-page screenshot (at most `most` pixels high): the window
    grows to the page's height first."""
    height = d.execute_script("return document.documentElement.scrollHeight")
    width = d.get_window_size()["width"]
    d.set_window_size(width, min(max(height + 120, 600), most))
    d.save_screenshot(os.path.join(SHOTS, f"console-{name}.png"))
    d.set_window_size(width, 900)


def expect(cond, what, d):
    if not cond:
        body = d.find_element(By.TAG_NAME, "body").text[:2000]
        raise AssertionError(f"{what} (at {d.current_url}):\n{body}")


def wait_for(d, css):
    return WebDriverWait(d, WAIT).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def log_in(d, seen):
    d.get(URL + "/")
    wait_for(d, "form[action='/login']")
    expect(d.current_url.endswith("/login"), "not sent to the login page", d)
    shot(d, "login")
    d.find_element(By.ID, "user").send_keys(USER)
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    d.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    wait_for(d, "svg.timeline")
    cookies = {c["name"]: c for c in d.get_cookies()}
    expect("rampart_session" in cookies, "no session cookie", d)
    s = cookies["rampart_session"]
    seen["cookie"] = {"httpOnly": s.get("httpOnly"), "secure": s.get("secure"),
                      "sameSite": s.get("sameSite")}


def overview(d, seen):
    svg = wait_for(d, "svg.timeline")
    bars = svg.find_elements(By.CSS_SELECTOR, "rect.bar")
    seen["bars"] = [{"reason": b.get_attribute("data-reason"),
                     "count": int(b.get_attribute("data-count")),
                     "height": float(b.get_attribute("height"))} for b in bars]
    seen["legend"] = [li.text for li in d.find_elements(By.CSS_SELECTOR, ".legend li")]
    seen["plot_total"] = int(svg.get_attribute("data-total"))
    shot(d, "overview")
    d.set_window_size(390, 844)
    d.save_screenshot(os.path.join(SHOTS, "console-phone.png"))
    d.set_window_size(1280, 900)


def look_up_and_unblock(d, seen):
    box = d.find_element(By.ID, "lookup")
    box.send_keys(ADDR)
    d.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
    verdict = wait_for(d, "#verdict")
    seen["verdict_before"] = verdict.text
    seen["evidence"] = [li.text for li in d.find_elements(By.CSS_SELECTOR, "ol.evidence li")]
    shot(d, "address")
    d.find_element(By.ID, "unblock").click()
    what = wait_for(d, "#what")
    seen["confirm"] = what.text
    shot(d, "confirm")
    d.find_element(By.ID, "confirm").click()
    wait_for(d, ".alert.good")
    seen["verdict_after"] = d.find_element(By.ID, "verdict").text
    seen["banner"] = d.find_element(By.CSS_SELECTOR, ".alert.good").text


def other_pages(d, seen):
    d.get(URL + "/lists")
    wait_for(d, "nav.tabs")
    seen["lists_rows"] = len(d.find_elements(By.CSS_SELECTOR, "#entries tbody tr"))
    shot(d, "lists")
    d.get(URL + "/rules")
    area = wait_for(d, "#lines")
    area.send_keys(f"Nov 27 08:15:00 web1 sshd[1]: Invalid user admin from {ADDR} port 4242")
    d.find_element(By.CSS_SELECTOR, "form[action='/rules/test'] button[type=submit]").click()
    row = wait_for(d, "#tested tbody tr")
    seen["tested"] = row.text
    shot(d, "rules", most=1200)
    d.get(URL + "/live")
    wait_for(d, "#feed")
    WebDriverWait(d, WAIT).until(
        lambda d: "Connected" in d.find_element(By.ID, "live-state").text)
    seen["live_rows"] = len(d.find_elements(By.CSS_SELECTOR, "#feed tbody tr"))
    shot(d, "live")
    for page in ("blocklists", "config"):
        d.get(f"{URL}/{page}")
        wait_for(d, "main h1")
        shot(d, page)
    seen["config_check"] = d.find_element(By.ID, "check").text


def main():
    os.makedirs(SHOTS, exist_ok=True)
    d = browser()
    seen = {}
    try:
        log_in(d, seen)
        overview(d, seen)
        look_up_and_unblock(d, seen)
        other_pages(d, seen)
        seen["console_errors"] = [e["message"] for e in d.get_log("browser")
                                  if e.get("level") == "SEVERE"]
    finally:
        d.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
