"""The base of every engine result: a dataclass the CLI prints as JSON and the desktop renders as a card."""

from __future__ import annotations

from dataclasses import asdict


class Result:
    """Mixin for result dataclasses: ``to_dict()`` gives plain data (see ``cli.common.to_jsonable``)."""

    def to_dict(self) -> dict:
        return asdict(self)
