"""The HTML report opens in a real browser (Debian's headless chromium, which .ci/run installs): the DOM holds the
points table, both pictures inlined as data URIs and the recommendation; the screenshot is not blank; nothing is
fetched from the network.

Without a browser these tests skip and say how to run them (`make test` needs only Python and pip); CI sets
TPUSTACK_REQUIRE_BROWSER=1, under which a missing browser fails them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tpustack.cli import app

from helpers.project import FIXTURES

SWEEP = FIXTURES / "sweep"
ARGS = ["--slo", "ttft:p99<=500ms,tpot:p99<=50ms", "--rps", "20", "--input-len", "1024", "--output-len", "128"]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        why = (
            "chromium is not installed, so the HTML report was not checked in a browser. To run this check: "
            "sudo apt-get install -y chromium, then make test (.ci/run installs it and requires it)"
        )
        if os.environ.get("TPUSTACK_REQUIRE_BROWSER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return exe


def browse(html: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",  # CI runs as root in a container
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        # no network at view time: any fetch beyond file:// fails
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        *extra,
        html.as_uri(),
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "out"
    r = CliRunner().invoke(app, ["recommend", str(SWEEP), *ARGS, "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out / "report.html"


class TestHtmlReportInABrowser:
    def test_self_contained(self, page):
        text = page.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:|//)""", text), "the page must need no network"
        assert "<script" not in text

    def test_dom_has_table_plots_and_recommendation(self, page, tmp_path):
        r = browse(page, tmp_path, "--dump-dom")
        assert r.returncode == 0, r.stderr[-2000:]
        dom = r.stdout
        assert '<table id="points">' in dom
        rows = re.findall(r"<tr[ >]", dom.split('<table id="points">', 1)[1].split("</table>", 1)[0])
        assert len(rows) == 1 + 13  # header + every point of the fixtures
        imgs = re.findall(r'<img id="(\w+)"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]{1000,})"', dom)
        assert {i for i, _ in imgs} == {"frontier", "roofline"}
        rec = dom.split('id="recommendation"', 1)[1].split("</section>", 1)[0]
        assert "recommended: v6e-4 spot vllm" in rec and "$16.84/hour" in rec
        assert "above a physical ceiling" in rec
        assert 'class="chosen"' in dom and 'class="error"' in dom

    def test_screenshot_is_not_blank(self, page, tmp_path):
        shot = tmp_path / "shot.png"
        r = browse(page, tmp_path, "--window-size=1400,2200", f"--screenshot={shot}")
        assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
        import matplotlib.image as mpimg

        img = mpimg.imread(shot)
        assert img.shape[0] >= 2000 and img.shape[1] >= 1400
        pixels = (img[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
        colours = np.unique(pixels, axis=0)
        assert len(colours) > 200, f"only {len(colours)} colours: the page rendered blank"
        white = np.all(pixels > 245, axis=1).mean()
        assert white < 0.95, f"{white:.0%} of the screenshot is white"
