/* gnuplot.h - curves drawn by a gnuplot child process, painted from its dumb-terminal text.
 *
 * One gnuplot runs for the life of the handle, fed through a pipe: each plot is sent as
 * inline datablocks, and the answer is read back from its stdout up to a marker printed after
 * the plot, with a time limit, so a hung or dead gnuplot never blocks the caller. When gnuplot
 * cannot be started or stops answering, the handle says so once (sl_gnuplot_notice) and draws
 * with the built-in text plotter (plot.h) from then on. */
#ifndef SEQLAB_GNUPLOT_H
#define SEQLAB_GNUPLOT_H

#include "seqlab/cells.h"
#include "seqlab/plot.h"

typedef struct sl_gnuplot sl_gnuplot;

/* sl_gnuplot_plot's result when the built-in plotter drew the curves. */
#define SL_GNUPLOT_TEXT 1

/* Starts gnuplot (path, or "gnuplot" looked up on PATH when NULL). Never NULL: when gnuplot
 * cannot be started the handle falls back on the text plotter and queues the reason as a
 * notice. Free with sl_gnuplot_free, which stops the child. */
sl_gnuplot *sl_gnuplot_new(const char *path);
void sl_gnuplot_free(sl_gnuplot *gp);

/* 1 while gnuplot is running and answering. */
int sl_gnuplot_ok(const sl_gnuplot *gp);
/* The child's process id, or -1. */
int sl_gnuplot_pid(const sl_gnuplot *gp);

/* How long one request may take before gnuplot is killed (default 2 s). */
void sl_gnuplot_set_timeout(sl_gnuplot *gp, double seconds);

/* A one-line message the caller should show (gnuplot missing, stopped, or failing on a plot),
 * or NULL. Each message is returned once; the string stays valid until the next call. */
const char *sl_gnuplot_notice(sl_gnuplot *gp);

/* Draws the series into o->width x o->height cells appended to out: by gnuplot's dumb terminal
 * (ansi256 colours parsed into cells when o->color), or by sl_plot_render when gnuplot is not
 * usable or failed on this plot (a notice says why). Returns SL_OK when gnuplot drew,
 * SL_GNUPLOT_TEXT when the text plotter did, SL_ERR (sl_error set) on invalid arguments. */
int sl_gnuplot_plot(sl_gnuplot *gp, sl_cells *out, const sl_series *s, int ns,
                    const sl_plot_opts *o);

/* Writes the plot to file, a .png (pngcairo), .svg or .pdf (pdfcairo), 1000 x 600 pixels.
 * Returns SL_OK, or SL_ERR with a one-line sl_error (gnuplot missing, unknown extension,
 * gnuplot's own error, or an empty file). o->width/height are ignored. */
int sl_gnuplot_save(sl_gnuplot *gp, const char *file, const sl_series *s, int ns,
                    const sl_plot_opts *o);

#endif
