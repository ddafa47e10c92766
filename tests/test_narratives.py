"""Narratives: relevant sentences, discovery, frozen ids, series and shifts, lead-lag, the stage.

Fast tests use constructed vectors (planted clusters in 384 dimensions); the slow one plants two
stories in text, encodes them with the packaged MiniLM encoder and checks the whole chain."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lens.narrative_stage import narrative_stage
from lens.store import Store
from lens.tables import SCHEMAS, to_arrow
from market.leadlag import LeadLagConfig, lead_lag, relative_returns
from nlp.narrative_series import change_points, narrative_series
from nlp.narratives import (
    EMBEDDING_DIM,
    NarrativeConfig,
    NarrativeModel,
    class_terms,
    discover,
    load_seeds,
    relevant_sentences,
)

UNSEEDED = NarrativeConfig(seeds="")
START = pd.Timestamp("2025-03-03")  # a Monday


def planted_vectors(rng, centres: np.ndarray, sizes: list[int], noise: float = 0.035) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors scattered around each centre; returns (vectors, which centre)."""
    parts, truth = [], []
    for i, n in enumerate(sizes):
        v = centres[i] + noise * rng.standard_normal((n, EMBEDDING_DIM))
        parts.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        truth += [i] * n
    return np.concatenate(parts).astype(np.float32), np.array(truth)


def unit_centres(rng, n: int) -> np.ndarray:
    c = rng.standard_normal((n, EMBEDDING_DIM))
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def majority_map(truth: np.ndarray, ids: list) -> dict[int, tuple[str, float]]:
    """Planted story → (narrative id most of it landed in, share that landed there)."""
    frame = pd.DataFrame({"truth": truth, "id": ids})
    out = {}
    for story, group in frame.groupby("truth"):
        counts = group.id.value_counts(dropna=False)
        out[story] = (counts.index[0], counts.iloc[0] / len(group))
    return out


# ------------------------------------------------------------------------------ relevance


def test_relevant_sentences_keep_story_sentences_and_drop_short_unlinked_boilerplate_and_copies():
    words = "Beijing raised tariffs on American farm goods again today"
    sentences = pd.DataFrame([
        {"article_id": "a1", "sent_idx": 0, "text": words, "score": 0.1},              # entity → kept
        {"article_id": "a1", "sent_idx": 1, "text": "Tariffs rose.", "score": 0.0},      # too short
        {"article_id": "a1", "sent_idx": 2, "text": "The weather was mild and the traffic was light", "score": 0.0},
        {"article_id": "a1", "sent_idx": 3, "text": "Sign up for our China newsletter to get every story", "score": 0.0},
        {"article_id": "a2", "sent_idx": 0, "text": "Sign up for our China newsletter to get every story", "score": 0.0},
        {"article_id": "a3", "sent_idx": 0, "text": "Sign up for our China newsletter to get every story", "score": 0.0},
        {"article_id": "a2", "sent_idx": 1, "text": "Washington doubled the levy on imports from its rival", "score": -0.2},
        {"article_id": "a4", "sent_idx": 0, "text": words, "score": 0.1},              # a syndicated copy
    ])
    entities = pd.DataFrame([
        {"article_id": "a1", "sent_idx": 0, "entity_id": "china"},
        {"article_id": "a1", "sent_idx": 1, "entity_id": "china"},
        {"article_id": "a1", "sent_idx": 3, "entity_id": "china"},
        {"article_id": "a2", "sent_idx": 0, "entity_id": "china"},
        {"article_id": "a3", "sent_idx": 0, "entity_id": "china"},
        {"article_id": "a4", "sent_idx": 0, "entity_id": "china"},
    ])
    catalysts = pd.DataFrame([{"article_id": "a2", "sent_idx": 1, "catalyst_type": "trade.tariffs"}])
    articles = pd.DataFrame({
        "article_id": ["a1", "a2", "a3", "a4"],
        "published_at": pd.to_datetime(["2025-04-04 13:00", "2025-04-05 09:00", "2025-04-05 10:00", "2025-04-04 14:00"], utc=True),
        "source": ["Wire", "Desk", "Desk", "Copycat"], "url": ["https://w/1", "https://d/2", "https://d/3", "https://c/4"],
        "duplicate_of": [None, None, None, "a1"],
    })
    kept = relevant_sentences(sentences, entities, catalysts, articles)
    assert set(zip(kept.article_id, kept.sent_idx, strict=True)) == {("a1", 0), ("a2", 1)}
    row = kept.set_index(["article_id", "sent_idx"]).loc[("a2", 1)]
    assert row.catalyst_types == ["trade.tariffs"] and row.entity_ids == []
    assert row.day == pd.Timestamp("2025-04-05") and row.source == "Desk"


# ------------------------------------------------------------------------------ discovery, frozen model


def test_discovery_separates_planted_clusters_and_a_frozen_model_keeps_ids(tmp_path):
    rng = np.random.default_rng(0)
    centres = unit_centres(rng, 3)
    vectors, truth = planted_vectors(rng, centres, [120, 80, 60])
    texts = [["tariffs duties imports retaliation", "stimulus bonds politburo spending",
              "deepseek model reasoning release"][t] for t in truth]
    model = discover(vectors, texts, UNSEEDED)
    ids = model.assign_ids(vectors)
    found = majority_map(truth, ids)
    assert len({nid for nid, _ in found.values()}) == 3, "each planted story is its own narrative"
    assert all(share >= 0.95 for _, share in found.values())
    assert any("tariffs" in term for term in model.terms[model.ids.index(found[0][0])])

    model.save(tmp_path)
    frozen = NarrativeModel.load(tmp_path)
    fresh, fresh_truth = planted_vectors(np.random.default_rng(1), centres, [10, 10, 10])
    assert frozen.assign_ids(fresh) == [found[t][0] for t in fresh_truth]

    # A refit on more text, in another order, keeps the ids of the stories that are still there.
    more, more_truth = planted_vectors(np.random.default_rng(2), centres, [50, 150, 90])
    refit = discover(more, [texts[list(truth).index(t)] for t in more_truth], UNSEEDED, previous=frozen)
    assert {t: nid for t, (nid, _) in majority_map(more_truth, refit.assign_ids(more)).items()} == \
        {t: nid for t, (nid, _) in found.items()}


def test_saving_a_model_is_one_rename_so_a_crash_keeps_the_old_model_whole(tmp_path, monkeypatch):
    import json

    from nlp import narratives

    rng = np.random.default_rng(0)
    centres = unit_centres(rng, 3)
    old_vectors, old_truth = planted_vectors(rng, centres[:2], [60, 60])
    old = discover(old_vectors, ["tariffs duties", "stimulus bonds"] * 60, UNSEEDED)
    old.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # nothing else to rename

    vectors, truth = planted_vectors(rng, centres, [60, 60, 60])
    new = discover(vectors, ["tariffs duties", "stimulus bonds", "deepseek model"] * 60, UNSEEDED)
    assert len(new.ids) != len(old.ids)

    def killed(src, dst):  # the process dies before its rename
        raise OSError("killed before the rename")

    monkeypatch.setattr(narratives.os, "replace", killed)
    with pytest.raises(OSError, match="killed"):
        new.save(tmp_path)
    monkeypatch.undo()
    assert NarrativeModel.load(tmp_path).ids == old.ids  # the old model, names and centroids together

    # A folder saved by an earlier version (centroids in model.npz, the rest in model.json) loads.
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    np.savez(legacy / "model.npz", centroids=old.centroids)
    from dataclasses import asdict

    (legacy / "model.json").write_text(json.dumps({k: v for k, v in asdict(old).items() if k != "centroids"}))
    assert NarrativeModel.load(legacy).ids == old.ids
    old.save(legacy)  # saving again moves it to the one-file layout
    assert sorted(p.name for p in legacy.iterdir()) == ["model.npz"]


def test_assignment_leaves_sentences_far_from_every_narrative_unassigned():
    rng = np.random.default_rng(3)
    centres = unit_centres(rng, 2)
    model = NarrativeModel(ids=["N01", "N02"], labels=["a", "b"], terms=[[], []], centroids=centres.astype(np.float32),
                           min_similarity=0.3, method="kmeans")
    stranger = unit_centres(np.random.default_rng(4), 1)  # random directions in 384-d are near-orthogonal
    assert model.assign_ids(np.concatenate([centres, stranger])) == ["N01", "N02", None]


def test_class_terms_rank_distinctive_terms_and_prefer_the_bigram_over_its_words():
    texts = ["the trade war hit exporters", "trade war fears grew again", "a trade war with new tariffs",
             "stimulus from the politburo", "more stimulus and special bonds", "bonds fund the stimulus"]
    terms = class_terms(texts, np.array([0, 0, 0, 1, 1, 1]), 2)
    assert terms[0][0] == "trade war" and "trade" not in terms[0] and "war" not in terms[0]
    assert terms[1][0] == "stimulus" and "bonds" in terms[1]


def test_bundled_seed_narratives_load_and_a_malformed_file_is_one_clear_error(tmp_path):
    ids = {s.id for s in load_seeds("default")}
    assert {"ai_race", "trade_war", "china_stimulus", "valuation_rotation", "fund_flows"} <= ids
    bad = tmp_path / "seeds.yaml"
    bad.write_text("seeds:\n  - id: x\n    name: X\n")
    with pytest.raises(ValueError, match=r"seeds.yaml: seed 1 needs an id, a name and a list of texts"):
        load_seeds(str(bad))


# ------------------------------------------------------------------------------ series and shifts


def assigned_frame(days: int, per_day_a, per_day_b, background: int = 4) -> pd.DataFrame:
    rows = []
    for d in range(days):
        day = START + pd.Timedelta(days=d)
        for nid, n in (("A", per_day_a(d)), ("B", per_day_b(d)), (None, background)):
            for k in range(n):
                rows.append({"article_id": f"{nid}{d}-{k % 2}", "sent_idx": k, "day": day, "source": f"s{k % 3}",
                             "score": 0.5 if nid == "B" and d >= 30 else 0.0, "narrative_id": nid})
    return pd.DataFrame(rows)


def test_attention_steps_up_on_the_planted_days_and_the_change_point_is_found():
    frame = assigned_frame(60, lambda d: 2, lambda d: 6 if d >= 30 else 1)
    series = narrative_series(frame, ["A", "B"], NarrativeConfig())
    b = series[(series.narrative_id == "B") & (series.freq == "day")].set_index("date")
    assert b.attention.iloc[:30].max() < b.attention.iloc[30:].min()
    assert b.loc[START, "attention"] == pytest.approx(1 / 7)  # 1 of 1 + 2 + 4 relevant sentences
    shifts = b.attention_shift.dropna()
    assert len(shifts) == 1 and abs((shifts.index[0] - (START + pd.Timedelta(days=30))).days) <= 2
    assert shifts.iloc[0] > 0
    tone_shift = b.tone_shift.dropna()
    assert len(tone_shift) == 1 and tone_shift.iloc[0] == pytest.approx(0.5)
    weekly = series[(series.narrative_id == "B") & (series.freq == "week")]
    assert (pd.to_datetime(weekly.date).dt.day_of_week == 0).all()  # weeks labelled by their Monday
    assert weekly.n_sentences.sum() == 30 * 1 + 30 * 6


def test_days_without_relevant_news_have_no_attention_rather_than_zero():
    frame = assigned_frame(10, lambda d: 0 if d == 4 else 2, lambda d: 1, background=0)
    frame = frame[frame.day != START + pd.Timedelta(days=4)]
    series = narrative_series(frame, ["A", "B"], NarrativeConfig())
    a = series[(series.narrative_id == "A") & (series.freq == "day")].set_index("date")
    assert np.isnan(a.loc[START + pd.Timedelta(days=4), "attention"])
    assert a.loc[START + pd.Timedelta(days=3), "attention"] == pytest.approx(2 / 3)


def test_change_points_ignore_noise_without_a_break():
    signal = np.random.default_rng(5).normal(0.3, 0.05, 80)
    assert change_points(signal) == []
    stepped = np.concatenate([signal[:40], signal[40:] + 0.3])
    assert [abs(p - 40) <= 2 for p in change_points(stepped)] == [True]


# ------------------------------------------------------------------------------ lead-lag


def weekly_series(values: dict[str, np.ndarray], dates: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"narrative_id": nid, "freq": "week", "date": dates, "attention": v, "tone": 0.0})
                      for nid, v in values.items()])


def test_granger_flags_a_narrative_that_leads_returns_and_q_values_correct_for_many_tests():
    rng = np.random.default_rng(7)
    n = 120
    dates = pd.date_range("2023-01-02", periods=n, freq="W-MON")
    leader = rng.normal(0.3, 0.1, n)
    noise = {f"N{i:02d}": rng.normal(0.3, 0.1, n) for i in range(2, 8)}
    rel = pd.Series(0.05 * (np.roll(leader, 1) - 0.3) + rng.normal(0, 0.002, n), index=dates).iloc[1:]
    result = lead_lag(weekly_series({"N01": leader, **noise}, dates), {"CQQQ-QQQM": rel}, LeadLagConfig(max_lag=2))
    lead = result[(result.narrative_id == "N01") & (result.signal == "attention")].iloc[0]
    assert lead.best_lag == 1 and lead.corr_best > 0.8
    assert lead.granger_p < 1e-6 and lead.granger_q < 0.01
    assert lead.reverse_p > 0.01
    tested = result.dropna(subset=["granger_p"])
    assert (tested.granger_q >= tested.granger_p - 1e-12).all()
    assert "Benjamini-Hochberg over" in lead.caveat
    # The tone columns are constant here: reported as not tested, not as a p-value.
    assert result[result.signal == "tone"].granger_p.isna().all()


def test_too_few_periods_are_not_tested_and_say_why():
    dates = pd.date_range("2025-01-06", periods=8, freq="W-MON")
    rel = pd.Series(np.linspace(-0.01, 0.01, 8), index=dates)
    result = lead_lag(weekly_series({"N01": np.linspace(0, 1, 8)}, dates), {"KWEB-SPY": rel}, LeadLagConfig())
    assert result.granger_p.isna().all()
    assert result.caveat.str.startswith("not tested: 8 periods").all()


def test_relative_returns_use_common_sessions_and_sum_per_week():
    a = pd.Series([0.01, 0.02, 0.03, 0.04], index=pd.to_datetime(["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-10"]))
    b = pd.Series([0.005, 0.01, 0.02], index=pd.to_datetime(["2025-03-03", "2025-03-05", "2025-03-10"]))
    weekly = relative_returns(a, b, "week")
    assert weekly.to_dict() == {pd.Timestamp("2025-03-03"): pytest.approx(0.005 + 0.02),
                                pd.Timestamp("2025-03-10"): pytest.approx(0.02)}


# ------------------------------------------------------------------------------ the stage over a store


class PlantedEncoder:
    """The encoder whose space the planted vectors are in: it cannot encode text, so a stage
    that tried to (instead of reusing the stored vectors) fails the test."""

    vector_space = "planted"

    def encode(self, texts, batch_size=64):
        raise AssertionError(f"encoded {len(texts)} texts instead of reading stored vectors")


class StoryEncoder:
    """A second encoder: a story's sentences get its centre, whatever the article tag."""

    vector_space = "stories"

    def __init__(self, centres: np.ndarray):
        self.centres = centres
        self.seen: list[str] = []

    def encode(self, texts, batch_size=64):
        self.seen += texts
        out = []
        for t in texts:
            v = self.centres[0 if "tariffs" in t else 1] + 0.035 * np.random.default_rng(len(self.seen) + len(out)).standard_normal(EMBEDDING_DIM)
            out.append(v / np.linalg.norm(v))
        return np.stack(out).astype(np.float32)


def write_store(out: Path, vectors: np.ndarray, truth: np.ndarray, first_day: int = 0, space: str = "planted") -> None:
    """Articles of one sentence each, on consecutive days, with their vectors stored as the
    analysis stage stores them (float16 bytes, labelled with the encoder's space)."""
    stories = ["Washington raised tariffs on goods from China again", "Beijing pledged fiscal stimulus and special bonds"]
    ids = [f"art{first_day + i:04d}" for i in range(len(vectors))]
    published = [START + pd.Timedelta(days=(first_day + i) // 4) for i in range(len(vectors))]
    with Store(out / "lens.duckdb") as store:
        with store._registered(new=pd.DataFrame({
            "article_id": ids, "url": [f"https://news.example/{i}" for i in ids], "source": "Wire",
            "title": "", "published_at": pd.to_datetime(published, utc=True), "text": "", "content_hash": ids,
        })):
            store.con.execute("INSERT INTO articles (article_id, url, source, title, published_at, text, content_hash) "
                              "SELECT * FROM new")
        sentences = [{"article_id": a, "sent_idx": 0, "start_char": 0, "end_char": 40,
                      "text": f"{stories[t]} ({a})", "score": 0.1} for a, t in zip(ids, truth, strict=True)]
        entities = [{"article_id": a, "sent_idx": 0, "entity_id": "china", "text": "China"} for a in ids]
        rows = {"sentences": sentences, "entities": entities, "catalysts": [], "article_scores": [],
                "sentence_vectors": [{"article_id": a, "sent_idx": 0, "vector": v.astype("<f2").tobytes(),
                                      "space": space} for a, v in zip(ids, vectors, strict=True)]}
        store.replace_analysis(ids, dict(zip(ids, ids, strict=True)), {n: to_arrow(n, r) for n, r in rows.items()})


def test_stage_reuses_stored_vectors_writes_the_tables_and_later_runs_keep_the_frozen_ids(tmp_path):
    assert SCHEMAS["sentence_vectors"].field("vector").type == pa.binary()
    rng = np.random.default_rng(11)
    centres = unit_centres(rng, 2)
    vectors, truth = planted_vectors(rng, centres, [40, 40])
    order = rng.permutation(len(truth))
    write_store(tmp_path, vectors[order], truth[order])
    config = NarrativeConfig(seeds="", k_min=2, k_max=4)
    first = narrative_stage(tmp_path, None, config, encoder=PlantedEncoder())
    assert first.refitted and first.encoded_vectors == 0 and first.reused_vectors == 80
    narratives = pd.read_parquet(tmp_path / "narratives.parquet")
    assert sorted(narratives["size"]) == [40, 40]
    assert narratives.evidence_urls.map(lambda u: u[0].startswith("https://news.example/")).all()
    daily = pd.read_parquet(tmp_path / "narrative_daily.parquet")
    assert set(daily.freq) == {"day", "week"} and set(daily.narrative_id) == set(narratives.narrative_id)
    story_of = dict(zip(*[pd.read_parquet(tmp_path / "narrative_sentences.parquet")[c] for c in ("article_id", "narrative_id")],
                        strict=True))
    before = {t: story_of[f"art{i:04d}"] for i, t in enumerate(truth[order])}

    more, more_truth = planted_vectors(np.random.default_rng(12), centres, [15, 15])
    write_store(tmp_path, more, more_truth, first_day=80)
    second = narrative_stage(tmp_path, None, config, encoder=PlantedEncoder())
    assert not second.refitted
    assigned = pd.read_parquet(tmp_path / "narrative_sentences.parquet").set_index("article_id").narrative_id
    assert all(assigned[f"art{80 + i:04d}"] == before[t] for i, t in enumerate(more_truth))

    # The report section is built from these tables: one band and one heat-map row per narrative.
    from lens.report import narratives_section

    section = narratives_section.build(tmp_path)
    assert [row["id"] for row in section["narratives"]] == sorted(narratives.narrative_id)
    for nid, label in zip(narratives.narrative_id, narratives.label, strict=True):
        first_term = label.split(" · ")[0]  # plotly's JSON escapes the separator
        assert f"{nid} {first_term}" in section["attention_chart"] and f"{nid} {first_term}" in section["tone_chart"]
    assert section["leadlag"] == []  # no prices given, no tests run


def test_vectors_and_narratives_of_another_encoder_are_replaced_not_mixed(tmp_path):
    rng = np.random.default_rng(21)
    centres = unit_centres(rng, 2)
    vectors, truth = planted_vectors(rng, centres, [30, 30])
    write_store(tmp_path, vectors, truth)
    config = NarrativeConfig(seeds="", k_min=2, k_max=4)
    assert narrative_stage(tmp_path, None, config, encoder=PlantedEncoder()).refitted

    # The pipeline's encoder changed (say, a new bundled model): the stored vectors and the frozen
    # centroids are in the old space, so every sentence is encoded again and the narratives refitted.
    new = StoryEncoder(unit_centres(np.random.default_rng(22), 2))
    second = narrative_stage(tmp_path, None, config, encoder=new)
    assert second.refitted and second.encoded_vectors == 60 and second.reused_vectors == 0
    assert len(new.seen) == 60
    narratives = pd.read_parquet(tmp_path / "narratives.parquet")
    assert sorted(narratives["size"]) == [30, 30]
    with Store(tmp_path / "lens.duckdb") as store:
        assert store.con.execute("SELECT DISTINCT space FROM sentence_vectors").fetchall() == [("stories",)]

    # stored under the new space now: the next run reads them and keeps the model
    third = narrative_stage(tmp_path, None, config, encoder=new)
    assert not third.refitted and third.reused_vectors == 60 and third.encoded_vectors == 0
    assert len(new.seen) == 60


# ------------------------------------------------------------------------------ planted stories, real encoder

# Each planted story is one event told many ways (paraphrased verbs, varied subjects and
# endings), as news retells a story; the background is unrelated local news.
TARIFF_SUBJECTS = ["Washington", "The White House", "The US administration", "American officials", "The Commerce Department"]
TARIFF_ACTIONS = ["raised tariffs on Chinese imports", "lifted tariffs on imports from China",
                  "increased tariffs on Chinese goods", "hiked tariffs on goods made in China",
                  "put higher tariffs on Chinese imports"]
TARIFF_TAILS = ["and Beijing vowed to retaliate", "as the trade war escalated", "deepening the tariff fight",
                "and China promised countermeasures", "in the latest round of the trade war"]
STIMULUS_SUBJECTS = ["Beijing", "China's cabinet", "The State Council", "Chinese policymakers", "China's government"]
STIMULUS_ACTIONS = ["unveiled a fiscal stimulus package", "announced a large stimulus package",
                    "approved an economic stimulus package", "rolled out a new stimulus package",
                    "launched a stimulus package"]
STIMULUS_TAILS = ["to revive a slowing economy", "to support economic growth", "to lift a sluggish economy",
                  "as growth slowed", "to boost demand in the economy"]
BACKGROUND = ["The weather in Paris was mild for the season", "A new museum opened in the old harbour district",
              "The football club signed a young striker", "Local farmers reported a good apple harvest",
              "The city council debated new cycling lanes", "A jazz festival drew large crowds downtown",
              "The library extended its opening hours", "Railway works closed the northern line for a weekend"]


def story(rng: random.Random, parts) -> str:
    return " ".join(rng.choice(p) for p in parts) + "."


@pytest.mark.slow
def test_planted_stories_are_separated_their_attention_rises_on_the_planted_days_and_ids_stay_frozen(tmp_path):
    from nlp.catalysts import load_sentence_encoder

    rng = random.Random(5)
    rows = []
    for d in range(60):
        day = START + pd.Timedelta(days=d)
        plan = [("tariffs", 2), ("stimulus", 7 if d >= 30 else 1), ("background", 4)]
        for name, n in plan:
            for k in range(n):
                text = (story(rng, (TARIFF_SUBJECTS, TARIFF_ACTIONS, TARIFF_TAILS)) if name == "tariffs" else
                        story(rng, (STIMULUS_SUBJECTS, STIMULUS_ACTIONS, STIMULUS_TAILS)) if name == "stimulus" else
                        rng.choice(BACKGROUND) + f", residents said on day {d}.")
                rows.append({"article_id": f"{name}-{d}-{k}", "sent_idx": 0, "day": day, "source": f"outlet{k % 3}",
                             "score": 0.0, "text": text, "story": name})
    frame = pd.DataFrame(rows)
    encoder = load_sentence_encoder()
    vectors = encoder.encode(frame.text.tolist())
    model = discover(vectors, frame.text.tolist(), UNSEEDED)
    frame["narrative_id"] = model.assign_ids(vectors)

    found = {}
    for name in ("tariffs", "stimulus"):
        counts = frame[frame.story == name].narrative_id.value_counts()
        found[name] = counts.index[0]
        assert counts.iloc[0] / counts.sum() >= 0.9, f"{name} is split: {counts.to_dict()}"
        # and the narrative is that story, not a mix with the other one
        members = frame[frame.narrative_id == found[name]].story.value_counts()
        assert members.index[0] == name and members.iloc[0] / members.sum() >= 0.9
    assert found["tariffs"] != found["stimulus"]
    label = model.labels[model.ids.index(found["tariffs"])] + " " + " ".join(model.terms[model.ids.index(found["tariffs"])])
    assert "tariff" in label or "duties" in label

    series = narrative_series(frame, model.ids, NarrativeConfig())
    daily = series[(series.narrative_id == found["stimulus"]) & (series.freq == "day")].set_index("date")
    assert daily.attention.iloc[30:].mean() > 2 * daily.attention.iloc[:30].mean()
    breaks = daily.attention_shift.dropna()
    planted = START + pd.Timedelta(days=30)
    assert any(abs((when - planted).days) <= 2 and jump > 0 for when, jump in breaks.items()), breaks.to_dict()

    model.save(tmp_path)
    frozen = NarrativeModel.load(tmp_path)
    new_rng = random.Random(99)
    new_texts = [story(new_rng, (TARIFF_SUBJECTS, TARIFF_ACTIONS, TARIFF_TAILS)) for _ in range(5)] + \
                [story(new_rng, (STIMULUS_SUBJECTS, STIMULUS_ACTIONS, STIMULUS_TAILS)) for _ in range(5)]
    assert frozen.assign_ids(encoder.encode(new_texts)) == [found["tariffs"]] * 5 + [found["stimulus"]] * 5


def test_refit_takes_the_out_given_before_it(tmp_path):
    from typer.testing import CliRunner

    from lens.cli import app

    for args in (["narratives", "--out", str(tmp_path), "refit"], ["narratives", "refit", "--out", str(tmp_path)]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2
        assert str(tmp_path / "lens.duckdb") in res.output.replace("\n", "")  # not reports/demo's
