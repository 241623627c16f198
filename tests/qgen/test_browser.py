"""The preview page in a real browser (headless Chromium through chromedriver): it loads
with no console errors, every formula renders (no KaTeX error node), a right answer is
accepted and a wrong one refused, and a screenshot is saved.

Skipped, with the reason, where Chromium, chromedriver, selenium or KaTeX is missing:
CI installs them (docs/ci-browser.md). The screenshots go to $QGEN_TEST_OUTPUT when it
is set, else to pytest's temporary folder; their paths are printed (pytest -s shows them).
"""

import os
import shutil
from pathlib import Path

import pytest

from qgen.generate import generate
from qgen.preview import KatexNotFound, find_katex, write_preview

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--window-size=1200,1600")


def _missing() -> str | None:
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "chromium and chromedriver not installed (apt-get install chromium " \
               "chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install selenium)"
    try:
        find_katex()
    except KatexNotFound as error:
        return str(error)
    return None


MISSING = _missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"browser tests: {MISSING}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    numeric = generate(["conv-pool-shape", "backprop-step", "activation-loss-derivative"],
                       count=1, seed=21, difficulty="easy")
    choice = generate(["conv-pool-shape", "activation-loss-derivative"], count=1, seed=22,
                      difficulty="easy", choices=4)
    bank = {**numeric, "questions": numeric["questions"] + choice["questions"]}
    folder = tmp_path_factory.mktemp("browser") / "preview"
    write_preview(bank, folder, title="Browser test")
    return folder, bank


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver is given by path, so Selenium Manager never looks for (or fetches) one.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def page(site, browser):
    folder, bank = site
    browser.get((folder / "index.html").as_uri())
    browser.get_log("browser")  # start each test's log empty of earlier pages
    browser.refresh()
    return browser, bank


def _shot(driver, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("QGEN_TEST_OUTPUT") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


# KaTeX's default errorColor: with throwOnError false, a formula that does not parse
# becomes a .katex-error node, and an undefined command is drawn in this colour.
KATEX_ERROR_COLOR = "#cc0000"


def _math_errors(driver) -> list[str]:
    """The source of every formula KaTeX could not render."""
    from selenium.webdriver.common.by import By

    broken = driver.find_elements(By.CSS_SELECTOR, ".katex-error")
    broken += driver.find_elements(
        By.CSS_SELECTOR, f'.katex-mathml mstyle[mathcolor="{KATEX_ERROR_COLOR}"]')
    return [e.get_attribute("title") or e.get_attribute("textContent") for e in broken]


def _errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] in ("SEVERE", "ERROR")]


def test_page_loads_with_no_console_errors_and_every_formula_rendered(page, tmp_path):
    from selenium.webdriver.common.by import By

    driver, bank = page
    assert driver.title == "Browser test"
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-math") == "rendered"
    # Solutions too: open every toggle so their math is on screen for the screenshot.
    driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert driver.find_elements(By.CSS_SELECTOR, ".katex")
    assert driver.find_elements(By.CSS_SELECTOR, ".katex-display")
    assert _math_errors(driver) == []
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "\\(" not in text and "\\[" not in text  # no formula left as source
    fonts = driver.execute_script(
        "return document.fonts.ready.then(() => [...document.fonts]"
        ".filter(f => f.status === 'error').map(f => f.family))")
    assert fonts == []
    questions = driver.find_elements(By.CSS_SELECTOR, "section.question")
    assert [q.get_attribute("data-qid") for q in questions] == [q["id"] for q in
                                                                 bank["questions"]]
    assert _shot(driver, "preview.png", tmp_path).stat().st_size > 0
    assert _errors(driver) == []


def test_the_math_check_sees_what_katex_cannot_render(page):
    driver, _ = page
    assert _math_errors(driver) == []
    # A parse error (an error node) and an undefined command (drawn in the error colour).
    driver.execute_script(
        "for (const tex of ['\\\\frac{1}', '\\\\notacommand{x}']) {"
        "  const p = document.createElement('p');"
        "  katex.render(tex, p, {throwOnError: false}); document.body.appendChild(p); }")
    assert len(_math_errors(driver)) == 2


def _numeric(driver, bank, family):
    from selenium.webdriver.common.by import By

    n = next(i for i, q in enumerate(bank["questions"], start=1)
             if q["family"] == family and "choices" not in q)
    data = driver.execute_script(
        "return JSON.parse(document.getElementById('qgen-answers').textContent)"
        f"['q{n}']")
    section = driver.find_element(By.ID, f"q{n}")
    return section, section.find_elements(By.CSS_SELECTOR, "input[data-entry]"), data


def _check(section):
    from selenium.webdriver.common.by import By

    section.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    return section.find_element(By.CSS_SELECTOR, ".result")


@pytest.mark.parametrize("family", ["conv-pool-shape", "backprop-step"])
def test_a_right_numeric_answer_is_accepted_and_opens_the_solution(page, family, tmp_path):
    from selenium.webdriver.common.by import By

    driver, bank = page
    section, inputs, data = _numeric(driver, bank, family)
    assert len(inputs) == len(data["entries"]) > 0
    solution = section.find_element(By.CSS_SELECTOR, "details.solution")
    assert solution.get_attribute("open") is None
    for box, entry in zip(inputs, data["entries"], strict=True):
        # Within the tolerance but not the printed value, when there is a tolerance.
        box.send_keys(repr(entry["value"] + entry["tolerance"] / 2))
    result = _check(section)
    assert "correct" in result.get_attribute("class").split(), result.text
    assert result.text.startswith("Correct")
    assert solution.get_attribute("open") is not None
    assert "Score: 1 of" in driver.find_element(By.ID, "score").text
    _shot(driver, f"right-{family}.png", tmp_path)
    assert _errors(driver) == []


def test_a_wrong_numeric_answer_is_refused(page):
    from selenium.webdriver.common.by import By

    driver, bank = page
    section, inputs, data = _numeric(driver, bank, "backprop-step")
    for box, entry in zip(inputs, data["entries"], strict=True):
        box.send_keys(repr(entry["value"]))
    inputs[0].clear()
    entry = data["entries"][0]
    inputs[0].send_keys(repr(entry["value"] + 3 * entry["tolerance"] + 1e-9))
    result = _check(section)
    assert "incorrect" in result.get_attribute("class").split()
    assert result.text.startswith(f"Incorrect: {len(inputs) - 1} of {len(inputs)}")
    verdicts = section.find_elements(By.CSS_SELECTOR, ".verdict")
    assert "incorrect" in verdicts[0].get_attribute("class")
    assert all("correct" in v.get_attribute("class").split() for v in verdicts[1:])
    assert "Score: 0 of" in driver.find_element(By.ID, "score").text
    assert _errors(driver) == []


def test_text_that_is_not_a_number_is_refused(page):
    driver, bank = page
    section, inputs, _ = _numeric(driver, bank, "conv-pool-shape")
    inputs[0].send_keys("twelve")
    result = _check(section)
    assert "incorrect" in result.get_attribute("class").split()
    assert "not a number" in section.text


def test_multiple_choice_accepts_the_right_option_and_names_a_wrong_ones_mistake(page,
                                                                                 tmp_path):
    from selenium.webdriver.common.by import By

    driver, bank = page
    n, q = next((i, q) for i, q in enumerate(bank["questions"], start=1) if "choices" in q)
    section = driver.find_element(By.ID, f"q{n}")
    wrong = next(c for c in q["choices"] if c["misconception"])
    right = next(c for c in q["choices"] if c["correct"])
    section.find_element(By.CSS_SELECTOR, f"input[value='{wrong['label']}']").click()
    result = _check(section)
    assert "incorrect" in result.get_attribute("class").split()
    assert f"Incorrect: {wrong['label']} is what you get if you" in result.text
    section.find_element(By.CSS_SELECTOR, f"input[value='{right['label']}']").click()
    result = _check(section)
    assert "correct" in result.get_attribute("class").split()
    _shot(driver, "choice.png", tmp_path)
    assert _errors(driver) == []
