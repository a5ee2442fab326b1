"""The command line as a new user meets it: --version, defaults in --help, printed intervals,
the sweep's closing summary, and the README and packaging that go with it."""

import argparse
import re
import warnings

import pandas as pd
import pytest
from conftest import ROOT, fail_training_of

from legibility import __version__
from legibility.cli import build_parser, main
from legibility.study import TARGETS


def subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [(None, parser), *action.choices.items()]


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"legibility {__version__}"


@pytest.mark.parametrize(("name", "parser"), subparsers(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_help_shows_the_defaults(name, parser):
    text = " ".join(parser.format_help().split())  # unwrapped
    for action in parser._actions:
        if not action.option_strings or action.default in (None, argparse.SUPPRESS) or action.default is False:
            continue
        flag = action.option_strings[-1]
        assert f"(default: {action.default})" in text or "default:" in (action.help or ""), (name, flag)


def test_intervals_are_printed_as_brackets(tiny_cohort, tmp_path, capsys):
    assert main(["train", "--inpath", str(tiny_cohort), "--outpath", str(tmp_path), "--target", "hb",
                 "--inputs", "metadata", "--epochs", "1", "--batch_size", "8"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\(95% CI \[-?\d+\.\d{3}, -?\d+\.\d{3}\]\)", out), out


def test_sweep_ends_with_a_summary_and_the_command_to_finish(tiny_cohort, tmp_path, monkeypatch, capsys):
    fail_training_of(monkeypatch, "worry")
    grid = tmp_path / "grid.csv"
    pd.DataFrame([("Hb", "Non-imaging data (C + D + P)"), ("Worry", "Non-imaging data (C)")],
                 columns=["Target", "Inputs"]).to_csv(grid, index=False)
    args = ["sweep", "--inpath", str(tiny_cohort), "--outpath", str(tmp_path / "s"), "--grid", str(grid),
            "--epochs", "1", "--patience", "1", "--batch_size", "8", "--torch_threads", "1"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "1 of 2 models finished (1 trained, 0 read back)" in out
    assert "1 failed" in out
    assert out.strip().endswith("this finishes the rest: legibility " + " ".join(args))


def test_readme_and_docs_name_only_real_make_targets_and_the_real_defaults():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(p.read_text() for p in pages)
    targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make ([\w.-]+)", text)) | set(re.findall(r"^make ([\w.-]+)", text, re.M))
    assert {"paper", "test", "book", "lab"} <= named
    assert named <= targets, named - targets
    paper_doc = (ROOT / "docs" / "running_the_paper.md").read_text()
    line = re.search(r"`legibility paper (--[^`]*)`", paper_doc.replace("\n", " ")).group(1)
    paper = dict(subparsers())["paper"]
    for flag, value in re.findall(r"--(\w+) (\w+)", line):
        if value.isupper():
            continue  # a placeholder such as DATA
        default = next(a.default for a in paper._actions if f"--{flag}" in a.option_strings)
        assert str(default) == value, (flag, value, default)


def test_the_project_metadata_installs_without_a_deprecation_warning():
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert dist.metadata.name == "legibility"


def test_tensorboard_and_notebook_progress_bars_come_with_the_install():
    """--tensorboard needs tensorboard; tqdm's bars in the notebooks need ipywidgets (else
    "TqdmWarning: IProgress not found"): both are pinned and declared."""
    import tomllib

    lock = {ln.split("==")[0].lower() for ln in (ROOT / "requirements.lock").read_text().split()}
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for package in ("tensorboard", "ipywidgets"):
        assert package in lock
        assert any(re.match(rf"{package}\b", d) for d in declared), package


def _bug(*_args, **_kwargs):
    raise KeyError("n_train")  # what a mistake in the package's own code looks like


def test_own_errors_are_one_line_and_unexpected_ones_say_how_to_see_the_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LEGIBILITY_DEBUG", raising=False)
    assert main(["train", "--inpath", str(tmp_path), "--target", "agee", "--inputs", "t1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("legibility train: error: Unknown target 'agee'. Did you mean 'age'? Valid targets: "
                           + ", ".join(TARGETS) + ".")

    monkeypatch.setattr("legibility.study.grid_table", _bug)
    out = tmp_path / "grid.csv"
    assert main(["grid", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("legibility grid: unexpected error: KeyError: 'n_train'\n")
    assert f"--debug: legibility grid --out {out} --debug (or set LEGIBILITY_DEBUG=1)" in err

    for argv in (["grid", "--out", str(out), "--debug"], ["--debug", "grid", "--out", str(out)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err
        assert 'raise KeyError("n_train")' in err  # the line of the bug itself
        assert "run again" not in err
    monkeypatch.setenv("LEGIBILITY_DEBUG", "1")
    assert main(["grid", "--out", str(out)]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    assert main(["train", "--inpath", str(tmp_path), "--target", "agee", "--inputs", "t1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().endswith("Valid targets: " + ", ".join(TARGETS) + ".")


def test_an_unknown_preset_is_refused_when_the_settings_are_made():
    from legibility.config import TrainConfig, TrainSettings
    from legibility.errors import UnknownNameError

    for make in (lambda: TrainSettings(preset="gpu"), lambda: TrainConfig(preset="papper", target="age",
                                                                          inputs=("t1",))):
        with pytest.raises(UnknownNameError, match=r"^Unknown preset '\w+'; valid presets: paper, cpu\.$"):
            make()
