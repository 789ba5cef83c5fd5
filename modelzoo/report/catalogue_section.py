"""The report's catalogue section: the whole zoo's published table (``zoo import``), each model
marked when it can run here (a native plugin or a recipe).

Markdown: one table. HTML: the same table with filters by category, framework and card that
need no script (radio buttons and CSS sibling rules: the report stays self-contained). JSON:
the rows. The rows come from :func:`modelzoo.catalogue.views.catalogue_rows`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape

from modelzoo.report.cells import markdown_table

_HEADERS = ["Model", "Category", "Framework", "GPUs", "Published", "Runs here"]


@dataclass
class CatalogueSection:
    rows: list[dict]

    def cells(self, row: dict) -> list[str]:
        from modelzoo.catalogue.views import headline

        published = "; ".join(headline(r) for r in row["references"][:2]) or "-"
        more = len(row["references"]) - 2
        here = f"{row['runnable']} ({row['zoo_model']})" if row["runnable"] else "-"
        return [f"{row['model']} ({row['framework']})", row["category"], row["framework"],
                ", ".join(row["gpus"]) or "-", published + (f" (+{more} more)" if more > 0 else ""), here]

    def markdown(self) -> str:
        runnable = sum(1 for r in self.rows if r["runnable"])
        return (f"{len(self.rows)} models of the zoo's catalogue, {runnable} of them runnable here; filter with "
                "`modelzoo list --all --category C --framework F --gpu G`.\n\n"
                + markdown_table(_HEADERS, [self.cells(r) for r in self.rows]))

    def json(self) -> list[dict]:
        return [{k: v for k, v in row.items()} for row in self.rows]

    def html(self) -> Markup:
        """The table with its filters; every value escaped, every CSS name a slug."""
        groups = {"cat": sorted({c for r in self.rows for c in _categories(r["category"])}),
                  "fw": sorted({r["framework"] for r in self.rows}),
                  "gpu": sorted({g for r in self.rows for g in r["gpus"]})}
        titles = {"cat": "Category", "fw": "Framework", "gpu": "GPU"}
        inputs, labels, rules = [], [], []
        for group, options in groups.items():
            inputs.append(f'<input type="radio" name="zc-{group}" id="zc-{group}-all" checked>')
            line = [f'<span class="zc-group">{titles[group]}:</span> <label for="zc-{group}-all">all</label>']
            for option in options:
                slug = _slug(option)
                inputs.append(f'<input type="radio" name="zc-{group}" id="zc-{group}-{slug}">')
                line.append(f'<label for="zc-{group}-{slug}">{escape(option)}</label>')
                rules.append(f'#zc-{group}-{slug}:checked ~ table tbody tr:not([data-{group}~="{slug}"])'
                             "{display:none}")
                rules.append(f'#zc-{group}-{slug}:checked ~ div label[for="zc-{group}-{slug}"]{{font-weight:700}}')
            rules.append(f'#zc-{group}-all:checked ~ div label[for="zc-{group}-all"]{{font-weight:700}}')
            labels.append("<div>" + " ".join(line) + "</div>")
        body = []
        for row in self.rows:
            data = {"cat": " ".join(_slug(c) for c in _categories(row["category"])), "fw": _slug(row["framework"]),
                    "gpu": " ".join(_slug(g) for g in row["gpus"])}
            attrs = " ".join(f'data-{k}="{v}"' for k, v in data.items())
            cls = ' class="zc-here"' if row["runnable"] else ""
            body.append(f"<tr {attrs}{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in self.cells(row)) + "</tr>")
        head = "".join(f"<th>{escape(h)}</th>" for h in _HEADERS)
        style = ("<style>.zc input{display:none}.zc label{cursor:pointer;padding:0 4px;text-decoration:underline}"
                 ".zc .zc-group{font-weight:600}.zc tr.zc-here td{background:#eef7ee}" + "".join(rules) + "</style>")
        return Markup(f'{style}<div class="zc">{"".join(inputs)}{"".join(labels)}'
                      f'<table class="zc-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
                      "</div>")


def _categories(category: str) -> list[str]:
    """``cv/classification`` -> ['cv', 'cv/classification']: a filter by section or by task."""
    parts = category.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def catalogue_section(rows) -> CatalogueSection | None:
    return CatalogueSection(list(rows)) if rows else None
