/* gnuplot.h - curves drawn by a gnuplot child process, painted from its dumb-terminal text.
 *
 * One gnuplot runs for the life of the handle, fed through a pipe: each plot is sent as
 * inline datablocks, and the answer is read back from its stdout up to a marker printed after
 * the plot, with a time limit, so a hung or dead gnuplot never blocks the caller. When gnuplot
 * cannot be started or stops answering, the handle says so once (sl_gnuplot_notice) and draws
 * with the built-in text plotter (plot.h) from then on.
 *
 * A caller with its own poll loop (the screen) plots asynchronously: sl_gnuplot_send writes
 * the script and returns, sl_gnuplot_pollfds says what to wait on, and sl_gnuplot_collect
 * reads the answer without blocking once it is complete. One plot is in flight at a time;
 * the synchronous calls (sl_gnuplot_plot, sl_gnuplot_save) first wait for it, and its answer
 * stays for sl_gnuplot_collect. gnuplot runs at a lower priority (nice +SL_GNUPLOT_NICE):
 * nothing interactive waits for it, and it must not slow the training threads down. */
#ifndef SEQLAB_GNUPLOT_H
#define SEQLAB_GNUPLOT_H

#include "seqlab/cells.h"
#include "seqlab/plot.h"
#include "seqlab/session.h"

#include <poll.h>

typedef struct sl_gnuplot sl_gnuplot;

/* sl_gnuplot_plot's result when the built-in plotter drew the curves. */
#define SL_GNUPLOT_TEXT 1
/* sl_gnuplot_collect's result while the answer is not complete yet. */
#define SL_GNUPLOT_PENDING 2
/* How much nicer than its parent gnuplot runs. */
#define SL_GNUPLOT_NICE 10
/* sl_gnuplot_save and sl_gnuplot_send allow this many times the time limit per request:
 * nothing waits for a sent plot, and a file takes longer than a text plot. */
#define SL_GNUPLOT_SLACK 5

/* Starts gnuplot (path; when NULL, $SEQLAB_GNUPLOT if set, else "gnuplot" looked up on PATH)
 * at nice +SL_GNUPLOT_NICE. Never NULL: when gnuplot cannot be started the handle falls back
 * on the text plotter and queues the reason as a notice. Free with sl_gnuplot_free, which
 * stops the child. */
sl_gnuplot *sl_gnuplot_new(const char *path);
void sl_gnuplot_free(sl_gnuplot *gp);

/* 1 while gnuplot is running and answering. */
int sl_gnuplot_ok(const sl_gnuplot *gp);
/* The child's process id, or -1. */
int sl_gnuplot_pid(const sl_gnuplot *gp);

/* How long one request may take before gnuplot is killed (default 2 s; for the requests of
 * sl_gnuplot_save and sl_gnuplot_send, SL_GNUPLOT_SLACK times as long). */
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

/* Sends the series to gnuplot to be drawn like sl_gnuplot_plot, without waiting for the
 * answer. Returns SL_OK when the plot is in flight (sl_gnuplot_collect gets it);
 * SL_GNUPLOT_TEXT when the text plotter drew into out at once (gnuplot not usable, or nothing
 * drawable); SL_ERR (sl_error set) on invalid arguments or while another plot is in flight.
 * The series and options are copied: the caller may free them on return. */
int sl_gnuplot_send(sl_gnuplot *gp, sl_cells *out, const sl_series *s, int ns,
                    const sl_plot_opts *o);

/* 1 from sl_gnuplot_send's SL_OK until sl_gnuplot_collect has returned the plot. */
int sl_gnuplot_pending(const sl_gnuplot *gp);

/* While a plot is in flight: fills p with up to max (3 suffice) descriptors to poll for its
 * answer, and sets *ms to the time in milliseconds before it times out (0: collect now, it
 * is answered or failed). Returns how many descriptors it filled. With nothing in flight,
 * returns 0 and sets *ms to -1. lazy: for a caller that collects at its own pace anyway
 * (often enough to see the time limit pass), none while the script is all written and
 * nothing has come back, since a small answer then waits whole in the pipe; only a plot too
 * big for the pipes needs polling all the way. */
int sl_gnuplot_pollfds(const sl_gnuplot *gp, struct pollfd *p, int max, int *ms, int lazy);

/* Reads what gnuplot has answered, without blocking. Returns SL_GNUPLOT_PENDING while the
 * answer is incomplete (and its time not up); else the plot is done and drawn into out:
 * SL_OK when gnuplot drew it, SL_GNUPLOT_TEXT when the text plotter did (gnuplot timed out,
 * died or drew nothing; a notice says why). SL_ERR (sl_error set) when nothing is in flight. */
int sl_gnuplot_collect(sl_gnuplot *gp, sl_cells *out);

/* Writes the plot to file, a .png (pngcairo), .svg or .pdf (pdfcairo), 1000 x 600 pixels.
 * Returns SL_OK, or SL_ERR with a one-line sl_error (gnuplot missing, unknown extension,
 * gnuplot's own error, or an empty file). o->width/height are ignored. */
int sl_gnuplot_save(sl_gnuplot *gp, const char *file, const sl_series *s, int ns,
                    const sl_plot_opts *o);

/* Writes a view (session.h: one heatmap or a grid of them, with their row and column
 * labels, titles and caption) to file like sl_gnuplot_save: each matrix shaded from white
 * to dark blue over its range (or [lo, hi] when fixed), with a colour box. */
int sl_gnuplot_save_view(sl_gnuplot *gp, const char *file, const sl_view *v);

#endif
