"""Real PDFs built with fpdf2 at test time, so no binary fixture is committed.

Lines are written one ``cell`` at a time so a hyphen really sits at a line end, as a typesetter would leave it.
fpdf2's core fonts are latin-1 only, hence plain ASCII text.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fpdf import FPDF

LINE = 6  # mm between baselines of one paragraph
GAP = 5  # extra mm between paragraphs

# Each page is a list of paragraphs; each paragraph a list of lines exactly as printed.
# The last paragraph of page 1 runs on to page 2 mid-sentence.
PAGES: list[list[list[str]]] = [
    [
        [
            "The city council met on Tuesday to discuss the inter-",
            "national aid package and a street-by-street repair plan for",
            "the old town.",
        ],
        [
            "Officials said the Kremlin-",
            "backed forces had withdrawn from the eastern districts, leaving",
            "damaged roads, bridges and water mains behind them.",
        ],
        [
            "Engineers from three countries are expected to arrive next week to",
            "assess the damage and to estimate how long the work will take before",
        ],
    ],
    [
        ["residents can return to their homes in the northern districts."],
        [
            "The mayor said the recon-",
            "struction would begin in the spring if the weather allowed it.",
        ],
        ["Schools will reopen first."],
    ],
    [
        [
            "A spokesperson for the regional administration declined to com-",
            "ment on the timetable.",
        ],
        [
            "Questions remain. Funding for the well-known bridge project is",
            "still uncertain, according to a report published in May.",
        ],
    ],
]

EXPECTED_PARAGRAPHS = (
    "The city council met on Tuesday to discuss the international aid package and a street-by-street repair plan "
    "for the old town.",
    "Officials said the Kremlin-backed forces had withdrawn from the eastern districts, leaving damaged roads, "
    "bridges and water mains behind them.",
    "Engineers from three countries are expected to arrive next week to assess the damage and to estimate how long "
    "the work will take before residents can return to their homes in the northern districts.",
    "The mayor said the reconstruction would begin in the spring if the weather allowed it.",
    "Schools will reopen first.",
    "A spokesperson for the regional administration declined to comment on the timetable.",
    "Questions remain. Funding for the well-known bridge project is still uncertain, according to a report "
    "published in May.",
)
EXPECTED_PAGES = (1, 1, 1, 2, 2, 3, 3)
TITLE = "Rebuilding the Old Town"
AUTHOR = "Jane Doe"
CREATED = datetime(2022, 6, 7, 9, 30, tzinfo=UTC)


class _Paged(FPDF):
    """Prints a bare page number at the top and "Page N of M" at the bottom, the footers readers must drop."""

    def header(self) -> None:
        self.set_font("Helvetica", size=9)
        self.cell(0, 5, str(self.page_no()), align="R", new_x="LMARGIN", new_y="NEXT")
        self.ln(8)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=9)
        self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")


def _document(title: str | None, author: str | None, created: datetime | None) -> FPDF:
    pdf = _Paged()
    pdf.set_auto_page_break(False)
    if title is not None:
        pdf.set_title(title)
    if author is not None:
        pdf.set_author(author)
    if created is not None:
        pdf.set_creation_date(created)
    return pdf


def article_pdf(title: str | None = TITLE, author: str | None = AUTHOR, created: datetime | None = CREATED) -> bytes:
    """The three-page article whose reading is spelled out in ``EXPECTED_PARAGRAPHS``."""
    pdf = _document(title, author, created)
    for page in PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for paragraph in page:
            for line in paragraph:
                pdf.cell(0, LINE, line, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(GAP)
    return bytes(pdf.output())


def textless_pdf() -> bytes:
    """One page with a drawn rectangle and no text at all, like a scan without OCR."""
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    return bytes(pdf.output())


def encrypted_pdf(user_password: str) -> bytes:
    """The article locked with ``user_password`` ("" opens without asking, as many real PDFs do)."""
    pdf = _document(TITLE, AUTHOR, CREATED)
    pdf.set_encryption(owner_password="owner", user_password=user_password)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, LINE, "Locked text that only an empty password opens.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


SENTENCES = (
    "The committee reviewed the budget for the coming year and agreed to postpone the vote.",
    "Residents of the northern districts have complained about the noise from the construction sites.",
    "A spokesperson said the figures would be published once the audit was complete.",
    "Several roads will remain closed until the repairs to the water mains are finished.",
    "The opposition called the decision premature and demanded a public hearing.",
)


def long_pdf(pages: int = 50, paragraphs_per_page: int = 6) -> tuple[bytes, list[str]]:
    """A long document wrapped by fpdf2 itself, for timing; returns the bytes and the paragraphs written."""
    pdf = _document("Long report", None, CREATED)
    pdf.set_auto_page_break(True, margin=20)
    written: list[str] = []
    for p in range(pages):
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for k in range(paragraphs_per_page):
            n = p * paragraphs_per_page + k
            text = f"Paragraph {n}. " + " ".join(SENTENCES[(n + i) % len(SENTENCES)] for i in range(3))
            pdf.multi_cell(0, LINE, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(GAP)
            written.append(text)
    return bytes(pdf.output()), written


COLUMNS: tuple[list[list[str]], list[list[str]]] = (
    [
        ["Left column opens the story about the", "flooded market and its traders."],
        ["The second left paragraph says the", "water rose overnight."],
    ],
    [
        ["Right column continues with the cost", "of the damage to the stalls."],
        ["The last paragraph quotes a trader", "who lost all her stock."],
    ],
)


def two_column_pdf() -> bytes:
    """A newspaper-style page: two columns side by side, to be read left column first."""
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for x, column in zip((10, 110), COLUMNS, strict=True):
        pdf.set_xy(x, 20)
        for paragraph in column:
            for line in paragraph:
                pdf.set_x(x)
                pdf.cell(90, LINE, line, new_x="LEFT", new_y="NEXT")
            pdf.ln(GAP)
    return bytes(pdf.output())


TIGHT = [
    ["A heading without a full stop"],
    ["The first paragraph is set with tight leading and only a little", "space after it, as word processors do."],
    ["The second paragraph follows after that small gap and runs", "over two lines as well."],
]
# (indented?, text) per line: paragraphs told apart only by a first-line indent.
INDENTED = [
    (True, "An indented paragraph starts here and its second line"),
    (False, "Returns to the margin as books set them."),
    (True, "The next paragraph is indented again, with no extra space"),
    (False, "Between the two paragraphs at all."),
]
TIGHT_EXPECTED = (
    "A heading without a full stop",
    "The first paragraph is set with tight leading and only a little space after it, as word processors do.",
    "The second paragraph follows after that small gap and runs over two lines as well.",
    "An indented paragraph starts here and its second line Returns to the margin as books set them.",
    "The next paragraph is indented again, with no extra space Between the two paragraphs at all.",
)


def tight_pdf() -> bytes:
    """Word-processor spacing (1.15 leading, 6 pt after), then book style: first-line indent and no gap at all.

    The continuation lines start with a capital so that only the indent, not a lowercase run-on, can tell.
    """
    pdf = FPDF(unit="pt")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    leading = 11 * 1.15
    for paragraph in TIGHT:
        for line in paragraph:
            pdf.cell(0, leading, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(6)
    for indented, line in INDENTED:
        pdf.set_x(pdf.l_margin + (22 if indented else 0))
        pdf.cell(0, leading, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def raw_pdf(*objects: bytes, info: int | None = None) -> bytes:
    """A PDF assembled by hand, objects numbered from 1 (1 is the catalog), so hostile structures can be written.

    ``info`` is the number of the object to name as the document information dictionary.
    """
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    extra = b" /Info %d 0 R" % info if info else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, extra, xref)
    return bytes(out)


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def page_object(parent: int, content: int, font: int) -> bytes:
    resources = b"/Resources << /Font << /F1 %d 0 R >> >>" % font
    box = b"/MediaBox [0 0 612 792]"
    return b"<< /Type /Page /Parent %d 0 R %s /Contents %d 0 R %s >>" % (parent, box, content, resources)


def stream_object(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)


def absurd_count_pdf() -> bytes:
    """One real page in a page tree that claims a billion and lists itself among its kids."""
    return raw_pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R 2 0 R 2 0 R] /Count 1000000000 >>",
        page_object(2, 4, 5),
        stream_object(b"BT /F1 12 Tf 72 700 Td (Only one page is real.) Tj ET"),
        FONT,
    )


def deep_tree_pdf(depth: int = 5000) -> bytes:
    """A page at the bottom of a page tree nested ``depth`` levels deep, to provoke RecursionError."""
    nodes = [b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (n + 1) for n in range(2, depth + 2)]
    leaf = depth + 2
    return raw_pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        *nodes,
        page_object(leaf - 1, leaf + 1, leaf + 2),
        stream_object(b"BT /F1 12 Tf 72 700 Td (Deep.) Tj ET"),
        FONT,
    )


def self_referencing_pdf() -> bytes:
    """A catalog that is a reference to itself: pdfminer's resolve1 follows it forever."""
    return raw_pdf(b"1 0 R")


def _single_page(content: bytes, info: bytes | None = None) -> bytes:
    """Catalog, page tree, one page whose content stream is object 4 (``content``, written as given), a font."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        page_object(2, 4, 5),
        content,
        FONT,
    ]
    return raw_pdf(*objects, info, info=6) if info is not None else raw_pdf(*objects)


def one_page_pdf(info: bytes) -> bytes:
    """One line of text and the information dictionary ``info``, written as given (odd dates, UTF-16 titles)."""
    return _single_page(stream_object(b"BT /F1 12 Tf 72 700 Td (A single line of text.) Tj ET"), info)


def missing_font_pdf() -> bytes:
    """A content stream naming a font the page does not have, which pdfminer logs a warning about."""
    return _single_page(stream_object(b"BT /F9 12 Tf (x) Tj ET"))


def lines_pdf(lines: list[str]) -> bytes:
    """One paragraph printed exactly as the given lines."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for line in lines:
        pdf.cell(0, LINE, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def inflating_pdf(megabytes: int) -> bytes:
    """A page whose content stream is a few hundred KB on disk and ``megabytes`` MB once inflated."""
    import zlib

    packer = zlib.compressobj(9)
    block = b" " * (1 << 20)
    body = packer.compress(b"BT /F1 12 Tf 72 700 Td (Inflated.) Tj ET\n")
    body += b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()
    return _single_page(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(body), body))
