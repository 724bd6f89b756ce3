"""The monitoring page as one self-contained HTML document (plots inlined, no scripts)."""

from __future__ import annotations

from html import escape

from propensity.dashboard import experiments  # noqa: F401  (registers its section)
from propensity.dashboard.data import DashboardData
from propensity.dashboard.sections import DashboardSection, sections

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1320px; padding: 1em 2em; color: #222; }
header { border-bottom: 2px solid #444; margin-bottom: 1em; }
nav a { margin-right: 1em; font-size: 0.9em; }
main { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 1.2em 2em; }
section { border: 1px solid #ccc; border-radius: 6px; padding: 0.4em 1em 1em; background: #fafafa; }
section#alerts { grid-column: 1 / -1; }
h2 { font-size: 1.1em; margin: 0.5em 0; } h3 { font-size: 0.95em; }
figure { margin: 0; } img { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 0.85em; margin-top: 0.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: left; }
.empty { color: #777; font-style: italic; } .count { font-weight: bold; }
.error { color: #a00; }
"""


def _section(section: DashboardSection, data: DashboardData) -> str:
    try:
        body = section.render(data)
    except Exception as error:  # one broken section must not take the whole page down
        what = f"{type(error).__name__}: {str(error)[:200]}"
        body = f'<p class="error">This section failed: {escape(what)}</p>'
    return f'<section id="{escape(section.id)}"><h2>{escape(section.title)}</h2>{body}</section>'


def render_page(data: DashboardData) -> str:
    """The page for ``data``: every registered section, in order."""
    parts = sections()
    nav = "".join(f'<a href="#{escape(s.id)}">{escape(s.title)}</a>' for s in parts)
    window = f"{data.start:%Y-%m-%d %H:%M} to {data.end:%Y-%m-%d %H:%M} UTC"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Propensity: service state</title>"
        f"<style>{STYLE}</style></head><body>"
        "<header><h1>Propensity: service state</h1>"
        f"<p>Window {escape(window)} · archive {escape(data.archive)} · "
        f"generated {data.generated_at:%Y-%m-%d %H:%M:%S} UTC</p><nav>{nav}</nav></header>"
        "<main>" + "".join(_section(s, data) for s in parts) + "</main></body></html>\n"
    )
