"""Staff authoring: checking flows, running flow tests, publishing versions.

``check`` finds problems in flow files (``python -m bot flows check``),
``flowtests`` runs example conversations (``python -m bot flows test``),
``publish`` stores checked flows as versions and ``library`` reloads them in
every running process.
"""
