"""/console/stats: the tenant's statistics for a period, as charts.

The figures are `Stats.report` (service/stats/report.py), what GET /stats answers, for the same
`from`/`to` parsed by the same `parse_range`; `stats_view` turns them into charts. The period
defaults to the last 30 days (UTC, today included).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.console import pages, stats_view
from service.console.sessions import Session
from service.stats import report as stats

if TYPE_CHECKING:
    from service.state import State


def _chart_span(report: dict, first: date, last: date, today: date) -> tuple[date, date]:
    """The days the over-time chart covers: the period, narrowed to the days with downloads
    (and today) when it is long enough to be drawn per month, so that an open-ended period
    such as 0001-01-01..9999-12-31 draws decades, not millennia, of empty months."""
    if (last - first).days + 1 <= stats_view.PER_WEEK_LIMIT:
        return first, last
    days = [date.fromisoformat(d["day"]) for d in report["downloads"]["per_day"]]
    return max(first, min(days, default=today)), min(last, max([*days, today]))


@pages.page("read")
async def stats_page(request: Request[State], session: Session) -> Response:
    today = datetime.now(UTC).date()
    default_first, default_last = stats_view.default_range(today)
    form = {
        "from": request.query_params.get("from") or default_first.isoformat(),
        "to": request.query_params.get("to") or default_last.isoformat(),
    }
    try:
        period = stats.parse_range(form["from"], form["to"])
    except stats.InvalidRange as exc:
        # The API's 422 and message, next to the field it names.
        return pages.render(
            request, session, "stats.html", status=422, form=form,
            errors={exc.field: exc.message}, headlines=[], sections=[],
        )  # fmt: skip
    report = await request.state["stats"].report(period)
    first, last = _chart_span(report, period.first, period.last, today)
    return pages.render(
        request,
        session,
        "stats.html",
        form=form,
        errors={},
        headlines=stats_view.headlines(report),
        sections=stats_view.sections(report, first, last),
    )


routes = [Route("/console/stats", stats_page, methods=["GET"])]
