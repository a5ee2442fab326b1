"""The paper as a book: built from the executed notebooks of a tiny run, read offline in Chromium."""

import re

import pytest
from conftest import chromium_or_skip

from legibility.errors import LegibilityError


@pytest.fixture(scope="module")
def book(tiny_paper, tmp_path_factory):
    from legibility.book import build_book

    _, folder, _ = tiny_paper
    return build_book(folder / "results" / "notebooks", tmp_path_factory.mktemp("book") / "book")


def test_the_book_holds_every_notebook_and_the_docs_and_fetches_nothing(book):
    site = book.parent
    names = {p.name for p in (site / "notebooks").glob("*.html")}
    assert names == {"01_cohort.html", "02_train.html", "03_sweep.html", "04_evaluate.html",
                     "05_domain_effects.html", "06_figures.html", "07_scaling.html",
                     "08_truth.html"}
    assert (site / "docs" / "ground_truth.html").exists()
    index = book.read_text()
    assert "02_train.html" in index
    assert "docs/ground_truth.html" in index
    for page in site.rglob("*.html"):
        remote = re.findall(r'<(?:script|link|img|iframe)[^>]*(?:src|href)="(https?://[^"]+)"', page.read_text())
        assert remote == [], f"{page.relative_to(site)} fetches {remote} when read"
    assert "<img" in (site / "notebooks" / "06_figures.html").read_text()  # figures inline


def test_the_book_opens_in_a_browser_without_errors_and_every_figure_loads(book):
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = chromium_or_skip()
    site = book.parent
    pages = [book, *sorted((site / "notebooks").glob("*.html")), site / "docs" / "scaling.html"]
    errors, remote, images = [], [], 0
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file://", "data:")) else None)
        for path in pages:
            page.goto(path.as_uri(), wait_until="load")
            broken = page.evaluate("[...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                                   ".map(i => i.src.slice(0, 80))")
            assert broken == [], f"{path.name}: images that did not load: {broken}"
            images += page.evaluate("document.images.length")
        browser.close()
    assert errors == []
    assert remote == []
    assert images >= 5  # the notebooks' figures are in the pages


def test_no_executed_notebook_is_refused_saying_what_to_run(tmp_path):
    from legibility.book import build_book

    with pytest.raises(LegibilityError, match="no executed notebook in .*: run `make paper`"):
        build_book(tmp_path, tmp_path / "book")
