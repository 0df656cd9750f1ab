"""Bridges from training libraries to the registry.

Each integration lives in its own module and imports its library (torch, ...) itself, so
``import spacelens`` never pulls a training framework in. Without any integration,
:func:`spacelens.log_space` logs a space from any training loop.
"""
