/* test_train.c - the pieces of Pig-Latin training fit: a tiny Transformer
 * trained for a few seconds on short dictionary words translates held-out
 * words; a NaN is caught and skipped; training is deterministic. */
#include "seqlab/piglatin.h"
#include "seqlab/run.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sl_pl_data *short_words(int n, uint64_t seed)
{
	FILE *f = fopen("/usr/share/dict/words", "r");
	if (!f)
		return NULL;
	static char buf[20000][8];
	const char *list[20000];
	int k = 0;
	char line[64];
	while (k < 20000 && fgets(line, sizeof line, f)) {
		size_t len = strcspn(line, "\n");
		line[len] = 0;
		int ok = len >= 3 && len <= 5;
		for (size_t i = 0; i < len; i++)
			ok &= line[i] >= 'a' && line[i] <= 'z';
		if (ok) {
			strcpy(buf[k], line);
			list[k] = buf[k];
			k++;
		}
	}
	fclose(f);
	sl_pl_data *all = sl_pl_from_list(list, k, seed, 0);
	/* keep a deterministic subset of n */
	if (all && all->n > n) {
		const char *sub[20000];
		for (int i = 0; i < n; i++)
			sub[i] = all->src[(int)((long long)i * all->n / n)];
		sl_pl_data *d = sl_pl_from_list(sub, n, seed, 0);
		sl_pl_data_free(all);
		return d;
	}
	return all;
}

static sl_run *tiny_run(sl_task *task, sl_pool *pool, uint64_t seed, int epochs, int accum)
{
	const char *keys[] = { "hidden", "heads", "enc", "dec", "mlp" };
	const char *vals[] = { "32", "4", "1", "1", "2" };
	sl_rng root;
	sl_rng_seed(&root, seed);
	sl_rng init = sl_rng_split_str(&root, "init");
	sl_model *m = sl_model_new(sl_model_kind_find("transformer"), keys, vals, 5, &task->shape, &init);
	sl_optim_config oc = sl_optim_defaults(SL_OPTIM_ADAMW);
	oc.lr = 1e-2f;
	oc.clip = 1;
	oc.accum = accum;
	sl_sched s;
	sl_sched_init(&s, SL_SCHED_COSINE, 1e-2);
	s.warmup = 20;
	void *p = task->ops->plan_new(task, 32, seed, 0, 1);
	s.total = (int64_t)epochs * task->ops->plan_batches(p);
	task->ops->plan_free(p);
	sl_run *r = sl_run_new("tiny", m, task, &oc, &s, 32, 1, seed, pool);
	if (!r)
		printf("# %s\n", sl_error());
	return r;
}

int main(void)
{
	if (access("/usr/share/dict/words", R_OK) != 0) {
		printf("ok 1 # SKIP no /usr/share/dict/words (Debian package wamerican)\n1..1\n");
		return 0;
	}
	sl_pl_data *d = short_words(3000, 1);
	TAP_OK(d && d->n == 3000, "3000 short words");
	sl_task *task = sl_pl_task_new(d, "short words");
	sl_task_ref(task);
	sl_pool *pool = sl_pool_new(2);
	int epochs = 10, failed = 0;
	sl_run *r = tiny_run(task, pool, 7, epochs, 1);
	sl_eval e = { 0 };
	double t0 = sl_now();
	while (r->epoch < epochs) {
		int end;
		if (sl_run_step(r, pool, &end) != SL_OK && !failed++)
			tap_diag("step %lld: %s", (long long)r->step, sl_error());
		if (end)
			sl_run_eval(r, pool, &e);
	}
	TAP_OK(!failed, "%lld training steps without error", (long long)r->step);
	tap_diag("after %d epochs (%lld steps, %.1f s): loss %.3f val_loss %.3f val_acc %.3f cer %.3f", epochs,
		 (long long)r->step, sl_now() - t0, e.train_loss, e.val_loss, e.val_acc, e.cer);
	TAP_OK(e.val_acc >= 0.80, "a tiny transformer learns Pig-Latin: held-out word accuracy %.3f >= 0.80", e.val_acc);
	TAP_OK(e.val_loss < r->evals[0].val_loss, "validation loss fell (%.3f -> %.3f)", r->evals[0].val_loss, e.val_loss);
	char out[64];
	TAP_OK(sl_pl_translate(task, r->model, r->tape, "Sh0p!", 1, out, sizeof out) == SL_ERR &&
		       strstr(sl_error(), "Sh0p!"),
	       "translate refuses a word outside the vocabulary: %s", sl_error());
	TAP_OK(sl_pl_translate(task, r->model, r->tape, "shop", 1, out, sizeof out) == SL_OK && strlen(out) > 0,
	       "translate shop -> %s", out);
	TAP_OK(r->mistakes.n == e.words - e.correct, "the mistakes of the last evaluation are kept (%d)", r->mistakes.n);

	/* determinism: the same seed gives bit-identical losses */
	sl_run *a = tiny_run(task, pool, 3, 2, 1), *b = tiny_run(task, pool, 3, 2, 1);
	for (int i = 0; i < 60; i++) {
		int end;
		sl_run_step(a, pool, &end);
		sl_run_step(b, pool, &end);
	}
	TAP_OK(a->nsteps == 60 && memcmp(a->loss, b->loss, 60 * sizeof(float)) == 0 &&
		       memcmp(a->model->ps->data, b->model->ps->data, a->model->ps->total * sizeof(float)) == 0,
	       "two seeded runs give bit-identical losses and weights");

	/* the NaN guard: a poisoned weight gives a non-finite loss, skipped */
	sl_tensor *ob = sl_params_find(a->model->ps, "out.b");
	float keep = ob->data[0];
	ob->data[0] = NAN;
	int64_t step = a->step;
	int end;
	int st = sl_run_step(a, pool, &end);
	TAP_OK(st == SL_ERR && strstr(sl_error(), "non-finite") && a->step == step,
	       "a non-finite loss skips the update: %s", sl_error());
	ob->data[0] = keep;
	TAP_OK(sl_run_step(a, pool, &end) == SL_OK, "training goes on afterwards");

	/* divergence: back to the last good state, and from there training is
	 * exactly what it would have been */
	sl_run *x = tiny_run(task, pool, 11, 2, 1);
	for (int i = 0; i < 20; i++)
		sl_run_step(x, pool, &end);
	TAP_OK(sl_run_mark_good(x) == SL_OK, "the state at step 20 is marked good");
	size_t nw = x->model->ps->total;
	float *w20 = malloc(nw * sizeof *w20), *m20 = malloc(nw * sizeof *m20), *l30 = malloc(10 * sizeof *l30);
	float *w30 = malloc(nw * sizeof *w30);
	memcpy(w20, x->model->ps->data, nw * sizeof *w20);
	memcpy(m20, x->opt->m, nw * sizeof *m20);
	int64_t epoch20 = x->epoch;
	int batch20 = x->batch;
	for (int i = 0; i < 10; i++)
		sl_run_step(x, pool, &end);
	memcpy(l30, x->loss + 20, 10 * sizeof *l30);
	memcpy(w30, x->model->ps->data, nw * sizeof *w30);
	sl_tensor *xb = sl_params_find(x->model->ps, "out.b");
	xb->data[1] = INFINITY; /* a weight blown up by a too large step */
	st = sl_run_step(x, pool, &end);
	TAP_OK(st == SL_ERR && !strcmp(sl_error(), "non-finite loss (nan) at step 31; update skipped"),
	       "the error names the step that failed (31, counting from 1) and the cause: %s", sl_error());
	TAP_OK(sl_run_mark_good(x) == SL_ERR, "a state with a non-finite weight is not marked good");
	int64_t back = sl_run_rollback(x);
	TAP_OK(back == 20 && x->step == 20 && x->nsteps == 20 && x->epoch == epoch20 && x->batch == batch20 &&
		       x->opt->step == 20 && !memcmp(x->model->ps->data, w20, nw * sizeof *w20) &&
		       !memcmp(x->opt->m, m20, nw * sizeof *m20),
	       "rollback restores the weights, moments, cursor and history of step 20 (got step %lld)", (long long)back);
	int ok10 = 1;
	for (int i = 0; i < 10; i++)
		ok10 &= sl_run_step(x, pool, &end) == SL_OK;
	TAP_OK(ok10 && !memcmp(x->loss + 20, l30, 10 * sizeof *l30) && !memcmp(x->model->ps->data, w30, nw * sizeof *w30),
	       "after the rollback, 10 steps give bit-identical losses and weights to the first time");
	sl_optim_config oc2 = x->ocfg;
	TAP_OK(sl_run_set_optim(x, &oc2, &x->sched, pool) == SL_OK && sl_run_rollback(x) == -1,
	       "a new optimizer forgets the good state (its moments are gone)");
	free(w20);
	free(m20);
	free(w30);
	free(l30);
	sl_run_free(x);

	/* gradient accumulation: one run step of accum=2 reads two batches and
	 * applies exactly one update, from their mean gradient */
	sl_run *c = tiny_run(task, pool, 5, 2, 2);
	size_t np = c->model->ps->total;
	float *w0 = malloc(np * sizeof *w0);
	memcpy(w0, c->model->ps->data, np * sizeof *w0);
	st = sl_run_step(c, pool, &end);
	size_t changed = 0;
	for (size_t i = 0; i < np; i++)
		changed += c->model->ps->data[i] != w0[i];
	TAP_OK(st == SL_OK && c->step == 1 && c->batch == 2 && c->opt->step == 1 && c->opt->micro == 0 && changed > np / 2,
	       "accum=2: one step reads 2 batches and applies 1 update (%zu of %zu weights moved)", changed, np);
	for (int i = 0; i < 9; i++)
		sl_run_step(c, pool, &end);
	TAP_OK(c->step == 10 && c->opt->step == 10 && c->batch == 20, "accum=2: 10 steps, 10 updates, 20 batches");
	free(w0);
	sl_run_free(c);
	sl_run_free(a);
	sl_run_free(b);
	sl_run_free(r);
	sl_pool_free(pool);
	TAP_OK(task->refs == 1, "runs released their task references");
	sl_task_unref(task);
	return tap_done();
}
