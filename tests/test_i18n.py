"""citebot's own words in the asker's language: catalogs, detection, renderers, the CLI.

The questions below were written for this test (not taken from anywhere): 48 short questions
in each of English, Ukrainian, Russian and German, and 12 harder ones in Ukrainian and Russian
that avoid the letters telling the two apart at a glance (і ї є ґ; ы э ё ъ).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import string
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.mofile import read_mo

from bot import catalogs
from bot.conversation import AnswerReply, Conversation, HelpReply, NoticeReply, ProblemReply, SourcesReply
from bot.i18n import LANGUAGES, choose, detect, supported, words
from bot.render import answer_json, citation_text, terminal, terminal_answer
from bot.telegram_bot import BotConfig, CitebotTelegram, command_list
from bot.telegram_html import paragraph_html, reply_html
from retrieval import Answer, ArticleInfo, Citation, Library, QuestionError, Quote
from retrieval.collections import CollectionError
from retrieval.errors import Count
from retrieval.question import check_question
from tests.conftest import citebot, cli_env
from tests.telegram_standin import parse_html

QUESTIONS = {
    "en": [
        "Who is the mayor of Sievierodonetsk?",
        "How many civilians are still in the city?",
        "When did the Russian forces enter the town?",
        "What did Zelensky say about the battle?",
        "Which bridges were destroyed during the fighting?",
        "Why did the Ukrainian army not withdraw?",
        "How do I cook borscht at home?",
        "Where is the Azot chemical plant located?",
        "Who had the numerical advantage in the fighting?",
        "What happened to the people sheltering underground?",
        "Is the city still controlled by Ukraine?",
        "How far is Lysychansk from Sievierodonetsk?",
        "What weapons did the Western allies send?",
        "Did anyone negotiate a ceasefire in June?",
        "How long did the battle for the city last?",
        "What is the population of Luhansk province?",
        "Which river separates the two cities?",
        "Who reported the casualties on both sides?",
        "What was the weather like that week?",
        "Can you tell me about the evacuation routes?",
        "Why is the Donbas so important to Russia?",
        "What did the governor say on Telegram?",
        "How many soldiers died there each day?",
        "When was this report first published?",
        "Who wrote this article about the war?",
        "Are there any hospitals still working there?",
        "What does the word cauldron mean here?",
        "Which towns did Russia capture in May?",
        "How did the shelling affect the water supply?",
        "What is the best football team in Europe?",
        "Where can I find the full report?",
        "Did the mayor ask for more artillery?",
        "How much territory does Russia control now?",
        "What role did the chemical plant play?",
        "Who are the main commanders on each side?",
        "Is it safe to travel to Kyiv now?",
        "What time does the train leave tomorrow?",
        "Tell me what the military analysts predicted.",
        "Why were the street battles so fierce?",
        "How many people lived there before the war?",
        "What did the British intelligence report claim?",
        "Which units defended the industrial zone?",
        "When did the last bridge over the river collapse?",
        "Does the article mention any children?",
        "What are the names of the neighbouring villages?",
        "Could the Ukrainians have held the city longer?",
        "How often were the roads shelled?",
        "Who said neither side was preparing to retreat?",
    ],
    "uk": [
        "Хто зараз є мером Сєвєродонецька?",
        "Скільки цивільних досі залишається в місті?",
        "Коли російські війська увійшли до міста?",
        "Що сказав Зеленський про цю битву?",
        "Які мости зруйнували під час боїв?",
        "Чому українська армія так і не відступила?",
        "Як приготувати смачний борщ удома?",
        "Де розташований хімічний завод «Азот»?",
        "Хто мав чисельну перевагу в боях?",
        "Що сталося з людьми, які ховалися в підвалах?",
        "Чи місто досі під контролем України?",
        "Як далеко Лисичанськ від Сєвєродонецька?",
        "Яку зброю надіслали західні союзники?",
        "Чи хтось домовлявся про перемир'я в червні?",
        "Скільки часу тривала битва за місто?",
        "Яка чисельність населення Луганської області?",
        "Яка річка розділяє ці два міста?",
        "Хто повідомив про втрати обох сторін?",
        "Якою була погода того тижня?",
        "Розкажи мені про шляхи евакуації з міста.",
        "Чому Донбас такий важливий для Росії?",
        "Що губернатор написав у своєму телеграм-каналі?",
        "Скільки солдатів гинуло там щодня?",
        "Коли вперше опублікували цей звіт?",
        "Хто написав цю статтю про війну?",
        "Чи там ще працюють якісь лікарні?",
        "Що тут означає слово «котел»?",
        "Які міста Росія захопила в травні?",
        "Як обстріли вплинули на водопостачання?",
        "Яка найкраща футбольна команда в Європі?",
        "Де можна знайти повний текст звіту?",
        "Чи просив мер більше артилерії?",
        "Скільки території зараз контролює Росія?",
        "Яку роль відіграв хімічний завод?",
        "Хто головні командувачі з кожного боку?",
        "Чи безпечно зараз їхати до Києва?",
        "О котрій завтра відправляється потяг?",
        "Що саме прогнозували військові аналітики?",
        "Чому вуличні бої були такими запеклими?",
        "Скільки людей жило там до війни?",
        "Що стверджувала британська розвідка у звіті?",
        "Які підрозділи обороняли промислову зону?",
        "Коли впав останній міст через річку?",
        "Чи згадуються в цій статті діти?",
        "Як називаються сусідні села навколо міста?",
        "Чи могли українці довше втримати місто?",
        "Як часто обстрілювали дороги до міста?",
        "Хто сказав, що жодна сторона не збирається відступати?",
    ],
    "ru": [
        "Кто сейчас является мэром Северодонецка?",
        "Сколько мирных жителей еще остается в городе?",
        "Когда российские войска вошли в город?",
        "Что сказал Зеленский об этой битве?",
        "Какие мосты были разрушены во время боев?",
        "Почему украинская армия так и не отступила?",
        "Как приготовить вкусный борщ дома?",
        "Где находится химический завод «Азот»?",
        "У кого было численное преимущество в боях?",
        "Что случилось с людьми, прятавшимися в подвалах?",
        "Город всё ещё под контролем Украины?",
        "Как далеко Лисичанск от Северодонецка?",
        "Какое оружие прислали западные союзники?",
        "Кто-нибудь договаривался о перемирии в июне?",
        "Сколько времени длилась битва за город?",
        "Какова численность населения Луганской области?",
        "Какая река разделяет эти два города?",
        "Кто сообщил о потерях обеих сторон?",
        "Какая была погода на той неделе?",
        "Расскажи мне о путях эвакуации из города.",
        "Почему Донбасс так важен для России?",
        "Что губернатор написал в своем телеграм-канале?",
        "Сколько солдат погибало там каждый день?",
        "Когда впервые опубликовали этот отчет?",
        "Кто написал эту статью о войне?",
        "Там еще работают какие-нибудь больницы?",
        "Что здесь значит слово «котёл»?",
        "Какие города Россия захватила в мае?",
        "Как обстрелы повлияли на водоснабжение?",
        "Какая лучшая футбольная команда в Европе?",
        "Где можно найти полный текст отчета?",
        "Просил ли мэр больше артиллерии?",
        "Сколько территории сейчас контролирует Россия?",
        "Какую роль сыграл химический завод?",
        "Кто главные командиры с каждой стороны?",
        "Безопасно ли сейчас ехать в Киев?",
        "Во сколько завтра отправляется поезд?",
        "Что именно прогнозировали военные аналитики?",
        "Почему уличные бои были такими ожесточенными?",
        "Сколько людей жило там до войны?",
        "Что утверждала британская разведка в отчете?",
        "Какие подразделения обороняли промышленную зону?",
        "Когда рухнул последний мост через реку?",
        "Упоминаются ли в этой статье дети?",
        "Как называются соседние села вокруг города?",
        "Могли ли украинцы дольше удерживать город?",
        "Как часто обстреливали дороги к городу?",
        "Кто сказал, что ни одна сторона не готовится отступать?",
    ],
    "de": [
        "Wer ist der Bürgermeister von Sjewjerodonezk?",
        "Wie viele Zivilisten sind noch in der Stadt?",
        "Wann sind die russischen Truppen in die Stadt einmarschiert?",
        "Was hat Selenskyj über die Schlacht gesagt?",
        "Welche Brücken wurden bei den Kämpfen zerstört?",
        "Warum hat sich die ukrainische Armee nicht zurückgezogen?",
        "Wie koche ich Borschtsch zu Hause?",
        "Wo genau liegt das Chemiewerk Azot?",
        "Wer war bei den Kämpfen zahlenmäßig überlegen?",
        "Was geschah mit den Menschen in den Kellern?",
        "Kontrolliert die Ukraine die Stadt noch immer?",
        "Wie weit ist Lyssytschansk von Sjewjerodonezk entfernt?",
        "Welche Waffen haben die westlichen Verbündeten geschickt?",
        "Hat jemand im Juni über eine Waffenruhe verhandelt?",
        "Wie lange dauerte die Schlacht um die Stadt?",
        "Wie viele Einwohner hat die Region Luhansk?",
        "Welcher Fluss trennt die beiden Städte voneinander?",
        "Wer hat über die Verluste beider Seiten berichtet?",
        "Wie war das Wetter in dieser Woche?",
        "Erzähl mir etwas über die Fluchtwege.",
        "Warum ist der Donbass für Russland so wichtig?",
        "Was schrieb der Gouverneur auf Telegram?",
        "Wie viele Soldaten starben dort jeden Tag?",
        "Wann wurde der Bericht zuerst veröffentlicht?",
        "Wer hat diesen Artikel über den Krieg geschrieben?",
        "Gibt es dort noch funktionierende Krankenhäuser?",
        "Was bedeutet hier das Wort Kessel?",
        "Welche Städte hat Russland im Mai erobert?",
        "Wie wirkte sich der Beschuss auf das Wasser aus?",
        "Welche ist die beste Fußballmannschaft Europas?",
        "Wo finde ich den vollständigen Bericht?",
        "Hat der Bürgermeister um mehr Artillerie gebeten?",
        "Wie viel Gebiet kontrolliert Russland jetzt?",
        "Welche Rolle spielte das Chemiewerk dabei?",
        "Wer sind die wichtigsten Kommandeure auf jeder Seite?",
        "Ist es jetzt sicher, nach Kiew zu reisen?",
        "Wann fährt morgen der erste Zug ab?",
        "Was haben die Militäranalysten vorhergesagt?",
        "Warum waren die Straßenkämpfe so heftig?",
        "Wie viele Menschen lebten dort vor dem Krieg?",
        "Was behauptete der britische Geheimdienst?",
        "Welche Einheiten verteidigten das Industriegebiet?",
        "Wann ist die letzte Brücke eingestürzt?",
        "Werden in dem Artikel Kinder erwähnt?",
        "Wie heißen die Dörfer in der Nachbarschaft?",
        "Hätten die Ukrainer die Stadt länger halten können?",
        "Wie oft wurden die Straßen beschossen?",
        "Wer sagte, dass keine Seite sich zurückziehen wolle?",
    ],
}
HARD = {
    "uk": [
        "Хто мав чисельну перевагу в боях?",
        "Чому захисники не змогли втримати завод?",
        "Що саме сказав мер про вуличну боротьбу?",
        "Як довго тривала оборона заводу?",
        "Де саме зараз проходить передова?",
        "Коли почався штурм цього заводу?",
        "Хто саме командував обороною Лисичанська?",
        "Чому ворог так квапився з наступом?",
        "Що сталося з мостом того ранку?",
        "Як люди виживали без води та газу?",
        "Хто першим написав про втрати ворога?",
        "Чого прагнув досягти ворог того року?",
    ],
    "ru": [
        "Кто именно командовал обороной Лисичанска?",
        "Почему армия не смогла удержать завод?",
        "Что именно сказал глава города про бои?",
        "Как долго длилась оборона завода?",
        "Где сейчас проходит линия фронта?",
        "Когда начался штурм завода Азот?",
        "Кто сообщал о потерях противника?",
        "Почему враг так спешил с наступлением?",
        "Что случилось с мостом в тот день?",
        "Как люди жили без света и газа?",
        "Чего хотел добиться противник в июне?",
        "Сколько снарядов падало на город за сутки?",
    ],
}


# --- detection ----------------------------------------------------------------------------------


def _accuracy(lang: str, questions: list[str]) -> float:
    return sum(detect(q) == lang for q in questions) / len(questions)


@pytest.mark.parametrize("lang", ["en", "uk", "ru", "de"])
def test_short_questions_are_recognised(lang: str) -> None:
    assert len(QUESTIONS[lang]) >= 40
    assert all(4 <= len(q.split()) <= 10 for q in QUESTIONS[lang])
    assert _accuracy(lang, QUESTIONS[lang]) >= 0.95


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_ukrainian_and_russian_are_told_apart_without_their_own_letters(lang: str) -> None:
    own = set("іїєґ" if lang == "uk" else "ыэёъ")
    assert not any(own & set(q.lower()) for q in HARD[lang])  # the questions are as hard as they claim
    found = [detect(q) for q in QUESTIONS[lang] + HARD[lang]]
    assert sum(f == lang for f in found) / len(found) >= 0.9
    other = "ru" if lang == "uk" else "uk"
    assert sum(f == other for f in found) <= 0.1 * len(found)  # the rest: unsure, so English


@pytest.mark.parametrize(
    "text",
    ["", "   ", "?!?!", "🙂🎉", "12345", "Sievierodonetsk", "xxxxxxxxxxxxxxxxxxxx",
     "Pourquoi la guerre a-t-elle commencé si tôt ?", "¿Dónde vive el alcalde de la ciudad?",
     "Kto jest burmistrzem tego miasta?"],
)  # fmt: skip
def test_no_language_or_one_without_a_catalog_is_english(text: str) -> None:
    assert detect(text) is None
    assert choose(None, text) == "en"


def test_the_front_ends_preference_comes_first_then_the_text() -> None:
    assert choose("uk", "How do I cook borscht?") == "uk"  # Telegram's language_code, or --lang
    assert choose("en-US", "Как приготовить борщ?") == "en"
    assert choose("fr", "Как приготовить борщ?") == "ru"  # no French catalog: the question's language
    assert choose(None, "Як приготувати борщ?") == "uk"
    assert choose(None, None) == "en"
    assert [supported(c) for c in ("uk", "ru-RU", "de_AT", "EN", "fr", "", None)] == [
        "uk", "ru", "de", "en", None, None, None]  # fmt: skip


# --- the catalogs -------------------------------------------------------------------------------


def test_template_holds_every_message_in_the_code(tmp_path: Path) -> None:
    """A message added to the code without `python -m bot.catalogs extract` would stay English."""
    fresh = tmp_path / "citebot.pot"
    catalogs.extract(fresh)
    assert set(catalogs.messages(fresh)) == set(catalogs.messages(catalogs.TEMPLATE))


@pytest.mark.parametrize("lang", ["uk", "ru", "de"])
def test_every_message_has_a_translation(lang: str) -> None:
    wanted = set(catalogs.messages(catalogs.TEMPLATE))
    have = catalogs.messages(catalogs.po_path(lang))
    missing = [m for m in wanted if not catalogs._translated(have.get(m))]
    assert not missing, f"{lang}: no translation for {missing[:3]}"


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_ukrainian_and_russian_have_three_plural_forms(lang: str) -> None:
    plurals = {k: v for k, v in catalogs.messages(catalogs.po_path(lang)).items() if isinstance(k, tuple)}
    assert plurals and all(len(forms) == 3 for forms in plurals.values())


@pytest.mark.parametrize("lang", ["uk", "ru", "de"])
def test_compiled_catalogs_match_their_sources(lang: str, tmp_path: Path) -> None:
    """The committed .mo is what `pybabel compile` makes of the committed .po (pip installs do not compile)."""
    copy = catalogs.po_path(lang, tmp_path)
    copy.parent.mkdir(parents=True)
    shutil.copy(catalogs.po_path(lang), copy)
    catalogs.compile_all(tmp_path)
    with catalogs.mo_path(lang, tmp_path).open("rb") as fresh, catalogs.mo_path(lang).open("rb") as committed:
        fresh_messages = {m.id if isinstance(m.id, str) else tuple(m.id): m.string for m in read_mo(fresh)}
        committed_messages = {m.id if isinstance(m.id, str) else tuple(m.id): m.string for m in read_mo(committed)}
    assert fresh_messages == committed_messages
    assert len(committed_messages) > 60


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("lang", ["uk", "ru", "de"])
def test_translations_use_the_messages_own_fields(lang: str) -> None:
    """A field the English does not fill would make the reply fall back to English."""
    optional = {"detail"}  # the store's English detail may be left out
    for msgid, msgstr in catalogs.messages(catalogs.po_path(lang)).items():
        english = _fields(msgid[0] if isinstance(msgid, tuple) else msgid) | (
            {"n"} if isinstance(msgid, tuple) else set()
        )
        for form in msgstr if isinstance(msgstr, tuple) else (msgstr,):
            assert english - optional <= _fields(form) <= english, (lang, msgid, form)


# --- rendering: the same reply in each language ------------------------------------------------

CITATION = Citation("sev", "Sievierodonetsk", "2022-06-07", 7, None, page=3)
QUOTE = Quote("Street fighting was raging.", CITATION, 0, 27, 0.4)
DECLINED = Answer("q", answered=False, confidence=0.2, closest=QUOTE)
UNSURE = Answer("q", answered=True, confidence=0.55, quotes=(QUOTE,))

WORDS = {  # the catalog's words for the renderers' sentences
    "en": ("The articles don't answer that.", "Closest match:", "page 3, paragraph 7", "Low confidence (0.55)",
           "low confidence: 0.55"),
    "uk": ("У статтях немає відповіді на це запитання.", "Найближче за змістом:", "сторінка 3, абзац 7",
           "Низька впевненість (0,55)", "низька впевненість: 0,55"),
    "ru": ("В статьях нет ответа на этот вопрос.", "Ближе всего по смыслу:", "страница 3, абзац 7",
           "Низкая уверенность (0,55)", "низкая уверенность: 0,55"),
}  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "uk", "ru"])
def test_a_decline_and_a_low_confidence_answer_in_each_language(lang: str) -> None:
    decline, closest, labels, low_html, low_terminal = WORDS[lang]
    (declined,) = reply_html(AnswerReply(DECLINED, lang=lang))
    assert f"<b>{decline}</b>" in declined and closest in declined and labels in declined
    assert "Street fighting was raging." in declined  # the quote is the article's own words, in any language
    (unsure,) = reply_html(AnswerReply(UNSURE, lang=lang))
    assert low_html in unsure and labels in unsure
    parse_html(declined), parse_html(unsure)
    text = terminal(AnswerReply(DECLINED, lang=lang))
    assert decline in text and closest in text and labels in text
    assert low_terminal in terminal_answer(UNSURE, lang=lang)
    assert citation_text(QUOTE, lang).endswith(labels)
    (whole,) = paragraph_html(CITATION, "Street fighting was raging.", lang=lang)
    assert labels in whole
    others = [WORDS[other][0] for other in WORDS if other != lang]
    assert not any(o in declined or o in text for o in others)


def test_reading_note_is_in_the_replys_language() -> None:
    reply = AnswerReply(UNSURE, reading="What did Mayor Oleksandr Stryuk say?", lang="ru")
    assert "<i>Понимаю это как: What did Mayor Oleksandr Stryuk say?</i>" in reply_html(reply)[0]
    assert "Понимаю это как: What did Mayor" in terminal(reply)


PARAGRAPHS = {
    "en": ["1 paragraph", "2 paragraphs", "5 paragraphs", "21 paragraphs"],
    "uk": ["1 абзац", "2 абзаци", "5 абзаців", "21 абзац"],
    "ru": ["1 абзац", "2 абзаца", "5 абзацев", "21 абзац"],
}


@pytest.mark.parametrize("lang", ["en", "uk", "ru"])
def test_plural_forms_in_sources(lang: str) -> None:
    shelf = tuple(ArticleInfo(f"a{n}", f"Article {n}", None, n) for n in (1, 2, 5, 21))
    (html,) = reply_html(SourcesReply(shelf, lang=lang))
    text = terminal(SourcesReply(shelf, lang=lang))
    for n, label in zip((1, 2, 5, 21), PARAGRAPHS[lang], strict=True):
        assert f"Article {n} ({label})" in html and f"Article {n}, {label}" in text
    assert words(lang).ngettext("{n} article", "{n} articles", 4) in html  # "4 articles", "4 статті", "4 статьи"
    assert words("uk").ngettext("{n} article", "{n} articles", 4) == "4 статті"
    assert words("ru").ngettext("{n} article", "{n} articles", 5) == "5 статей"


def test_numbers_are_written_the_languages_way() -> None:
    assert words("en").ngettext("{n} passage", "{n} passages", 2067) == "2,067 passages"
    assert words("uk").ngettext("{n} passage", "{n} passages", 2067) == "2\xa0067 фрагментів"
    assert words("ru").ngettext("{n} passage", "{n} passages", 2061) == "2\xa0061 фрагмент"
    assert words("de").ngettext("{n} passage", "{n} passages", 2067) == "2.067 Passagen"


def test_errors_from_retrieval_keep_english_for_logs_and_translate_for_people() -> None:
    with pytest.raises(QuestionError) as caught:
        check_question("Що " * 400)
    exc = caught.value
    assert str(exc) == "That question is too long (1,199 characters); please keep it under 1,000."
    assert words("uk").error(exc) == "Це запитання задовге (1\xa0199 символів); будь ласка, скоротіть його до 1\xa0000."
    assert (
        words("ru").error(exc)
        == "Этот вопрос слишком длинный (1\xa0199 символов); пожалуйста, сократите его до 1\xa0000."
    )
    assert words("fr").error(exc) == str(exc)
    full = CollectionError(
        "This chat already has {documents}: /remove one first.", documents=Count(201, "{n} document", "{n} documents")
    )
    assert str(full) == "This chat already has 201 documents: /remove one first."
    assert words("ru").error(full) == "В этом чате уже 201 документ: сначала удалите один через /remove."
    assert words("uk").error(full) == "У цьому чаті вже 201 документ: спершу приберіть один через /remove."


def test_problem_and_notice_replies_render_in_their_language() -> None:
    problem = ProblemReply("I don't know the command /{name}. Try /help.", {"name": "x"}, "uk")
    assert problem.message == "Я не знаю команди /x. Спробуйте /help."
    assert reply_html(problem) == ["Я не знаю команди /x. Спробуйте /help."]
    assert NoticeReply("Starting afresh: I have forgotten the earlier questions.", lang="ru").message == (
        "Начинаем заново: предыдущие вопросы забыты."
    )
    assert ProblemReply("Sorry, I can't answer right now. Please try again later.").message.startswith("Sorry")


def test_json_keeps_its_keys_and_data_in_every_language() -> None:
    english = json.loads(answer_json(DECLINED))
    assert set(english) == {"question", "answered", "confidence", "quotes", "closest"}
    assert english["closest"]["paragraph"] == 7 and english["closest"]["page"] == 3


def test_commands_are_registered_in_each_language() -> None:
    """setMyCommands once for everyone (English) and once per catalog, with its language_code."""
    calls: list[tuple[str | None, list[tuple[str, str]]]] = []

    class Bot:
        username = "citebot_test_bot"

        async def set_my_commands(self, commands: list, language_code: str | None = None) -> bool:
            calls.append((language_code, [(c.command, c.description) for c in commands]))
            return True

    telegram = CitebotTelegram(SimpleNamespace(), BotConfig("123456:" + "a" * 30))  # type: ignore[arg-type]
    asyncio.run(telegram._post_init(SimpleNamespace(bot=Bot())))  # type: ignore[arg-type]
    registered = dict(calls)
    assert set(registered) == {None, *(lang for lang in LANGUAGES if lang != "en")}
    assert dict(registered[None])["help"] == "how to ask, with examples"
    assert dict(registered["uk"])["help"] == "як питати, з прикладами"
    assert dict(registered["ru"])["new"] == "начать заново: забыть предыдущие вопросы"
    assert [name for name, _ in registered["ru"]] == [c.command for c in command_list("en")]


# --- the conversation and the command line ------------------------------------------------------


def test_the_conversation_decides_once_and_the_reply_carries_it(library: Library) -> None:
    talk = Conversation(library)
    borscht = talk.reply("Как приготовить борщ?")
    assert isinstance(borscht, AnswerReply) and borscht.lang == "ru" and not borscht.answer.answered
    assert "В статьях нет ответа на этот вопрос." in reply_html(borscht)[0]
    assert talk.reply("How do I cook borscht?", lang="uk").lang == "uk"  # the front end's language first
    help_reply = talk.reply("/help", lang="uk-UA")
    assert isinstance(help_reply, HelpReply) and help_reply.lang == "uk"
    assert "Питайте своїми словами" in reply_html(help_reply)[0]
    assert talk.reply("/help").lang == "en"  # no words to read: English
    assert talk.reply("/ask Як приготувати борщ?").lang == "uk"
    empty = talk.reply("/ask", lang="ru")
    assert isinstance(empty, ProblemReply) and empty.message.startswith("Добавьте вопрос после /ask")
    long = talk.reply("Что " * 400)
    assert isinstance(long, ProblemReply) and long.lang == "ru" and "слишком длинный" in long.message


def test_ask_declines_in_the_questions_language_unless_told(bundled_index: Path) -> None:
    borscht = "Как приготовить борщ?"
    russian = citebot("ask", borscht, "--index", str(bundled_index))
    assert russian.returncode == 0, russian.stderr
    assert "В статьях нет ответа на этот вопрос." in russian.stdout and "Ближе всего по смыслу:" in russian.stdout
    assert "абзац" in russian.stdout and "paragraph" not in russian.stdout
    english = citebot("ask", borscht, "--lang", "en", "--index", str(bundled_index))
    assert "The articles don't answer that." in english.stdout and "paragraph" in english.stdout
    forced = citebot("ask", "How do I cook borscht?", "--index", str(bundled_index), env=cli_env(CITEBOT_LANG="uk"))
    assert "У статтях немає відповіді на це запитання." in forced.stdout
    refused = citebot("ask", "Что " * 400, "--index", str(bundled_index))
    assert refused.returncode == 1 and refused.stderr.startswith("citebot: Этот вопрос слишком длинный")
    bad = citebot("ask", "x", "--lang", "fr", "--index", str(bundled_index))
    assert bad.returncode == 2 and "no catalog" in bad.stderr
