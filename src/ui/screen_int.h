/* screen_int.h - what the screen's files share: the screen's state, the pane
 * layout, and the drawing entry points (screen_draw.c) the main loop
 * (screen.c) calls. */
#ifndef SEQLAB_SCREEN_INT_H
#define SEQLAB_SCREEN_INT_H

#define NCURSES_WIDECHAR 1
#include <curses.h>

#include "seqlab/cells.h"
#include "seqlab/display.h"
#include "seqlab/gnuplot.h"
#include "seqlab/heatmap.h"
#include "seqlab/session.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* Below this the screen shows a message instead of panes. */
#define SCR_MIN_COLS 60
#define SCR_MIN_LINES 16
/* At least this wide: the log on the left, curves over the heatmap on the right. */
#define SCR_WIDE_COLS 100
/* Narrower than SCR_WIDE_COLS or fewer lines than this: one pane at a time,
 * full size, with tabs in its header (F6 or Tab from a pane switches; a
 * command shows the pane its output goes to). */
#define SCR_TABS_LINES 32

#define SCR_LOG_MAX 5000   /* lines kept in the log */
/* While a run trains: the panes and the status line are redrawn at most
 * this often (seconds), and the curves re-plotted at most this often. */
#define SCR_FRAME 0.5
#define SCR_CURVE_PERIOD 1.0

enum { PANE_LOG, PANE_CURVES, PANE_HEAT, PANE_COUNT };
enum { FOCUS_PROMPT = -1 };

/* The kinds of log line: the session's (SL_OUT_RESULT/INFO/ERROR), plus these. */
enum { LOG_ECHO = 10, LOG_NOTE };

typedef struct scr_rect {
	int y, x, h, w; /* h == 0: not shown */
} scr_rect;

typedef struct scr_layout {
	int too_small;
	int wide;
	int tabbed;       /* one pane at a time (SCR_TABS_LINES) */
	scr_rect pane[PANE_COUNT];
	scr_rect sep;     /* the vertical rule between the log and the right column (wide) */
	scr_rect status, prompt;
} scr_layout;

typedef struct scr_logline {
	char *text;
	int kind;
	int width; /* in cells */
	int rows, rows_w; /* rows when wrapped at rows_w columns (0: not yet) */
} scr_logline;

/* A copy of a view (views are only valid during the session's callback). */
typedef struct scr_view {
	char *caption;
	int n;
	sl_view_matrix *m;
	char **strings; /* every string the matrices point at */
	int nstrings;
	float **data;
} scr_view;

/* Threads. Training runs on a trainer thread (screen.c) that holds the
 * session lock during each slice; the main thread holds it to run commands
 * and to complete. Neither draws from the session directly: whoever holds
 * the session lock publishes what the panes show (scr_publish: the status
 * line, a copy of the curves' data, the heatmap's header) into the shared
 * display data under dmu, the trainer after a slice (a few times per
 * frame); the main thread draws from there, taking only dmu, so a frame
 * never waits for a training slice and training never waits for a frame.
 * Output lines and views land under dmu too, from either thread. Lock
 * order: the session lock, then dmu; never the other way. Curses and
 * readline belong to the main thread. */
typedef struct scr {
	sl_session *s;

	/* ---- the main thread's ---- */
	int cols, lines;
	scr_layout lay;
	WINDOW *win[PANE_COUNT];
	WINDOW *sep_w, *status_w, *prompt_w, *msg_w;
	int color;          /* 256 colours (else monochrome) */
	int focus;          /* FOCUS_PROMPT or PANE_* */
	int zoom;           /* the focused pane fills the screen */
	int tab;            /* tabbed layout: the pane shown (PANE_*) */
	int help;           /* the help box is up */
	char search[256];   /* the last / pattern */
	int dirty_all;      /* redraw everything */
	double log_t;       /* the log's last redraw */
	sl_gnuplot *gp;
	int braille;        /* the curve pane in braille cells (else gnuplot's dumb text) */
	sl_curves curve_data; /* the published curves taken for plotting */
	int curve_logy;
	char data_info[160];  /* the header for curve_data */
	int curve_want;     /* curve_data is not plotted yet (sent when gnuplot is free) */
	char sent_info[160]; /* the header for the plot in flight */
	sl_cells *curve_cells; /* the picture shown, kept until the next one is in */
	sl_cells *curve_next;  /* the plot in flight lands here */
	char curve_info[160];  /* the header for curve_cells */
	int curve_text;     /* the text plotter drew them */
	int curve_fresh;    /* a new picture to paint */
	int curve_scroll;
	unsigned snap_drawn;
	sl_cells *heat_cells;
	int heat_w;         /* the width the cells were rendered at; 0: stale */
	int heat_scroll;
	unsigned view_drawn;
	char status_line[1024];
	unsigned status_drawn;
	/* the cell cursor of a single heatmap (focused pane): where its cells
	 * landed (lines from heat_y0 on), and the cell under the cursor */
	int heat_single;
	int heat_y0;
	sl_heatmap_layout heat_lay;
	int cur_i, cur_j;

	/* ---- under the session lock ---- */
	const char *state;  /* "idle", "training", "paused" */
	char last_run[64];  /* the run trained last */

	/* ---- shared display data, under dmu ---- */
	pthread_mutex_t dmu;
	scr_logline *log;
	int nlog, caplog;
	int log_w, log_h;   /* the log pane's text area */
	int log_scroll;     /* rows scrolled back from the bottom */
	int search_hit;     /* log line of the last match, or -1 */
	atomic_int dirty_log;
	scr_view view;      /* the last view */
	int have_view;
	unsigned view_gen;  /* bumped by each view */
	int view_keep;      /* the last view was a watched one redrawn: keep the scroll */
	int pub_status_w, pub_curve_w, pub_curve_h; /* sizes to publish for */
	char status[1024];  /* the status line, published */
	unsigned status_gen;
	char heat_info[200]; /* the heatmap pane's header (the watch), published */
	sl_curves snap;     /* the curves' data, published */
	unsigned snap_gen;
	int snap_logy;
	char snap_info[160];
	uint64_t snap_sig;  /* what snap was copied from (0: nothing yet) */
	double snap_t;
	atomic_int publish; /* the sizes or the plot changed: publish again */
} scr;

/* ---- screen_draw.c ---- */
/* The layout for a terminal of cols x lines; zoom: the focused pane fills
 * it; tab: the pane a tabbed layout shows while the prompt has the focus. */
void scr_layout_compute(scr_layout *l, int cols, int lines, int zoom, int focus, int tab);
/* (Re)creates the windows for the current size; marks everything dirty. */
void scr_windows(scr *sc);
void scr_windows_free(scr *sc);
void scr_colors_init(scr *sc);

void scr_log_add(scr *sc, int kind, const char *text);
void scr_log_free(scr *sc);
/* Scrolls the log by rows (positive: back); clamps. */
void scr_log_scroll(scr *sc, int rows);
/* Finds pattern from the last match (or, with restart, from the end)
 * backwards (dir > 0) or forwards, and shows it; 0 if it is nowhere. */
int scr_log_search(scr *sc, const char *pattern, int dir, int restart);

/* Copies a view for the heatmap pane; keep: stay where the pane is scrolled
 * (a watched view redrawn). */
void scr_view_set(scr *sc, const sl_view *v, int keep);
void scr_view_free(scr_view *v);

/* Under the session lock: publishes the status line, the heatmap's header
 * and, when they changed (while training at most every SCR_CURVE_PERIOD),
 * the curves' data. */
void scr_publish(scr *sc, double now);
/* The main thread: draws what changed or is due (now: sl_now()); force
 * redraws everything. Takes dmu, not the session lock. */
void scr_draw(scr *sc, double now, int force);
/* The main thread: takes gnuplot's answer to the plot in flight if it is
 * complete (without waiting); 1 when it did and the curve pane is shown
 * (scr_draw paints the new picture). */
int scr_curves_collect(scr *sc);
/* The prompt line from readline's state, refreshed at once (a keystroke's echo). */
void scr_draw_prompt(scr *sc, int flush);
/* Paints lines of cells into win at (y, x), at most h lines of w cells, from line first. */
void scr_paint(scr *sc, WINDOW *win, const sl_cells *c, int first, int y, int x, int h, int w);
/* Scrolls the focused pane (PANE_*) by rows; INT_MAX / -INT_MAX: to the top / bottom. */
void scr_scroll(scr *sc, int pane, int rows);
/* Moves the heatmap's cell cursor (a single heatmap only); 0 if there is
 * none to move. */
int scr_heat_cursor(scr *sc, int di, int dj);
/* The page size of a pane in rows. */
int scr_page(const scr *sc, int pane);

/* Puts the rates (val_acc, cer) on the right axis when a loss is drawn too,
 * and lr when anything else is, scaled to its peak beside rates (its name
 * says so): sets ser[i].y2 and .name (into names[i]), scales ys[i] (the
 * writable copy ser[i].y points at) for lr. */
void scr_curve_axes(const sl_curves *cv, sl_series *ser, double **ys, char (*names)[128]);
/* The marks of cv (the training lengths) and its fixed y range into o. */
void scr_curve_marks(const sl_curves *cv, sl_plot_opts *o);
/* The `heatmap save` hook: the view written by gnuplot. */
int scr_view_save(void *ud, sl_session *s, const char *file, const sl_view *v);
/* The `plot save` hook: the curves of spec written by gnuplot, with a
 * title and axis labels. */
int scr_plot_save(void *ud, sl_session *s, const char *file, const sl_plot_spec *spec);

/* ---- screen_term.c ---- */
/* The escapes that leave the alternate screen, show the cursor and reset the
 * attributes, then CR LF; the length written (at most n). */
size_t scr_restore_sequence(char *buf, size_t n);
/* Whether the terminal can move the cursor anywhere (not "dumb"). */
int scr_term_usable(void);

/* The question shown on the prompt line instead of readline's (NULL: none). */
extern const char *scr_question;

#endif
