"""The HTML report as PDF through WeasyPrint (optional extra `pdf`), with every fetch refused.

The HTML of netready.report.html is self-contained, so WeasyPrint never needs the network; a
URL fetcher that refuses everything makes sure a stray reference cannot cause a request.
"""

from __future__ import annotations

import importlib
from typing import Any

INSTALL_HINT = (
    "PDF output needs WeasyPrint: install netready with the `pdf` extra "
    "(pip install 'netready[pdf]', or .venv/bin/pip install weasyprint) and the Pango library "
    "(Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0)"
)


class PdfUnavailable(RuntimeError):
    """WeasyPrint (or a library it needs) is not installed."""


def _weasyprint() -> Any:
    try:
        return importlib.import_module("weasyprint")
    except ImportError as exc:
        raise PdfUnavailable(f"{INSTALL_HINT} ({exc})") from exc
    except OSError as exc:  # the module is there, but Pango or a font library is missing
        raise PdfUnavailable(f"{INSTALL_HINT} ({exc})") from exc


def _refuse(url: str) -> None:
    raise ValueError(f"the report must not load anything, refused {url!r}")


def _no_fetch(url: str, *args: object, **kwargs: object) -> dict[str, Any]:
    """A fetcher function (WeasyPrint before 66) that refuses every URL."""
    _refuse(url)
    return {}


def _fetcher(weasyprint: Any) -> Any:
    """A URL fetcher that refuses every URL, in the form this WeasyPrint expects."""
    base = getattr(getattr(weasyprint, "urls", None), "URLFetcher", None)
    if not isinstance(base, type):
        return _no_fetch

    def fetch(self: object, url: str, headers: object = None) -> None:
        _refuse(url)

    return type("NoFetch", (base,), {"fetch": fetch})(allowed_protocols=())


def render_pdf(html: str) -> bytes:
    """PDF bytes of one self-contained HTML page (A4, as its print CSS lays it out)."""
    weasyprint = _weasyprint()
    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=_fetcher(weasyprint))
    data = document.write_pdf()
    if not isinstance(data, bytes):
        raise PdfUnavailable(f"WeasyPrint returned {type(data).__name__}, not PDF bytes")
    return data
