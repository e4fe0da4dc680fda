"""Drawing: every figure and table of the book, one module, so a style is defined once.

* :mod:`car.viz.colours` — label colours that never paint a name in the hue it says ("red circle" is not painted
  red), and the perceptual heat-map colormap :data:`CAM_CMAP`;
* :mod:`car.viz.images` — hatched label overlays with legends (OpenCV), grids of images and of heat maps over an
  image, the recurrence figure, label maps side by side;
* :mod:`car.viz.charts` — grouped bars, changes from a reference row, matrices, curves, query survival, the
  benchmark's stages, sweeps and growth with the number of queries;
* :mod:`car.viz.table` — the one HTML / plain-text table, with one escaping rule.

Chapters call ``car.viz.<name>``; figure functions return the figure and the caller shows it.
"""
from car.viz.charts import (bar_chart, delta_chart, plot_confusion, plot_curves, plot_growth, plot_matrix,
                            plot_stages, plot_survival, plot_sweep)
from car.viz.colours import CAM_CMAP, label_colours, named_hues, palette
from car.viz.images import (add_legend, draw_heat, fit_suptitle, label_figure, overlay, show_images, show_label_maps,
                            show_maps, show_steps)
from car.viz.table import Code, Table

__all__ = ["CAM_CMAP", "Code", "Table", "add_legend", "bar_chart", "delta_chart", "draw_heat", "fit_suptitle",
           "label_colours", "label_figure", "named_hues", "overlay", "palette", "plot_confusion", "plot_curves",
           "plot_growth", "plot_matrix", "plot_stages", "plot_survival", "plot_sweep", "show_images", "show_label_maps",
           "show_maps", "show_steps"]
