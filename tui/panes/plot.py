"""A ``PlotextPlot`` that shows a plotext failure as a line of text instead of ending the app.

plotext raises on some degenerate inputs (a log axis with no positive point, a single x
value in some versions); a dashboard that trains for hours should draw a note and go on.
"""

from __future__ import annotations

from rich.text import Text
from textual_plotext import PlotextPlot


class Plot(PlotextPlot):
    def render(self):
        try:
            return super().render()
        except Exception as err:     # noqa: BLE001 - any plotext failure is drawn, not raised
            return Text(f"(cannot draw this plot: {type(err).__name__})", style="dim italic")
