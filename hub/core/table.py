"""The one table printer: plain-text tables whose columns line up with Chinese text.

Rich measures every cell in terminal cells (a CJK character takes two), so a column of
``泉州市医疗保障局`` lines up with one of ``MIB@350500``.  The output is plain text without
colour or borders beyond a rule under the header, the same in a terminal, a pipe or a test.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Headers, a rule, then one line per row; cells are ``str()``-ed, never wrapped."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="")
    for name in headers:
        table.add_column(str(name), no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    buffer = io.StringIO()
    # A wide virtual console: a table is as wide as its content, never folded to 80 columns.
    console = Console(
        file=buffer, width=100_000, color_system=None, highlight=False, markup=False, emoji=False
    )
    console.print(table)
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)
