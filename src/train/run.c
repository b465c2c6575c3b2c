/* run.c - the training state machine for sequence-to-sequence runs. */
#include "seqlab/run.h"
#include "seqlab/ops.h"
#include "seqlab/optspec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_mistakes(sl_run *r)
{
	for (int i = 0; i < r->nmistakes; i++) {
		free(r->mistake_src[i]);
		free(r->mistake_out[i]);
		free(r->mistake_want[i]);
	}
	free(r->mistake_src);
	free(r->mistake_out);
	free(r->mistake_want);
	r->mistake_src = r->mistake_out = r->mistake_want = NULL;
	r->nmistakes = 0;
}

int sl_run_set_optim(sl_run *r, const sl_optim_config *ocfg, const sl_sched *sched, sl_pool *pool)
{
	if (sl_sched_check(sched) != SL_OK)
		return SL_ERR;
	sl_optim *o = sl_optim_new(ocfg, r->model->ps, pool);
	if (!o)
		return SL_ERR;
	sl_optim_free(r->opt);
	r->opt = o;
	r->ocfg = *ocfg;
	r->sched = *sched;
	return SL_OK;
}

sl_run *sl_run_new(const char *name, sl_model *model, const sl_pl_data *data, const sl_optim_config *ocfg,
		   const sl_sched *sched, int bsz, int shuffle, uint64_t seed, sl_pool *pool)
{
	sl_run *r = sl_xcalloc(1, sizeof *r);
	snprintf(r->name, sizeof r->name, "%s", name);
	r->model = model;
	r->data = data;
	r->bsz = bsz;
	r->shuffle = shuffle;
	r->seed = seed;
	if (sl_run_set_optim(r, ocfg, sched, pool) != SL_OK) {
		r->model = NULL; /* the caller keeps it on failure */
		sl_run_free(r);
		return NULL;
	}
	r->arena = sl_arena_new(8u << 20);
	r->tape = sl_tape_new(r->arena, pool);
	return r;
}

void sl_run_free(sl_run *r)
{
	if (!r)
		return;
	sl_model_free(r->model);
	sl_optim_free(r->opt);
	sl_pl_plan_free(r->plan);
	sl_tape_free(r->tape);
	sl_arena_free(r->arena);
	free(r->loss);
	free(r->lr);
	free(r->evals);
	free_mistakes(r);
	free(r);
}

int sl_run_epoch_batches(const sl_run *r)
{
	if (r->plan)
		return r->plan->nbatches;
	sl_pl_plan *p = sl_pl_plan_new(r->data, 0, r->bsz, r->seed, r->epoch, r->shuffle);
	int n = p->nbatches;
	sl_pl_plan_free(p);
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

int sl_run_step(sl_run *r, sl_pool *pool, int *epoch_end)
{
	double t0 = sl_now();
	*epoch_end = 0;
	r->tape->pool = pool;
	r->opt->pool = pool;
	double loss_sum = 0, chars = 0;
	int bad = 0;
	for (int micro = 0; micro < r->ocfg.accum; micro++) {
		if (!r->plan)
			r->plan = sl_pl_plan_new(r->data, 0, r->bsz, r->seed, r->epoch, r->shuffle);
		sl_pl_batch b;
		sl_pl_batch_fill(r->data, r->plan, r->batch, &b);
		sl_tape_reset(r->tape);
		r->tape->training = 1;
		r->tape->grad_enabled = 1;
		r->tape->dropout_key = sl_hash64(r->seed ^ sl_hash64((uint64_t)r->step * 64 + (uint64_t)micro));
		sl_tensor *logits = r->model->kind->seq2seq(r->model->impl, r->tape, b.src, b.dec, b.B, b.S, b.T + 1);
		int count = 0;
		sl_tensor *loss = sl_cross_entropy(r->tape, logits, b.out, -1, &count);
		float lv = loss->data[0];
		if (!isfinite(lv)) {
			bad = 1;
		} else {
			sl_tape_backward(r->tape, loss);
			loss_sum += (double)lv * count;
			chars += count;
			r->words_trained += b.B;
		}
		sl_pl_batch_free(&b);
		sl_tape_reset(r->tape);
		if (++r->batch >= r->plan->nbatches) {
			r->batch = 0;
			r->epoch++;
			sl_pl_plan_free(r->plan);
			r->plan = NULL;
			*epoch_end = 1;
		}
		if (bad)
			break;
	}
	if (bad) {
		sl_params_zero_grad(r->model->ps);
		r->opt->micro = 0;
		r->seconds += sl_now() - t0;
		sl_errorf("non-finite loss at step %lld; update skipped", (long long)r->step);
		return SL_ERR;
	}
	float lr = (float)sl_sched_lr(&r->sched, r->step);
	r->opt->lr = lr;
	int st = sl_optim_step(r->opt);
	r->seconds += sl_now() - t0;
	if (st == SL_ERR)
		return SL_ERR;
	float mean = (float)(loss_sum / (chars > 0 ? chars : 1));
	record_step(r, mean, lr);
	r->loss_sum_since_eval += loss_sum;
	r->chars_since_eval += chars;
	r->step++;
	return SL_OK;
}

int sl_pl_max_target(const char *src, int S)
{
	int pieces = 1;
	for (const char *p = src; *p; p++)
		pieces += *p == '-' || *p == '\'';
	return S + 3 * pieces + 1;
}

static void add_mistake(sl_run *r, int *cap, const char *src, const char *out, const char *want)
{
	if (r->nmistakes == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		r->mistake_src = sl_xrealloc(r->mistake_src, (size_t)*cap * sizeof(char *));
		r->mistake_out = sl_xrealloc(r->mistake_out, (size_t)*cap * sizeof(char *));
		r->mistake_want = sl_xrealloc(r->mistake_want, (size_t)*cap * sizeof(char *));
	}
	r->mistake_src[r->nmistakes] = sl_xstrdup(src);
	r->mistake_out[r->nmistakes] = sl_xstrdup(out);
	r->mistake_want[r->nmistakes] = sl_xstrdup(want);
	r->nmistakes++;
}

/* Decoded tokens up to EOS as a string. */
static void detok(const int32_t *tok, int len, char *out, size_t n)
{
	size_t k = 0;
	for (int i = 0; i < len && k + 1 < n; i++) {
		if (tok[i] == SL_PL_EOS)
			break;
		out[k++] = (char)sl_pl_char(tok[i]);
	}
	out[k] = 0;
}

int sl_run_eval(sl_run *r, sl_pool *pool, sl_eval *out)
{
	double t0 = sl_now();
	r->tape->pool = pool;
	sl_pl_plan *p = sl_pl_plan_new(r->data, 1, 256, r->seed, 0, 0);
	double loss_sum = 0, chars = 0, edits = 0, tchars = 0;
	int words = 0, correct = 0, cap = 0;
	free_mistakes(r);
	const sl_model_kind *k = r->model->kind;
	for (int bi = 0; bi < p->nbatches; bi++) {
		sl_pl_batch b;
		sl_pl_batch_fill(r->data, p, bi, &b);
		sl_tape_reset(r->tape);
		r->tape->training = 0;
		r->tape->grad_enabled = 0;
		sl_tensor *logits = k->seq2seq(r->model->impl, r->tape, b.src, b.dec, b.B, b.S, b.T + 1);
		int count = 0;
		sl_tensor *loss = sl_cross_entropy(r->tape, logits, b.out, -1, &count);
		loss_sum += (double)loss->data[0] * count;
		chars += count;
		sl_tape_reset(r->tape);
		int maxT = sl_pl_max_target(r->data->src[b.idx[0]], b.S);
		int32_t *dec = sl_xmalloc((size_t)b.B * maxT * sizeof *dec);
		int *len = sl_xmalloc((size_t)b.B * sizeof *len);
		k->greedy(r->model->impl, r->tape, b.src, b.B, b.S, maxT, SL_PL_SOS, SL_PL_EOS, dec, len);
		for (int i = 0; i < b.B; i++) {
			char got[4 * SL_PL_MAXLEN];
			detok(dec + (size_t)i * maxT, len[i], got, sizeof got);
			const char *want = r->data->tgt[b.idx[i]];
			words++;
			tchars += (double)strlen(want);
			if (strcmp(got, want) == 0) {
				correct++;
			} else {
				edits += sl_edit_distance(got, want);
				add_mistake(r, &cap, r->data->src[b.idx[i]], got, want);
			}
		}
		free(dec);
		free(len);
		sl_pl_batch_free(&b);
	}
	sl_tape_reset(r->tape);
	sl_pl_plan_free(p);
	r->seconds += sl_now() - t0;
	sl_eval e = { .step = r->step, .epoch = r->epoch, .seconds = r->seconds,
		      .train_loss = r->chars_since_eval > 0 ? r->loss_sum_since_eval / r->chars_since_eval : NAN,
		      .val_loss = chars > 0 ? loss_sum / chars : NAN,
		      .val_acc = words ? (double)correct / words : 0,
		      .cer = tchars > 0 ? edits / tchars : 0, .words = words, .correct = correct };
	r->loss_sum_since_eval = r->chars_since_eval = 0;
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

int sl_run_translate(sl_run *r, sl_pool *pool, const char *word, int beam, char *out, size_t n)
{
	int32_t src[SL_PL_MAXLEN];
	int S = sl_pl_encode(word, src, SL_PL_MAXLEN);
	if (S <= 0) {
		sl_errorf("'%s': a word of lowercase a-z and '-' (at most %d characters) is needed", word, SL_PL_MAXLEN);
		return SL_ERR;
	}
	r->tape->pool = pool;
	int maxT = sl_pl_max_target(word, S);
	int32_t *dec = sl_xmalloc((size_t)maxT * sizeof *dec);
	int len;
	sl_tape_reset(r->tape);
	if (beam > 1 && r->model->kind->beam)
		len = r->model->kind->beam(r->model->impl, r->tape, src, S, maxT, SL_PL_SOS, SL_PL_EOS, beam, dec);
	else
		r->model->kind->greedy(r->model->impl, r->tape, src, 1, S, maxT, SL_PL_SOS, SL_PL_EOS, dec, &len);
	sl_tape_reset(r->tape);
	detok(dec, len, out, n);
	free(dec);
	return SL_OK;
}
