"""Embed Studio desktop app (PySide6). Views and thin workers only: the maths lives in embedengine."""
