"""The one shape every model encoder has (MiniLM text, ResNet50 images).

An encoder turns a sequence of items into vectors::

    vectors = encoder.encode(items, progress=callback, cancel=token)   # float32 [len(items), encoder.dim]
    for result in encoder.iter_encode(items, progress=callback, cancel=token):
        ...                                                            # results as batches finish

* ``dim`` — the length of one vector.
* ``encode(items, *, progress=None, cancel=None, batch_size=...)`` — all vectors at once, float32
  ``[n, dim]`` in input order (``[0, dim]`` for no items).
* ``iter_encode(items, *, progress=None, cancel=None, batch_size=...)`` — the same work as an iterator,
  for callers that store or show results as they come. What it yields is the encoder's natural unit:
  :class:`embedengine.text.TextBatch` (input positions and their vectors, one per batch) for text,
  :class:`embedengine.image.ImageOutcome` (one per image, in input order, with its error if the file
  could not be used) for images. ``encode`` is ``iter_encode`` gathered into one array.

Progress: as each batch finishes, just before its results are handed over, one
:class:`~embedengine.tasks.Progress` (``done`` items of ``total``, with rate and ETA) goes to
``progress`` on the caller's thread, through :func:`embedengine.tasks.emit`.

Cancel and pause: ``cancel`` is a :class:`~embedengine.tasks.CancelToken` checked at every batch
boundary (before a batch runs and before its results are handed over). A paused token blocks there
until resumed; a cancelled one makes the call raise :class:`~embedengine.tasks.Cancelled` (results
already handed over by ``iter_encode`` stay valid). The image encoder also stops a running batch
within ~0.1 s of a cancel. A token cancelled after the last batch was handed over changes nothing.

Settings: encoders read the provider preference and thread count when they are built; the
process-wide getters (``get_text_encoder``, ``get_image_encoder``) build a new encoder when
``EMBEDSTUDIO_PROVIDER`` / ``EMBEDSTUDIO_THREADS`` changed since the cached one was made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Iterator, Optional, Sequence

import numpy as np

from .tasks import CancelToken, ProgressCallback


class Encoder(ABC):
    """Items in, float32 vectors out; see the module docstring for progress, cancel and pause.

    A model encoder implements :meth:`iter_encode`, :meth:`as_items` and :meth:`placed`; :meth:`encode`
    is written once, here."""

    dim: int
    default_batch_size: ClassVar[int]

    def encode(self, items: Sequence[Any], *, progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelToken] = None, batch_size: Optional[int] = None) -> np.ndarray:
        """float32 ``[len(items), dim]`` in input order; raises ``Cancelled`` when cancelled (and what
        :meth:`placed` raises for an item that cannot be encoded)."""
        items = self.as_items(items)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for result in self.iter_encode(items, progress=progress, cancel=cancel,
                                       batch_size=batch_size or self.default_batch_size):
            rows, vectors = self.placed(result)
            out[rows] = vectors
        return out

    @abstractmethod
    def iter_encode(self, items: Sequence[Any], *, progress: Optional[ProgressCallback] = None,
                    cancel: Optional[CancelToken] = None, batch_size: Optional[int] = None) -> Iterator[Any]:
        """Results as batches finish (the encoder's unit); raises ``Cancelled`` when cancelled."""

    @abstractmethod
    def as_items(self, items: Any) -> list:
        """The input as a list of items (a single item where the encoder allows it; a clear error otherwise)."""

    @abstractmethod
    def placed(self, result: Any) -> tuple[Any, np.ndarray]:
        """Where one result of :meth:`iter_encode` goes in :meth:`encode`'s output: (rows, vectors)."""
