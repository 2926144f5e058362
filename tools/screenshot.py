"""Screenshot the real Embed Studio window: pick a tab and size, optionally ask a query and wait for the answer.

    python tools/screenshot.py --tab explore --size 1280x800 --query "king - man + woman" \
        --out docs/screenshots/explore.png

Runs offscreen when there is no display (or under ``xvfb-run``). Uses the normal data folder unless
``--home`` (or ``EMBEDSTUDIO_HOME``) points elsewhere; ``--model`` activates a saved word model first;
``--demo`` lets the tabs do their first-launch work (demo model, demo photos) and waits for it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop.self_check import pump  # noqa: E402 (after the path is set)

TAB_NAMES = ("train", "explore", "documents", "images")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tab", choices=TAB_NAMES, default="explore")
    parser.add_argument("--size", default="1280x800", help="window size WIDTHxHEIGHT")
    parser.add_argument("--query", default="", help="type this into the tab's input and wait for the answer")
    parser.add_argument("--model", default="", help="saved word model to activate before the query")
    parser.add_argument("--theme", choices=("system", "light", "dark"), default=None)
    parser.add_argument("--demo", action="store_true", help="let tabs do their first-launch demo work and wait for it")
    parser.add_argument("--home", default="", help="EMBEDSTUDIO_HOME to use (default: the normal data folder)")
    parser.add_argument("--wait", type=float, default=90.0, help="seconds to wait for the answer at most")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds to let the layout settle before the shot")
    parser.add_argument("--out", required=True)
    return parser.parse_args(argv)


def answered(chat, cards_before: int) -> bool:
    cards = chat.cards()
    return len(cards) > cards_before and (cards[-1].kind or (cards[-1].handle and not cards[-1].handle.is_running))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.home:
        os.environ["EMBEDSTUDIO_HOME"] = args.home
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    width, height = (int(v) for v in args.size.lower().split("x"))

    from desktop.app import create_main_window

    window = create_main_window([] if args.demo else ["--no-demo"], theme=args.theme or "")
    window.resize(width, height)
    window.tabs.setCurrentIndex(TAB_NAMES.index(args.tab))
    window.show()
    pump(args.settle)
    if args.demo and not pump(args.wait, lambda: not window.ctx.tasks.active()):
        print("warning: background work still running after --wait seconds", file=sys.stderr)
    if args.model:
        window.ctx.load_word_model(args.model)
        if not pump(args.wait, lambda: window.ctx.word_model_name == args.model):
            print(f"warning: word model {args.model!r} did not load", file=sys.stderr)
    chat = window.current_chat()
    if args.query:
        if chat is None:
            print(f"the {args.tab} tab has no chat input; --query ignored", file=sys.stderr)
        else:
            before = len(chat.cards())
            chat.input.setText(args.query)
            chat.input.returnPressed.emit()
            if not pump(args.wait, lambda: answered(chat, before)):
                print("warning: no answer within --wait seconds; the shot shows the pending card", file=sys.stderr)
    ready = getattr(window.tabs.currentWidget(), "screenshot_ready", None)
    if callable(ready):
        pump(args.wait, ready)
    pump(args.settle)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        print(f"could not write {out}", file=sys.stderr)
        return 1
    print(out)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
