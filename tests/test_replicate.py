"""`autoloop replicate`: statistics on constructed metric tables, argument validation, one tiny end-to-end run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoloop.replicate import (DEFAULT_STEPS, KEY_METRICS, boot_means, compare, format_report, hedges_g,
                                parse_args, percentile_ci, replicate_main)

TARGET = {"T": 0.5, "L": 192}
NEIGHBOURS = [{"T": 0.5, "L": 176}, {"T": 0.5, "L": 208}]


def table(shift=None, n=32, seed=0, regimes=None, nan_frac=0.0) -> pd.DataFrame:
    """One row per (L, seed): every key metric ~ N(base, sd); `shift` maps L -> offset of entropy_mean."""
    rng = np.random.default_rng(seed)
    shift = shift or {}
    rows = []
    for L in (176, 192, 208):
        for s in range(n):
            r = {"T": 0.5, "L": L, "seed": s, "entropy_mean": rng.normal(3.0 + shift.get(L, 0.0), 0.5),
                 "gzip_mean_W64": rng.normal(0.5, 0.05), "gzip_mean_WL": rng.normal(0.45, 0.05),
                 "eos_rate": rng.uniform(0, 0.01), "time_to_lowest_floor": rng.normal(20000, 5000)}
            if rng.random() < nan_frac:
                r["time_to_lowest_floor"] = np.nan
            r["regime_b"] = (regimes or {}).get(L, "rich")
            r["regime_ref"] = "rich"
            rows.append(r)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ statistics
def test_known_difference_is_detected_and_holds():
    c = compare(table({192: 1.5}), TARGET, NEIGHBOURS, n_boot=2000)
    assert c.holds is True and "HOLDS" in c.verdict
    e = c.effects[c.effects["metric"] == "entropy_mean"]
    assert e["distinct"].all() and (e["diff_lo"] > 0).all() and (e["g"] > 0.8).all()
    assert any(r.startswith("entropy_mean is higher") for r in c.reasons)
    assert "VERDICT" in format_report(c)


@pytest.mark.parametrize("seed", range(5))
def test_identical_distributions_are_not_flagged(seed):
    c = compare(table(seed=seed), TARGET, NEIGHBOURS, n_boot=2000)
    assert c.holds is False and "does NOT hold" in c.verdict
    assert not c.reasons


def test_trend_through_the_target_is_not_an_anomaly():
    # L=176 < L=192 < L=208, each step large: the target differs from both, in opposite directions
    c = compare(table({176: -1.5, 208: 1.5}), TARGET, NEIGHBOURS, n_boot=2000)
    assert c.effects.loc[c.effects["metric"] == "entropy_mean", "distinct"].all()
    assert c.holds is False


def test_regime_difference_holds():
    c = compare(table(regimes={192: "collapse"}), TARGET, NEIGHBOURS, n_boot=2000)
    assert c.holds is True and any(r.startswith("regime_b") for r in c.reasons)
    fr = c.regimes[(c.regimes["column"] == "regime_b") & (c.regimes["condition"] == "T=0.5 L=192")]
    assert fr.set_index("label")["fraction"].to_dict() == {"collapse": 1.0}


def test_regime_trend_is_not_an_anomaly():
    m = table(regimes={176: "rich", 208: "collapse"})
    m.loc[(m["L"] == 192) & (m["seed"] % 2 == 0), "regime_b"] = "collapse"  # half way between
    c = compare(m, TARGET, NEIGHBOURS, n_boot=2000)
    assert (c.regime_tests.loc[c.regime_tests["column"] == "regime_b", "p_value"] < 0.05).all()
    assert c.holds is False


def test_bootstrap_ci_coverage():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(300):
        x = rng.normal(0.0, 1.0, 30)
        lo, hi = percentile_ci(boot_means(x, 2000, rng))
        hits += lo <= 0.0 <= hi
    assert 0.88 <= hits / 300 <= 0.99  # percentile bootstrap at n=30: a little under 95%


def test_ci_brackets_the_mean_and_is_seeded():
    m = table({192: 1.0})
    a, b = compare(m, TARGET, NEIGHBOURS, n_boot=1000, seed=3), compare(m, TARGET, NEIGHBOURS, n_boot=1000, seed=3)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    s = a.summary
    assert ((s["ci_lo"] <= s["mean"]) & (s["mean"] <= s["ci_hi"])).all()
    assert set(s["metric"]) == set(KEY_METRICS) and (s["n"] == 32).all()


def test_hedges_g_known_value():
    assert hedges_g(np.array([1.0, 2, 3]), np.array([4.0, 5, 6])) == pytest.approx(-3 * (1 - 3 / 15))
    assert hedges_g(np.ones(4), np.ones(4)) == 0.0
    assert np.isnan(hedges_g(np.array([1.0]), np.array([1.0, 2])))


def test_missing_values_are_dropped_and_counted():
    m = table({192: 1.5}, nan_frac=0.3)
    m.loc[m["L"] == 208, "time_to_lowest_floor"] = np.nan  # no floor in any L=208 run
    m = m.drop(columns=["gzip_mean_W64"])                   # a metric not analysed at all
    c = compare(m, TARGET, NEIGHBOURS, n_boot=1000)
    s = c.summary.set_index(["condition", "metric"])
    t = s.loc[("T=0.5 L=192", "time_to_lowest_floor")]
    assert t["n"] + t["n_missing"] == 32 and 0 < t["n_missing"] < 32
    assert s.loc[("T=0.5 L=208", "time_to_lowest_floor"), "n"] == 0
    assert np.isnan(s.loc[("T=0.5 L=208", "time_to_lowest_floor"), "mean"])
    assert (s.xs("gzip_mean_W64", level="metric")["n"] == 0).all()
    assert c.holds is True  # entropy still decides
    assert any("time_to_lowest_floor" in w for w in c.warnings)
    assert "n/a" in format_report(c)


def test_too_few_seeds_is_inconclusive_with_a_message():
    c = compare(table({192: 5.0}, n=3), TARGET, NEIGHBOURS, n_boot=1000)
    assert c.holds is None and "INCONCLUSIVE" in c.verdict
    assert any("too few seeds" in w and "need >= 16" in w for w in c.warnings)


def test_condition_without_runs_is_an_error():
    with pytest.raises(ValueError, match="no runs for condition"):
        compare(table(), TARGET, [{"T": 0.5, "L": 999}])


# ------------------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("argv, message", [
    (["L=192", "--neighbours", "L=176"], "needs T"),
    (["T=0.5", "L=192,208", "--neighbours", "L=176"], "is a list"),
    (["T=0.5", "L=x", "--neighbours", "L=176"], "not an integer"),
    (["T=0.5", "L=192", "--neighbours", "W=64"], "K = T or L"),
    (["T=0.5", "L=192", "--neighbours", "L=192,208"], "must differ from the target"),
    (["T=0.5", "L=192", "--neighbours", "L=176", "--seeds", "1"], "at least 2 seeds"),
    (["T=0.5", "L=192", "--neighbours", "L=176", "foo=1"], "unknown key 'foo'"),
    (["T=0.5", "L=192", "--neighbours", "L=176", "model=nope"], "unknown model 'nope'"),
    (["T=0.5", "L=192", "--neighbours", "L=176", "steps=0"], "steps >= 1"),
    (["T=0.5", "L=192", "--neighbours", "L=176", "device=tpu"], "use auto, cpu or cuda"),
    (["T=0.5", "L=192"], "bad arguments"),
])
def test_bad_arguments_fail_before_any_work(argv, message, tmp_path, capsys):
    rd = tmp_path / "res"
    assert replicate_main([*argv, f"results_dir={rd}"]) == 2
    err = capsys.readouterr().err
    assert message in err and "autoloop replicate: error:" in err
    assert not rd.exists()


def test_defaults_and_help(capsys):
    a, target, neighbours, run = parse_args(["T=0.5", "L=192", "--neighbours", "T=0.45,0.55"])
    assert run["steps"] == DEFAULT_STEPS and a.seeds == 32
    assert target == {"T": 0.5, "L": 192} and neighbours == [{"T": 0.45, "L": 192}, {"T": 0.55, "L": 192}]
    assert replicate_main(["--help"]) == 0
    assert str(DEFAULT_STEPS) in capsys.readouterr().out


# ------------------------------------------------------------------------------------ end to end
def test_end_to_end_tiny(tmp_path, capsys):
    rd, log = tmp_path / "res", tmp_path / "OBS.md"
    argv = ["T=1.0", "L=12", "--seeds", "3", "--neighbours", "L=8,16", "model=tiny", "steps=150",
            f"results_dir={rd}", "batch_size=16", "--n-boot", "500", "--jobs", "1"]
    assert replicate_main(argv) == 0
    out = capsys.readouterr().out
    assert "Mean per condition" in out and "T=1 L=12" in out and "T=1 L=8" in out and "entropy_mean" in out
    assert "INCONCLUSIVE" in out and "too few seeds" in out
    fig = rd / "figures" / "replicate_tiny_T1_L12_vs_L8-16_s3.png"
    assert fig.is_file() and fig.stat().st_size > 10_000
    # second launch reuses the runs (nothing generated) and appends an observation
    assert replicate_main([*argv, "--observe", "--log", str(log), "--note", "tiny check"]) == 0
    out = capsys.readouterr().out
    assert "0 of 9 runs generated" in out and "tag method" in out
    text = log.read_text()
    assert "Replicate T=1 L=12 vs L=8,16" in text and "autoloop replicate T=1.0 L=12" in text
    assert "INCONCLUSIVE" in text and "tiny check" in text

    from autoloop.analysis.observe import verify

    assert verify(log) == []
