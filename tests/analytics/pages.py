"""Reading the analytics pages in tests: their tables (each cell's text, data-value and link)
and the JSON their charts are drawn from."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from django.test import Client


@dataclass
class CellRead:
    tag: str  # th (the row's name) or td
    label: str
    value: str | None  # data-value
    text: str = ""
    href: str | None = None


@dataclass
class TableRead:
    headers: list[str] = field(default_factory=list)
    rows: list[list[CellRead]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # the rows' data-key (overview)

    def column(self, header: str) -> list[str]:
        """The texts of one column (the name column included), top to bottom."""
        index = self.headers.index(header)
        return [row[index].text for row in self.rows]

    def values(self) -> list[list[str]]:
        """Each row as its name then its cells' unformatted values (what the CSV holds)."""
        return [[row[0].text] + [cell.value or "" for cell in row[1:]] for row in self.rows]


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, TableRead] = {}
        self.scripts: dict[str, str] = {}
        self._table: TableRead | None = None
        self._cell: CellRead | None = None
        self._header: list[str] | None = None
        self._script: str | None = None
        self._in_thead = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table" and values.get("id"):
            self._table = self.tables[str(values["id"])] = TableRead()
        elif self._table is None:
            if tag == "script" and values.get("type") == "application/json":
                self._script = str(values.get("id"))
                self.scripts[self._script] = ""
        elif tag == "thead":
            self._in_thead = True
        elif tag == "tr" and not self._in_thead:
            self._table.rows.append([])
            if values.get("data-key"):
                self._table.keys.append(str(values["data-key"]))
        elif tag in ("th", "td"):
            self._cell = CellRead(tag, values.get("data-label") or "", values.get("data-value"))
        elif tag == "a" and self._cell is not None:
            self._cell.href = values.get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "script":
            self._script = None
        elif tag == "thead":
            self._in_thead = False
        elif tag in ("th", "td") and self._cell is not None and self._table is not None:
            self._cell.text = " ".join(self._cell.text.split())
            if self._in_thead:
                self._table.headers.append(self._cell.text)
            else:
                self._table.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.text += data
        elif self._script is not None:
            self.scripts[self._script] += data


@dataclass
class PageRead:
    status: int
    html: str
    tables: dict[str, TableRead]
    charts: dict[str, dict[str, Any]]


def read_page(client: Client, url: str) -> PageRead:
    """GET an analytics page: its status, tables by id and chart data by canvas id."""
    response: Any = client.get(url)
    html = response.content.decode()
    parser = _Tables()
    parser.feed(html)
    charts = {
        name.removesuffix("-data"): json.loads(text)
        for name, text in parser.scripts.items()
        if name.startswith("chart-")
    }
    return PageRead(response.status_code, html, parser.tables, charts)


def read_csv(client: Client, url: str) -> tuple[str, list[list[str]]]:
    """GET a CSV: its Content-Disposition and its rows (the header first)."""
    response: Any = client.get(url)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    return response["Content-Disposition"], rows
