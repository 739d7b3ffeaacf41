"""Python for the few destination types a template cannot express (named by ``hook:`` in a type file).

A hook module has ``exporters(values, signals, ctx) -> [(component, name suffix, signals, config)]``.
"""
