"""Case view -> HTML page, CIOMS I HTML and PDF. The PDF is WeasyPrint's rendering of the CIOMS
HTML: no drawing by hand, and no fetching of anything outside the page."""

from __future__ import annotations

import math
from collections.abc import Iterator

from reporter.errors import ReporterError
from reporter.limits import limit
from reporter.render.cioms import CiomsForm, build_form
from reporter.render.env import environment
from reporter.render.model import CaseView, ReportVersion


class RenderError(ReporterError):
    """The report could not be rendered (a template or PDF engine failure, not bad case data)."""


def render_html(case: CaseView, *, embedded: bool = False) -> str:
    """The self-contained report page (inline CSS and SVG, no scripts, no external assets). `embedded`: for
    inside another page's <main> (the case page), so its own main part is not a second main landmark."""
    return environment().get_template("report.html").render(case=case, embedded=embedded)


def render_cioms_html(case: CaseView, version: ReportVersion | None = None) -> str:
    """`version`: the stored version shown (box 25a); None: the Bundle's own amendment flag decides."""
    return _form_html(build_form(case, version))


def _form_html(form: CiomsForm) -> str:
    return environment().get_template("cioms.html").render(form=form)


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"the report does not load external resources ({url})")


def _layout(html: str):
    """The laid-out document (WeasyPrint), to check before writing."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: the Pango/HarfBuzz libraries are missing
        raise RenderError(
            f"PDF output needs WeasyPrint and its system libraries: {exc}",
            hint="pip install weasyprint; apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b",
        ) from None
    return HTML(string=html, url_fetcher=_no_fetch).render()


def html_to_pdf(html: str) -> bytes:
    return _layout(html).write_pdf()


def _boxes(box) -> Iterator:
    yield box
    for child in getattr(box, "children", ()):
        yield from _boxes(child)


def overflowing(document) -> dict[str, int]:
    """Boxes of the form whose laid-out text runs past their bottom (and would be clipped), with the lines it
    runs over: the fit's estimate in monospace cells misses text drawn in a fallback font."""
    over: dict[str, int] = {}
    for page in document.pages[:1]:
        for box in _boxes(page._page_box):
            element = getattr(box, "element", None)
            is_div = getattr(box, "element_tag", None) == "div" and element is not None
            item = element.get("data-item") if is_div else None
            lines = [c for c in getattr(box, "children", ()) if type(c).__name__ == "LineBox"]
            if not item or not lines:
                continue
            bottom = box.content_box_y() + box.height
            spill = max(c.position_y + c.height for c in lines) - bottom
            if spill > 0.5:
                over[item] = max(over.get(item, 0), math.ceil(spill / min(c.height for c in lines)))
    return over


def layout_form(case: CaseView, version: ReportVersion | None = None):
    """The CIOMS I form laid out (WeasyPrint), continuation pages included. Each box whose text the page shows
    clipped is cut shorter and the form laid out again (the rest of its text goes on the continuation page),
    a few times at most."""
    fewer: dict[str, int] = {}
    document = _layout(_form_html(build_form(case, version)))
    for _ in range(limit("cioms_refit_rounds")):
        over = overflowing(document)
        if not over:
            break
        for item, lines in over.items():
            fewer[item] = fewer.get(item, 0) + lines
        document = _layout(_form_html(build_form(case, version, fewer)))
    return document


def render_pdf(case: CaseView, version: ReportVersion | None = None) -> bytes:
    """The CIOMS I form (with continuation pages when boxes overflow) as PDF bytes."""
    return layout_form(case, version).write_pdf()


# -- from a Bundle or a case file ------------------------------------------------------------------




def validation_report(bundle: dict, source: str | None = None):
    """The validation report of the Bundle, or None where validation is not available. `source`: the file the
    Bundle was read from, validated as `reporter validate` does it (a case file's checks then name its fields
    and lines, and hold every absent reason it gives)."""
    try:
        from reporter.validation import validate_bundle, validate_file
    except ImportError:
        return None
    try:
        return validate_file(source)[1] if source is not None else validate_bundle(bundle)
    except Exception as exc:  # the page still renders; the panel says validation broke, and why
        return [{"severity": "error", "code": "VALIDATION-FAILED", "location": "Bundle",
                 "message": f"validation stopped: {type(exc).__name__}: {exc}",
                 "hint": "report this as a bug, with the input"}]


def bundle_html(bundle: dict, validation=None, case=None, *, checked=None, embedded: bool = False) -> str:
    """The report page. `case`: the case file behind the Bundle, when there is one (adds the computed
    assessments); with errors in `validation` (or, panel left out, in `checked`) a not-valid banner."""
    from reporter.render.view import case_view

    return render_html(case_view(bundle, validation, case, checked), embedded=embedded)


def bundle_pdf(bundle: dict, validation=None, case=None, version: ReportVersion | None = None, *,
               checked=None) -> bytes:
    from reporter.render.view import case_view

    return render_pdf(case_view(bundle, validation, case, checked), version)
