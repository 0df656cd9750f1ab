"""What the analyzer shows, independent of how it reaches the browser.

The page's routes (:mod:`spacelens.server`, over HTTP) and the notebook widget
(:mod:`spacelens.notebook`, over the widget's model) both build their answers here: maps,
colours and comparisons as binary frames (:mod:`.frames`, :mod:`.binary`), the registry's
records as plain JSON (:mod:`.data`), and colour codes and histograms (:mod:`.colors`). No
FastAPI, no anywidget: neither front end's package is needed to import these.
"""
