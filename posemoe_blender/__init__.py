"""Application layer: CLI, worker process, batch conversion and headless baking.

Imports ``core``; uses bpy only in ``bake.py`` and ``export.py``.
"""
