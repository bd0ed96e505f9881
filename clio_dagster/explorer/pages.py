"""One explorer page: the static template filled with a body and its data, written atomically."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

STATIC = Path(__file__).parent / "static"


def _json_for_html(data: dict) -> str:
    # `<` is escaped everywhere, so neither `</script>` nor `<!--` can end or confuse the data block.
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _fill(template: str, values: dict[str, str]) -> str:
    # One pass, so inserted text is never scanned for placeholders again.
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)


def page(title: str, body: str, data: dict, body_class: str) -> str:
    css = (STATIC / "explorer.css").read_text(encoding="utf-8")
    js = (STATIC / "explorer.js").read_text(encoding="utf-8")
    if "</style" in css.lower() or "</script" in js.lower():
        raise ValueError("static assets must not contain closing style/script tags")
    return _fill((STATIC / "page.html").read_text(encoding="utf-8"), {
        "title": html.escape(title), "body_class": body_class, "css": css, "js": js, "body": body, "data": _json_for_html(data),
    })


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # readers of a served folder never see a half-written page
    return path
