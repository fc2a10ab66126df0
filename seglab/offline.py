"""What an HTML page would fetch from the network when opened: the check behind the executed site's offline promise.

``remote_loads(html)`` lists every ``http(s)://`` (or protocol-relative ``//``) URL that the page *loads*: a
``src``, ``srcset``, ``poster`` or ``data`` attribute, a ``<link>`` (stylesheet, icon, preload, ...), CSS
``@import`` and ``url(...)`` in ``<style>`` blocks and ``style`` attributes, a URL string in an inline script
(``import(...)``, a ``require`` configuration, an assigned ``src``), and the same inside HTML that saved widget state
will render. Links a reader clicks (``<a href>``) are not loads. XML namespace names (``http://www.w3.org/...``)
are identifiers, never fetched, and are ignored.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

__all__ = ["remote_loads", "is_remote"]

_REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
_NAMESPACES = ("http://www.w3.org/",)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_URL = re.compile(r"""@import\s+(?:url\(\s*)?['"]?([^'")\s;]+)|url\(\s*['"]?([^'")\s]+)""", re.IGNORECASE)
_JS_STRING_URL = re.compile(r"""["'`]\s*((?:https?:)?//[^"'`\s]+)""", re.IGNORECASE)
_LOAD_ATTRS = {"src", "poster", "data", "background", "srcset"}
_JS_TYPES = {"", "text/javascript", "module", "application/javascript", "text/x-mathjax-config"}
_WIDGET_TYPES = {"application/vnd.jupyter.widget-state+json", "application/vnd.jupyter.widget-view+json"}


def is_remote(url: str) -> bool:
    return bool(_REMOTE.match(url)) and not url.strip().lower().startswith(_NAMESPACES)


def _css_urls(css: str) -> list[str]:
    return [a or b for a, b in _CSS_URL.findall(_CSS_COMMENT.sub("", css))]


class _Loads(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._script_type: str | None = None
        self._in_style = False
        self._text: list[str] = []

    def _add(self, where: str, urls):
        self.found += [f"{where}: {u.strip()}" for u in urls if is_remote(u)]

    def handle_starttag(self, tag, attrs):
        attrs = {k.lower(): (v or "") for k, v in attrs}
        for name, value in attrs.items():
            if name in _LOAD_ATTRS:
                urls = [part.split()[0] for part in value.split(",") if part.split()] if name == "srcset" else [value]
                self._add(f"<{tag} {name}>", urls)
            elif name == "style":
                self._add(f"<{tag} style>", _css_urls(value))
        if tag in ("link", "image", "use") and ("href" in attrs or "xlink:href" in attrs):
            self._add(f"<{tag} href>", [attrs.get("href") or attrs.get("xlink:href", "")])
        if tag == "script":
            self._script_type, self._text = attrs.get("type", "").lower(), []
        elif tag == "style":
            self._in_style, self._text = True, []

    def handle_data(self, data):
        if self._script_type is not None or self._in_style:
            self._text.append(data)

    def handle_endtag(self, tag):
        text = "".join(self._text)
        if tag == "script" and self._script_type is not None:
            kind, self._script_type = self._script_type, None
            if kind in _JS_TYPES:
                self._add("<script>", _JS_STRING_URL.findall(text))
            elif kind in _WIDGET_TYPES:
                self._widget_html(text)
        elif tag == "style" and self._in_style:
            self._in_style = False
            self._add("<style>", _css_urls(text))

    def _widget_html(self, text: str):
        """Saved widget state: HTML held in string values is rendered by the widget manager."""
        try:
            stack = [json.loads(text)]
        except json.JSONDecodeError:
            return
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack += item.values()
            elif isinstance(item, list):
                stack += item
            elif isinstance(item, str) and "<" in item:
                self.found += [f"widget state {u}" for u in remote_loads(item)]


def remote_loads(html: str) -> list[str]:
    """Every remote URL the page would load, as ``'where: url'`` lines (empty when the page is self-contained)."""
    parser = _Loads()
    parser.feed(html)
    parser.close()
    return parser.found
