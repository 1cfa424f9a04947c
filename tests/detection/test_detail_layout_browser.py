"""On a phone, a long file name fits the submission page and its list, breaks only between words, and the image
fills its frame; in a real headless Chromium."""
import pytest
from playwright.sync_api import expect

from detection import services
from tests.conftest import make_image_bytes
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
# No spaces: before, the page's only way to fit it was to grow (673 px) or to break it anywhere (".jp g").
LONG_NAME = "Screenshot_2024-05-03_at_14.22.17_protest_crowd_near_the_city_hall_from_the_north_side.jpeg"


def lines_of(locator):
    """How many lines an inline element's text takes."""
    return locator.evaluate("el => new Set([...el.getClientRects()].map(r => Math.round(r.top))).size")


def test_a_long_file_name_fits_a_phone_and_breaks_only_between_words(live_server, browser_page, journalist, active_model):
    submission = services.submit(data=make_image_bytes(size=(64, 48)), name=LONG_NAME, uploader=journalist, enqueue=False)
    services.score(submission.pk)
    page = browser_page
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/")
    page.get_by_label("Email address").fill("lois@planet.test")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Submissions").wait_for()

    link = page.locator("a.filename")
    expect(link).to_have_attribute("title", LONG_NAME)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert lines_of(link.locator(".ext")) == 1  # ".jpeg" stays whole
    page.screenshot(path=str(SCREENSHOTS / "phone-submissions-long-name.png"), full_page=True)

    link.click()
    heading = page.locator("h1.filename")
    expect(heading).to_have_attribute("title", LONG_NAME)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert lines_of(heading.locator(".ext")) == 1
    # Every line of the heading ends after a separator, or before the dot of a suffix: never inside a word.
    line_ends = heading.evaluate(
        """el => {
          const range = document.createRange(), ends = [];
          const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
          let lastTop = null, lastChar = null;
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (let i = 0; i < node.length; i++) {
              range.setStart(node, i); range.setEnd(node, i + 1);
              const top = Math.round(range.getBoundingClientRect().top);
              if (lastTop !== null && top > lastTop) ends.push(lastChar + node.data[i]);
              lastTop = top; lastChar = node.data[i];
            }
          }
          return ends;
        }"""
    )
    assert line_ends, "the name should need more than one line on a phone"
    assert all(pair[0] in "_-. " or pair[1] == "." for pair in line_ends), f"a line breaks inside a word: {line_ends}"

    # The image fills the width of its frame, however small the file (64×48 here).
    image = page.locator(".card.image img")
    frame = page.locator(".card.image")
    page.wait_for_function("document.querySelector('.card.image img').naturalWidth > 0")
    image_box, frame_box = image.bounding_box(), frame.bounding_box()
    assert image_box["width"] >= frame_box["width"] - 20
    assert frame_box["height"] <= image_box["height"] + 20
    page.screenshot(path=str(SCREENSHOTS / "phone-submission-long-name.png"), full_page=True)
