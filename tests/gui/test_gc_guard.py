"""Garbage collection runs on the GUI thread, never in a worker that might destroy Qt widgets."""

from __future__ import annotations

import gc
import threading

from desktop import gc_guard


def test_due_generation_follows_the_interpreter_thresholds():
    thresholds = (700, 10, 10)
    assert gc_guard.due_generation((5, 0, 0), thresholds) is None
    assert gc_guard.due_generation((701, 3, 0), thresholds) == 0
    assert gc_guard.due_generation((701, 11, 0), thresholds) == 1
    assert gc_guard.due_generation((701, 11, 11), thresholds) == 2


def test_cycles_made_in_a_worker_are_freed_on_the_gui_thread(qtbot, qapp):
    guard = gc_guard.install(qapp)
    assert gc_guard.install(qapp) is guard and not gc.isenabled()
    collected_in, freed = [], threading.Event()

    class Node:
        def __init__(self):
            self.me = self  # a reference cycle: only the cyclic collector frees it

        def __del__(self):
            collected_in.append(threading.current_thread() is threading.main_thread())
            freed.set()

    def worker():
        Node()
        for _ in range(50_000):  # allocations that would trigger an automatic collection here
            [object()]

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert not freed.is_set()  # nothing was collected in the worker
    thresholds = gc.get_threshold()
    gc.set_threshold(1, *thresholds[1:])  # make a collection due now
    try:
        [[] for _ in range(5)]
        qtbot.waitUntil(freed.is_set, timeout=5_000)
    finally:
        gc.set_threshold(*thresholds)
    assert collected_in == [True]
