"""The self-unblock flow in a real headless Chromium (selenium): open the
page, wait for the proof of work, press "Unblock me", then load the site
again. Prints one JSON object with what it saw; saves screenshots."""
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

url, shot_page, shot_result, profile = sys.argv[1:5]
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--no-proxy-server", "--window-size=900,1300", "--user-data-dir=" + profile,
          "--lang=en-US"):
    opts.add_argument(a)
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
seen = {}
try:
    drv.set_page_load_timeout(20)
    drv.get(url)
    seen["page_title"] = drv.title
    seen["reason"] = drv.find_element(By.CLASS_NAME, "reason").text
    seen["until"] = drv.find_element(By.CLASS_NAME, "until").text
    button = drv.find_element(By.ID, "unblock-button")
    t0 = time.time()
    WebDriverWait(drv, 60).until(EC.element_to_be_clickable((By.ID, "unblock-button")))
    seen["pow_secs"] = round(time.time() - t0, 2)
    drv.save_screenshot(shot_page)
    button.click()
    WebDriverWait(drv, 30).until(EC.presence_of_element_located((By.ID, "result")))
    seen["result"] = drv.find_element(By.ID, "result").text
    drv.save_screenshot(shot_result)
    time.sleep(0.5)
    drv.get(url)
    seen["after"] = drv.find_element(By.TAG_NAME, "body").text
finally:
    drv.quit()
print(json.dumps(seen))
