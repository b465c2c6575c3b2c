/* run.c - the training state machine. */
#include "seqlab/run.h"
#include "seqlab/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The last good state of a run (sl_run_mark_good). */
struct sl_run_good {
	int64_t step, epoch, words_trained;
	int batch, nsteps, nevals;
	double tokens_since_eval, loss_sum_since_eval;
	sl_sched sched;
	int64_t ostep, oskipped;
	float olr, ograd_norm;
	int oclipped;
	const sl_optim *opt; /* the optimizer whose moments these are */
	float *params, *m, *v; /* (total) */
	sl_mistakes mistakes;
};

void sl_run_forget_good(sl_run *r)
{
	struct sl_run_good *g = r->good;
	if (!g)
		return;
	free(g->params);
	free(g->m);
	free(g->v);
	sl_mistakes_clear(&g->mistakes);
	free(g);
	r->good = NULL;
}

static int all_finite(const float *x, size_t n)
{
	/* one pass, no early exit: x - x is 0 for finite x, nan otherwise */
	float acc = 0.0f;
	for (size_t i = 0; i < n; i++)
		acc += x[i] - x[i];
	return acc == 0.0f;
}

static void copy_mistakes(sl_mistakes *to, const sl_mistakes *from)
{
	sl_mistakes_clear(to);
	for (int i = 0; i < from->n; i++)
		sl_mistakes_add(to, from->src[i], from->out[i], from->want[i]);
}

int sl_run_mark_good(sl_run *r)
{
	const sl_params *ps = r->model->ps;
	const sl_optim *o = r->opt;
	size_t n = ps->total;
	if (!all_finite(ps->data, n) || (o->m && !all_finite(o->m, n)) || (o->v && !all_finite(o->v, n))) {
		sl_errorf("run %s: a weight or moment is not finite", r->name);
		return SL_ERR;
	}
	struct sl_run_good *g = r->good;
	if (g && g->opt != o) { /* another optimizer: other moment buffers */
		sl_run_forget_good(r);
		g = NULL;
	}
	if (!g) {
		g = sl_xcalloc(1, sizeof *g);
		g->params = sl_xmalloc((n ? n : 1) * sizeof(float));
		g->m = o->m ? sl_xmalloc((n ? n : 1) * sizeof(float)) : NULL;
		g->v = o->v ? sl_xmalloc((n ? n : 1) * sizeof(float)) : NULL;
		g->opt = o;
		r->good = g;
	}
	memcpy(g->params, ps->data, n * sizeof(float));
	if (o->m)
		memcpy(g->m, o->m, n * sizeof(float));
	if (o->v)
		memcpy(g->v, o->v, n * sizeof(float));
	g->step = r->step;
	g->epoch = r->epoch;
	g->batch = r->batch;
	g->words_trained = r->words_trained;
	g->nsteps = r->nsteps;
	g->nevals = r->nevals;
	g->tokens_since_eval = r->tokens_since_eval;
	g->loss_sum_since_eval = r->loss_sum_since_eval;
	g->sched = r->sched;
	g->ostep = o->step;
	g->oskipped = o->skipped;
	g->olr = o->lr;
	g->ograd_norm = o->grad_norm;
	g->oclipped = o->clipped;
	copy_mistakes(&g->mistakes, &r->mistakes);
	return SL_OK;
}

static void drop_plan(sl_run *r);

int64_t sl_run_rollback(sl_run *r)
{
	struct sl_run_good *g = r->good;
	if (!g || g->opt != r->opt)
		return -1;
	sl_params *ps = r->model->ps;
	sl_optim *o = r->opt;
	size_t n = ps->total;
	memcpy(ps->data, g->params, n * sizeof(float));
	if (o->m)
		memcpy(o->m, g->m, n * sizeof(float));
	if (o->v)
		memcpy(o->v, g->v, n * sizeof(float));
	sl_params_zero_grad(ps);
	o->micro = 0;
	o->step = g->ostep;
	o->skipped = g->oskipped;
	o->lr = g->olr;
	o->grad_norm = g->ograd_norm;
	o->clipped = g->oclipped;
	if (r->epoch != g->epoch)
		drop_plan(r); /* the plan of the good state's epoch is rebuilt from (seed, epoch) */
	r->step = g->step;
	r->epoch = g->epoch;
	r->batch = g->batch;
	r->words_trained = g->words_trained;
	r->nsteps = g->nsteps;
	r->nevals = g->nevals;
	r->tokens_since_eval = g->tokens_since_eval;
	r->loss_sum_since_eval = g->loss_sum_since_eval;
	r->sched = g->sched;
	copy_mistakes(&r->mistakes, &g->mistakes);
	return r->step;
}

int sl_run_set_optim(sl_run *r, const sl_optim_config *ocfg, const sl_sched *sched, sl_pool *pool)
{
	if (sl_sched_check(sched) != SL_OK)
		return SL_ERR;
	sl_optim *o = sl_optim_new(ocfg, r->model->ps, pool);
	if (!o)
		return SL_ERR;
	sl_run_forget_good(r);
	sl_optim_free(r->opt);
	r->opt = o;
	r->ocfg = *ocfg;
	r->sched = *sched;
	return SL_OK;
}

sl_run *sl_run_new(const char *name, sl_model *model, sl_task *task, const sl_optim_config *ocfg,
		   const sl_sched *sched, int bsz, int shuffle, uint64_t seed, sl_pool *pool)
{
	sl_run *r = sl_xcalloc(1, sizeof *r);
	snprintf(r->name, sizeof r->name, "%s", name);
	r->model = model;
	r->bsz = bsz;
	r->shuffle = shuffle;
	r->seed = seed;
	if (sl_run_set_optim(r, ocfg, sched, pool) != SL_OK) {
		r->model = NULL; /* the caller keeps it on failure */
		sl_run_free(r);
		return NULL;
	}
	r->task = task;
	sl_task_ref(task);
	r->arena = sl_arena_new(8u << 20);
	r->forecast_step = -1;
	r->tape = sl_tape_new(r->arena, pool);
	return r;
}

static void drop_plan(sl_run *r)
{
	if (r->plan)
		r->task->ops->plan_free(r->plan);
	r->plan = NULL;
}

int sl_run_unsaved(const sl_run *r)
{
	return r->step > 0 && r->step != r->saved_step;
}

void sl_run_free(sl_run *r)
{
	if (!r)
		return;
	drop_plan(r);
	sl_run_forget_good(r);
	sl_model_free(r->model);
	sl_optim_free(r->opt);
	if (r->task)
		sl_task_unref(r->task);
	sl_tape_free(r->tape);
	sl_arena_free(r->arena);
	free(r->loss);
	free(r->lr);
	free(r->len);
	free(r->len_acc);
	free(r->evals);
	free(r->forecast);
	sl_mistakes_clear(&r->mistakes);
	free(r);
}

int sl_run_epoch_batches(const sl_run *r, int bsz)
{
	if (sl_model_fits(r->model))
		return 1; /* a closed-form fit takes the whole epoch in one step */
	void *p = r->task->ops->plan_new(r->task, bsz, r->seed, r->epoch, r->shuffle);
	int n = r->task->ops->plan_batches(p);
	r->task->ops->plan_free(p);
	return n;
}

static void record_step(sl_run *r, float loss, float lr)
{
	if (r->nsteps == r->capsteps) {
		r->capsteps = r->capsteps ? 2 * r->capsteps : 1024;
		r->loss = sl_xrealloc(r->loss, (size_t)r->capsteps * sizeof *r->loss);
		r->lr = sl_xrealloc(r->lr, (size_t)r->capsteps * sizeof *r->lr);
	}
	r->loss[r->nsteps] = loss;
	r->lr[r->nsteps] = lr;
	r->nsteps++;
}

/* A model fitted in closed form (an echo-state network's read-out): one
 * step adds every batch of the epoch's plan to the fit and solves it. Its
 * loss: on a regression task (real targets) the mean squared error of the
 * fit, which is the task's loss, from the fit's own sums; otherwise the
 * task's loss on the epoch's last batch after the fit. */
static int fit_step(sl_run *r, sl_pool *pool, int *epoch_end)
{
	const sl_task_ops *ops = r->task->ops;
	sl_model *m = r->model;
	double t0 = sl_now();
	*epoch_end = 0;
	if (!ops->fit) {
		sl_errorf("a %s is fitted in closed form, and task %s has no data for such a fit", m->kind->name,
			  ops->name);
		return SL_ERR;
	}
	r->tape->pool = pool;
	drop_plan(r);
	r->plan = ops->plan_new(r->task, r->bsz, r->seed, r->epoch, r->shuffle);
	int nb = ops->plan_batches(r->plan), st = SL_OK;
	int64_t seqs = 0;
	for (int i = 0; i < nb && st == SL_OK; i++) {
		sl_batch b;
		ops->batch(r->task, r->plan, i, &b);
		b.pool = pool;
		st = ops->fit(r->task, m, &b);
		seqs += b.B;
		sl_batch_free(&b);
	}
	double mse = NAN;
	if (st == SL_OK)
		st = m->kind->fit_solve(m->impl, &mse);
	float loss = NAN;
	int count = 0;
	if (st == SL_OK && r->task->shape.dout > 0) {
		loss = (float)mse;
		count = 1;
	} else if (st == SL_OK && nb > 0) {
		sl_batch b;
		ops->batch(r->task, r->plan, nb - 1, &b);
		sl_tape_reset(r->tape);
		r->tape->training = 0;
		r->tape->grad_enabled = 0;
		sl_tensor *l = ops->loss(r->task, m, r->tape, &b, &count);
		st = l ? SL_OK : SL_ERR;
		if (l)
			loss = l->data[0];
		sl_batch_free(&b);
		sl_tape_reset(r->tape);
	}
	r->seconds += sl_now() - t0;
	if (st != SL_OK)
		return SL_ERR;
	float lr = (float)sl_sched_lr(&r->sched, r->step);
	record_step(r, loss, lr);
	r->loss_sum_since_eval += (double)loss * count;
	r->tokens_since_eval += count;
	r->words_trained += seqs;
	r->step++;
	r->batch = 0;
	r->epoch++;
	drop_plan(r);
	*epoch_end = 1;
	return SL_OK;
}

int sl_run_step(sl_run *r, sl_pool *pool, int *epoch_end)
{
	if (sl_model_fits(r->model))
		return fit_step(r, pool, epoch_end);
	const sl_task_ops *ops = r->task->ops;
	double t0 = sl_now();
	*epoch_end = 0;
	r->tape->pool = pool;
	r->opt->pool = pool;
	double loss_sum = 0, tokens = 0;
	int bad = 0, st = 0;
	float bad_loss = 0;
	float lr = (float)sl_sched_lr(&r->sched, r->step);
	r->opt->lr = lr;
	/* One sl_optim_step() per micro-batch (its contract): the first accum-1
	 * calls only count, the last divides the summed gradient and updates. */
	for (int micro = 0; micro < r->ocfg.accum; micro++) {
		if (!r->plan)
			r->plan = ops->plan_new(r->task, r->bsz, r->seed, r->epoch, r->shuffle);
		sl_batch b;
		ops->batch(r->task, r->plan, r->batch, &b);
		sl_tape_reset(r->tape);
		r->tape->training = 1;
		r->tape->grad_enabled = 1;
		r->tape->dropout_key = sl_hash64(r->seed ^ sl_hash64((uint64_t)r->step * 64 + (uint64_t)micro));
		int count = 0;
		sl_tensor *loss = ops->loss(r->task, r->model, r->tape, &b, &count);
		if (!loss) {
			sl_batch_free(&b);
			sl_tape_reset(r->tape);
			return SL_ERR;
		}
		float lv = loss->data[0];
		if (!isfinite(lv)) {
			bad = 1;
			bad_loss = lv;
		} else {
			sl_tape_backward(r->tape, loss);
			st = sl_optim_step(r->opt);
			loss_sum += (double)lv * count;
			tokens += count;
			r->words_trained += b.B;
		}
		sl_batch_free(&b);
		sl_tape_reset(r->tape);
		if (++r->batch >= ops->plan_batches(r->plan)) {
			r->batch = 0;
			r->epoch++;
			drop_plan(r);
			*epoch_end = 1;
		}
		if (bad)
			break;
	}
	if (bad) {
		sl_params_zero_grad(r->model->ps);
		r->opt->micro = 0;
		r->seconds += sl_now() - t0;
		sl_errorf("non-finite loss (%s) at step %lld; update skipped", isnan(bad_loss) ? "nan" : "inf",
			  (long long)r->step + 1);
		return SL_ERR;
	}
	r->seconds += sl_now() - t0;
	if (st == SL_ERR) {
		sl_errorf("non-finite gradient (norm=%s) at step %lld; update skipped",
			  isnan(r->opt->grad_norm) ? "nan" : "inf", (long long)r->step + 1);
		return SL_ERR;
	}
	float mean = (float)(loss_sum / (tokens > 0 ? tokens : 1));
	record_step(r, mean, lr);
	r->loss_sum_since_eval += loss_sum;
	r->tokens_since_eval += tokens;
	r->step++;
	return SL_OK;
}

int sl_run_eval(sl_run *r, sl_pool *pool, sl_eval *out)
{
	double t0 = sl_now();
	r->tape->pool = pool;
	sl_mistakes_clear(&r->mistakes);
	sl_eval e = { 0 };
	r->task->ops->eval(r->task, r->model, r->tape, &e, &r->mistakes);
	sl_tape_reset(r->tape);
	r->seconds += sl_now() - t0;
	e.step = r->step;
	e.epoch = r->epoch;
	e.seconds = r->seconds;
	e.train_loss = r->tokens_since_eval > 0 ? r->loss_sum_since_eval / r->tokens_since_eval : NAN;
	r->loss_sum_since_eval = r->tokens_since_eval = 0;
	if (r->nevals == r->capevals) {
		r->capevals = r->capevals ? 2 * r->capevals : 64;
		r->evals = sl_xrealloc(r->evals, (size_t)r->capevals * sizeof *r->evals);
	}
	r->evals[r->nevals++] = e;
	if (r->sched.kind == SL_SCHED_PLATEAU && isfinite(e.val_loss))
		sl_sched_observe(&r->sched, e.val_loss);
	if (out)
		*out = e;
	return SL_OK;
}
