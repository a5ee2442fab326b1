"""A notebook run as users run it: JupyterLab from the project's environment (as `make lab` starts
it), 02_train opened and run through the UI in headless Chromium, then saved. It must run without
an error, write nothing under notebooks/, and leave `git status` clean. It runs in a temporary
copy of the repository (its tracked files, committed there), never in this checkout."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import ROOT, chromium_or_skip

TOKEN = "legibility-test"


def _copy_of_the_repository(dest):
    """The checkout's files as git sees them (tracked, and untracked but not ignored), committed
    in a fresh repository at ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode:
        pytest.skip("not a git checkout")
    for name in filter(None, listed.stdout.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run([*git, *cmd], cwd=dest, check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(repo) -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.slow
def test_running_02_train_in_jupyterlab_leaves_the_repository_clean(tiny_cohort, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("jupyterlab")
    exe = chromium_or_skip()
    repo = tmp_path / "repo"
    repo.mkdir()
    _copy_of_the_repository(repo)
    # the notebook's defaults read the main job's cohort: here the tiny one, where the main job puts its own
    shutil.copytree(tiny_cohort, repo / "results" / "data" / "synthetic")
    notebooks_before = sorted(p.relative_to(repo) for p in (repo / "notebooks").rglob("*"))
    status_before = _status(repo)
    assert status_before == ""

    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(repo / "jupyter_config"), PYTHONPATH=str(repo),
               PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}",
               LEGIBILITY_CACHE=str(tmp_path / "user_cache"))
    log = open(tmp_path / "jupyterlab.log", "w")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}"],
        cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    errors = []
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not start: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/lab/tree/notebooks/02_train.py?token={TOKEN}")
            notebook = page.locator(".jp-NotebookPanel")  # opened as a notebook, not as a text file
            notebook.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            if page.locator(".jp-Dialog").count():  # e.g. a kernel to choose: a user would be stopped here
                pytest.fail(f"JupyterLab asks: {page.locator('.jp-Dialog').inner_text()}")
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)  # the kernel is up
            started = "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]" \
                      ".some(p => p.textContent.trim() !== '[ ]:')"
            for _ in range(3):  # a Run All sent while the kernel's connection settles can go unanswered
                page.locator(".jp-NotebookPanel .jp-Cell").first.click()  # the notebook is the current widget
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                try:
                    page.wait_for_function(started, timeout=20_000)
                    break
                except sync_api.TimeoutError:
                    continue
            # every code cell ran (its prompt holds a number, none a star), or one failed
            done = """() => {
                  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                    .map(p => p.textContent.trim());
                  const error = document.querySelector("[data-mime-type='application/vnd.jupyter.error']");
                  return error !== null || (prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t)));
                }"""
            try:
                page.wait_for_function(done, timeout=300_000)
            except sync_api.TimeoutError:
                page.screenshot(path=str(tmp_path / "jupyterlab.png"))
                prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "ps => ps.map(p => p.textContent)")
                pytest.fail(f"the notebook did not finish: prompts {prompts}; screenshot {tmp_path / 'jupyterlab.png'}")
            failed = page.locator("[data-mime-type='application/vnd.jupyter.error']")
            text = page.locator(".jp-NotebookPanel").inner_text()
            assert failed.count() == 0, text[-3000:]
            assert "Traceback" not in text
            assert "(median split)" in text  # the age model's classification metrics say what they are
            red = page.locator(".progress-bar-danger")  # tqdm's bar closed as failed
            if red.count():
                red.first.scroll_into_view_if_needed()
                page.screenshot(path=str(tmp_path / "red-bar.png"))
            assert red.count() == 0, f"a progress bar is red: {tmp_path / 'red-bar.png'}"
            page.keyboard.press("Control+s")  # as a user saves
            page.locator(".jp-mod-dirty").wait_for(state="detached", timeout=30_000)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    assert errors == []
    assert sorted(p.relative_to(repo) for p in (repo / "notebooks").rglob("*")) == notebooks_before
    assert _status(repo) == ""
    assert (repo / "results" / "sweep" / "age__t1-flair" / "metrics.csv").exists()  # the main job's folder
