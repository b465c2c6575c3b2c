/* test_determinism.c - the same seeded training run twice gives the same bits.
 *
 * An MLP wide enough for the threaded kernels (batch 256, hidden 128: every
 * sl_linear is above SL_PAR_MIN_WORK), with dropout, AdamW, clipping,
 * gradient accumulation and a warmup+cosine schedule, trained on shuffled
 * mini-batches of two spirals. Runs twice on a 1-thread pool and twice on a
 * 2-thread pool: the per-micro-step losses and the final parameters must be
 * bit-identical within each thread count (DESIGN.md: same seed + same thread
 * count => same bits). Whether 1 and 2 threads agree is reported, not required. */
#include "tap.h"

#include "seqlab/ops.h"
#include "seqlab/optim.h"
#include "seqlab/params.h"
#include "seqlab/sched.h"

#include <string.h>

#define HIDDEN 128
#define BATCH 256
#define NPOINTS 1024
#define ACCUM 2
#define UPDATES 60
#define MICRO (UPDATES * ACCUM)
#define DROPOUT 0.1f

typedef struct result {
	float loss[MICRO];
	float *params;      /* (total) */
	float *m, *v;       /* optimizer moments */
	size_t total;
	float norm[UPDATES];
	uint64_t dropouts;   /* dropout ops applied in the last micro-step */
} result;

static void spirals(sl_rng *r, int n, float *x, int32_t *y)
{
	for (int i = 0; i < n; i++) {
		int c = i % 2;
		double t = sl_rng_double(r);
		double rad = 0.1 + 0.9 * t, th = 4.0 * M_PI * t + c * M_PI;
		x[2 * i] = (float)(rad * cos(th) + 0.04 * sl_rng_normal(r));
		x[2 * i + 1] = (float)(rad * sin(th) + 0.04 * sl_rng_normal(r));
		y[i] = c;
	}
}

static void run(uint64_t seed, int threads, result *res)
{
	sl_rng root, init, data;
	sl_rng_seed(&root, seed);
	init = sl_rng_split_str(&root, "init");
	data = sl_rng_split_str(&root, "data");
	uint64_t dropout_key = sl_rng_u64(&root);

	static float x[2 * NPOINTS];
	static int32_t y[NPOINTS];
	spirals(&data, NPOINTS, x, y);

	sl_params *ps = sl_params_new();
	int s1[2] = { HIDDEN, 2 }, s2[2] = { HIDDEN, HIDDEN }, s3[2] = { 2, HIDDEN }, sh[1] = { HIDDEN },
	    so[1] = { 2 };
	sl_tensor *w1 = sl_params_add(ps, "l1.w", 2, s1, 0);
	sl_tensor *b1 = sl_params_add(ps, "l1.b", 1, sh, SL_PARAM_NO_DECAY);
	sl_tensor *w2 = sl_params_add(ps, "l2.w", 2, s2, 0);
	sl_tensor *b2 = sl_params_add(ps, "l2.b", 1, sh, SL_PARAM_NO_DECAY);
	sl_tensor *w3 = sl_params_add(ps, "l3.w", 2, s3, 0);
	sl_tensor *b3 = sl_params_add(ps, "l3.b", 1, so, SL_PARAM_NO_DECAY);
	sl_params_alloc(ps);
	sl_init_normal(w1, &init, 0.0f, 0.7f);
	sl_init_normal(w2, &init, 0.0f, 1.0f / sqrtf(HIDDEN));
	sl_init_normal(w3, &init, 0.0f, 1.0f / sqrtf(HIDDEN));
	sl_init_const(b1, 0.01f);
	sl_init_const(b2, 0.0f);
	sl_init_const(b3, 0.0f);

	sl_pool *pool = sl_pool_new(threads);
	sl_arena *arena = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(arena, pool);
	tp->training = 1;
	sl_optim_config cfg = sl_optim_defaults(SL_OPTIM_ADAMW);
	cfg.lr = 3e-3f;
	cfg.clip = 0.5f;
	cfg.accum = ACCUM;
	sl_optim *opt = sl_optim_new(&cfg, ps, pool);
	sl_sched sch;
	sl_sched_init(&sch, SL_SCHED_COSINE, cfg.lr);
	sch.warmup = 5;
	sch.total = UPDATES;

	int order[NPOINTS], pos = NPOINTS;
	static float xb[2 * BATCH];
	static int32_t yb[BATCH];
	int shape[2] = { BATCH, 2 };
	for (int k = 0; k < MICRO; k++) {
		/* a shuffled mini-batch; reshuffle each epoch */
		if (pos + BATCH > NPOINTS) {
			for (int i = 0; i < NPOINTS; i++)
				order[i] = i;
			sl_rng_shuffle(&data, order, NPOINTS);
			pos = 0;
		}
		for (int i = 0; i < BATCH; i++, pos++) {
			xb[2 * i] = x[2 * order[pos]];
			xb[2 * i + 1] = x[2 * order[pos] + 1];
			yb[i] = y[order[pos]];
		}
		tp->dropout_key = sl_hash64(dropout_key + (uint64_t)k);
		sl_tensor *in = sl_tape_tensor(tp, 2, shape);
		memcpy(in->data, xb, sizeof xb);
		sl_tensor *h = sl_tanh(tp, sl_linear(tp, in, w1, b1));
		h = sl_dropout(tp, h, DROPOUT);
		h = sl_relu(tp, sl_linear(tp, h, w2, b2));
		h = sl_dropout(tp, h, DROPOUT);
		sl_tensor *loss = sl_cross_entropy(tp, sl_linear(tp, h, w3, b3), yb, -1, NULL);
		res->loss[k] = loss->data[0];
		res->dropouts = tp->dropout_count;
		sl_tape_backward(tp, loss);
		opt->lr = (float)sl_sched_lr(&sch, opt->step);
		if (sl_optim_step(opt) == 1)
			res->norm[opt->step - 1] = opt->grad_norm;
		sl_tape_reset(tp);
	}

	res->total = ps->total;
	res->params = sl_xmalloc(ps->total * sizeof(float));
	res->m = sl_xmalloc(ps->total * sizeof(float));
	res->v = sl_xmalloc(ps->total * sizeof(float));
	memcpy(res->params, ps->data, ps->total * sizeof(float));
	memcpy(res->m, opt->m, ps->total * sizeof(float));
	memcpy(res->v, opt->v, ps->total * sizeof(float));

	sl_optim_free(opt);
	sl_tape_free(tp);
	sl_arena_free(arena);
	sl_pool_free(pool);
	sl_params_free(ps);
}

static int same(const result *a, const result *b)
{
	size_t bytes = a->total * sizeof(float);
	return a->total == b->total && memcmp(a->loss, b->loss, sizeof a->loss) == 0 &&
	       memcmp(a->norm, b->norm, sizeof a->norm) == 0 && memcmp(a->params, b->params, bytes) == 0 &&
	       memcmp(a->m, b->m, bytes) == 0 && memcmp(a->v, b->v, bytes) == 0;
}

static void result_free(result *r)
{
	free(r->params);
	free(r->m);
	free(r->v);
}

int main(void)
{
	static result r[5];
	run(7, 1, &r[0]);
	run(7, 1, &r[1]);
	run(7, 2, &r[2]);
	run(7, 2, &r[3]);
	run(8, 1, &r[4]);

	int finite = 1;
	for (int k = 0; k < MICRO; k++)
		finite &= isfinite(r[0].loss[k]);
	TAP_OK(finite, "losses finite");
	TAP_OK(r[0].dropouts == 2, "dropout active (%llu ops per step)", (unsigned long long)r[0].dropouts);
	/* it trains: the last updates' mean loss is below the first ones' */
	double early = 0.0, late = 0.0;
	for (int k = 0; k < 8; k++) {
		early += r[0].loss[k] / 8;
		late += r[0].loss[MICRO - 8 + k] / 8;
	}
	TAP_OK(late < early, "loss falls: first 8 micro-batches %.4f, last 8 %.4f", early, late);
	TAP_OK(same(&r[0], &r[1]), "1 thread: two runs bit-identical (losses, norms, params, moments)");
	TAP_OK(same(&r[2], &r[3]), "2 threads: two runs bit-identical (losses, norms, params, moments)");
	TAP_OK(!same(&r[0], &r[4]), "another seed gives another run");
	int cross = same(&r[0], &r[2]);
	int first_diff = -1;
	for (int k = 0; k < MICRO && first_diff < 0; k++)
		if (memcmp(&r[0].loss[k], &r[2].loss[k], sizeof(float)) != 0)
			first_diff = k;
	tap_diag("1 vs 2 threads: %s (first differing loss: %d; final loss %.9g vs %.9g)",
		 cross ? "bit-identical" : "differ", first_diff, (double)r[0].loss[MICRO - 1],
		 (double)r[2].loss[MICRO - 1]);
	for (int i = 0; i < 5; i++)
		result_free(&r[i]);
	return tap_done();
}
