"""The HTML report in real engines: PDF via WeasyPrint (read back with poppler), headless Chromium.

Nothing here uses the network: the page is self-contained, WeasyPrint gets a URL fetcher that
refuses everything, and Chromium loads a file:// URL with its background networking off and a
fresh profile. Missing tools skip with the reason on a laptop and fail in CI.
"""

from __future__ import annotations

import importlib
import os
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from netready.report.html import render_html
from tests.conftest import in_ci, require_tool
from tests.unit.test_report_html import KEY, make_report, signed_form

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--hide-scrollbars",
)


def require_weasyprint() -> None:
    """Skip visibly when the `pdf` extra is missing; fail in CI, where nothing may skip."""
    try:
        importlib.import_module("weasyprint")
        return
    except (ImportError, OSError) as exc:  # OSError: installed, but Pango is missing
        why = str(exc)
    msg = f"weasyprint not usable ({why}; the `pdf` extra: .venv/bin/pip install -e '.[pdf]')"
    if in_ci():
        pytest.fail(msg + " and CI=true: nothing may skip in CI")
    pytest.skip(msg)


def png_facts(path: Path) -> tuple[int, int, int, float]:
    """(width, height, distinct byte values, share of bytes not 0 or 255) of a PNG's pixel data.

    A blank page filters to runs of 0 (or 255 unfiltered): few distinct values, almost no
    other bytes. Text, charts and anti-aliasing give many values.
    """
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, width, height, idat = 8, 0, 0, bytearray()
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    pixels = zlib.decompress(bytes(idat))
    counts = Counter(pixels[::3])
    total = sum(counts.values())
    other = total - counts.get(0, 0) - counts.get(255, 0)
    return width, height, len(counts), other / total


def assert_not_blank(path: Path) -> None:
    _, _, distinct, busy = png_facts(path)
    assert distinct >= 32, f"{path}: only {distinct} distinct byte values, looks blank"
    assert busy >= 0.005, f"{path}: {busy:.4f} of the bytes carry content, looks blank"


@pytest.fixture(scope="module")
def fail_report() -> dict[str, Any]:
    return signed_form(make_report(fail=True, measured=False))


@pytest.mark.packages
def test_pdf_has_the_verdict_and_a_real_first_page(
    fail_report: dict[str, Any], tmp_path: Path
) -> None:
    require_weasyprint()
    pdftotext = require_tool("pdftotext", "apt-get install poppler-utils")
    pdftoppm = require_tool("pdftoppm", "apt-get install poppler-utils")
    from netready.report.pdf import render_pdf

    data = render_pdf(render_html(fail_report, KEY, lang="de"))
    assert data.startswith(b"%PDF-")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, timeout=60
    )
    assert text.returncode == 0, text.stderr
    assert "FAIL" in text.stdout and "nicht bestanden" in text.stdout
    assert "Muster GmbH" in text.stdout and KEY.key_id_hex in text.stdout
    assert "20000-20099,30000" in text.stdout
    page = subprocess.run(
        [pdftoppm, "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert page.returncode == 0, page.stderr
    (png,) = tmp_path.glob("page*.png")
    width, height, _, _ = png_facts(png)
    assert abs(height / width - 297 / 210) < 0.01 and width > 400  # A4 portrait at 60 dpi
    assert_not_blank(png)


@pytest.mark.packages
def test_chromium_screenshot_of_the_page(fail_report: dict[str, Any], tmp_path: Path) -> None:
    chromium = require_tool("chromium", "apt-get install chromium")
    page = render_html(fail_report, KEY)
    assert page.count("<svg") == 2 and "<polyline" in page
    assert "http://" not in page.lower() and "https://" not in page.lower()
    html = tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")
    shot = tmp_path / "shot.png"
    profile = tmp_path / "chromium-profile"
    proc = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=dict(os.environ, HOME=str(tmp_path)),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.exists(), proc.stderr[-2000:]
    width, height, _, _ = png_facts(shot)
    assert (width, height) == (1200, 2000)
    assert shot.stat().st_size > 50_000
    assert_not_blank(shot)
