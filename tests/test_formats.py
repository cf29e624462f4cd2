"""Web pages, PDFs and links through the whole product: `citebot index` reads them, `citebot ask --json` cites
their links and pages. (The readers' own cases are in test_webpage.py, test_pdf.py and test_fetch.py.)"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from retrieval.corpus import read_corpus
from tests import pdf_fixtures
from tests.conftest import BUNDLED_FILE, DATA, citebot, cli_env

SAVED_PAGE = DATA / "pages" / "sievierodonetsk-saved.html"
CANONICAL = "https://www.straitsdaily.example/world/europe/ukraine-street-battles-rage-in-sievierodonetsk-1234567"


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("site")
    (root / "rebuilding.pdf").write_bytes(pdf_fixtures.article_pdf())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_saved_page_gives_the_articles_paragraphs_numbered_as_in_the_text_file(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_bytes(SAVED_PAGE.read_bytes())
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "same.txt").write_bytes(BUNDLED_FILE.read_bytes())
    page, text = read_corpus([tmp_path / "page.html"]).articles + read_corpus([tmp_path / "text"]).articles
    assert page.paragraphs == text.paragraphs and len(page.paragraphs) == 15
    assert (page.date, page.url) == ("2022-06-07", CANONICAL)


def test_index_and_ask_cite_a_pages_link_and_a_pdfs_page(tmp_path: Path, site: str) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "street-battles.html").write_bytes(SAVED_PAGE.read_bytes())
    (corpus / "scan.pdf").write_bytes(pdf_fixtures.textless_pdf())
    env = cli_env(CITEBOT_FETCH_PRIVATE="1", HF_HUB_OFFLINE="1")
    built = citebot("index", str(corpus), f"{site}/rebuilding.pdf", "--index", str(index), env=env)
    assert built.returncode == 0, built.stderr
    assert "Indexed 2 articles" in built.stdout
    assert "scan.pdf: no text layer (a scanned PDF?)" in built.stderr  # one clear warning, the rest indexed

    asked = citebot("ask", "--json", "--index", str(index), "Who is the mayor of Sievierodonetsk?", env=env)
    quote = json.loads(asked.stdout)["quotes"][0]
    assert (quote["paragraph"], quote["url"], quote["page"]) == (7, CANONICAL, None)
    assert quote["title"] == "Ukraine: street battles rage in Sievierodonetsk"

    asked = citebot("ask", "--json", "--index", str(index), "When would rebuilding start?", env=env)
    quote = json.loads(asked.stdout)["quotes"][0]
    assert quote["text"] == "The mayor said the reconstruction would begin in the spring if the weather allowed it."
    assert (quote["page"], quote["paragraph"], quote["url"]) == (2, 4, f"{site}/rebuilding.pdf")
    assert quote["article_id"] == "127.0.0.1/rebuilding.pdf" and quote["title"] == pdf_fixtures.TITLE


def test_a_link_to_a_private_address_is_one_warning_without_the_setting(tmp_path: Path, site: str) -> None:
    env = cli_env(HF_HUB_OFFLINE="1")
    built = citebot("index", f"{site}/rebuilding.pdf", "--index", str(tmp_path / "index"), env=env)
    assert built.returncode != 0
    assert "private or local address (127.0.0.1)" in built.stderr and "CITEBOT_FETCH_PRIVATE=1" in built.stderr
