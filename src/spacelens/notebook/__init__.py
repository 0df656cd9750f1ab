"""spacelens in a notebook (``pip install spacelens[notebook]``): the analyzer's linked maps as a widget.

>>> w = spacelens.widget(emb_a, emb_b, labels=y, color="label")   # doctest: +SKIP
>>> w                                 # two linked maps, legend, agreement histogram, kNN tables
>>> w.selection                       # the lassoed items' metadata, as a DataFrame
>>> w.select(["17", "42"])            # highlight items in both maps

The widget (:mod:`spacelens.notebook.analyzer`) is built from the analyzer page's own front-end
modules (web/src/widget.ts, by the same Vite build); anywidget is imported only when a widget
is made.
"""

from spacelens.notebook.analyzer import widget

__all__ = ["widget"]
