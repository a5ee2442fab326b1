"""The analyses and the paper's figures, on the published table (from ../shared) and on ours."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import chromium_or_skip

from legibility.analysis import (
    DOMAIN_MODELS,
    RESULT_COLUMNS,
    containment_df,
    domain_effects,
    load_metrics,
    reml_random_intercept,
)
from legibility.evaluation import best_models
from legibility.study import TARGETS


@pytest.fixture(scope="module")
def published(published_table):
    from conftest import PUBLISHED

    return load_metrics(PUBLISHED)


@pytest.fixture(scope="module")
def effects(published):
    return domain_effects(published)


def test_every_term_of_every_domain_model_is_estimated_on_the_published_table(effects):
    assert list(effects.columns) == list(RESULT_COLUMNS)
    for spec in DOMAIN_MODELS:
        rows = effects[(effects.formula == spec.formula) & (effects.domain.str.lower() == spec.domain)]
        assert set(rows.term) == {"Intercept", *spec.terms}, spec.formula
        assert rows.coef.notna().all()
        assert rows.status.str.startswith("ok").all(), rows.status.tolist()
    n = effects.groupby("domain").n.max().to_dict()
    assert n == {"Constitutional": 28, "Psychology": 384, "Disease": 160, "Serology": 128}


def test_published_domain_effects_match_the_papers_text(effects):
    def get(domain, outcome, term, interaction=False):
        rows = effects[(effects.domain == domain) & (effects.outcome == outcome) & (effects.term == term)
                       & (effects.formula.str.contains(":") == interaction)]
        assert len(rows) == 1
        return rows.iloc[0]

    # serology predicted disease (p < 0.05)
    assert get("Disease", "Balanced accuracy", "Serology").coef > 0
    assert get("Disease", "Balanced accuracy", "Serology").p < 0.05
    # serology best predicted by disease (p < 0.001), then structural imaging (p < 0.05)
    assert get("Serology", "r2", "Disease").p < 0.001
    assert get("Serology", "r2", "T1").coef > 0
    assert get("Serology", "r2", "T1").p < 0.05
    # neither structural nor functional imaging beat chronic disease for psychology
    psych = {t: get("Psychology", "Balanced accuracy", t).coef for t in ("Disease", "T1", "rsfMRI connectivity")}
    assert psych["T1"] < psych["Disease"]
    assert psych["rsfMRI connectivity"] < psych["Disease"]


def test_published_fits_are_t_tests_on_containment_df(effects):
    """nlme's numbers without R (tests/test_analysis_r.py checks every one against R itself)."""
    from scipy import stats

    # every term varies within targets: df = models - targets - terms, the intercept's too
    for (_, formula), rows in effects.groupby(["domain", "formula"]):
        assert (rows.df == rows.n - rows.n_targets - (len(rows) - 1)).all(), formula
    assert effects[effects.domain == "Constitutional"].df.iloc[0] == 21
    np.testing.assert_allclose(effects.t, effects.coef / effects.se)
    np.testing.assert_allclose(effects.p, 2 * stats.t.sf(effects.t.abs(), effects.df))
    np.testing.assert_allclose(effects.ci_high - effects.coef, stats.t.ppf(0.975, effects.df) * effects.se)
    t1 = effects[(effects.domain == "Constitutional") & (effects.term == "T1")].iloc[0]
    assert t1.p == pytest.approx(0.0076029, abs=1e-6)  # nlme's; a Wald z gave 0.0032
    # between-target variance is clearly positive everywhere: no boundary note
    assert (effects.icc > 0.8).all()
    assert (effects.status == "ok").all()


def test_reml_is_the_optimum_of_an_independent_likelihood_and_df_follow_containment():
    """Our REML fit scored by statsmodels' REML likelihood (its own optimiser stops short: nlme,
    like ours, gets further); the covariance against dense GLS; nlme's df by hand."""
    import statsmodels.api as sm
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(6), 8)
    within = rng.integers(0, 2, len(groups)).astype(float)
    between = (groups % 2).astype(float)  # constant inside each group
    X = np.column_stack([np.ones(len(groups)), within, between])
    y = X @ [0.6, 0.05, -0.1] + 0.1 * rng.standard_normal(6)[groups] + 0.03 * rng.standard_normal(len(groups))
    ours = reml_random_intercept(y, X, groups)
    model = sm.MixedLM(y, X, groups)
    lam = ours["tau2"] / ours["sigma2"]

    def loglike(ratio):
        params = MixedLMParams.from_components(fe_params=ours["coef"], cov_re=np.array([[ratio]]))
        return model.loglike(params, profile_fe=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' usual convergence notes
        theirs = model.fit(reml=True)
    assert loglike(lam) >= theirs.llf - 1e-12
    assert loglike(lam) > max(loglike(lam * 0.999), loglike(lam * 1.001))
    np.testing.assert_allclose(ours["coef"], theirs.fe_params, rtol=1e-4)
    V = np.eye(len(y)) + lam * (groups[:, None] == groups[None, :])  # dense, no group-sum shortcut
    a = X.T @ np.linalg.solve(V, X)
    coef = np.linalg.solve(a, X.T @ np.linalg.solve(V, y))
    r = y - X @ coef
    sigma2 = r @ np.linalg.solve(V, r) / (len(y) - 3)
    np.testing.assert_allclose(ours["coef"], coef, rtol=1e-10)
    np.testing.assert_allclose(ours["cov"], sigma2 * np.linalg.inv(a), rtol=1e-8)
    # 48 rows, 6 groups: within df 48 - 6 - 1, between df 6 - 1 - 1, intercept the larger
    np.testing.assert_array_equal(containment_df(X, groups), [41, 41, 4])
    # noise with equal means in every group: the variance sits at its boundary, the fit is least squares
    noise = 0.03 * rng.standard_normal(len(groups))
    y = X[:, :2] @ [0.6, 0.05] + noise - (np.bincount(groups, noise) / 8)[groups]
    flat = reml_random_intercept(y, X[:, :2], groups)
    assert flat["icc"] == 0
    np.testing.assert_allclose(flat["coef"], np.linalg.lstsq(X[:, :2], y, rcond=None)[0])


def test_r2_models_use_only_models_with_positive_r2(published):
    table = published.copy()
    serology = table.index[table.Domain == "Serology"]
    table.loc[serology[:10], "r2"] = -0.05
    table.loc[serology[10:13], "r2"] = 0.0
    out = domain_effects(table)
    assert set(out[out.outcome == "r2"].n) == {128 - 13}
    assert set(out[(out.domain == "Serology") & (out.outcome == "Balanced accuracy")].n) == {128}


def test_unestimable_terms_and_tiny_tables_are_reported_not_dropped(published):
    constitutional = published[(published.Domain == "Constitutional") & (published.DWI == "No")]
    out = domain_effects(constitutional)
    dwi = out[(out.domain == "Constitutional") & (out.term == "DWI")]
    assert dwi.status.iloc[0].startswith("not estimable")
    assert out[out.domain == "Disease"].status.str.startswith("not fitted").all()


def test_best_model_boxes_for_age_and_sex(published, tmp_path):
    from legibility.figures import save_figure
    from legibility.figures.paper import performance_matrices, plot_performance_grid

    best = best_models(published).set_index("Target")
    assert best.loc["Age", "Inputs"] == "FLAIR + T1"
    assert best.loc["Sex (Male)", "Inputs"] == "DWI + FLAIR + T1"
    fig = plot_performance_grid(published)
    svg = save_figure(fig, "grid", tmp_path, formats=("svg",))[0].read_text()
    boxed = re.findall(r'id="best:([^|"]+)\|([^"]+)"', svg)
    assert len(boxed) == 25
    assert ("Age", "FLAIR + T1") in boxed
    assert ("Sex (Male)", "DWI + FLAIR + T1") in boxed
    cells = sum(m.notna().to_numpy().sum() for d in ("constitutional", "disease", "serology", "psychology")
                for m in performance_matrices(published, d).values())
    assert cells == 700  # every model is a cell


def test_figures_and_tables_from_analyse(published, tmp_path, tiny_cohort, capsys):
    from legibility.cli import main

    assert main(["analyse", "--metrics", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2
    assert "No metrics table" in capsys.readouterr().err
    path = tmp_path / "published.csv"
    published.to_csv(path, index=False)
    assert main(["analyse", "--metrics", str(path), "--out", str(tmp_path / "a"), "--cohort", str(tiny_cohort)]) == 0
    names = {p.name for p in (tmp_path / "a").iterdir()}
    for stem in ("performance_grid", "domain_effects", "training_efficiency", "networks"):
        assert {f"{stem}.png", f"{stem}.pdf", f"{stem}.svg"} <= names
    table = pd.read_csv(tmp_path / "a" / "domain_effects.csv")
    assert len(table) == len(domain_effects(published))
    head = pd.read_csv(tmp_path / "a" / "headline.csv").set_index("Target")
    assert head.loc["Age", "test_score"] == pytest.approx(0.859, abs=1e-3)
    assert list(head.index) == [t.display for t in TARGETS.values()]
    best = pd.read_csv(tmp_path / "a" / "best_models.csv")
    assert best.selected_by.str.startswith("test").all()  # the published table has no validation rows


def test_analyse_with_a_label_names_every_file_with_it(published, tmp_path, capsys):
    """The steps notebooks 05 and 06 call name files as `legibility analyse` does: ``<label>_<name>``."""
    from legibility.report import analyse

    result = analyse(published, tmp_path, formats=("png",), label="x")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "x_best_models.csv", "x_dashboard.html", "x_domain_effects.csv", "x_domain_effects.png", "x_headline.csv",
        "x_networks.png", "x_performance_grid.png", "x_training_efficiency.png"]
    assert result["paths"]["domain_effects"] == tmp_path / "x_domain_effects.csv"
    assert "only the performance graph is drawn" in capsys.readouterr().out  # no cohort given


def test_metrics_published_reads_the_variable(published_table, monkeypatch):
    from conftest import PUBLISHED

    monkeypatch.setenv("LEGIBILITY_PAPER_METRICS", str(PUBLISHED))
    assert len(load_metrics("published")) == 700


def test_networks_from_a_cohort(tiny_cohort):
    from legibility.data.layout import load_dataset
    from legibility.graphs import association_graph, association_matrices, top_edges

    mats = association_matrices(load_dataset(tiny_cohort).table)
    for m in mats.values():
        assert m.shape == (25, 25)
        np.testing.assert_allclose(m.to_numpy(), m.to_numpy().T)
        assert (m.to_numpy() >= 0).all()
    g = association_graph(mats["MI"])
    assert g.number_of_edges() == len(top_edges(mats["MI"]))
    assert g.number_of_edges() == round(0.6 * np.count_nonzero(np.triu(mats["MI"].to_numpy() > 0, 1)))


def test_dashboard_in_a_real_browser(published, tmp_path):
    """Hover shows the best model, click lists every model; offline; no console errors."""
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = chromium_or_skip()
    from legibility.dashboard import write_dashboard
    from legibility.graphs import performance_graph

    page_path = write_dashboard(published, {"Performance similarity": performance_graph(published)},
                                tmp_path / "dashboard.html")
    text = page_path.read_text()
    assert not re.search(r'(src|href)="https?://', text)  # nothing fetched from the network
    errors, requests = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri())
        assert page.locator("circle.node").count() == 25
        page.hover('circle[data-target="Age"]')
        tip = page.locator("#tooltip")
        assert tip.is_visible()
        assert "FLAIR + T1" in tip.inner_text()
        assert "0.859" in tip.inner_text()
        page.click('circle[data-target="Sex (Male)"]')
        details = page.locator("#details").inner_text()
        assert "Sex (Male): 7 models" in details
        assert "DWI + FLAIR + T1" in details
        assert "0.997" in details
        browser.close()
    assert errors == []
    assert all(u.startswith("file://") for u in requests), requests


def test_dashboard_shows_markup_in_names_as_text_and_runs_none_of_it(published, tmp_path):
    """A name holding markup (here an input set's) is shown as the text it is; its script never runs."""
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = chromium_or_skip()
    from legibility.dashboard import write_dashboard
    from legibility.graphs import performance_graph

    evil = "<img src=x onerror=\"document.title='ran'\">"
    metrics = published.copy()
    metrics["Inputs"] = metrics["Inputs"].astype(str) + " " + evil
    page_path = write_dashboard(metrics, {f"Graph {evil}": performance_graph(published)}, tmp_path / "dashboard.html")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(page_path.as_uri())
        page.hover('circle[data-target="Age"]')
        tip = page.locator("#tooltip")
        assert evil in tip.inner_text()
        page.click('circle[data-target="Sex (Male)"]')
        details = page.locator("#details")
        assert evil in details.inner_text()
        assert page.locator("h2", has_text=f"Graph {evil}").count() == 1
        assert page.locator("img").count() == 0  # no element was made of a name
        page.wait_for_timeout(200)  # an onerror handler would have run by now
        assert page.title() != "ran"
        browser.close()


def test_node_sizes_of_a_graph_in_pieces_are_each_pieces_own_centrality():
    """Keeping the top edges can leave a target without any: its size is 0 and the others keep theirs."""
    import networkx as nx

    from legibility.graphs import association_graph

    names = list(TARGETS)[:5]
    w = pd.DataFrame(0.0, names, names)
    for a, b, v in ((0, 1, 0.9), (1, 2, 0.8), (0, 2, 0.7), (3, 4, 0.6), (2, 3, 0.01)):
        w.iat[a, b] = w.iat[b, a] = v
    g = association_graph(w, keep=0.8)  # the weakest edge goes: {0, 1, 2} and {3, 4}
    assert nx.number_connected_components(g) == 2
    sizes = {n: g.nodes[n]["size"] for n in g}
    triangle = g.subgraph(names[:3])
    expected = nx.eigenvector_centrality_numpy(nx.Graph(triangle), weight="weight")
    for n in names[:3]:
        assert sizes[n] == pytest.approx(abs(expected[n]), rel=1e-6)
    assert sizes[names[3]] == pytest.approx(sizes[names[4]]) == pytest.approx(0.5 ** 0.5)
    lone = association_graph(w, keep=0.4)  # (0, 1) and (1, 2): targets 3 and 4 have no edge
    assert lone.nodes[names[3]]["size"] == lone.nodes[names[4]]["size"] == 0
    assert all(lone.nodes[n]["size"] > 0 for n in names[:3])
