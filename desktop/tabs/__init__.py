"""The main window's tabs: one module per tab, each with a ``XxxTab(QWidget)`` class (see DEVELOPING.md)."""
