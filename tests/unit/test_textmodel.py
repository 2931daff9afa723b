"""The text model: its input text, its file format, its bounded place in the verdict."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from dataclasses import replace
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest

from mailguard.detect import Classifier
from mailguard.detect.engine import Blend, RulePart, model_reason
from mailguard.detect.textmodel import (
    MODEL_FAMILY,
    PHONE_MARK,
    URL_MARK,
    LangModel,
    ModelScore,
    TextModel,
    default_model,
    detect_lang,
    model_text,
)
from mailguard.detect.verdict import Reason
from mailguard.parse import parse_message

REPO = Path(__file__).resolve().parents[2]


def mail(subject: str, body: str, sender: str = "Support <info@billing-desk.example>") -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = "user@example.jp"
    msg["Subject"] = subject
    msg["Date"] = "Tue, 02 Jun 2026 10:00:00 +0900"
    msg["Message-ID"] = f"<{abs(hash(subject + body))}@test>"
    msg.set_content(body)
    return msg.as_bytes()


def test_model_text_maps_numbers_links_and_whitespace() -> None:
    lang, text = model_text(
        "本日中に\n03-5123-4567 へ ご連絡 ください https://pay.example/x 残高 12,800円"
    )
    assert lang == "ja"
    assert PHONE_MARK in text and URL_MARK in text
    assert " " not in text and "\n" not in text, "Japanese drops whitespace (hard wraps)"
    assert "0,0円" in text, "other digit runs fold to one 0"
    lang, text = model_text("Call  +1 (808) 414-2290\nwithin 24 hours")
    assert lang == "en"
    assert text == f"call {PHONE_MARK} within 0 hours"


def test_model_text_masks_bare_and_defanged_links_but_not_file_names() -> None:
    _, text = model_text("Pay at tolls-pay.example/r/88 or hxxps://x.test/a, see invoice.pdf")
    assert text == f"pay at {URL_MARK} or {URL_MARK} see invoice.pdf"
    _, text = model_text("未納料金は pay-kakunin.jp/abc にて本日中に")
    assert text == f"未納料金は{URL_MARK}にて本日中に", "a reserved or campaign host is no wording"


def test_model_text_masks_every_date_and_time_shape() -> None:
    _, text = model_text("期限 2026年12月5日 / 2026/12/05 ・ 12月 5日 ・ 9:30 まで、残り 3日")
    assert text == "期限Ⓓ/Ⓓ・Ⓓ・Ⓓまで、残り0日"
    # A full date takes the space after it (the shipped model was fitted so);
    # any other Unicode space run becomes one space.
    _, text = model_text("Due 2026-12-05 at 14:05,\u3000ref 2026.1.7\u00a0ok")
    assert text == "due Ⓓat Ⓓ, ref Ⓓok"
    _, text = model_text("at 14:05\u2003\u3000\tnow")
    assert text == "at Ⓓ now"


def test_detect_lang_counts_letters_not_runs() -> None:
    # 15 kana against 100 letters in all is Japanese; 14 is not. Counting runs
    # (words) instead of characters would get both wrong.
    assert detect_lang("a" * 85 + " " + "あ" * 15) == "ja"
    assert detect_lang("a" * 86 + " " + "あ" * 14) == "en"
    assert detect_lang("x " * 50 + "あいう" * 5) == "ja", "15 kana, 50 one-letter words"
    assert detect_lang("0123 !!") == "en"


def test_detect_lang_ignores_a_few_japanese_characters_in_english() -> None:
    english = "Your order from 株式会社 Example has shipped, track it online today"
    assert detect_lang(english) == "en"
    assert detect_lang("Amazonのご利用料金が未納です。本日中にお支払いください") == "ja"


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = TextModel(
        {"ja": LangModel("ja", 2, 4, -0.5, {"未納": 1.2, "本日中": 0.8, "配送": -0.9})},
        {"note": "test"},
    )
    path = tmp_path / "m.json.gz"
    model.save(path)
    again = TextModel.load(path)
    assert again.models["ja"].weights == model.models["ja"].weights
    s = again.score_text("未納料金を本日中にお支払いください")
    assert s is not None and s.lang == "ja"
    assert s.logit == pytest.approx(-0.5 + 1.2 + 0.8)
    # Each distinct n-gram counts once, however often it occurs.
    twice = again.score_text("未納未納未納 本日中")
    assert twice is not None and twice.logit == pytest.approx(-0.5 + 1.2 + 0.8)
    assert again.score_text("hello there") is None, "no English model in this file"


def test_length_normalised_score_and_its_file_format(tmp_path: Path) -> None:
    weights = {"未納": 1.2, "本日中": 0.8, "配送": -0.9}
    model = TextModel({"ja": LangModel("ja", 2, 4, -0.5, weights, norm_floor=1, scale=2.0)})
    path = tmp_path / "m.json.gz"
    model.save(path)
    again = TextModel.load(path)
    assert (again.models["ja"].norm_floor, again.models["ja"].scale) == (1, 2.0)
    s = again.score_text("未納料金を本日中にお支払いください")
    assert s is not None
    # Two distinct model n-grams present: the sum is divided by sqrt(2), then scaled.
    assert s.logit == pytest.approx(2.0 * (-0.5 + (1.2 + 0.8) / 2**0.5))
    # The floor: with one n-gram present, a floor of 4 divides by 2, not by 1.
    floored = TextModel({"ja": LangModel("ja", 2, 4, 0.0, weights, norm_floor=4)})
    one = floored.score_text("未納です")
    assert one is not None and one.logit == pytest.approx(1.2 / 2)
    # A file written before normalisation (no norm_floor/scale keys) reads as a plain sum.
    data = model.to_json()
    del data["models"]["ja"]["norm_floor"], data["models"]["ja"]["scale"]
    old = TextModel.from_json(data).score_text("未納料金を本日中にお支払いください")
    assert old is not None and old.logit == pytest.approx(-0.5 + 1.2 + 0.8)


def test_training_fits_what_inference_computes() -> None:
    """The trainer's normalisation and the shipped arithmetic agree: scikit-learn's
    decision function on a training text equals the saved model's logit on it."""
    pytest.importorskip("sklearn")
    from mailguard.detect import training

    texts = [
        ("未納料金を本日中にお支払いください。法的措置に移行します", "scam"),
        ("ご利用料金の確認が取れておりません。本日中にご連絡ください", "scam"),
        ("退会手続きが未完了です。至急お電話ください", "scam"),
        ("ご注文の商品を発送しました。お届けまでお待ちください", "ham"),
        ("今月のご利用明細をお知らせします。ログインしてご確認ください", "ham"),
        ("本日14時開演です。ご来場をお待ちしております", "ham"),
    ]
    model = training.fit(_ja_examples(texts), min_df=1, top_k=10**6)
    lang_model = model.models["ja"]
    assert lang_model.norm_floor == training.NORM_FLOOR["ja"]
    assert lang_model.scale == training.LOGIT_SCALE["ja"]
    logits = [model.score_text(text) for text, _ in texts]
    assert all(s is not None for s in logits)
    scams = [s.logit for s, (_, label) in zip(logits, texts, strict=True) if s and label == "scam"]
    hams = [s.logit for s, (_, label) in zip(logits, texts, strict=True) if s and label == "ham"]
    assert min(scams) > max(hams), "a fitted model separates its own training texts"
    # scikit-learn fitted by hand on length-normalised rows (every n-gram kept, so
    # the refit is the same fit) gives the very logits the shipped scorer computes:
    # the trainer fits what inference computes.
    expect = _hand_fitted_logits(texts, lang_model.norm_floor, lang_model.scale)
    assert [s.logit for s in logits if s] == pytest.approx(expect, abs=1e-3)


def test_a_floor_of_zero_trains_the_plain_sum_inference_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """norm_floor 0 is the unnormalised model at inference, so training must fit that."""
    pytest.importorskip("sklearn")
    from mailguard.detect import training

    monkeypatch.setitem(training.NORM_FLOOR, "ja", 0)
    texts = [
        ("未納料金を本日中にお支払いください", "scam"),
        ("退会手続きが未完了です。至急お電話ください", "scam"),
        ("ご注文の商品を発送しました", "ham"),
        ("今月のご利用明細をお知らせします", "ham"),
    ]
    model = training.fit(_ja_examples(texts), min_df=1, top_k=10**6)
    assert model.models["ja"].norm_floor == 0
    expect = _hand_fitted_logits(texts, 0, model.models["ja"].scale)
    got = [model.score_text(text) for text, _ in texts]
    assert [s.logit for s in got if s] == pytest.approx(expect, abs=1e-3)


def _ja_examples(texts: list[tuple[str, str]]) -> list[Any]:
    """(text, label) pairs as Japanese training examples, each its own source."""
    from mailguard.detect import training

    return [
        training.Example(f"t{i}", label, "ja", "-", f"g{i}", text, "own")
        for i, (text, label) in enumerate(texts)
    ]


def _hand_fitted_logits(texts: list[tuple[str, str]], floor: int, scale: float) -> list[float]:
    """The oracle for the trainer: scikit-learn fitted directly on the texts' binary
    n-gram rows, each divided by sqrt(max(n-grams present, floor)) unless the floor
    is 0, with the recipe's C, scaled like the shipped model. Written here without
    the trainer's code, so a trainer that stops fitting what inference computes
    disagrees with it."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    from mailguard.detect import training

    lo, hi = training.NGRAMS["ja"]
    vec = CountVectorizer(analyzer=lambda t: sorted(training.ngrams(t, lo, hi)), binary=True)
    x = vec.fit_transform([model_text(text, "ja")[1] for text, _ in texts])
    if floor:
        rows = x.sum(axis=1).A.ravel()
        x = x.multiply(1.0 / np.sqrt(np.maximum(rows, floor))[:, None]).tocsr()
    y = [1 if label == "scam" else 0 for _, label in texts]
    n, scams = len(y), sum(y)
    weights = {1: n / (2 * scams), 0: training.HAM_WEIGHT * n / (2 * (n - scams))}
    clf = LogisticRegression(
        C=training.C_BY_LANG["ja"], class_weight=weights, max_iter=2000, solver="liblinear"
    ).fit(x, y)
    return list(scale * clf.decision_function(x))


def test_model_reason_is_bounded_and_names_the_ngrams() -> None:
    blend = Blend(scale=2.0, pos_cap=4.0, neg_cap=1.5, family_min=2.0)
    top = (("本日中にご連絡", 1.0), ("未納料金", 0.9))
    strong = model_reason(ModelScore("ja", 40.0, top), blend)
    assert strong is not None and strong.family == MODEL_FAMILY
    assert strong.weight == 4.0, "capped at pos_cap however sure the model is"
    assert "本日中にご連絡" in strong.evidence and "未納料金" in strong.evidence
    weak = model_reason(ModelScore("en", -40.0, (("your order", -1.0),)), blend)
    assert weak is not None and weak.weight == -1.5
    assert model_reason(ModelScore("en", 0.01), blend) is None, "no reason for a shrug"


def test_decide_adds_the_model_to_the_rule_score() -> None:
    clf = Classifier.default()
    rules = RulePart(counted=[], score=0.0)
    blend = Blend(scale=1.0, pos_cap=3.0, neg_cap=3.0, family_min=2.0)
    v = clf.decide(rules, ModelScore("ja", 10.0), None, blend)
    assert v.score == 3.0
    assert v.verdict == "clean", "capped at 3 points, the model alone is far below the threshold"
    assert [r.family for r in v.reasons] == [MODEL_FAMILY]


def test_a_decisive_reading_passes_the_family_gate_alone() -> None:
    clf = Classifier.default()
    nothing = RulePart(counted=[], score=0.0)
    blend = Blend(scale=3.0, pos_cap=9.0, family_min=1.5, strong_logit=3.0, alone_logit=4.0)
    decisive = clf.decide(nothing, ModelScore("ja", 4.5), None, blend)
    assert decisive.verdict == "scam", "no rule phrase, but the whole text reads as a fake bill"
    assert decisive.reasons[0].family == MODEL_FAMILY and "whole text" in (
        decisive.reasons[0].description_en
    )
    confident = clf.decide(nothing, ModelScore("ja", 3.5), None, blend)
    assert confident.verdict != "scam", "confident but not decisive: two families of three"
    off = clf.decide(nothing, ModelScore("ja", 9.0), None, replace(blend, alone_logit=None))
    assert off.verdict != "scam", "alone_logit=None: a rule family is always needed"
    legit = RulePart(counted=[(_reason("context", -1.0), "")], score=-1.0)
    capped = clf.decide(legit, ModelScore("ja", 9.0), None, blend)
    assert capped.verdict == "clean", "legitimate evidence caps the reading: never decisive"
    low_cap = clf.decide(nothing, ModelScore("ja", 9.0), None, replace(blend, pos_cap=7.0))
    assert low_cap.verdict != "scam", "decisive passes the gate, not the score threshold"


def _reason(family: str, weight: float) -> Reason:
    return Reason(
        rule=f"t.{family}",
        family=family,
        weight=weight,
        description_ja="",
        description_en="",
        evidence="",
    )


def test_a_confident_reading_counts_as_two_families_unless_provenance_says_legit() -> None:
    clf = Classifier.default()
    one_family = RulePart(counted=[(_reason("debt", 1.5), "fake_billing")], score=1.5)
    blend = Blend(scale=2.0, pos_cap=9.0, family_min=1.5, strong_logit=4.0)
    confident = clf.decide(one_family, ModelScore("ja", 4.5), None, blend)
    assert confident.verdict == "scam", "debt + a confident reading: three families, 10.5 points"
    assert "whole text" in confident.reasons[0].description_en
    unsure = clf.decide(one_family, ModelScore("ja", 3.9), None, blend)
    assert unsure.verdict != "scam", "below strong_logit the model is one family of two"
    off = clf.decide(one_family, ModelScore("ja", 4.5), None, replace(blend, strong_logit=None))
    assert off.verdict != "scam", "strong_logit=None: the model is always one family"
    legit = RulePart(
        counted=[(_reason("debt", 1.5), "fake_billing"), (_reason("context", -1.0), "")],
        score=0.5,
    )
    capped = clf.decide(legit, ModelScore("ja", 9.0), None, blend)
    assert capped.verdict == "clean", "legitimate evidence caps the reading"
    one_rule = RulePart(
        counted=[(_reason("debt", 7.0), "fake_billing"), (_reason("context", -1.0), "")],
        score=6.0,
    )
    capped = clf.decide(one_rule, ModelScore("ja", 9.0), None, replace(blend, legit_cap=2.0))
    assert capped.score == 8.0 and capped.verdict != "scam", "a capped reading never counts twice"
    said = [r.description_en for r in capped.reasons if r.family == MODEL_FAMILY]
    assert said and "whole text" not in said[0], "nor does its reason call it confident"


def test_shipped_model_loads_and_reads_scam_wording() -> None:
    model = default_model()
    assert model is not None, "the package ships src/mailguard/detect/model/textmodel.json.gz"
    assert set(model.models) == {"ja", "en"}
    assert model.meta.get("sources") == ["fixtures", "own"], "shipped weights: own data only"
    scam = model.score_text(
        "ご利用料金のお支払い確認が取れておりません。本日中にサポートセンター 03-5288-1234 まで"
        "ご連絡ください。ご連絡なき場合は法的手続きに移行します。"
    )
    ham = model.score_text(
        "いつもご利用ありがとうございます。ご注文の商品を本日発送しました。"
        "お届け予定日はマイページの注文履歴からご確認いただけます。"
    )
    assert scam is not None and ham is not None
    assert scam.logit > ham.logit
    assert scam.logit > 0 > ham.logit


def test_the_evidence_is_readable_phrases_not_fragments() -> None:
    model = default_model()
    assert model is not None
    en = "Your toll account has an unpaid balance. Pay today to avoid a late fee and suspension."
    score = model.score_text(en)
    assert score is not None and score.top
    text = model_text(en)[1]
    for phrase, _w in score.top:
        assert len(phrase) >= 3
        start = text.find(phrase)
        assert start >= 0, f"{phrase!r} is taken from the text"
        end = start + len(phrase)
        assert start == 0 or not text[start - 1].isalnum(), f"{phrase!r} starts mid-word"
        assert end == len(text) or not text[end].isalnum(), f"{phrase!r} ends mid-word"
    ja = "ご利用料金のお支払いが確認できておりません。本日中にご連絡ください。"
    jscore = model.score_text(ja)
    assert jscore is not None and jscore.top
    for phrase, _w in jscore.top:
        assert "。" not in phrase and len(phrase) >= 3
        assert phrase in model_text(ja)[1]


def test_phrases_are_worked_out_only_for_a_reading_that_is_shown() -> None:
    """The phrase builder is a tenth of classify time; a negative reading adds no reason."""
    model = default_model()
    assert model is not None
    clf = Classifier.default()
    nothing = RulePart(counted=[], score=0.0)

    def counting(score: ModelScore | None) -> tuple[ModelScore, list[int]]:
        assert score is not None and score.explain is not None
        explain, calls = score.explain, []

        def counted() -> tuple[tuple[str, float], ...]:
            calls.append(1)
            return explain()

        return replace(score, explain=counted), calls

    ordinary, calls = counting(
        model.score_text("Thanks for lunch today, see you at the club on Friday.")
    )
    assert ordinary.logit < 0
    clf.decide(nothing, ordinary, None, clf.blend)
    assert calls == [], "not computed for a reading no reason shows"
    lure, calls = counting(
        model.score_text("ご利用料金のお支払いが確認できておりません。本日中にご連絡ください。")
    )
    assert lure.logit > 0
    v = clf.decide(nothing, lure, None, clf.blend)
    [reason] = [r for r in v.reasons if r.family == MODEL_FAMILY]
    assert lure.top and calls == [1], "computed once, then kept"
    assert lure.top[0][0] in reason.evidence


def test_short_sms_style_mail_gets_a_model_reason() -> None:
    raw = mail(
        "",
        "未払いのご利用料金があります。本日中に 0120-555-019 までご連絡ください。"
        "ご連絡なき場合は法的手続きに入ります。",
    )
    v = Classifier.default().classify(parse_message(raw))
    model = [r for r in v.reasons if r.family == MODEL_FAMILY]
    assert model and model[0].weight > 0
    assert model[0].evidence, "the n-grams that drove it are shown"


def test_model_file_ships_in_the_wheel(tmp_path: Path) -> None:
    """Build a wheel, install it without dependencies into a folder, load the model from it."""
    wheel_dir = tmp_path / "wheel"
    # Build isolation: the project's build backend (setuptools>=77) may be newer
    # than the one in the test venv, so pip fetches it; without network we skip.
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip()[-200:]}")
    [wheel] = wheel_dir.glob("mailguard-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mailguard/detect/model/textmodel.json.gz" in names
    assert not any(n.startswith("dataset/") for n in names), "training data does not ship"
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = (
        "import mailguard.detect.textmodel as t; m = t.default_model(); "
        f"assert t.__file__.startswith({str(target)!r}), t.__file__; print(sorted(m.models))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip() == "['en', 'ja']"


def test_legitimate_evidence_caps_the_model() -> None:
    """A genuine dunning mail reads like a fake one; the rules' provenance evidence wins."""
    from mailguard.detect.verdict import Reason

    clf = Classifier.default()
    own_domain = Reason("common.context.sender_is_brand", "context", -3.0, "ja", "en")
    rules = RulePart(counted=[(own_domain, "")], score=-3.0)
    blend = Blend(scale=3.0, pos_cap=7.0, neg_cap=1.0, family_min=1.5, legit_cap=2.0)
    v = clf.decide(rules, ModelScore("en", 10.0), None, blend)
    [model] = [r for r in v.reasons if r.family == MODEL_FAMILY]
    assert model.weight == 2.0
    plain = clf.decide(RulePart(counted=[], score=0.0), ModelScore("en", 10.0), None, blend)
    assert [r.weight for r in plain.reasons if r.family == MODEL_FAMILY] == [7.0]


def test_naming_the_scam_is_not_legitimate_evidence_but_warning_about_it_is() -> None:
    """The second-stage scam says 架空請求 too ("we recover what it took"): that word lowers
    the score but leaves the reading uncapped; a warning's frame (手口, 注意) caps it."""
    from mailguard.detect.verdict import Reason

    clf = Classifier.default()
    topic = Reason("ja.warning.scam_topic", "warning", -1.0, "ja", "en")
    frame = Reason("ja.warning.scam_talk", "warning", -1.0, "ja", "en")
    blend = Blend(scale=3.0, pos_cap=9.0, family_min=1.5, legit_cap=1.0)

    def model_weight(*reasons: Reason) -> float:
        rules = RulePart([(r, "") for r in reasons], -1.0 * len(reasons))
        v = clf.decide(rules, ModelScore("ja", 5.0), None, blend)
        return next(r.weight for r in v.reasons if r.family == MODEL_FAMILY)

    assert model_weight(topic) == 9.0
    assert model_weight(frame) == 1.0
    assert model_weight(topic, frame) == 1.0
    # Being named is weak evidence (a scammer knows the name once the victim has called).
    named = Reason("combo.named_recipient", "context", -1.5, "ja", "en")
    assert model_weight(named) == 9.0


def test_provenance_mismatch_caps_what_the_model_can_subtract() -> None:
    """A lure from a domain that is not the brand's stays suspect however ordinary it reads."""
    from mailguard.detect.verdict import Reason

    clf = Classifier.default()
    unbacked = Reason("common.brand.unbacked", "brand", 2.0, "ja", "en")
    blend = Blend(scale=4.0, pos_cap=5.0, neg_cap=5.0, family_min=1.5, legit_cap=1.0)
    v = clf.decide(RulePart([(unbacked, "")], 2.0), ModelScore("en", -10.0), None, blend)
    assert [r.weight for r in v.reasons if r.family == MODEL_FAMILY] == [-1.0]
    plain = clf.decide(RulePart([], 0.0), ModelScore("en", -10.0), None, blend)
    assert [r.weight for r in plain.reasons if r.family == MODEL_FAMILY] == [-5.0]


def test_the_shipped_blend_subtracts_only_for_a_confident_ordinary_reading() -> None:
    """A genuine cancellation confirmation carries the fakes' three families ("if you
    didn't make this change, call us at ..."); a model that reads it as plainly
    ordinary takes it below the scam line. A faint lean, as honeypot HTML has, and a
    sender who is not who it claims, keep their full weight against it."""
    from mailguard.detect.verdict import SCAM, Reason

    clf = Classifier.default()
    blend = Blend()
    counted = [
        (Reason("en.callback.call_to_cancel", "callback", 3.0, "ja", "en"), "withdrawal"),
        (Reason("en.contact.call_number", "contact", 2.5, "ja", "en"), "withdrawal"),
        (Reason("en.cancel.not_authorized", "cancel", 2.0, "ja", "en"), "withdrawal"),
        (Reason("combo.callback_shape", "combo", 3.0, "ja", "en"), "withdrawal"),
    ]
    rules = RulePart(counted, 10.5)

    def decide(logit: float, extra: list[tuple[Reason, str]] | None = None) -> tuple[str, float]:
        part = RulePart(counted + (extra or []), 10.5 + sum(r.weight for r, _ in extra or []))
        v = clf.decide(part, ModelScore("en", logit), None, blend)
        return v.verdict, sum(r.weight for r in v.reasons if r.family == MODEL_FAMILY)

    assert clf.decide(rules, None, None, blend).verdict == SCAM
    assert decide(-5.5) == (SCAM, 0.0), "a lean is not evidence of anything"
    verdict, weight = decide(-12.0)
    assert verdict != SCAM and weight == -3.0
    assert decide(-6.5)[1] == pytest.approx(-0.5 * blend.scale, abs=0.01), "linear from -6"
    mismatch = [(Reason("common.mismatch.brand_display_name", "mismatch", 2.5, "ja", "en"), "")]
    assert decide(-12.0, mismatch) == (SCAM, -2.0), "provenance caps what wording subtracts"


def test_an_ordinary_reading_never_works_out_its_phrases() -> None:
    """Working out the phrases is a tenth of classifying a message; most genuine mail
    reads below the margin and its reading is never shown, so it must not pay for it."""
    calls: list[int] = []

    def explain() -> tuple[tuple[str, float], ...]:
        calls.append(1)
        return (("your order", -1.0),)

    clf = Classifier.default()
    v = clf.decide(RulePart([], 0.0), ModelScore("en", -12.0, explain=explain), None, Blend())
    [reason] = [r for r in v.reasons if r.family == MODEL_FAMILY]
    assert reason.weight == -3.0 and reason.evidence == ""
    assert calls == [], "the phrases of an ordinary reading were worked out"
    v = clf.decide(RulePart([], 0.0), ModelScore("en", 6.0, explain=explain), None, Blend())
    assert calls == [1] and "your order" in next(r for r in v.reasons if r.weight > 0).evidence
