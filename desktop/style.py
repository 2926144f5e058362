"""Look and feel: light/dark palettes (following the system by default) and one clean stylesheet."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("system", "light", "dark")


@dataclass(frozen=True)
class Theme:
    """The few colours everything is drawn with."""

    dark: bool
    window: str
    base: str
    card: str
    text: str
    muted: str
    border: str
    accent: str
    accent_text: str
    user_bubble: str
    error_bg: str
    error_border: str
    error_text: str


LIGHT = Theme(
    dark=False, window="#f4f5f7", base="#ffffff", card="#ffffff", text="#1d2330", muted="#667085",
    border="#dde1e8", accent="#3d6fe0", accent_text="#ffffff", user_bubble="#e3ebfd",
    error_bg="#fdf1f0", error_border="#f1b7b1", error_text="#a3271d",
)
DARK = Theme(
    dark=True, window="#1b1d22", base="#24272e", card="#262a31", text="#e6e8ec", muted="#9aa3b2",
    border="#363b45", accent="#6b93f5", accent_text="#0d1220", user_bubble="#2c3a5c",
    error_bg="#3a2423", error_border="#7a3a35", error_text="#ffb4ab",
)

_current = LIGHT
_platform_palette_dark: bool | None = None  # the platform palette's lightness, read before we replace it


def current() -> Theme:
    """The theme in use (plots read their colours from it)."""
    return _current


def system_is_dark() -> bool:
    """The platform's colour scheme (Qt 6.5+), falling back to the palette's window lightness."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    scheme = app.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    global _platform_palette_dark
    if _platform_palette_dark is None:
        _platform_palette_dark = app.palette().color(QPalette.ColorRole.Window).lightness() < 128
    return _platform_palette_dark


def resolve(theme: str) -> Theme:
    """Theme for a preference value: "light", "dark" or "system"."""
    if theme == "dark":
        return DARK
    if theme == "light":
        return LIGHT
    return DARK if system_is_dark() else LIGHT


def palette_for(theme: Theme) -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.window,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.Button: theme.card,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.Highlight: theme.accent,
        QPalette.ColorRole.HighlightedText: theme.accent_text,
        QPalette.ColorRole.ToolTipBase: theme.card,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.muted,
        QPalette.ColorRole.Link: theme.accent,
        QPalette.ColorRole.Mid: theme.border,
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(theme.muted))
    return palette


def stylesheet(t: Theme) -> str:
    """The app's stylesheet: cards, bubbles, input, tabs; sizes in pt so they follow the font."""
    return f"""
    QMainWindow, QDialog {{ background: {t.window}; }}
    QPushButton {{ background: {t.card}; border: 1px solid {t.border}; border-radius: 6px; padding: 5px 12px; }}
    QPushButton:hover {{ border: 1px solid {t.accent}; }}
    QPushButton:pressed {{ background: {t.user_bubble}; }}
    QPushButton:disabled {{ color: {t.muted}; background: {t.window}; }}
    QPushButton:default {{ border: 1px solid {t.accent}; }}
    QGroupBox {{ border: 1px solid {t.border}; border-radius: 8px; margin-top: 14px; padding: 10px 8px 8px 8px;
                 background: {t.card}; }}
    QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {t.muted}; font-weight: 600; }}
    QScrollBar:vertical {{ background: transparent; width: 10px; margin: 0; }}
    QScrollBar::handle:vertical {{ background: {t.border}; border-radius: 4px; min-height: 30px; }}
    QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 0; }}
    QScrollBar::handle:horizontal {{ background: {t.border}; border-radius: 4px; min-width: 30px; }}
    QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
    QScrollBar::add-page, QScrollBar::sub-page {{ background: transparent; }}
    QTabWidget::pane {{ border: none; border-top: 1px solid {t.border}; }}
    QTabBar::tab {{ padding: 7px 18px; margin: 4px 2px 0 2px; border: none; color: {t.muted};
                    border-bottom: 2px solid transparent; font-weight: 600; }}
    QTabBar::tab:selected {{ color: {t.text}; border-bottom: 2px solid {t.accent}; }}
    QTabBar::tab:hover {{ color: {t.text}; }}
    #transcript, #transcriptBody {{ background: {t.window}; }}
    #answerCard {{ background: {t.card}; border: 1px solid {t.border}; border-radius: 10px; }}
    #noteCard {{ background: transparent; border: 1px dashed {t.border}; border-radius: 10px; }}
    #userMessage {{ background: {t.user_bubble}; border-radius: 12px; }}
    #cardQuery {{ color: {t.muted}; font-weight: 600; }}
    #cardSource {{ color: {t.muted}; font-size: 11px; }}
    #cardHeading {{ font-weight: 700; font-size: 11.5pt; }}
    #cardAction {{ border: none; color: {t.muted}; padding: 2px 6px; border-radius: 4px; }}
    #cardAction:hover {{ background: {t.window}; color: {t.text}; }}
    #muted, #rank {{ color: {t.muted}; }}
    #score {{ font-family: monospace; color: {t.muted}; }}
    #linkButton {{ border: none; background: transparent; color: {t.accent}; text-align: left;
                   padding: 1px 2px; font-weight: 600; }}
    #linkButton:hover {{ text-decoration: underline; }}
    #errorCard {{ background: {t.error_bg}; border: 1px solid {t.error_border}; border-radius: 8px; }}
    #errorMessage {{ color: {t.error_text}; font-weight: 600; }}
    #inputBar {{ background: {t.window}; border-top: 1px solid {t.border}; }}
    #undoBar {{ background: {t.user_bubble}; border-top: 1px solid {t.border}; }}
    #chatInput {{ background: {t.base}; border: 1px solid {t.border}; border-radius: 8px; padding: 8px 10px;
                  font-size: 11pt; selection-background-color: {t.accent}; }}
    #chatInput:focus {{ border: 1px solid {t.accent}; }}
    #imageTile {{ border: 1px solid transparent; border-radius: 8px; padding: 4px; }}
    #imageTile:hover {{ border: 1px solid {t.accent}; background: {t.window}; }}
    #expander {{ border: none; color: {t.accent}; padding: 2px 0; }}
    #placeholderTitle {{ font-size: 15pt; font-weight: 700; }}
    QProgressBar {{ border: 1px solid {t.border}; border-radius: 5px; background: {t.base}; max-height: 10px; }}
    QRadioButton::indicator {{ width: 12px; height: 12px; border-radius: 7px; border: 1px solid {t.muted};
                               background: {t.base}; }}
    QRadioButton::indicator:checked {{ border: 1px solid {t.accent};
        background: qradialgradient(cx:0.5, cy:0.5, radius:0.5, fx:0.5, fy:0.5, stop:0 {t.accent},
                                    stop:0.5 {t.accent}, stop:0.6 {t.base}, stop:1 {t.base}); }}
    QProgressBar::chunk {{ background: {t.accent}; border-radius: 4px; }}
    QStatusBar {{ color: {t.muted}; border-top: 1px solid {t.border}; }}
    QStatusBar QLabel {{ color: {t.muted}; padding: 0 10px; border-left: 1px solid {t.border}; }}
    QToolTip {{ background: {t.card}; color: {t.text}; border: 1px solid {t.border}; padding: 4px; }}
    """


def apply_theme(app: QApplication, theme: str = "system") -> Theme:
    """Apply a theme preference to the whole app (Fusion style, palette, stylesheet, readable font)."""
    global _current
    system_is_dark()  # remember the platform palette before the first change
    _current = resolve(theme)
    app.setStyle("Fusion")
    app.setPalette(palette_for(_current))
    app.setStyleSheet(stylesheet(_current))
    font = app.font()
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
        app.setFont(font)
    return _current


def follow_system(app: QApplication, theme_pref) -> None:
    """Re-apply when the system scheme changes while the preference (``theme_pref()``) is "system"."""

    def changed(_scheme) -> None:
        if theme_pref() == "system":
            apply_theme(app, "system")

    app.styleHints().colorSchemeChanged.connect(changed)
