"""Collections: one concept for documents, images and any later kind.

- ``files``  — walking roots, excludes, stat and hashes
- ``report`` — the records every kind shares (index report, status, skipped file, folder removed)
- ``search`` — exact top-k with the int8 first pass for large sets
- ``base``   — :class:`~embedengine.collections.base.Collection`: folders, status, the index run

The on-disk store is :mod:`embedengine.store`; kinds live in ``embedengine.documents`` and
``embedengine.images_index``. Import from the submodules (the store imports ``files``).
"""
