"""The query kit, shared by the gallery and the time-lapse (Flask-free):

- `filters`  the filters, declared once (parameter, FT query part, Python match, schema)
- `parts`    FT query text: ranges and escaped tags
- `query`    sorts (declared once), cursors, keyset paging (`Lister`), counting
- `rows`     running FT.SEARCH / FT.AGGREGATE / FT.TAGVALS on a client and reading replies
- `params`   reading sort, limit, cursor and stream-id parameters
"""

from __future__ import annotations

from .filters import FILTERS, BadParameter, ImageFilter, filter_parts, parse_filter
from .parts import QueryParts, escape_tag, format_number
from .query import (
    COUNT_CAP,
    DEFAULT_SORT,
    SORT_OPTIONS,
    SORTS,
    Cursor,
    Level,
    Lister,
    Order,
    Page,
    SearchQuery,
    search_query,
)
from .rows import Row, SearchIncomplete, run_aggregate, run_search, tag_values

__all__ = [
    "COUNT_CAP", "DEFAULT_SORT", "FILTERS", "SORTS", "SORT_OPTIONS", "BadParameter", "Cursor",
    "ImageFilter", "Level", "Lister", "Order", "Page", "QueryParts", "Row", "SearchIncomplete",
    "SearchQuery", "escape_tag", "filter_parts", "format_number", "parse_filter", "run_aggregate",
    "run_search", "search_query", "tag_values",
]
