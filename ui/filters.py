"""The metadata filter options `search`, `ask` and `chat` share: --year, --author, --venue, --category."""

from __future__ import annotations

from typing import Annotated

import typer

from paperchat.rag.metadata import MetaFilter, make_filter

YearOpt = Annotated[str | None, typer.Option("--year", metavar="YEARS", help="A year or a range: 2020, "
                                             "2019..2023, 2019.., ..2020")]
AuthorOpt = Annotated[list[str] | None, typer.Option("--author", help="An author's family name (repeatable: any "
                                                     "of them)")]
VenueOpt = Annotated[list[str] | None, typer.Option("--venue", help="A venue or its short name, e.g. NeurIPS "
                                                    "(repeatable)")]
CategoryOpt = Annotated[list[str] | None, typer.Option("--category", help="An arXiv category or keyword, e.g. "
                                                       "cs.LG (repeatable)")]


def filter_from(year: str | None, author: list[str] | None, venue: list[str] | None,
                category: list[str] | None) -> MetaFilter | None:
    """The filter the options describe (AND across kinds), or a usage error naming the bad option."""
    try:
        return make_filter(year, author or [], venue or [], category or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--year") from None
