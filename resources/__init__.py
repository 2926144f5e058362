"""Embed Studio's shipped files, installed as the package ``embedstudio_resources``.

``corpus/`` (demo text), ``images/`` (demo photos), ``eval/`` (evaluation sets) and ``icons/``, each with
its source and licence. Read them through :func:`embedengine.runtime.resources_dir`, never by a path
built from the repository root: in an installed wheel this folder is ``site-packages/embedstudio_resources``.
"""
