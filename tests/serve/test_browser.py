"""The page end to end in headless Chromium.

The browser tests need Debian's `chromium` (`make browser` installs it). Without it they are skipped, unless
PAIRLESS_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser fails them. Each writes a screenshot of
every state it checks into $PAIRLESS_SCREENSHOTS (default: the test's tmp_path).

README's docs/serve.png is made by `readme_screenshot` below; regenerate it with
`python -m tests.serve.test_browser RUN [RUN ...] [--examples DIR] --out docs/serve.png`.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from pairless.serve.app import ServeSettings
from tests.conftest import tiny_config
from tests.serve.conftest import png_bytes, server_thread


def chromium_executable() -> str:
    """Debian's chromium (or $PAIRLESS_CHROMIUM); skip without one unless PAIRLESS_REQUIRE_BROWSER=1."""
    candidates = [os.environ.get("PAIRLESS_CHROMIUM"), "/usr/lib/chromium/chromium", shutil.which("chromium"),
                  shutil.which("chromium-browser")]
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    if found:
        return found
    if os.environ.get("PAIRLESS_REQUIRE_BROWSER") == "1":
        pytest.fail("PAIRLESS_REQUIRE_BROWSER=1 but no chromium binary was found (run `make browser`)")
    pytest.skip("no chromium binary: install Debian's chromium (`make browser`) or set PAIRLESS_CHROMIUM")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_command(runs: list[Path], cwd: Path, *options: str):
    """`pairless serve RUN...` as a user runs it, in a subprocess; yields its URL once it answers."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "pairless", "serve", *map(str, runs), "--port", str(port),
                                "--device", "cpu", *options], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            assert process.poll() is None and time.time() < deadline, process.communicate(timeout=5)
            try:
                urllib.request.urlopen(f"{url}/api/info", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.fixture(scope="module")
def browser():
    executable = chromium_executable()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served_page(zebra_run, checkpoint, tmp_path_factory):
    """Two runs behind one real `pairless serve`, small limits and tiles: the page the browser tests drive."""
    workdir = tmp_path_factory.mktemp("cwd")
    with serve_command([zebra_run, checkpoint.parent], workdir, "--max-upload-mb", "0.05", "--tile", "32",
                       "--overlap", "8") as url:
        yield url
    assert list(workdir.iterdir()) == []  # the server wrote nothing into its working folder


def open_page(browser, url: str, width: int = 1280, height: int = 900):
    page = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True).new_page()
    page.goto(url)
    page.wait_for_selector("#direction option", state="attached")
    return page


@pytest.fixture
def page(browser, served_page):
    opened = open_page(browser, served_page)
    yield opened
    opened.context.close()


@pytest.fixture
def snap(request, tmp_path):
    """snap(page, state) writes a screenshot of the page as <test>-<state>.png into $PAIRLESS_SCREENSHOTS (or the
    test's tmp_path), so that CI can keep what each browser test saw."""
    folder = Path(os.environ.get("PAIRLESS_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, state: str) -> Path:
        path = folder / f"{request.node.name}-{state}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def file_transfer(page, files: list[tuple[str, bytes, str]]):
    """A DataTransfer holding (name, content, type) files, as a drop or a paste carries them."""
    encoded = [[name, base64.b64encode(data).decode(), kind] for name, data, kind in files]
    return page.evaluate_handle("""(files) => {
        const transfer = new DataTransfer();
        for (const [name, data, type] of files) {
          transfer.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name, { type }));
        }
        return transfer;
      }""", encoded)


def drop(page, *files: tuple[str, bytes], on: str = "#card"):
    """Drag files over the page and drop them on `on` (any element: the whole page takes drops)."""
    transfer = file_transfer(page, [(name, data, "image/png") for name, data in files])
    page.dispatch_event("body", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(on, "drop", {"dataTransfer": transfer})


def paste(page, name: str, data: bytes):
    transfer = file_transfer(page, [(name, data, "image/png")])
    page.evaluate("(transfer) => document.dispatchEvent(new ClipboardEvent('paste', "
                  "{ clipboardData: transfer, bubbles: true, cancelable: true }))", transfer)


def result(page, name: str, state: str = "done"):
    """The (first) result card of `name` once it is in `state` (done, failed)."""
    card = page.locator(f"article.result.{state}", has=page.locator("h3", has_text=re.compile(f"^{re.escape(name)}$")))
    card.first.wait_for(timeout=60_000)
    return card.first


def output_size(card) -> list[int]:
    return card.locator("img.output").evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])")


def test_page_shows_the_model_card_limits_and_examples(page, snap):
    assert page.inner_text("#card-title") == "cut · horse2zebra"
    facts = page.inner_text("#facts")
    assert "2 steps on 32-px crops" in facts and "3 horse (trainA), 3 zebra (trainB)" in facts
    assert "horse → zebra (AtoB)" in facts
    scores = page.inner_text("#scores")
    assert "pairless evaluate (latest_test_AtoB): step 2, AtoB, test split" in scores and "FID-local" in scores
    assert "--eval-every, while training: step 2" in scores
    assert page.inner_text("#limits") == ("Up to 16 images at a time, each at most 0.05 MB and 16 megapixels; "
                                          "images larger than 32 px go through the model in tiles.")
    assert page.locator("#examples button").count() == 3 and page.inner_text("#examples-from") == \
        "from testA of horse2zebra"
    assert page.is_visible("#run-menu") and page.locator("#run option").all_inner_texts() == [
        "h2z: cut, step 2", "run: cyclegan, step 2"]
    snap(page, "start")


def test_drop_images_anywhere_on_the_page(page, snap):
    transfer = file_transfer(page, [("a.png", png_bytes(45, 31, 1), "image/png"),
                                    ("b.png", png_bytes(20, 24, 2), "image/png")])
    page.dispatch_event("body", "dragenter", {"dataTransfer": transfer})
    assert page.is_visible("#drop-overlay")
    snap(page, "dragging")
    page.dispatch_event("#card", "drop", {"dataTransfer": transfer})
    first, second = result(page, "a.png"), result(page, "b.png")
    assert not page.is_visible("#drop-overlay")
    assert output_size(first) == [45, 31] and output_size(second) == [20, 24]
    assert "Done: 45×31" in first.inner_text() and page.inner_text("#overall") == "2 translated"
    assert first.locator("a.download").get_attribute("download") == "a_AtoB.png"
    snap(page, "dropped")


def test_paste_an_image(page, snap):
    paste(page, "clipboard.png", png_bytes(30, 26, 5))
    card = result(page, "clipboard.png")
    assert output_size(card) == [30, 26] and "h2z · horse → zebra" in card.inner_text()
    snap(page, "pasted")


def test_click_an_example(page, snap):
    page.locator("#examples button").first.click()
    card = result(page, "img000.png")
    assert output_size(card) == [36, 36]
    assert "api/example" in card.locator("img.input").get_attribute("src")
    snap(page, "example")


def test_progress_while_the_server_works(browser, translator, snap, monkeypatch):
    """The server is held inside the translation (as a large tiled image holds it) while the page is looked at."""
    release = threading.Event()
    translate = translator.translate_tensor

    def held_translate(*args, **kwargs):
        assert release.wait(timeout=60)
        return translate(*args, **kwargs)

    monkeypatch.setattr(translator, "translate_tensor", held_translate)
    with server_thread(translator, ServeSettings(tile=32, overlap=8)) as url:
        page = open_page(browser, url)
        try:
            page.evaluate("""() => { window.shown = []; new MutationObserver(() => {
                for (const s of document.querySelectorAll('.result .status')) window.shown.push(s.textContent);
              }).observe(document.body, { subtree: true, childList: true, characterData: true }); }""")
            drop(page, ("wide.png", png_bytes(45, 31, 3)), ("next.png", png_bytes(20, 20, 4)))
            card, waiting = page.locator("article.result").first, page.locator("article.result").nth(1)
            card.locator(".status", has_text="Translating on the server (45×31, in 32-px tiles)…").wait_for()
            assert card.locator("progress").is_visible() and page.inner_text("#overall") == "Working: 0 of 2 done"
            assert waiting.locator(".status").inner_text() == "Waiting for its turn…"
            snap(page, "working")
            release.set()
            result(page, "next.png")
            assert any(text.startswith("Uploading… ") for text in page.evaluate("window.shown"))
            assert not page.is_visible("#overall-progress") and page.inner_text("#overall") == "2 translated"
        finally:
            release.set()
            page.context.close()


def side_shown_at(card, fraction: float) -> str:
    """Which image the compare view shows at `fraction` of its width: 'input' or 'output'."""
    return card.locator(".frame").evaluate("""(frame, fraction) => {
        const box = frame.getBoundingClientRect();
        const hit = document.elementFromPoint(box.left + fraction * box.width, box.top + box.height / 2);
        return hit.classList.contains("input") ? "input" : hit.classList.contains("output") ? "output" : hit.tagName;
      }""", fraction)


def test_compare_slider_and_side_by_side(page, snap):
    page.locator("#examples button").nth(1).click()
    card = result(page, "img001.png")
    card.scroll_into_view_if_needed()
    assert (side_shown_at(card, 0.25), side_shown_at(card, 0.75)) == ("input", "output")
    card.locator("input.split").focus()
    page.keyboard.press("End")
    assert side_shown_at(card, 0.9) == "input"
    page.keyboard.press("Home")
    assert side_shown_at(card, 0.1) == "output"
    snap(page, "slider-home")
    frame = card.locator(".frame").bounding_box()
    page.mouse.move(frame["x"] + 0.2 * frame["width"], frame["y"] + frame["height"] / 2)
    page.mouse.down()
    page.mouse.move(frame["x"] + 0.6 * frame["width"], frame["y"] + frame["height"] / 2, steps=5)
    page.mouse.up()
    assert abs(int(card.locator("input.split").input_value()) - 60) <= 1
    assert (side_shown_at(card, 0.5), side_shown_at(card, 0.7)) == ("input", "output")
    snap(page, "slider-dragged")
    card.get_by_role("button", name="Side by side").click()
    assert card.get_by_role("button", name="Side by side").get_attribute("aria-pressed") == "true"
    before, after = card.locator("figure.before").bounding_box(), card.locator("figure.after").bounding_box()
    assert before["x"] + before["width"] <= after["x"] and not card.locator("input.split").is_visible()
    snap(page, "side-by-side")


def test_download_one_and_all(page, snap):
    drop(page, ("a.png", png_bytes(45, 31, 1)), ("b.png", png_bytes(20, 24, 2)))
    paste(page, "a.png", png_bytes(16, 12, 4))
    page.locator("article.result.done").nth(2).wait_for()
    first = result(page, "a.png")
    with page.expect_download() as one:
        first.locator("a.download").click()
    assert one.value.suggested_filename == "a_AtoB.png"
    with page.expect_download() as everything:
        page.click("#download-all")
    assert everything.value.suggested_filename == "pairless-results.zip"
    with zipfile.ZipFile(everything.value.path()) as archive:
        assert archive.testzip() is None  # every CRC matches
        assert archive.namelist() == ["a_AtoB.png", "b_AtoB.png", "a_AtoB-2.png"]
        sizes = [Image.open(io.BytesIO(archive.read(name))).size for name in archive.namelist()]
        assert archive.read("a_AtoB.png") == Path(one.value.path()).read_bytes()
    assert sizes == [(45, 31), (20, 24), (16, 12)]
    snap(page, "downloaded")


def test_switch_between_two_runs(page, snap):
    page.select_option("#run", "run")
    assert page.inner_text("#card-title") == "cyclegan · data" and page.inner_text("#model") == "cyclegan, step 2"
    assert page.locator("#direction option").all_inner_texts() == ["A → B (AtoB)", "B → A (BtoA)"]
    assert not page.is_visible("#examples-section")  # this run's data folder has no test split
    page.select_option("#direction", "BtoA")
    drop(page, ("c.png", png_bytes(22, 18, 6)))
    assert "run · B → A" in result(page, "c.png").inner_text()
    snap(page, "second-run")
    page.select_option("#run", "h2z")
    assert page.inner_text("#card-title") == "cut · horse2zebra"
    assert page.locator("#direction option").all_inner_texts() == ["horse → zebra (AtoB)"]
    assert page.is_visible("#examples-section") and "run · B → A" in result(page, "c.png").inner_text()
    snap(page, "back-to-first-run")


def test_oversized_and_unreadable_uploads_are_explained(page, snap):
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "api/translate" in request.url else None)
    big = png_bytes(200, 200, 7)
    drop(page, ("big.png", big))
    message = result(page, "big.png", "failed").locator(".status").inner_text()
    assert message == (f"big.png is {float(f'{len(big) / 1e6:.2g}'):g} MB; this server takes images up to "
                       "0.05 MB (pairless serve --max-upload-mb).")
    assert sent == []  # refused before uploading
    transfer = file_transfer(page, [("notes.txt", b"not an image", "text/plain")])
    page.dispatch_event("body", "drop", {"dataTransfer": transfer})
    refused = result(page, "notes.txt", "failed").locator(".status").inner_text()
    assert refused.startswith("Refused: notes.txt is not an image this server can read") and len(sent) == 1
    snap(page, "refused")


def test_phone_sized_window_and_keyboard(browser, served_page, snap, tmp_path):
    phone = open_page(browser, served_page, 390, 844)
    phone.on("filechooser", lambda _: None)  # file chooser interception on from here: turned on later, it races
    try:
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
        assert phone.locator("#card").bounding_box()["y"] > phone.locator(".dropzone").bounding_box()["y"]
        for _ in range(12):  # Tab from the top reaches the first example; focus is visible
            phone.keyboard.press("Tab")
            if phone.evaluate("document.activeElement.classList.contains('example')"):
                break
        outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert phone.evaluate("document.activeElement.classList.contains('example')") and outline != "none"
        snap(phone, "focus")
        phone.keyboard.press("Enter")
        card = result(phone, "img000.png")
        card.get_by_role("button", name="Side by side").focus()
        phone.keyboard.press(" ")
        assert card.get_by_role("button", name="Side by side").get_attribute("aria-pressed") == "true"
        Image.open(io.BytesIO(png_bytes(24, 24, 8))).save(tmp_path / "picked.png")
        phone.focus("#choose")
        with phone.expect_file_chooser() as chooser:
            phone.keyboard.press("Enter")
        chooser.value.set_files(str(tmp_path / "picked.png"))
        assert output_size(result(phone, "picked.png")) == [24, 24]
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        snap(phone, "phone")
    finally:
        phone.context.close()


def test_attention_overlay_in_the_browser(browser, snap, tmp_path):
    from pairless.checkpoint import build_model
    from pairless.models.registry import method_names
    from pairless.translator import Translator

    if "ugatit-light" not in method_names():
        pytest.skip("no U-GAT-IT model registered")
    cfg = tiny_config("ugatit-light", tmp_path, **{"model.width": 4, "model.n_blocks": 2, "model.mlp_grid": 8})
    with server_thread(Translator(build_model(cfg.resolved()), cfg)) as url:
        page = open_page(browser, url)
        try:
            assert page.is_visible("#attention-option") and "Attention maps" in page.inner_text("#facts")
            page.check("#attention")
            drop(page, ("face.png", png_bytes(30, 22, 9)))
            card = result(page, "face.png")
            card.get_by_label("attention map over the input").check()
            before = card.locator("figure.before")
            assert before.locator("img").get_attribute("src").startswith("data:image/png;base64,")
            assert before.locator("figcaption").inner_text() == "before + attention"
            snap(page, "attention")
        finally:
            page.context.close()


README_PNG_BYTES = 150_000


def small_png(image: Image.Image, out: Path) -> None:
    """`image` as a palette PNG with as many colours (up to 256) as keep it under README_PNG_BYTES."""
    for colours in (256, 192, 128, 96, 80, 64, 48, 32):
        buffer = io.BytesIO()
        image.quantize(colours).save(buffer, format="PNG", optimize=True)
        if buffer.tell() < README_PNG_BYTES:
            break
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())


def readme_screenshot(browser, url: str, out: Path, examples: int = 2) -> Path:
    """README's picture of the page (docs/serve.png): 1280x900, the first `examples` examples translated and
    the first compare slider at 60 %, stored small (small_png)."""
    page = open_page(browser, url)
    try:
        buttons = page.locator("#examples button")
        for index in range(min(examples, buttons.count())):
            buttons.nth(index).click()
            page.locator("article.result.done").nth(index).wait_for(timeout=300_000)
        page.locator("input.split").first.fill("60")
        page.mouse.move(0, 0)
        page.evaluate("window.scrollTo(0, 0)")
        shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    finally:
        page.context.close()
    small_png(shot, out)
    return out


def test_readme_screenshot(browser, served_page, tmp_path):
    folder = Path(os.environ.get("PAIRLESS_SCREENSHOTS") or tmp_path)
    path = readme_screenshot(browser, served_page, folder / "readme-serve.png")
    assert Image.open(path).size == (1280, 900) and path.stat().st_size < README_PNG_BYTES


def main() -> None:
    """`python -m tests.serve.test_browser RUN... --out docs/serve.png`: README's screenshot with real runs."""
    import tempfile

    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--examples", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/serve.png"))
    args = parser.parse_args()
    options = ["--examples", str(args.examples.resolve())] if args.examples else []
    with tempfile.TemporaryDirectory() as cwd, serve_command([r.resolve() for r in args.runs], Path(cwd),
                                                             *options) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True)
        print(readme_screenshot(browser, url, args.out))
        browser.close()


if __name__ == "__main__":
    main()
