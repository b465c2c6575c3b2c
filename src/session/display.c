/* display.c - the `plot`, `watch` and `unwatch` commands: the curves a
 * front-end shows, gathered from the runs' histories, and a view command
 * rerun every N steps while its run trains. */
#include "seqlab/display.h"
#include "seqlab/commands.h"
#include "seqlab/series.h"
#include "seqlab/sweep.h"
#include "seqlab/workbench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const sl_series_names[] = { "loss", "lr", "val_loss", "val_acc", "cer", "acc_len", "forecast", NULL };

/* Commands that show a view and can be watched (when the table has them). */
static const char *const watchable[] = { "attn", "ssm", "gradflow", NULL };

#define WATCH_EVERY_DEFAULT 25

/* A view's own copy: every string and matrix it points at. */
typedef struct kept_view {
	sl_view v;
	sl_view_matrix *m;
	char **strings;
	int nstrings, capstrings;
	float **data;
} kept_view;

struct sl_display {
	sl_plot_spec spec;
	sl_display_hooks hooks;
	kept_view *last;  /* the last view shown, or NULL */
	char *watch;      /* the command text, or NULL */
	char watch_run[64];
	int every;
	int refreshing;
};

sl_display *sl_display_new(void)
{
	sl_display *d = sl_xcalloc(1, sizeof *d);
	sl_plot_spec_default(&d->spec);
	return d;
}

static sl_display *display_of(sl_session *s);

static void kept_free(kept_view *k)
{
	if (!k)
		return;
	for (int i = 0; i < k->nstrings; i++)
		free(k->strings[i]);
	for (int i = 0; i < k->v.n; i++)
		free(k->data[i]);
	free(k->strings);
	free(k->data);
	free(k->m);
	free(k);
}

/* k owns p from now on (freed with it); returns p. */
static void *kept_own(kept_view *k, void *p)
{
	if (k->nstrings == k->capstrings) {
		k->capstrings = k->capstrings ? 2 * k->capstrings : 64;
		k->strings = sl_xrealloc(k->strings, (size_t)k->capstrings * sizeof *k->strings);
	}
	return k->strings[k->nstrings++] = p;
}

/* A copy of s owned by k (NULL stays NULL). */
static const char *kept_str(kept_view *k, const char *s)
{
	return s ? kept_own(k, sl_xstrdup(s)) : NULL;
}

static const char *const *kept_labels(kept_view *k, const char *const *l, int n)
{
	if (!l)
		return NULL;
	const char **c = sl_xcalloc((size_t)n + 1, sizeof *c);
	for (int i = 0; i < n; i++)
		c[i] = kept_str(k, l[i]);
	return kept_own(k, c);
}

void sl_display_keep_view(sl_session *s, const sl_view *v)
{
	sl_display *d = display_of(s);
	kept_view *k = sl_xcalloc(1, sizeof *k);
	k->v.caption = kept_str(k, v->caption);
	k->v.n = v->n;
	k->m = sl_xcalloc((size_t)(v->n ? v->n : 1), sizeof *k->m);
	k->data = sl_xcalloc((size_t)(v->n ? v->n : 1), sizeof *k->data);
	for (int i = 0; i < v->n; i++) {
		const sl_view_matrix *m = &v->m[i];
		size_t cells = (size_t)m->rows * (size_t)m->cols;
		k->m[i] = *m;
		k->data[i] = sl_xmalloc((cells ? cells : 1) * sizeof(float));
		if (cells)
			memcpy(k->data[i], m->v, cells * sizeof(float));
		k->m[i].v = k->data[i];
		k->m[i].title = kept_str(k, m->title);
		k->m[i].row_labels = kept_labels(k, m->row_labels, m->rows);
		k->m[i].col_labels = kept_labels(k, m->col_labels, m->cols);
	}
	k->v.m = k->m;
	kept_free(d->last);
	d->last = k;
}

const sl_view *sl_display_last_view(sl_session *s)
{
	sl_display *d = display_of(s);
	return d->last ? &d->last->v : NULL;
}

void sl_display_free(sl_display *d)
{
	if (!d)
		return;
	kept_free(d->last);
	free(d->watch);
	free(d);
}

static sl_display *display_of(sl_session *s)
{
	return sl_workbench_display(sl_session_workbench(s));
}

void sl_plot_spec_default(sl_plot_spec *p)
{
	memset(p, 0, sizeof *p);
	p->series = 1u << SL_SERIES_LOSS | 1u << SL_SERIES_VAL_LOSS | 1u << SL_SERIES_VAL_ACC;
	/* acc_len is plotted alone (its x is a length) */
	p->smooth = 0.6;
}

void sl_display_set_hooks(sl_session *s, const sl_display_hooks *h)
{
	sl_display *d = display_of(s);
	if (h)
		d->hooks = *h;
	else
		memset(&d->hooks, 0, sizeof d->hooks);
}

const sl_plot_spec *sl_display_spec(sl_session *s)
{
	return &display_of(s)->spec;
}

/* ---- curves ---------------------------------------------------------------- */

static int per_step(int series)
{
	return series == SL_SERIES_LOSS || series == SL_SERIES_LR;
}

static double eval_value(const sl_eval *e, int series)
{
	switch (series) {
	case SL_SERIES_VAL_LOSS:
		return e->val_loss;
	case SL_SERIES_VAL_ACC:
		return e->val_acc;
	default:
		return e->cer;
	}
}

/* TensorBoard's debiased EMA over the finite values (NaN stays NaN). */
static void ema(double *y, int n, double w)
{
	double m = 0, wk = 1;
	for (int i = 0; i < n; i++) {
		if (!isfinite(y[i]))
			continue;
		m = w * m + (1 - w) * y[i];
		wk *= w;
		y[i] = m / (1 - wk);
	}
}

static sl_curve *add_curve(sl_curves *out, const sl_run *r, int series, int smoothed, int n)
{
	out->c = sl_xrealloc(out->c, (size_t)(out->n + 1) * sizeof *out->c);
	sl_curve *c = &out->c[out->n++];
	memset(c, 0, sizeof *c);
	snprintf(c->run, sizeof c->run, "%s", r->name);
	c->series = series;
	c->smoothed = smoothed;
	c->x = sl_xmalloc((size_t)(n ? n : 1) * sizeof *c->x);
	c->y = sl_xmalloc((size_t)(n ? n : 1) * sizeof *c->y);
	c->n = n;
	return c;
}

/* A series task's run: its predictions against the truth over the test
 * part, x the index of the value predicted (computed once per step). */
static void add_forecast(sl_curves *out, const sl_run *r)
{
	int n, from;
	const double *s = sl_series_task_values(r->task, &n, &from);
	if (!s || n < 2)
		return;
	sl_run *rw = (sl_run *)r; /* the cache of predictions */
	if (rw->forecast_step != r->step || rw->nforecast != n - 1) {
		rw->forecast = sl_xrealloc(rw->forecast, (size_t)(n - 1) * sizeof *rw->forecast);
		rw->nforecast = n - 1;
		if (sl_series_task_predict(r->task, r->model, r->tape, rw->forecast) != SL_OK) {
			rw->forecast_step = -1;
			return;
		}
		rw->forecast_step = r->step;
	}
	for (int part = 0; part < 2; part++) {
		sl_curve *c = add_curve(out, r, SL_SERIES_FORECAST, 0, n - from);
		c->what = part ? "truth" : "prediction";
		for (int i = from; i < n; i++) {
			c->x[i - from] = i;
			c->y[i - from] = part ? s[i] : rw->forecast[i - 1];
		}
	}
}

static void add_run(sl_curves *out, const sl_run *r, const sl_plot_spec *spec)
{
	for (int k = 0; k < SL_SERIES_COUNT; k++) {
		if (!(spec->series & 1u << k))
			continue;
		if (k == SL_SERIES_FORECAST) {
			add_forecast(out, r);
		} else if (k == SL_SERIES_ACC_LEN) {
			if (!r->nlen)
				continue;
			sl_curve *c = add_curve(out, r, k, 0, r->nlen);
			for (int i = 0; i < r->nlen; i++) {
				c->x[i] = r->len[i];
				c->y[i] = r->len_acc[i];
			}
			/* the training length, marked once */
			int seen = 0;
			for (int i = 0; i < out->nmarks; i++)
				seen |= out->mark[i] == r->len_train;
			if (r->len_train > 0 && !seen && out->nmarks < SL_CURVE_MARKS) {
				out->mark[out->nmarks] = r->len_train;
				snprintf(out->mark_label[out->nmarks++], sizeof out->mark_label[0], "trained at L=%d",
					 r->len_train);
			}
		} else if (per_step(k)) {
			if (!r->nsteps)
				continue;
			int smooth = spec->smooth > 0 && k == SL_SERIES_LOSS;
			for (int pass = smooth && spec->raw ? 0 : 1; pass < 2; pass++) {
				int sm = smooth && pass == 1;
				sl_curve *c = add_curve(out, r, k, sm, r->nsteps);
				for (int i = 0; i < r->nsteps; i++) {
					c->x[i] = i + 1;
					c->y[i] = k == SL_SERIES_LOSS ? r->loss[i] : r->lr[i];
				}
				if (sm)
					ema(c->y, c->n, spec->smooth);
			}
		} else {
			int n = 0;
			for (int i = 0; i < r->nevals; i++)
				n += isfinite(eval_value(&r->evals[i], k));
			if (!n)
				continue;
			sl_curve *c = add_curve(out, r, k, 0, n);
			n = 0;
			for (int i = 0; i < r->nevals; i++) {
				double v = eval_value(&r->evals[i], k);
				if (!isfinite(v))
					continue;
				c->x[n] = (double)r->evals[i].step;
				c->y[n++] = v;
			}
		}
	}
}

static void describe(sl_curves *cv, const sl_plot_spec *spec);

/* The sweep's combinations: one mean curve per series each. */
static void add_sweep(sl_curves *out, const sl_plot_spec *spec)
{
	static const int cols[SL_SERIES_COUNT] = { 3, 4, 6, 7, 8, -1, -1 }; /* the history files' columns */
	sl_sweep *sw = sl_sweep_load(spec->sweep);
	if (!sw)
		return;
	int nconf = sl_sweep_nconf(sw), nseeds = sl_sweep_npoints(sw) / SL_MAX(nconf, 1), nser = 0;
	for (int k = 0; k < SL_SERIES_COUNT; k++)
		nser += spec->series & 1u << k && cols[k] >= 0;
	for (int c = 0; c < nconf; c++) {
		char cfg[512];
		sl_sweep_config(sw, c * nseeds, cfg, sizeof cfg);
		for (int k = 0; k < SL_SERIES_COUNT; k++) {
			if (!(spec->series & 1u << k) || cols[k] < 0)
				continue;
			double *x, *y;
			int seeds, n = sl_sweep_mean_curve(sw, c, cols[k], &x, &y, &seeds);
			int smooth = k == SL_SERIES_LOSS && spec->smooth > 0;
			/* raw and smoothed as for a run: both with raw=on */
			for (int pass = smooth && spec->raw ? 0 : 1; n > 0 && pass < 2; pass++) {
				out->c = sl_xrealloc(out->c, (size_t)(out->n + 1) * sizeof *out->c);
				sl_curve *cu = &out->c[out->n++];
				memset(cu, 0, sizeof *cu);
				snprintf(cu->run, sizeof cu->run, "%.63s", cfg);
				cu->series = k;
				cu->x = sl_xmalloc((size_t)n * sizeof *cu->x);
				cu->y = sl_xmalloc((size_t)n * sizeof *cu->y);
				memcpy(cu->x, x, (size_t)n * sizeof *x);
				memcpy(cu->y, y, (size_t)n * sizeof *y);
				cu->n = n;
				cu->smoothed = smooth && pass == 1;
				if (cu->smoothed)
					ema(cu->y, n, spec->smooth);
				const char *raw = smooth && !cu->smoothed ? " (raw)" : "";
				if (nser > 1)
					snprintf(cu->name, sizeof cu->name, "%.60s %s%s", cfg, sl_series_names[k], raw);
				else
					snprintf(cu->name, sizeof cu->name, "%.70s%s", cfg, raw);
				if (seeds > 1 && strlen(cu->name) + 12 < sizeof cu->name)
					snprintf(cu->name + strlen(cu->name), sizeof cu->name - strlen(cu->name), " (%d seeds)",
						 seeds);
			}
			free(x);
			free(y);
		}
	}
	sl_sweep_free(sw);
}

void sl_display_curves(sl_session *s, const sl_plot_spec *spec, sl_curves *out)
{
	sl_workbench *wb = sl_session_workbench(s);
	memset(out, 0, sizeof *out);
	int nshown = 0;
	if (spec->sweep[0]) {
		add_sweep(out, spec);
		describe(out, spec);
		return;
	}
	if (spec->nruns == 0) {
		/* the current task's runs (every run when there is none) */
		const sl_task *t = sl_workbench_task(wb);
		for (int i = 0; i < sl_workbench_nruns(wb); i++) {
			const sl_run *r = sl_workbench_run_at(wb, i);
			if (t && r->task != t)
				continue;
			add_run(out, r, spec);
			nshown++;
		}
	} else {
		for (int i = 0; i < spec->nruns; i++) {
			const sl_run *r = sl_workbench_run(wb, spec->runs[i]);
			if (r) {
				add_run(out, r, spec);
				nshown++;
			}
		}
	}
	for (int i = 0; i < out->n; i++) {
		sl_curve *c = &out->c[i];
		const char *raw = c->series == SL_SERIES_LOSS && spec->smooth > 0 && !c->smoothed ? " (raw)" : "";
		if (c->series == SL_SERIES_ACC_LEN) /* one series: the run names it */
			snprintf(c->name, sizeof c->name, "%s", c->run);
		else if (c->series == SL_SERIES_FORECAST && nshown == 1)
			snprintf(c->name, sizeof c->name, "%s", c->what);
		else if (c->series == SL_SERIES_FORECAST)
			snprintf(c->name, sizeof c->name, "%s %s", c->run, c->what);
		else if (nshown == 1)
			snprintf(c->name, sizeof c->name, "%s%s", sl_series_names[c->series], raw);
		else
			snprintf(c->name, sizeof c->name, "%s %s%s", c->run, sl_series_names[c->series], raw);
	}
	describe(out, spec);
}

/* The title and axis labels of a figure of cv. */
static void describe(sl_curves *cv, const sl_plot_spec *spec)
{
	/* the runs drawn, in order, once each */
	char runs[96] = "";
	size_t k = 0;
	int nr = 0;
	for (int i = 0; i < cv->n; i++) {
		int dup = 0;
		for (int j = 0; j < i; j++)
			dup |= !strcmp(cv->c[j].run, cv->c[i].run);
		if (dup)
			continue;
		if (nr++ < 6 && k < sizeof runs)
			k += (size_t)snprintf(runs + k, sizeof runs - k, "%s%s", k ? ", " : "", cv->c[i].run);
	}
	if (nr > 6 && k < sizeof runs)
		snprintf(runs + k, sizeof runs - k, " and %d more", nr - 6);
	if (spec->series == 1u << SL_SERIES_FORECAST) {
		snprintf(cv->title, sizeof cv->title, "Prediction against truth on the test part: %s", nr ? runs : "no run");
		snprintf(cv->xlabel, sizeof cv->xlabel, "time step");
		snprintf(cv->ylabel, sizeof cv->ylabel, "value");
		return;
	}
	if (spec->series == 1u << SL_SERIES_ACC_LEN) {
		snprintf(cv->title, sizeof cv->title, "Accuracy against sequence length: %s", nr ? runs : "no run");
		snprintf(cv->xlabel, sizeof cv->xlabel, "sequence length");
		snprintf(cv->ylabel, sizeof cv->ylabel, "accuracy");
		cv->yfixed = 1;
		cv->ylo = 0;
		cv->yhi = 1.05;
		return;
	}
	char what[96] = "";
	k = 0;
	int losses = 0, others = 0;
	for (int i = 0; i < SL_SERIES_COUNT; i++)
		if (spec->series & 1u << i) {
			if (k < sizeof what)
				k += (size_t)snprintf(what + k, sizeof what - k, "%s%s", k ? ", " : "", sl_series_names[i]);
			if (i == SL_SERIES_LOSS || i == SL_SERIES_VAL_LOSS)
				losses++;
			else
				others++;
		}
	int len;
	if (spec->sweep[0])
		len = snprintf(cv->title, sizeof cv->title, "%s of sweep %s (each combination's mean over its seeds)%s",
			       what, spec->sweep,
			       spec->smooth > 0 && spec->series & 1u << SL_SERIES_LOSS ? ", loss smoothed" : "");
	else
		len = snprintf(cv->title, sizeof cv->title, "%s of %s%s", what, nr ? runs : "no run",
			       spec->smooth > 0 && spec->series & 1u << SL_SERIES_LOSS ? " (loss smoothed)" : "");
	if (len >= (int)sizeof cv->title) /* a title longer than the pane's buffer ends in "..." */
		memcpy(cv->title + sizeof cv->title - 4, "...", 4);
	snprintf(cv->xlabel, sizeof cv->xlabel, "step");
	if (!others)
		snprintf(cv->ylabel, sizeof cv->ylabel, "cross-entropy per token (nats)");
	else if (!losses && spec->series == 1u << SL_SERIES_LR)
		snprintf(cv->ylabel, sizeof cv->ylabel, "learning rate");
	else if (!losses && !(spec->series & 1u << SL_SERIES_LR)) {
		snprintf(cv->ylabel, sizeof cv->ylabel, "accuracy / error rate");
		cv->yfixed = 1; /* headroom: an accuracy of 1 stays inside the frame */
		cv->ylo = 0;
		cv->yhi = 1.05;
	}
	else
		snprintf(cv->ylabel, sizeof cv->ylabel, "value");
}

void sl_curves_free(sl_curves *c)
{
	for (int i = 0; i < c->n; i++) {
		free(c->c[i].x);
		free(c->c[i].y);
	}
	free(c->c);
	c->c = NULL;
	c->n = 0;
}

/* ---- plot ------------------------------------------------------------------ */

static const char *spec_text(const sl_plot_spec *p, char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = 0;
	for (int i = 0; i < SL_SERIES_COUNT && k < n; i++)
		if (p->series & 1u << i)
			k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? "," : "", sl_series_names[i]);
	if (p->sweep[0] && k < n)
		k += (size_t)snprintf(buf + k, n - k, " sweep=%s", p->sweep);
	else if (k < n)
		k += (size_t)snprintf(buf + k, n - k, " runs=");
	if (p->sweep[0])
		;
	else if (!p->nruns && k < n)
		k += (size_t)snprintf(buf + k, n - k, "task");
	for (int i = 0; i < p->nruns && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? "," : "", p->runs[i]);
	if (k < n)
		snprintf(buf + k, n - k, " smooth=%g raw=%s log=%s", p->smooth, p->raw ? "on" : "off",
			 p->logy ? "on" : "off");
	return buf;
}

/* The plain form: every point as a key=value line. */
static void print_points(sl_session *s, const sl_plot_spec *spec)
{
	/* the smoothed loss goes out as a column of the raw one */
	sl_plot_spec all = *spec;
	all.raw = 1;
	sl_curves cv;
	sl_display_curves(s, &all, &cv);
	int points = 0, curves = 0;
	for (int i = 0; i < cv.n; i++)
		if (!cv.c[i].smoothed) {
			curves++;
			points += cv.c[i].n;
		}
	sl_out(s, "curves=%d points=%d", curves, points);
	for (int i = 0; i < cv.n; i++) {
		const sl_curve *c = &cv.c[i];
		if (c->smoothed)
			continue;
		int smooth = c->series == SL_SERIES_LOSS && spec->smooth > 0;
		double *sm = NULL;
		if (smooth) {
			sm = sl_xmalloc((size_t)(c->n ? c->n : 1) * sizeof *sm);
			memcpy(sm, c->y, (size_t)c->n * sizeof *sm);
			ema(sm, c->n, spec->smooth);
		}
		for (int j = 0; j < c->n; j++) {
			if (spec->sweep[0] && smooth)
				sl_out(s, "sweep=%s curve=\"%s\" series=%s step=%.0f value=%.6g smoothed=%.6g", spec->sweep,
				       c->run, sl_series_names[c->series], c->x[j], c->y[j], sm[j]);
			else if (spec->sweep[0])
				sl_out(s, "sweep=%s curve=\"%s\" series=%s step=%.0f value=%.6g", spec->sweep, c->run,
				       sl_series_names[c->series], c->x[j], c->y[j]);
			else if (c->series == SL_SERIES_ACC_LEN)
				sl_out(s, "run=%s series=acc_len length=%.0f value=%.6g", c->run, c->x[j], c->y[j]);
			else if (c->series == SL_SERIES_FORECAST)
				sl_out(s, "run=%s series=forecast curve=%s t=%.0f value=%.6g", c->run, c->what, c->x[j],
				       c->y[j]);
			else if (smooth)
				sl_out(s, "run=%s series=%s step=%.0f value=%.6g smoothed=%.6g", c->run,
				       sl_series_names[c->series], c->x[j], c->y[j], sm[j]);
			else
				sl_out(s, "run=%s series=%s step=%.0f value=%.6g", c->run, sl_series_names[c->series],
				       c->x[j], c->y[j]);
		}
		free(sm);
	}
	sl_curves_free(&cv);
}

/* Reads [RUN|SERIES...] [smooth=W] [raw=on|off] [log=on|off] into p, from
 * the defaults. *given: some word or option was there. */
static int parse_spec(sl_session *s, sl_args *a, sl_plot_spec *p, int *given)
{
	sl_workbench *wb = sl_session_workbench(s);
	sl_plot_spec_default(p);
	unsigned series = 0;
	double w;
	int on;
	*given = 0;
	if (sl_args_float(a, "smooth", 0, 0.999, &w)) {
		p->smooth = w;
		*given = 1;
	}
	if (sl_args_bool(a, "raw", &on)) {
		p->raw = on;
		*given = 1;
	}
	if (sl_args_bool(a, "log", &on)) {
		p->logy = on;
		*given = 1;
	}
	const char *sweep = NULL;
	if (sl_args_str(a, "sweep", &sweep)) {
		sl_sweep *sw = sl_sweep_load(sweep);
		if (!sw)
			return sl_fail(s, "sweep=%s: %s", sweep, sl_error());
		sl_sweep_free(sw);
		snprintf(p->sweep, sizeof p->sweep, "%s", sweep);
		*given = 1;
	}
	for (const char *wd; (wd = sl_args_word(a));) {
		*given = 1;
		int k;
		for (k = 0; sl_series_names[k] && strcmp(sl_series_names[k], wd); k++)
			;
		if (sl_workbench_run(wb, wd)) {
			int dup = 0;
			for (int i = 0; i < p->nruns; i++)
				dup |= !strcmp(p->runs[i], wd);
			if (dup)
				continue;
			if (p->nruns == SL_PLOT_RUNS_MAX)
				return sl_args_fail(a, "at most %d runs in one plot", SL_PLOT_RUNS_MAX);
			snprintf(p->runs[p->nruns++], sizeof p->runs[0], "%s", wd);
		} else if (sl_series_names[k]) {
			series |= 1u << k;
		} else {
			const char *cands[SL_SERIES_COUNT + 257];
			int n = 0;
			for (int i = 0; sl_series_names[i]; i++)
				cands[n++] = sl_series_names[i];
			for (int i = 0; i < sl_workbench_nruns(wb) && n < (int)SL_COUNT(cands) - 1; i++)
				cands[n++] = sl_workbench_run_at(wb, i)->name;
			cands[n] = NULL;
			const char *near = sl_args_suggest(wd, cands);
			if (near)
				return sl_args_fail(a, "'%s' is neither a run nor a series; did you mean '%s'?", wd, near);
			return sl_args_fail(a, "'%s' is neither a run nor a series (loss lr val_loss val_acc cer acc_len forecast)",
					    wd);
		}
	}
	if (p->sweep[0] && p->nruns)
		return sl_fail(s, "sweep= draws the sweep's combinations, not runs: give one or the other");
	if (p->sweep[0] && series & 1u << SL_SERIES_ACC_LEN)
		return sl_fail(s, "a sweep has no accuracy-vs-length tables (eval RUN lengths=... on a run)");
	if (series & 1u << SL_SERIES_ACC_LEN && series != 1u << SL_SERIES_ACC_LEN)
		return sl_fail(s, "acc_len has lengths on its x axis, the other series steps: plot it alone "
				  "('plot acc_len RUN...')");
	if (series & 1u << SL_SERIES_FORECAST && series != 1u << SL_SERIES_FORECAST)
		return sl_fail(s, "forecast has time steps on its x axis, the other series training steps: plot it alone "
				  "('plot forecast RUN...')");
	if (p->sweep[0] && series & 1u << SL_SERIES_FORECAST)
		return sl_fail(s, "a sweep has no forecasts (plot forecast RUN on a run of task series)");
	if (series)
		p->series = series;
	return SL_OK;
}

int sl_cmd_plot(sl_session *s, sl_args *a)
{
	sl_display *d = display_of(s);
	int save = 0, given = 0;
	const char *file = NULL;
	/* `plot save FILE ...` unless a run is called "save" */
	const sl_word *first = NULL;
	for (int i = 0; i < a->n && !first; i++)
		if (!a->w[i].key)
			first = &a->w[i];
	if (first && !strcmp(first->text, "save") && !sl_workbench_run(sl_session_workbench(s), "save")) {
		save = 1;
		sl_args_word(a);
		file = sl_args_word(a);
		if (!file)
			return sl_args_fail(a, "plot save needs a FILE (.png, .svg or .pdf)");
	}
	sl_plot_spec p;
	if (parse_spec(s, a, &p, &given) != SL_OK)
		return SL_ERR;
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	char text[512];
	if (save) {
		const sl_plot_spec *use = given ? &p : &d->spec;
		if (!d->hooks.save)
			return sl_fail(s, "this front-end cannot write images");
		if (d->hooks.save(d->hooks.ud, s, file, use) != SL_OK)
			return sl_fail(s, "%s", sl_error());
		sl_curves cv;
		sl_display_curves(s, use, &cv);
		sl_out(s, "saved=%s curves=%d", file, cv.n);
		sl_curves_free(&cv);
		return SL_OK;
	}
	d->spec = p;
	if (d->hooks.plot) {
		d->hooks.plot(d->hooks.ud, &d->spec);
		sl_info(s, "curves: %s", spec_text(&d->spec, text, sizeof text));
	} else {
		print_points(s, &d->spec);
	}
	return SL_OK;
}

void sl_display_complete_plot(sl_session *s, const sl_cmd *cmd, int argi, const char *prefix,
			      sl_complete_add add, void *ctx)
{
	size_t n = strlen(prefix);
	if (argi == 1 && !strncmp("save", prefix, n))
		add(ctx, "save");
	sl_workbench_complete_runs(s, prefix, add, ctx);
	for (int i = 0; sl_series_names[i]; i++)
		if (!strncmp(sl_series_names[i], prefix, n))
			add(ctx, sl_series_names[i]);
	/* option values */
	static const char *const vals[] = { "raw=on", "raw=off", "log=on", "log=off", NULL };
	if (strchr(prefix, '='))
		for (int i = 0; vals[i]; i++)
			if (!strncmp(vals[i], prefix, n))
				add(ctx, vals[i]);
}

/* ---- watch ----------------------------------------------------------------- */

static int is_watchable(const char *name)
{
	for (int i = 0; watchable[i]; i++)
		if (!strcmp(watchable[i], name) && sl_command_find(name))
			return 1;
	return 0;
}

/* Reruns the watched command; a failure ends the watch. */
static int refresh(sl_session *s, sl_display *d)
{
	char *text = sl_xstrdup(d->watch);
	d->refreshing = 1;
	int st = sl_session_exec(s, text, NULL);
	d->refreshing = 0;
	if (st != SL_OK && d->watch && !strcmp(d->watch, text)) {
		sl_info(s, "watch ended: '%s' failed", text);
		free(d->watch);
		d->watch = NULL;
	}
	free(text);
	return st;
}

int sl_cmd_watch(sl_session *s, sl_args *a)
{
	sl_display *d = display_of(s);
	long long every = WATCH_EVERY_DEFAULT;
	sl_args_int(a, "every", 1, 1000000000, &every);
	const char *cmd = sl_args_word(a);
	if (!cmd) {
		if (sl_args_end(a) != SL_OK)
			return SL_ERR;
		if (d->watch)
			sl_out(s, "watch=\"%s\" every=%d", d->watch, d->every);
		else
			sl_out(s, "watch=none");
		return SL_OK;
	}
	if (!is_watchable(cmd))
		return sl_args_fail(a, "'%s' cannot be watched (attn, ssm, gradflow)", cmd);
	/* the rest of the words are the command's own */
	sl_word *w = sl_xcalloc((size_t)a->n + 1, sizeof *w);
	int n = 0;
	w[n++] = (sl_word){ .text = cmd };
	const char *run = NULL;
	for (int i = 0; i < a->n; i++) {
		if (a->w[i].used)
			continue;
		a->w[i].used = 1;
		w[n++] = a->w[i];
		if (!run && !a->w[i].key)
			run = a->w[i].text;
	}
	if (sl_args_end(a) != SL_OK) {
		free(w);
		return SL_ERR;
	}
	if (!run) {
		free(w);
		return sl_args_fail(a, "watch %s needs a run", cmd);
	}
	char *text = sl_session_format_words(w, n);
	free(w);
	/* show it now: a command that fails here is not watched */
	if (sl_session_exec(s, text, NULL) != SL_OK) {
		free(text);
		return SL_ERR;
	}
	free(d->watch);
	d->watch = text;
	snprintf(d->watch_run, sizeof d->watch_run, "%s", run);
	d->every = (int)every;
	sl_out(s, "watch=\"%s\" every=%d", d->watch, d->every);
	return SL_OK;
}

int sl_cmd_unwatch(sl_session *s, sl_args *a)
{
	sl_display *d = display_of(s);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!d->watch)
		return sl_fail(s, "nothing is watched");
	sl_out(s, "unwatched=\"%s\"", d->watch);
	free(d->watch);
	d->watch = NULL;
	return SL_OK;
}

int sl_cmd_heatmap(sl_session *s, sl_args *a)
{
	const char *verb = sl_args_word(a), *file = sl_args_word(a);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!verb || strcmp(verb, "save"))
		return sl_args_fail(a, "expected 'heatmap save FILE' (.png, .svg or .pdf)");
	if (!file)
		return sl_args_fail(a, "heatmap save needs a FILE (.png, .svg or .pdf)");
	const sl_view *v = sl_display_last_view(s);
	if (!v)
		return sl_fail(s, "no heatmap yet: 'attn RUN WORD' or 'ssm RUN WORD' shows one");
	return sl_display_save_view(s, file, v);
}

int sl_display_save_view(sl_session *s, const char *file, const sl_view *v)
{
	sl_display *d = display_of(s);
	if (!d->hooks.save_view)
		return sl_fail(s, "this front-end cannot write images");
	if (d->hooks.save_view(d->hooks.ud, s, file, v) != SL_OK)
		return sl_fail(s, "%s", sl_error());
	sl_out(s, "saved=%s heatmaps=%d", file, v->n);
	return SL_OK;
}

void sl_display_complete_watch(sl_session *s, const sl_cmd *cmd, int argi, const char *prefix,
			       sl_complete_add add, void *ctx)
{
	size_t n = strlen(prefix);
	if (argi == 1) {
		for (int i = 0; watchable[i]; i++)
			if (sl_command_find(watchable[i]) && !strncmp(watchable[i], prefix, n))
				add(ctx, watchable[i]);
	} else if (argi == 2) {
		sl_workbench_complete_runs(s, prefix, add, ctx);
	}
	if (argi > 1 && !strncmp("every=", prefix, n))
		add(ctx, "every=");
}

const char *sl_display_watch(sl_session *s, int *every)
{
	sl_display *d = display_of(s);
	if (every)
		*every = d->every;
	return d->watch;
}

int sl_display_refreshing(sl_session *s)
{
	return display_of(s)->refreshing;
}

void sl_display_after_step(sl_session *s, const sl_run *r)
{
	sl_display *d = display_of(s);
	if (!d->watch || d->refreshing || d->every < 1 || r->step % d->every != 0 || strcmp(r->name, d->watch_run))
		return;
	refresh(s, d);
}
