/* display.h - what a front-end shows besides output lines: the curves that
 * `plot` chooses, and the view that `watch` redraws while a run trains.
 *
 * The session keeps the choice as plain data (an sl_plot_spec, a command
 * text); a front-end draws it. In plain mode `plot` prints the points as
 * key=value lines and a watched view is printed like any other view; the
 * screen installs hooks and draws the curves in its curve pane. Nothing here
 * touches a terminal. */
#ifndef SEQLAB_DISPLAY_H
#define SEQLAB_DISPLAY_H

#include "seqlab/args.h"
#include "seqlab/commands.h"
#include "seqlab/run.h"
#include "seqlab/session.h"

/* The series of a run that can be plotted (bits of sl_plot_spec.series). */
enum {
	SL_SERIES_LOSS,     /* per step: training loss */
	SL_SERIES_LR,       /* per step: learning rate */
	SL_SERIES_VAL_LOSS, /* per evaluation */
	SL_SERIES_VAL_ACC,
	SL_SERIES_CER,
	SL_SERIES_ACC_LEN,  /* per length: the last `eval RUN lengths=...` (x is the length) */
	SL_SERIES_FORECAST, /* series task: prediction and truth over the test part (x is the time step) */
	SL_SERIES_COUNT
};
/* "loss", "lr", "val_loss", "val_acc", "cer", "acc_len", "forecast", NULL */
extern const char *const sl_series_names[];

#define SL_PLOT_RUNS_MAX 16

/* Which curves to draw, and how. */
typedef struct sl_plot_spec {
	int nruns;                        /* 0: every run */
	char runs[SL_PLOT_RUNS_MAX][64];
	char sweep[64];                   /* not "": the sweep's combinations instead of runs */
	unsigned series;                  /* 1u << SL_SERIES_* */
	double smooth;                    /* debiased EMA weight for per-step series; 0 = raw */
	int raw;                          /* with smooth: the raw per-step series too */
	int logy;
} sl_plot_spec;

/* The default: every run; loss, val_loss and val_acc; smooth=0.6 without
 * the raw series; linear y. */
void sl_plot_spec_default(sl_plot_spec *p);

/* One curve gathered from a run. x is the step (the length for acc_len). */
typedef struct sl_curve {
	char name[96];  /* "t loss", or "loss" when only one run is shown */
	char run[64];
	int series;     /* SL_SERIES_* */
	int smoothed;   /* y is the EMA of the raw values */
	const char *what; /* forecast: "prediction" or "truth"; NULL otherwise */
	double *x, *y;  /* (n) */
	int n;
} sl_curve;

#define SL_CURVE_MARKS 4

/* The curves of a plot, and what a figure of them says. */
typedef struct sl_curves {
	sl_curve *c;
	int n;
	char title[160];   /* "loss, val_acc of t, m" */
	char xlabel[32];   /* "step" or "sequence length" */
	char ylabel[48];   /* what the y values are */
	int yfixed;        /* y from ylo to yhi (accuracy: 0 to just above 1) */
	double ylo, yhi;
	int nmarks;        /* vertical lines at x = mark[i] (the training lengths) */
	double mark[SL_CURVE_MARKS];
	char mark_label[SL_CURVE_MARKS][48];
} sl_curves;

/* The curves of spec over the session's runs (runs named in spec that no
 * longer exist are skipped; series without points are left out), or with
 * spec->sweep, each option combination's mean curve over its seeds from the
 * sweep's finished points (sweep.h). The caller frees them with
 * sl_curves_free. */
void sl_display_curves(sl_session *s, const sl_plot_spec *spec, sl_curves *out);
void sl_curves_free(sl_curves *c);

/* A front-end's hooks. plot: the curves to show changed (the screen
 * redraws); without it `plot` prints the points. save: writes the curves of
 * spec to file (.png, .svg, .pdf); SL_ERR with sl_error set. Without it,
 * `plot save` fails. */
typedef struct sl_display_hooks {
	void (*plot)(void *ud, const sl_plot_spec *spec);
	int (*save)(void *ud, sl_session *s, const char *file, const sl_plot_spec *spec);
	/* `heatmap save`: writes the view to file (.png, .svg, .pdf); SL_ERR
	 * with sl_error set. Without it, `heatmap save` fails. */
	int (*save_view)(void *ud, sl_session *s, const char *file, const sl_view *v);
	void *ud;
} sl_display_hooks;

/* The display state of a session (owned by its workbench). */
typedef struct sl_display sl_display;
sl_display *sl_display_new(void);
void sl_display_free(sl_display *d);

void sl_display_set_hooks(sl_session *s, const sl_display_hooks *h);
/* What the curve pane shows: the last `plot` (or the default). */
const sl_plot_spec *sl_display_spec(sl_session *s);

/* Writes view v to file (.png, .svg, .pdf) through the front-end's
 * save_view hook and prints saved=FILE heatmaps=N; SL_ERR reported
 * through s (no hook, or the hook's error). */
int sl_display_save_view(sl_session *s, const char *file, const sl_view *v);

/* Keeps a copy of v as the last view shown (sl_session_view calls it), and
 * the last view shown, or NULL (valid until the next view). */
void sl_display_keep_view(sl_session *s, const sl_view *v);
const sl_view *sl_display_last_view(sl_session *s);

/* The watched command ("attn t shopping layer=0"), or NULL; its period in
 * steps of its run. */
const char *sl_display_watch(sl_session *s, int *every);
/* Nonzero while a watched command is being rerun (its result line is not
 * news: a screen may leave it out of the log). */
int sl_display_refreshing(sl_session *s);
/* Called by the training job after each step of run r: reruns the watched
 * command every N steps of its run. A watch that fails is dropped (reported). */
void sl_display_after_step(sl_session *s, const sl_run *r);

/* Command handlers and completers (commands.c lists them). */
int sl_cmd_plot(sl_session *s, sl_args *a);
int sl_cmd_watch(sl_session *s, sl_args *a);
int sl_cmd_unwatch(sl_session *s, sl_args *a);
int sl_cmd_heatmap(sl_session *s, sl_args *a);
void sl_display_complete_plot(sl_session *s, const sl_cmd *cmd, int argi, const char *prefix,
			      sl_complete_add add, void *ctx);
void sl_display_complete_watch(sl_session *s, const sl_cmd *cmd, int argi, const char *prefix,
			       sl_complete_add add, void *ctx);

#endif
