"""How the Documents tab shows what it found: passage cards grouped by file, the side-by-side comparison of
methods, and the passage shown in its text inside the app (when no program opens the file).

Every widget is built from the answer's JSON alone (history replays the same); grouping and agreement come
from :mod:`desktop.controllers.documents`, the text around a passage from
:func:`embedengine.documents.context.passage_in_file`.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Callable, Optional, Sequence

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QSizePolicy,
                               QTextBrowser, QToolButton, QVBoxLayout, QWidget)

from desktop.chat import cards
from desktop.controllers.documents import FileGroup, agreement
from embedengine.documents import METHODS

HIGHLIGHT_STYLE = "background-color: rgba(255, 200, 0, 0.45); font-weight: 600;"
PASSAGE_STYLE = "background-color: rgba(255, 200, 0, 0.16);"
NAME_MAX_WIDTH = 170  # a comparison row's file name gives the rest of the row to the passage
LINES_ABOVE = 3  # lines of text shown above the passage in the viewer
SCORE_KIND = {"dense": "cosine", "lexical": "BM25 score", "fusion": "fused score (0–1)"}

HitSlot = Callable[[dict], None]
PassageAction = tuple[str, str, HitSlot]  # (button text, tooltip, slot(hit))


def snippet_html(snippet: str, highlight: Sequence[int]) -> str:
    """The snippet as HTML with the best sentence highlighted."""
    start, end = highlight
    return (html.escape(snippet[:start]) + f'<span style="{HIGHLIGHT_STYLE}">' + html.escape(snippet[start:end])
            + "</span>" + html.escape(snippet[end:]))


def page_suffix(hit: dict, short: bool = False) -> str:
    if not hit.get("page"):
        return ""
    return f" p. {hit['page']}" if short else f" · page {hit['page']}"


def format_score(score: float) -> str:
    """Three significant digits: cosines 0.532, BM25 7.31 or 12.4."""
    return f"{score:.3g}" if abs(score) < 1000 else f"{score:,.0f}"


# -- search results --------------------------------------------------------------------------------

class PassageCard(QFrame):
    """One ranked passage: file, folder, page, score bar, highlighted snippet and its action buttons."""

    def __init__(self, hit: dict, fraction: float, actions: Sequence[PassageAction]) -> None:
        super().__init__()
        self.hit = hit
        self.setObjectName("passageCard")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 4, 0, 4)
        title = QLabel(f"<b>{hit['rank']}. {html.escape(hit['file_name'])}</b>{page_suffix(hit)} "
                       f"<span style='color:gray'>{html.escape(hit['folder'])}</span>")
        title.setToolTip(hit["path"])
        grid.addWidget(title, 0, 0)
        grid.addWidget(cards.ScoreBar(fraction), 0, 1)
        grid.addWidget(QLabel(f"{hit['score']:.3f}"), 0, 2)
        self.snippet = QLabel(snippet_html(hit["snippet"], hit["highlight"]))
        self.snippet.setWordWrap(True)
        self.snippet.setTextFormat(Qt.TextFormat.RichText)
        self.snippet.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self.snippet, 1, 0, 1, 3)
        grid.addLayout(self._buttons(actions), 2, 0, 1, 3)
        grid.setColumnStretch(0, 1)
        cards.with_text(self, f"{hit['rank']}. {hit['path']}{page_suffix(hit)} ({hit['score']:.3f})\n"
                              f"    {hit['snippet']}")

    def _buttons(self, actions: Sequence[PassageAction]) -> QHBoxLayout:
        row = QHBoxLayout()
        self.buttons: dict[str, QToolButton] = {}
        for name, tip, slot in actions:
            button = QToolButton()
            button.setText(name)
            button.setToolTip(tip)
            button.setObjectName("cardAction")
            button.clicked.connect(lambda _checked=False, slot=slot: slot(self.hit))
            row.addWidget(button)
            self.buttons[name] = button
        row.addStretch(1)
        return row


class FileGroupView(QWidget):
    """A file's best passage, and its other passages folded under "+N more from this file"."""

    def __init__(self, group: FileGroup, fractions: dict[int, float], actions: Sequence[PassageAction]) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        make = lambda hit: PassageCard(hit, fractions.get(hit["item_id"], 0.0), actions)  # noqa: E731
        self.cards = [make(group.hits[0])]
        layout.addWidget(self.cards[0])
        self.same_in: Optional[QLabel] = None
        if group.same_in:
            names = ", ".join(Path(path).name for path in group.same_in)
            self.same_in = cards.label(f"The same passage is also in {names}", "muted", wrap=True)
            self.same_in.setToolTip("\n".join(group.same_in))
            layout.addWidget(self.same_in)
        self.more: Optional[cards.Expander] = None
        if group.folded:
            folded = [make(hit) for hit in group.folded]
            self.cards += folded
            self.more = cards.expander(f"+{len(folded)} more from this file", cards.stack(*folded))
            layout.addWidget(self.more)
        texts = [cards.widget_text(card) for card in self.cards[:1]]
        texts += [self.same_in.text()] if self.same_in is not None else []
        texts += [cards.widget_text(card) for card in self.cards[1:]]
        cards.with_text(self, "\n".join(texts))


# -- comparison --------------------------------------------------------------------------------------

class ElidedLabel(QLabel):
    """One line of plain text cut with "…" to the width it gets (the full text in ``full_text``)."""

    def __init__(self, text: str, name: str = "", max_width: int = 0) -> None:
        super().__init__()
        self.full_text = text
        self.max_width = max_width
        self.setTextFormat(Qt.TextFormat.PlainText)
        if name:
            self.setObjectName(name)
        self.setText(text)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        width = self.fontMetrics().horizontalAdvance(self.full_text) + 2
        return QSize(min(width, self.max_width) if self.max_width else width, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        return QSize(min(self.sizeHint().width(), self.fontMetrics().horizontalAdvance("abc…")),
                     super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        self.setText(self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideRight, self.width()))


class CompareRow(QFrame):
    """One line of a method's column: rank, file name, passage start, score, and "in 2/3" when other
    methods found the same passage. Clicking it opens the passage."""

    def __init__(self, hit: dict, found_by: int, methods: int, on_open: HitSlot) -> None:
        super().__init__()
        self.hit = hit
        self.found_by = found_by
        self.on_open = on_open
        self.setObjectName("compareRow")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{hit['path']}{page_suffix(hit)}\n\n{hit['snippet']}\n\nClick to open")
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.setSpacing(6)
        self.name = ElidedLabel(hit["file_name"] + page_suffix(hit, short=True), "compareFile", NAME_MAX_WIDTH)
        self.passage = ElidedLabel(" ".join(hit["text"].split()), "muted")
        self.passage.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.score = cards.label(format_score(hit["score"]), "score")
        self.score.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.score.setMinimumWidth(self.score.fontMetrics().horizontalAdvance("0.000"))
        self.mark = cards.label(f"in {found_by}/{methods}" if found_by > 1 else "", "agreement")
        self.mark.setMinimumWidth(self.mark.fontMetrics().horizontalAdvance("in 8/8"))
        if found_by > 1:
            self.mark.setToolTip(f"Found by {found_by} of the {methods} methods")
        row.addWidget(cards.label(f"{hit['rank']}.", "rank"))
        row.addWidget(self.name)
        row.addWidget(self.passage, 1)
        row.addWidget(self.score)
        row.addWidget(self.mark)
        mark = f"  [in {found_by}/{methods}]" if found_by > 1 else ""
        cards.with_text(self, f"{hit['rank']}. {self.name.full_text} — {self.passage.full_text[:80]}  "
                              f"{format_score(hit['score'])}{mark}")

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.on_open(self.hit)
        super().mouseReleaseEvent(event)


COMPARE_STYLE = """
QFrame#compareRow { border-radius: 4px; }
QFrame#compareRow:hover { background: palette(alternate-base); }
QLabel#compareFile { font-weight: 600; }
QLabel#agreement { color: palette(highlight); font-weight: 600; }
QLabel#compareHeader { font-weight: 600; }
"""


class CompareView(QWidget):
    """Each method's top passages in a column of one-line rows, side by side, with agreement marks."""

    def __init__(self, comparison: dict, on_open: HitSlot) -> None:
        super().__init__()
        self.setObjectName("compareView")
        self.setStyleSheet(COMPARE_STYLE)
        results = comparison["results"]
        found_by = agreement(results)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(0)
        self.headers: list[QLabel] = []
        self.columns: list[list[CompareRow]] = []
        lines = []
        for column, result in enumerate(results):
            header = cards.label(result["method_label"], "compareHeader", wrap=True)
            kind = METHODS[result["method"]].kind if result["method"] in METHODS else ""
            grid.addWidget(header, 0, column, Qt.AlignmentFlag.AlignBottom)
            grid.addWidget(cards.label(SCORE_KIND.get(kind, "score"), "muted"), 1, column)
            rows = [CompareRow(hit, found_by.get(hit["item_id"], 1), len(results), on_open) for hit in result["hits"]]
            for number, row in enumerate(rows):
                grid.addWidget(row, 2 + number, column)
            if not rows:
                grid.addWidget(cards.label("Nothing found.", "muted"), 2, column)
            grid.setColumnStretch(column, 1)
            self.headers.append(header)
            self.columns.append(rows)
            lines += [result["method_label"]] + [cards.widget_text(row) for row in rows] + [""]
        grid.setRowStretch(grid.rowCount(), 1)
        cards.with_text(self, "\n".join(lines).strip())


def compare_legend(methods: int) -> QLabel:
    return cards.label(f"“in 2/{methods}”: found by 2 of the {methods} methods. Click a row to open the passage.",
                       "muted", wrap=True)


# -- a passage in its text ---------------------------------------------------------------------------

def context_html(context: dict) -> str:
    """The text around a passage (a PassageContext as JSON): passage tinted, best sentence highlighted,
    an anchor "passage" at its start."""
    text = context["text"]
    (p_start, p_end), (s_start, s_end) = context["passage"], context["sentence"]
    s_start, s_end = max(p_start, s_start), min(p_end, s_end)
    parts = [html.escape(text[:p_start]), f'<a name="passage"></a><span style="{PASSAGE_STYLE}">',
             html.escape(text[p_start:s_start]), f'<span style="{HIGHLIGHT_STYLE}">', html.escape(text[s_start:s_end]),
             "</span>", html.escape(text[s_end:p_end]), "</span>", html.escape(text[p_end:])]
    return f'<div style="white-space: pre-wrap;">{"".join(parts)}</div>'


class PassageViewer(QDialog):
    """The passage in the text around it, scrolled to it; for files no program on the system opens."""

    def __init__(self, hit: dict, context: dict, note: str = "", parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.hit = hit
        self.context = context
        self.setWindowTitle(f"{hit['file_name']}{page_suffix(hit)}")
        self.resize(880, 560)
        layout = QVBoxLayout(self)
        if context.get("from_index"):
            note = (note + " " if note else "") + f"The file could not be read again ({context['reason']}); " \
                                                 "this is the passage as indexed."
        if note:
            layout.addWidget(cards.label(note, "muted", wrap=True))
        layout.addWidget(cards.label(hit["path"] + page_suffix(hit), "muted", selectable=True))
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.setHtml(context_html(context))
        layout.addWidget(self.browser, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy passage", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(hit["text"]))
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self.scroll_to_passage()

    def scroll_to_passage(self) -> None:
        """The passage near the top, a few lines of what comes before it above."""
        self.browser.scrollToAnchor("passage")
        bar = self.browser.verticalScrollBar()
        bar.setValue(max(0, bar.value() - LINES_ABOVE * self.browser.fontMetrics().lineSpacing()))

    def highlighted_text(self) -> str:
        """The best sentence as shown (for tests and copying)."""
        (start, end) = self.context["sentence"]
        return self.context["text"][start:end]
