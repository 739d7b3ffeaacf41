"""The Hodegos web UI (destinations, sources, status).

Not built yet: no issue asks for it so far. The destination catalogue already carries everything a
form needs (field kinds, labels, conditions, secrets), so the UI will render from
:mod:`destinations` with no per-type code.
"""
