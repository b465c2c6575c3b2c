/* series.c - time-series forecasting: a Mackey-Glass series (as reservoirpy
 * makes it), predicted one step ahead. Position t of the one training
 * sequence reads s[t] and is scored against s[t+1]; the last `test`
 * fraction of the targets is held out. The first `warmup` training positions
 * are run but not scored (a reservoir forgets its zero start). Evaluation
 * runs the model over the whole series (so its state at the first test
 * position is the one training left) and scores the test targets:
 * val_loss is the mean squared error, RMSE its root, NRMSE the RMSE over the
 * variance of the test targets (reservoirpy's nrmse with norm="var"). In
 * generative mode the model's inputs from the first test position on are
 * its own previous predictions (free running). */
#include "seqlab/series.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_mackey_glass(int n, int tau, double a, double b, double nexp, double x0, double h, const double *history,
		     double *out)
{
	int hl = sl_mackey_glass_history_len(tau, h);
	double bh = -b * h, xt = x0;
	for (int i = 0; i < n; i++) {
		out[i] = xt;
		/* the value hl steps back: the history, then the series itself */
		double xtau = tau > 0 && hl > 0 ? (i < hl ? history[i] : out[i - hl]) : 0.0;
		/* reservoirpy's _mg_rk4, in its order of operations */
		double k1 = bh * xt + a * xtau / (1.0 + pow(xtau, nexp));
		double k2 = 2.0 * k1 + bh * k1;
		double k3 = 2.0 * k1 + bh * k2;
		double k4 = k1 + bh * k3;
		xt = xt + (k1 + k2 + k3 + k4) / 6.0;
	}
}

int sl_mackey_glass_history_len(int tau, double h)
{
	return (int)floor((double)tau / h);
}

void sl_mackey_glass_history(int len, double x0, sl_rng *rng, double *history)
{
	for (int i = 0; i < len; i++)
		history[i] = x0 + 0.2 * (sl_rng_double(rng) - 0.5);
}

/* ---- the task ---- */

typedef struct series_task {
	sl_series_config c;
	double *s;      /* (L) */
	int L;
	int ntrain;     /* training positions: inputs s[0 .. ntrain) */
	int ntest;      /* test positions: ntrain .. L-2 */
} series_task;

static void *series_plan_new(sl_task *t, int bsz, uint64_t seed, int64_t epoch, int shuffle)
{
	(void)t, (void)bsz, (void)seed, (void)epoch, (void)shuffle;
	return sl_xcalloc(1, 1); /* one batch: the training part */
}

static void series_plan_free(void *plan)
{
	free(plan);
}

static int series_plan_batches(const void *plan)
{
	(void)plan;
	return 1;
}

static void series_batch(sl_task *t, const void *plan, int index, sl_batch *b)
{
	(void)plan, (void)index;
	const series_task *st = t->impl;
	int T = st->ntrain;
	memset(b, 0, sizeof *b);
	b->B = 1;
	b->T = T;
	b->din = b->dout = 1;
	b->x = sl_xmalloc((size_t)T * sizeof *b->x);
	b->y = sl_xmalloc((size_t)T * sizeof *b->y);
	for (int i = 0; i < T; i++) {
		b->x[i] = (float)st->s[i];
		b->y[i] = i < st->c.warmup ? NAN : (float)st->s[i + 1];
	}
}

static sl_tensor *predict(sl_model *m, sl_tape *tp, const float *x, int B, int T, int free_from)
{
	if (!m->kind->regress) {
		sl_errorf("a %s cannot do this task: it needs a model that regresses", m->kind->name);
		return NULL;
	}
	return m->kind->regress(m->impl, tp, x, B, T, free_from);
}

/* The mean squared error over the targets that are not NaN (a scalar
 * tensor; not differentiable: the models that regress are fitted in closed
 * form). */
static sl_tensor *series_loss(sl_task *t, sl_model *m, sl_tape *tp, const sl_batch *b, int *count)
{
	(void)t;
	sl_tensor *p = predict(m, tp, b->x, b->B, b->T, b->T);
	if (!p)
		return NULL;
	double sum = 0;
	int n = 0;
	for (size_t i = 0; i < (size_t)b->B * b->T * b->dout; i++)
		if (!isnan(b->y[i])) {
			double d = (double)p->data[i] - b->y[i];
			sum += d * d;
			n++;
		}
	sl_tensor *l = sl_tape_tensor(tp, 1, (int[]){ 1 });
	l->data[0] = n ? (float)(sum / n) : NAN;
	*count = n;
	return l;
}

static int series_fit(sl_task *t, sl_model *m, const sl_batch *b)
{
	(void)t;
	if (!sl_model_fits(m)) {
		sl_errorf("a %s is not fitted in closed form", m->kind->name);
		return SL_ERR;
	}
	sl_fit_batch f = { .B = b->B, .T = b->T, .x = b->x, .y = b->y, .din = b->din, .dout = b->dout,
			   .pool = b->pool };
	return m->kind->fit_add(m->impl, &f);
}

/* The predictions for the whole series (L - 1) in the task's mode, on tp
 * (gradients off); NULL with the error set. */
static sl_tensor *predict_all(sl_task *t, sl_model *m, sl_tape *tp)
{
	const series_task *st = t->impl;
	int T = st->L - 1;
	float *x = sl_xmalloc((size_t)T * sizeof *x);
	for (int i = 0; i < T; i++)
		x[i] = (float)st->s[i];
	sl_tensor *p = predict(m, tp, x, 1, T, st->c.mode == SL_SERIES_MODE_GENERATIVE ? st->ntrain : T);
	free(x);
	return p;
}

static void series_eval(sl_task *t, sl_model *m, sl_tape *tp, sl_eval *e, sl_mistakes *mk)
{
	(void)mk;
	const series_task *st = t->impl;
	int T = st->L - 1, ge = tp->grad_enabled, tr = tp->training;
	tp->grad_enabled = 0;
	tp->training = 0;
	sl_tensor *p = predict_all(t, m, tp);
	double sum = 0;
	for (int i = st->ntrain; p && i < T; i++) {
		double d = (double)p->data[i] - st->s[i + 1];
		sum += d * d;
	}
	sl_tape_reset(tp);
	tp->grad_enabled = ge;
	tp->training = tr;
	e->val_loss = p ? sum / st->ntest : NAN;
	e->val_acc = NAN;
	e->cer = NAN;
	e->words = st->ntest;
	e->correct = 0;
}

static void series_free(sl_task *t)
{
	series_task *st = t->impl;
	free(st->s);
	free(st);
	free(t);
}

static const sl_task_ops series_ops = {
	.name = "series",
	.plan_new = series_plan_new,
	.plan_free = series_plan_free,
	.plan_batches = series_plan_batches,
	.batch = series_batch,
	.loss = series_loss,
	.fit = series_fit,
	.eval = series_eval,
	.free = series_free,
};

const double *sl_series_task_values(const sl_task *t, int *n, int *test_from)
{
	if (t->ops != &series_ops)
		return NULL;
	const series_task *st = t->impl;
	*n = st->L;
	*test_from = st->ntrain + 1;
	return st->s;
}

int sl_series_task_predict(sl_task *t, sl_model *m, sl_tape *tp, float *out)
{
	SL_ASSERT(t->ops == &series_ops);
	const series_task *st = t->impl;
	int ge = tp->grad_enabled, tr = tp->training;
	tp->grad_enabled = 0;
	tp->training = 0;
	sl_tensor *p = predict_all(t, m, tp);
	if (p)
		memcpy(out, p->data, (size_t)(st->L - 1) * sizeof *out);
	sl_tape_reset(tp);
	tp->grad_enabled = ge;
	tp->training = tr;
	return p ? SL_OK : SL_ERR;
}

/* ---- the task kind ---- */

static const char *const systems[] = { "mackey-glass", NULL };
static const char *const modes[] = { "forecast", "generative", NULL };

#define OFF(f) offsetof(sl_series_config, f)
static const sl_optspec series_options[] = {
	{ "system", SL_OPT_ENUM, OFF(system), "mackey-glass", 0, 0, systems,
	  "the series (may be given bare: task series mackey-glass)" },
	{ "length", SL_OPT_INT, OFF(length), "2000", 10, 10000000, NULL, "values in the series" },
	{ "tau", SL_OPT_INT, OFF(tau), "17", 0, 100000, NULL, "Mackey-Glass delay τ" },
	{ "a", SL_OPT_FLOAT, OFF(a), "0.2", -1e6, 1e6, NULL, "Mackey-Glass a" },
	{ "b", SL_OPT_FLOAT, OFF(b), "0.1", -1e6, 1e6, NULL, "Mackey-Glass b" },
	{ "n", SL_OPT_FLOAT, OFF(n), "10", 0, 1000, NULL, "Mackey-Glass exponent n" },
	{ "x0", SL_OPT_FLOAT, OFF(x0), "1.2", -1e6, 1e6, NULL, "the first value (the history is x0 + 0.2(U - 0.5))" },
	{ "h", SL_OPT_FLOAT, OFF(h), "1", 1e-6, 1e6, NULL, "the integration step" },
	{ "test", SL_OPT_FLOAT, OFF(test), "0.2", 0, 0.9, NULL, "the fraction of the series held out at its end" },
	{ "warmup", SL_OPT_INT, OFF(warmup), "100", 0, 10000000, NULL,
	  "leading training positions run but not fitted" },
	{ "mode", SL_OPT_ENUM, OFF(mode), "forecast", 0, 0, modes,
	  "forecast: every input is the true value; generative: from the test part on, the model's own output" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

static sl_task *series_create(void *cfg, uint64_t given, uint64_t seed, char *info, size_t n)
{
	(void)given;
	sl_series_config *c = cfg;
	int L = c->length;
	int ntest = (int)floor((double)c->test * L + 0.5);
	if (ntest < 1) {
		sl_errorf("test=%g holds out no value of length=%d", (double)c->test, L);
		return NULL;
	}
	int ntrain = L - 1 - ntest;
	if (c->warmup >= ntrain) {
		sl_errorf("warmup=%d leaves nothing to fit in the %d training positions (length=%d test=%g)", c->warmup,
			  ntrain, L, (double)c->test);
		return NULL;
	}
	int hl = sl_mackey_glass_history_len(c->tau, c->h);
	double *hist = sl_xmalloc((size_t)(hl > 0 ? hl : 1) * sizeof *hist);
	sl_rng root, hr;
	sl_rng_seed(&root, seed);
	hr = sl_rng_split_str(&root, "history");
	sl_mackey_glass_history(hl, c->x0, &hr, hist);
	series_task *st = sl_xcalloc(1, sizeof *st);
	st->c = *c;
	st->L = L;
	st->ntrain = ntrain;
	st->ntest = ntest;
	st->s = sl_xmalloc((size_t)L * sizeof *st->s);
	sl_mackey_glass(L, c->tau, c->a, c->b, c->n, c->x0, c->h, hist, st->s);
	free(hist);
	for (int i = 0; i < L; i++)
		if (!isfinite(st->s[i])) {
			free(st->s);
			free(st);
			sl_errorf("the series is not finite at step %d: these a, b, n, h diverge", i);
			return NULL;
		}
	double mean = 0, var = 0;
	for (int i = ntrain + 1; i < L; i++)
		mean += st->s[i];
	mean /= ntest;
	for (int i = ntrain + 1; i < L; i++)
		var += (st->s[i] - mean) * (st->s[i] - mean);
	var /= ntest;
	sl_task *t = sl_xcalloc(1, sizeof *t);
	t->ops = &series_ops;
	t->impl = st;
	t->shape.vocab = 1;
	t->shape.maxlen = L;
	t->shape.din = t->shape.dout = 1;
	t->target_var = var;
	snprintf(info, n,
		 "task=series system=%s length=%d train=%d test=%d warmup=%d mode=%s test_var=%.6g seed=%llu",
		 systems[c->system], L, ntrain, ntest, c->warmup, modes[c->mode], var, (unsigned long long)seed);
	return t;
}

static int64_t series_bytes(const void *cfg)
{
	const sl_series_config *c = cfg;
	return (int64_t)c->length * 24;
}

const sl_task_kind sl_task_series = {
	.name = "series",
	.summary = "time-series forecasting: Mackey-Glass (as reservoirpy makes it), one step ahead or free running",
	.options = series_options,
	.cfg_size = sizeof(sl_series_config),
	.create = series_create,
	.bytes = series_bytes,
};
