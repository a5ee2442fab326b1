"""An early stop is a finished run, and its progress bar says so (in a notebook: green, not red)."""

import pytest


def test_an_early_stopped_bar_closes_complete_in_a_notebook():
    pytest.importorskip("ipywidgets")
    from tqdm.notebook import tqdm

    from legibility.train import _early_stop

    bar = tqdm(total=12, desc="age__t1-flair", unit="epoch")
    for _ in range(7):
        bar.update(1)
    _early_stop(bar, "age__t1-flair")
    bar.close()
    _, progress, _ = bar.container.children
    assert progress.bar_style == "success"
    assert progress.max == progress.value == 7
    assert "(early stop)" in bar.desc


def test_a_bar_left_short_without_it_reads_as_failed():
    """What _early_stop prevents: a notebook bar closed before its total is drawn as failed."""
    pytest.importorskip("ipywidgets")
    from tqdm.notebook import tqdm

    bar = tqdm(total=12)
    bar.update(7)
    bar.close()
    assert bar.container.children[1].bar_style == "danger"
