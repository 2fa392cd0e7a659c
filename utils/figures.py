"""The Figure class every helper in utils/ returns: it shows itself as a PNG in Jupyter.

A plain ``matplotlib.figure.Figure`` made without pyplot shows in a notebook as the text
``<Figure size 1000x1000 with 16 Axes>``: IPython only learns to draw figures once pyplot has
loaded the inline backend, which a lesson that never calls ``plt.figure`` does not do. Giving the
figure its own ``_repr_png_`` makes it an image with or without pyplot. It stays outside pyplot's
registry, so the inline backend never shows it a second time at the end of the cell, and a long
session does not pile up open figures.
"""
from __future__ import annotations

import io

from matplotlib.figure import Figure


class NotebookFigure(Figure):
    """A matplotlib Figure that Jupyter displays as a PNG (``display(fig)`` or a cell's value)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        # "tight" as the inline backend does: no wide empty margins around small grids.
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
