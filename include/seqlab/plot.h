/* plot.h - curves (several runs overlaid) as text: the built-in plotter, and the series and
 * options gnuplot.h shares.
 *
 * Input is plain data (name, x[], y[]); output is lines of cells (cells.h), painted the same
 * way as a heatmap. */
#ifndef SEQLAB_PLOT_H
#define SEQLAB_PLOT_H

#include "seqlab/cells.h"

/* One curve; borrowed, never freed by a plotter. */
typedef struct sl_series {
	const char *name;
	const double *x; /* (n), or NULL for 0, 1, 2, ... */
	const double *y; /* (n) */
	int n;
	int y2;          /* on the second (right) axis */
} sl_series;

typedef struct sl_plot_opts {
	const char *title, *xlabel, *ylabel; /* each may be NULL */
	const char *y2label;                 /* the right axis's (series with y2), or NULL */
	int width, height;                   /* in characters; 0 = 80 x 24 */
	int logy;                            /* logarithmic y (points with y <= 0 are left out) */
	double smooth;                       /* 0 = raw; 0 < w < 1: debiased EMA drawn over the raw */
	int no_raw;                          /* with smoothing: draw only the smoothed curve */
	int color;                           /* cells carry a colour per series */
	int fix_x, fix_y;                    /* use [xmin, xmax] / [ymin, ymax], else the data's */
	double xmin, xmax, ymin, ymax;
	int nmarks;                          /* dashed vertical lines at x = mark_x[i], labelled */
	double mark_x[4];
	const char *mark_label[4];           /* each may be NULL */
} sl_plot_opts;

/* Where the data landed: x maps linearly onto columns px .. px+pw-1, y (or log10 y) onto
 * lines py+ph-1 (low) .. py (high). */
typedef struct sl_plot_layout {
	int px, py, pw, ph;
	double xmin, xmax, ymin, ymax; /* with logy, ymin/ymax are log10 of the range */
} sl_plot_layout;

/* Glyph and xterm-256 colour of series i in the built-in plotter (cycling). */
uint32_t sl_plot_glyph(int i);
int sl_plot_color(int i);

/* TensorBoard's debiased exponential moving average with weight w in [0, 1):
 *     m_k = w m_{k-1} + (1 - w) y_k,  m_0 = 0,  s_k = m_k / (1 - w^k)
 * counting only finite y; out[i] is NaN where y[i] is not finite. out may alias y. */
void sl_plot_ema(double *out, const double *y, int n, double w);

/* Draws the series into a width x height grid appended to out: title, y label and legend
 * (one glyph per series, raw drawn as '.' under the smoothed curve), axes with tick labels,
 * x label. lay may be NULL. Returns SL_OK, or SL_ERR (sl_error set) when the size is too
 * small or the options are invalid; an empty plot is drawn as axes with "(no data)". */
int sl_plot_render(sl_cells *out, const sl_series *s, int ns, const sl_plot_opts *o,
                   sl_plot_layout *lay);

/* Draws the series as sl_plot_render does, at 2 x 4 dots per cell in Unicode braille
 * (U+2800..U+28FF), each cell in the colour of the series drawn last in it: a legend line
 * (or two) at the top, the y axis labelled on the left, the series with y2 set on a second
 * axis labelled on the right (0 to 1.05 when their values lie in [0, 1], so accuracy at 1 is
 * not lost in the border; else their range with 5 % headroom, as on the left), the x axis
 * at the bottom, o->marks as dotted vertical lines. Smoothing is the caller's. SL_OK or
 * SL_ERR as sl_plot_render. */
int sl_plot_render_braille(sl_cells *out, const sl_series *s, int ns, const sl_plot_opts *o);

/* Checks series and options as both plotters need them: series with y values, a size that
 * holds the text plot (>= 16 columns, room for 2 plot lines), sane fixed ranges (positive on
 * log y), a smoothing weight in [0, 1). SL_OK, or SL_ERR with sl_error set. */
int sl_plot_check(const sl_series *s, int ns, const sl_plot_opts *o);

/* Nice tick positions (1, 2, 5 x 10^k) covering [lo, hi], about target of them; returns the
 * count (at most max) written to t. */
int sl_plot_ticks(double lo, double hi, int target, double *t, int max);

#endif
