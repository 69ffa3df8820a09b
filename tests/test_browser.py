"""End to end in a real browser: Debian's headless Chromium driven by Playwright
against a real uvicorn server on 127.0.0.1 serving a small built workspace.

A person searches for a title, opens it, sees its similar trailers, drops a
commercial on the match zone and sees the movies it matches; a screenshot of
each step is saved under pytest's tmp dir.
"""

from __future__ import annotations

import base64
import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent (make system-deps installs Debian's chromium)"),
]


@pytest.fixture(scope="module")
def server(served_workspace):
    from reelmatch.serve.app import create_app
    from reelmatch.serve.server import ServerThread

    ws, ad = served_workspace
    with ServerThread(create_app(ws)) as url:
        yield url, ad


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def test_search_open_similar_and_match_an_ad(server, browser, tmp_path):
    url, ad = server
    page = browser.new_page(viewport={"width": 1366, "height": 820})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")

    # the catalogue grid, with thumbnails that decoded
    page.wait_for_selector("[data-testid=card]")
    assert page.locator("[data-testid=card]").count() >= 5
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=card] img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(tmp_path / "1-catalogue.png"))

    # search for a title and open it
    page.fill("[data-testid=search]", "crimson")
    page.wait_for_function("document.querySelectorAll('[data-testid=card]').length === 1")
    assert "Crimson Chase" in page.inner_text("[data-testid=card]")
    page.click("[data-testid=card]")
    page.wait_for_selector("[data-testid=item-title]")
    assert page.inner_text("[data-testid=item-title]") == "Crimson Chase"

    # its neighbours: other trailers with scores and genres, playable on click
    page.wait_for_selector("[data-testid=similar] [data-testid=result]")
    similar = page.locator("[data-testid=similar] [data-testid=result]")
    assert similar.count() >= 3
    titles = [similar.nth(i).locator(".result-title a").inner_text() for i in range(similar.count())]
    assert "Crimson Chase" not in titles and "Fizzy Soda" not in titles  # trailers only, never itself
    assert similar.first.locator(".result-title a").inner_text() == "Scarlet Run"
    assert similar.first.locator(".chip.shared").inner_text() == "Action"  # shared genres are highlighted
    assert similar.first.locator(".score b").first.inner_text().replace(".", "").replace("-", "").isdigit()
    # the player of the item plays (the video endpoint answers range requests)
    page.wait_for_function("document.querySelector('[data-testid=player]').readyState >= 1")
    similar.first.locator("[data-testid=result-thumb]").click()
    page.wait_for_selector("[data-testid=similar] [data-testid=inline-video]")
    page.wait_for_function("document.querySelector('[data-testid=inline-video]').readyState >= 1")
    page.screenshot(path=str(tmp_path / "2-item.png"))

    # drop a commercial on the match zone: movies with per-modality scores
    page.set_input_files("[data-testid=match-file]", str(ad))
    page.wait_for_selector("[data-testid=matches] [data-testid=result], [data-testid=match-error]", timeout=120_000)
    assert page.locator("[data-testid=match-error]").count() == 0, page.inner_text("[data-testid=match-error]")
    matches = page.locator("[data-testid=matches] [data-testid=result]")
    assert matches.count() >= 3
    assert matches.first.locator(".bar.visual").count() == 1 and matches.first.locator(".bar.audio").count() == 1
    page.screenshot(path=str(tmp_path / "3-match.png"), full_page=True)

    # a real drop event (DataTransfer with a File) on the zone, matched "as any video"
    page.check("input[name=mode][value=similar]")
    page.evaluate(
        """async ([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: "video/mp4" }));
            const zone = document.querySelector("[data-testid=dropzone]");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
            }
        }""",
        [base64.b64encode(ad.read_bytes()).decode(), "Dropped Ad.mp4"],
    )
    page.wait_for_function("document.querySelector('[data-testid=match-results]').innerText.includes('Dropped Ad.mp4')")
    page.wait_for_selector("[data-testid=matches] [data-testid=result]")
    assert page.inner_text("[data-testid=match-heading]").startswith("Trailers like Dropped Ad.mp4")
    matches = page.locator("[data-testid=matches] [data-testid=result]")
    # similar results carry per-modality scores too (issue 15)
    assert matches.count() >= 3 and matches.first.locator(".bar.visual").count() == 1
    page.check("input[name=mode][value=ad]")

    # a file that is not a video gives a readable error, not a broken page
    junk = tmp_path / "notes.mp4"
    junk.write_text("not a video at all\n" * 50)
    page.set_input_files("[data-testid=match-file]", str(junk))
    page.wait_for_selector("[data-testid=match-error]")
    assert "not a video" in page.inner_text("[data-testid=match-error]")
    assert errors == []


@pytest.fixture(scope="module")
def scenes_server(scenes_workspace):
    from reelmatch.serve.app import create_app
    from reelmatch.serve.server import ServerThread

    ws, ids = scenes_workspace
    with ServerThread(create_app(ws)) as url:
        yield url, ids, ws


def test_scenes_breaks_and_explanations(scenes_server, browser, tmp_path):
    """An ad's page places it in movies by scene (timeline, matching scenes, break marks); a
    similar result explains itself on demand with the best frame pair; flags show and exclude."""
    import shutil

    url, ids, ws = scenes_server
    spot = shutil.copy(ws.media_file(ws.catalog.get(ids["Spot"])), tmp_path / "Spot upload.mp4")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{url}/#/item/{ids['Spot']}")
    page.wait_for_selector("[data-testid=placement] [data-testid=result]")
    movie = page.locator("[data-testid=placement] [data-testid=result]", has_text="Night Train")
    assert movie.count() == 1
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=placement] [data-testid=timeline]')]"
        ".some(t => t.querySelector('[data-testid=scene-match]') && t.querySelector('[data-testid=break]'))")
    timeline = movie.locator("[data-testid=timeline]")
    n_scenes = timeline.locator("[data-testid=scene-match], [data-testid=scene-seg]").count()
    assert n_scenes >= 3 and timeline.locator("[data-testid=scene-match]").count() >= 1
    assert timeline.locator("[data-testid=break]").count() >= 1
    assert "Breaks at" in movie.locator("[data-testid=breaks]").inner_text()
    # the explanation is hidden until asked for
    assert movie.locator("[data-testid=explain]").is_hidden()
    movie.locator("[data-testid=explain-toggle]").click()
    assert movie.locator("[data-testid=explain]").is_visible()
    assert movie.locator("[data-testid=explain-visual]").inner_text().replace(".", "").replace("-", "").isdigit()
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=explain-frames] img')].length === 2 && "
        "[...document.querySelectorAll('[data-testid=explain-frames] img')].every(i => i.complete && i.naturalWidth > 0)")
    page.screenshot(path=str(tmp_path / "4-placement.png"), full_page=True)
    # a matching scene plays the movie from its start
    timeline.locator("[data-testid=scene-match]").first.click()
    page.wait_for_selector(".modal video")
    page.locator(".modal .close").click()

    # a trailer's page: flags shown, similar results explained on demand
    page.goto(f"{url}/#/item/{ids['Night Train']}")
    page.wait_for_selector("[data-testid=similar] [data-testid=result]")
    assert page.inner_text("[data-testid=flags]") == "violence"
    first = page.locator("[data-testid=similar] [data-testid=result]").first
    first.locator("[data-testid=explain-toggle]").click()
    assert "Shared" in first.locator("[data-testid=explain]").inner_text() or \
        "No shared" in first.locator("[data-testid=explain]").inner_text()

    # upload the ad by scene, excluding 'violence': the violent movie is never proposed
    page.goto(url + "/")
    page.check("[data-testid=match-scenes]")
    page.fill("[data-testid=exclude-flags]", "violence")
    page.set_input_files("[data-testid=match-file]", str(spot))
    page.wait_for_selector("[data-testid=matches] [data-testid=result], [data-testid=match-error]", timeout=120_000)
    assert page.locator("[data-testid=match-error]").count() == 0, page.inner_text("[data-testid=match-error]")
    titles = page.locator("[data-testid=matches] .result-title a").all_inner_texts()
    assert titles and "Night Train" not in titles
    assert page.locator("[data-testid=matches] [data-testid=timeline-wrap]").count() == len(titles)
    page.uncheck("[data-testid=match-scenes]")
    page.fill("[data-testid=exclude-flags]", "")
    again = shutil.copy(spot, tmp_path / "Spot again.mp4")  # another file: the input's change event fires
    page.set_input_files("[data-testid=match-file]", str(again))
    page.wait_for_function("document.querySelectorAll('[data-testid=matches] [data-testid=timeline-wrap]').length === 0"
                           " && document.querySelectorAll('[data-testid=matches] [data-testid=result]').length > 0")
    titles = page.locator("[data-testid=matches] .result-title a").all_inner_texts()
    assert "Night Train" in titles
    page.screenshot(path=str(tmp_path / "5-upload-by-scene.png"), full_page=True)
    assert errors == []

