"""A local simulator of the Venice audio API, its x402 wallet credit and a Base-like chain.

Plain Python (no Django outside ``apps.py`` and the management command). Start it with
``sandbox.server.SandboxServer`` or ``python manage.py sandbox``; see ``sandbox/README.md``.
"""
