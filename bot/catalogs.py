"""Keep the message catalogs in step with the code: ``python -m bot.catalogs extract|update|compile|check``.

Each step is the ``pybabel`` command translators know, with citebot's keywords (see
bot/locales/README.md):

    extract   bot/locales/citebot.pot from the code (every message citebot itself says)
    update    merge the template into each bot/locales/<lang>/LC_MESSAGES/citebot.po
    compile   each .po into its .mo (committed: a pip install does not compile them)
    check     exit 1 if the template, a translation or a .mo is out of date or incomplete
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = Path(__file__).resolve().with_name("locales")
DOMAIN = "citebot"
TEMPLATE = LOCALES / f"{DOMAIN}.pot"
MAPPING = LOCALES / "babel.cfg"
TRANSLATED = ("uk", "ru", "de")
# Besides gettext's own (_, ngettext, N_, ...): constructors that take an English message first.
KEYWORDS = ("N_", "ProblemReply", "NoticeReply", "QuestionError", "CollectionError", "Count:2,3")


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract(output: Path = TEMPLATE) -> None:
    keywords = [arg for k in KEYWORDS for arg in ("-k", k)]
    try:
        release = version("citebot")
    except PackageNotFoundError:
        release = "0"
    with contextlib.chdir(ROOT):  # locations relative to the project: bot/render.py:39
        pybabel(
            "extract", "-F", str(MAPPING), *keywords, "-c", "TRANSLATORS:", "--project", "citebot",
            "--version", release, "--copyright-holder", "the citebot authors", "--width", "100",
            "-o", str(output), ".",
        )  # fmt: skip


def update() -> None:
    pybabel(
        "update", "-i", str(TEMPLATE), "-d", str(LOCALES), "-D", DOMAIN, "--no-fuzzy-matching", "--ignore-obsolete",
        "--width", "100",
    )  # fmt: skip


def compile_all(directory: Path = LOCALES) -> None:
    pybabel("compile", "-d", str(directory), "-D", DOMAIN)


def po_path(lang: str, directory: Path = LOCALES) -> Path:
    return directory / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str, directory: Path = LOCALES) -> Path:
    return directory / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"


def messages(catalog_path: Path) -> dict[object, object]:
    """A .po's or .mo's translations: msgid (a tuple for plurals) -> msgstr (a tuple for plurals)."""
    with catalog_path.open("rb") as f:
        catalog = read_mo(f) if catalog_path.suffix == ".mo" else read_po(f)
    return {_key(m.id): _key(m.string) for m in catalog if m.id}


def _key(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value  # read_mo gives plurals as lists


def problems() -> list[str]:
    """What is out of date or missing; empty when the catalogs are in step with the code."""
    found: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / f"{DOMAIN}.pot"
        extract(fresh)
        wanted = set(messages(fresh))
        if wanted != set(messages(TEMPLATE)):
            found.append(f"{TEMPLATE.name} is out of date: run python -m bot.catalogs extract, then update")
        for lang in TRANSLATED:
            have = messages(po_path(lang))
            missing = [m for m in wanted if not _translated(have.get(m))]
            if missing:
                found.append(f"{lang}: {len(missing)} messages without a translation, e.g. {missing[0]!r}")
            if messages(mo_path(lang)) != have:
                found.append(f"{lang}: {mo_path(lang).name} is stale: run python -m bot.catalogs compile")
    return found


def _translated(string: object) -> bool:
    if isinstance(string, tuple | list):
        return bool(string) and all(s.strip() for s in string)
    return isinstance(string, str) and bool(string.strip())


def main(argv: list[str]) -> int:
    step = argv[0] if argv else "check"
    if step == "extract":
        extract()
    elif step == "update":
        update()
    elif step == "compile":
        compile_all()
    elif step == "check":
        found = problems()
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
