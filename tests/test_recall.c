/* test_recall.c - the generated tasks and the models for them: recall's
 * generator (the query twice, the value tau after it, the label, lengths),
 * the fixed embedding against numpy, MQAR against zoology's layout on its own
 * documented example, selective copying, the batches and evaluation; RoPE
 * (gradients, scores that depend only on relative offsets); gradient checks
 * of gpt and hybrid on tiny shapes; fixed input embeddings in every LM. */
#include "seqlab/stack.h"
#include "seqlab/model.h"
#include "seqlab/recall.h"
#include "gradcheck.h"

#include <string.h>

/* ---- recall ------------------------------------------------------------------ */

static void test_recall_generator(void)
{
	static const sl_recall_config cases[] = {
		{ .K = 16, .d = 8, .M = 1, .L = 64, .tau = 1 },
		{ .K = 16, .d = 8, .M = 4, .L = 32, .tau = 5 },
		{ .K = 16, .d = 64, .M = 16, .L = 64, .tau = 10 },
		{ .K = 2, .d = 1, .M = 2, .L = 3, .tau = 1 },
	};
	for (size_t c = 0; c < SL_COUNT(cases); c++) {
		const sl_recall_config *cf = &cases[c];
		sl_rng r;
		sl_rng_seed(&r, 7 + c);
		int bad_twice = 0, bad_value = 0, bad_label = 0, bad_range = 0, bad_scored = 0, n = 0;
		int first_lo = 1 << 30, first_hi = -1, qhits[16] = { 0 };
		int32_t x[256], y[256];
		for (int len = cf->tau + 2; len <= 3 * cf->L; len += (len < 40 ? 1 : 17))
			for (int s = 0; s < 50; s++, n++) {
				sl_recall_sample(cf, &r, len, x, y);
				int32_t q = x[len - 1];
				int count = 0, at = -1, scored = 0;
				for (int p = 0; p < len; p++) {
					bad_range += x[p] < 0 || x[p] >= cf->K;
					if (x[p] == q) {
						count++;
						if (p < len - 1)
							at = p;
					}
					scored += y[p] >= 0;
				}
				bad_twice += count != 2 || q >= cf->M;
				bad_scored += scored != 1 || y[len - 1] < 0;
				if (at >= 0) {
					bad_range += at > len - cf->tau - 2;
					bad_value += x[at + cf->tau] == q;
					bad_label += y[len - 1] != x[at + cf->tau];
				}
				if (q < 16)
					qhits[q]++;
			}
		TAP_OK(!bad_twice, "recall K=%d M=%d tau=%d: the query (one of the first M) appears exactly twice "
		       "in %d sequences", cf->K, cf->M, cf->tau, n);
		TAP_OK(!bad_value && !bad_label, "recall K=%d M=%d tau=%d: the value sits tau after the first query, "
		       "differs from it, and is the label", cf->K, cf->M, cf->tau);
		TAP_OK(!bad_scored && !bad_range, "recall K=%d M=%d tau=%d: only the last position is scored; tokens in "
		       "[0, K), first query in [0, L-tau-2]", cf->K, cf->M, cf->tau);
		for (int s = 0; s < 4000; s++) {
			sl_recall_sample(cf, &r, cf->L, x, y);
			for (int p = 0; p < cf->L - 1; p++)
				if (x[p] == x[cf->L - 1]) {
					first_lo = SL_MIN(first_lo, p);
					first_hi = SL_MAX(first_hi, p);
				}
		}
		int used = 0;
		for (int q = 0; q < SL_MIN(cf->M, 16); q++)
			used += qhits[q] > 0;
		TAP_OK(used == SL_MIN(cf->M, 16), "recall M=%d: every query token occurs", cf->M);
		if (cf->L >= 32)
			TAP_OK(first_lo == 0 && first_hi == cf->L - cf->tau - 2,
			       "recall L=%d tau=%d: the first query spans [0, %d] (saw %d..%d)", cf->L, cf->tau,
			       cf->L - cf->tau - 2, first_lo, first_hi);
	}
}

/* numpy.random.seed(0); V = randn(K, d); V /= norm(V, axis=1) */
static void test_fixed_embed(int K, int d)
{
	float *V = malloc((size_t)K * d * sizeof *V);
	sl_recall_fixed_embed(K, d, V);
	double worst = 0;
	for (int k = 0; k < K; k++) {
		double s = 0;
		for (int j = 0; j < d; j++)
			s += (double)V[k * d + j] * V[k * d + j];
		worst = fmax(worst, fabs(s - 1));
	}
	TAP_OK(worst < 1e-6, "fixed embedding %dx%d: unit rows (|norm^2 - 1| <= %.1g)", K, d, worst);
	/* the first draw of numpy's seed 0 is 1.764052345967664; row 0 of
	 * randn(16, 8) normalised starts with it over its norm */
	const char *py = getenv("PYTHON3");
	if (!py || !*py) {
		printf("ok %d - fixed embedding %dx%d equals numpy's # SKIP PYTHON3 not set\n", ++tap_n, K, d);
		free(V);
		return;
	}
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
		 "'%s' -c 'import numpy' 2>/dev/null && '%s' -c 'import numpy as np\n"
		 "np.random.seed(0)\nV = np.random.randn(%d, %d)\nV = V / np.linalg.norm(V, axis=1, keepdims=True)\n"
		 "print(\"\\n\".join(\"%%.9g\" %% v for v in V.astype(np.float32).ravel()))'",
		 py, py, K, d);
	FILE *f = popen(cmd, "r");
	int n = 0, same = 0;
	float v;
	while (f && fscanf(f, "%f", &v) == 1) {
		if (n < K * d)
			same += memcmp(&v, &V[n], sizeof v) == 0;
		n++;
	}
	int st = f ? pclose(f) : -1;
	if (n == 0 && st != 0)
		printf("ok %d - fixed embedding %dx%d equals numpy's # SKIP python3-numpy not available\n", ++tap_n, K, d);
	else
		TAP_OK(n == K * d && same == n, "fixed embedding %dx%d equals numpy's bit for bit (%d of %d)", K, d, same, n);
	free(V);
}

/* ---- mqar ---------------------------------------------------------------------- */

static void test_mqar(void)
{
	/* zoology's docstring: multiquery_ar(vocab_size=12, num_kv_pairs=2,
	 * input_seq_len=16, random_non_queries=False) gives
	 *   Inputs: 2     8    4    7    0    0    4    0    0    0    0    0    2    0    0
	 *   Labels: -100 -100 -100 -100 -100 -100  7    -100 -100 -100 -100 -100 8    -100 -100
	 * keys (2, 4), values (8, 7), key 4 queried at gap 1 (position
	 * 2P + 2 = 6), key 2 at gap 4 (position 12) */
	int32_t keys[2] = { 2, 4 }, vals[2] = { 8, 7 }, x[16], y[16];
	int gaps[2] = { 4, 1 };
	sl_mqar_build(2, 16, keys, vals, gaps, x, y);
	static const int32_t wx[16] = { 2, 8, 4, 7, 0, 0, 4, 0, 0, 0, 0, 0, 2, 0, 0, 0 };
	static const int32_t wy[16] = { -1, -1, -1, -1, -1, -1, 7, -1, -1, -1, -1, -1, 8, -1, -1, -1 };
	TAP_OK(!memcmp(x, wx, sizeof wx) && !memcmp(y, wy, sizeof wy),
	       "mqar: zoology's documented example (vocab 12, 2 pairs, length 16) exactly");

	/* sampled sequences: the layout and the value ranges */
	sl_mqar_config c = { .vocab = 8192, .L = 64, .pairs = 8, .power_a = 0.01f, .noise = 1 };
	sl_rng r;
	sl_rng_seed(&r, 3);
	int bad = 0, n = 500, gap_hist[28] = { 0 };
	int32_t sx[64], sy[64];
	for (int s = 0; s < n; s++) {
		sl_mqar_sample(&c, &r, 64, sx, sy);
		int queried[8] = { 0 };
		for (int j = 0; j < 8; j++) {
			int32_t k = sx[2 * j], v = sx[2 * j + 1];
			bad += k < 1 || k >= 4096 || v < 4096 || v >= 8192 || sy[2 * j] >= 0 || sy[2 * j + 1] >= 0;
			for (int i = 0; i < j; i++)
				bad += sx[2 * i] == k || sx[2 * i + 1] == v;
		}
		for (int p = 16; p < 64; p++) {
			if (sy[p] < 0)
				continue;
			int j;
			for (j = 0; j < 8 && sx[2 * j] != sx[p]; j++)
				;
			bad += j == 8 || (p - 16) % 2 || sy[p] != sx[2 * j + 1];
			if (j < 8) {
				queried[j]++;
				gap_hist[(p - 16) / 2]++;
			}
		}
		for (int j = 0; j < 8; j++)
			bad += queried[j] != 1;
	}
	TAP_OK(!bad, "mqar: %d samples: distinct keys in [1, V/2), values in [V/2, V); each key queried once, at an "
	       "even offset after the pairs, labelled with its value", n);
	/* power_a = 0.01: P(gap g) ~ (g+1)^-0.99, so gap 0 is the most common
	 * and the counts fall off */
	TAP_OK(gap_hist[0] > gap_hist[5] && gap_hist[5] > gap_hist[20] && gap_hist[23] > 0,
	       "mqar: power-law gaps (%d at 0, %d at 5, %d at 20, %d at 23)", gap_hist[0], gap_hist[5], gap_hist[20],
	       gap_hist[23]);
	c.noise = 0;
	sl_mqar_sample(&c, &r, 64, sx, sy);
	int zeros = 0;
	for (int p = 16; p < 64; p++)
		zeros += sx[p] == 0;
	TAP_OK(zeros == 48 - 8, "mqar noise=off: the non-query positions are 0 (%d of 40)", zeros);
}

/* ---- copy ----------------------------------------------------------------------- */

static void test_copy(void)
{
	sl_copy_config c = { .L = 40, .N = 6, .A = 5 };
	sl_rng r;
	sl_rng_seed(&r, 11);
	int bad = 0, first[40] = { 0 };
	int32_t x[64], y[64];
	for (int s = 0; s < 300; s++) {
		sl_copy_sample(&c, &r, 40, x, y);
		int32_t data[6];
		int k = 0;
		for (int p = 0; p < 40; p++) {
			bad += x[p] < 0 || x[p] > 5 || y[p] >= 0;
			if (x[p] < 5) {
				if (k < 6)
					data[k] = x[p];
				if (k == 0)
					first[p]++;
				k++;
			}
		}
		bad += k != 6;
		for (int j = 0; j < 6 && k == 6; j++)
			bad += x[40 + j] != 6 || y[40 + j] != data[j];
	}
	int spread = 0;
	for (int p = 0; p < 20; p++)
		spread += first[p] > 0;
	TAP_OK(!bad, "copy: N data tokens among noise in L, then N markers scored with the data in order");
	TAP_OK(spread >= 10, "copy: the data positions vary (first token seen at %d places)", spread);
}

/* ---- the task: batches, test set, evaluation ----------------------------------- */

static sl_model *make_model(const char *kind, const char *const *keys, const char *const *vals, int n,
			    const sl_model_shape *shape, uint64_t seed)
{
	sl_rng r;
	sl_rng_seed(&r, seed);
	sl_model *m = sl_model_new(sl_model_kind_find(kind), keys, vals, n, shape, &r);
	if (!m)
		tap_diag("%s: %s", kind, sl_error());
	return m;
}

static void test_task(void)
{
	sl_recall_config c = { .K = 16, .d = 8, .M = 1, .L = 32, .tau = 1, .embed = SL_RECALL_FIXED };
	float V[16 * 8];
	sl_recall_fixed_embed(16, 8, V);
	sl_gen_spec sp = { .kind = &sl_recall_kind, .cfg = &c, .cfg_size = sizeof c, .vocab = 16, .len = 32,
			   .max_len = 96, .batches = 10, .test = 40, .seed = 5, .fixed = V, .fixed_dim = 8 };
	sl_task *t = sl_gen_task_new(&sp);
	sl_task_ref(t);
	TAP_OK(t->shape.vocab == 16 && t->shape.maxlen == 96 && t->shape.fixed_dim == 8 &&
	       !memcmp(t->shape.fixed_embed, V, sizeof V), "recall task: shape vocab 16, maxlen 3L, the fixed embedding");
	void *p0 = t->ops->plan_new(t, 8, 1, 0, 1), *p1 = t->ops->plan_new(t, 8, 1, 1, 1);
	sl_batch a, b, a2;
	t->ops->batch(t, p0, 3, &a);
	t->ops->batch(t, p0, 3, &a2);
	t->ops->batch(t, p1, 3, &b);
	TAP_OK(t->ops->plan_batches(p0) == 10 && a.B == 8 && a.T == 32 && !a.src, "a nominal epoch of 10 batches of (8, 32)");
	TAP_OK(!memcmp(a.inp, a2.inp, 8 * 32 * sizeof(int32_t)) && memcmp(a.inp, b.inp, 8 * 32 * sizeof(int32_t)),
	       "batches are drawn from (seed, epoch, index): repeatable, and new each epoch");
	sl_batch_free(&a);
	sl_batch_free(&a2);
	sl_batch_free(&b);
	t->ops->plan_free(p0);
	t->ops->plan_free(p1);

	sl_arena *ar = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(ar, NULL);
	const char *k1[] = { "hidden", "heads", "mlp", "pe" }, *v1[] = { "8", "1", "0", "rope" };
	sl_model *m = make_model("gpt", k1, v1, 4, &t->shape, 1);
	sl_eval e = { 0 }, e2 = { 0 };
	t->ops->eval(t, m, tp, &e, NULL);
	t->ops->eval(t, m, tp, &e2, NULL);
	TAP_OK(e.words == 40 && e.correct >= 0 && e.correct <= 40 && isfinite(e.val_loss) && isnan(e.cer) &&
	       e.val_acc == (double)e.correct / 40 && e.val_loss == e2.val_loss,
	       "eval: 40 scored positions, acc = correct/words, a finite loss, the same twice (acc %.3f loss %.3f)",
	       e.val_acc, e.val_loss);
	double acc, loss, acc2, loss2;
	int ok = sl_gen_task_eval_length(t, m, tp, 200, 16, &acc, &loss) == SL_OK &&
		 sl_gen_task_eval_length(t, m, tp, 200, 16, &acc2, &loss2) == SL_OK;
	TAP_OK(ok && acc == acc2 && loss == loss2 && acc >= 0 && acc <= 1,
	       "rope gpt: accuracy at length 200 (beyond maxlen), the same samples each time");
	TAP_OK(sl_gen_task_eval_length(t, m, tp, 2, 16, &acc, &loss) == SL_ERR, "length 2 < tau+2 is refused: %s",
	       sl_error());
	sl_model_free(m);
	const char *k2[] = { "hidden", "heads", "mlp" }, *v2[] = { "8", "1", "0" };
	m = make_model("gpt", k2, v2, 3, &t->shape, 1);
	TAP_OK(sl_gen_task_eval_length(t, m, tp, 96, 4, &acc, &loss) == SL_OK &&
	       sl_gen_task_eval_length(t, m, tp, 97, 4, &acc, &loss) == SL_ERR,
	       "learned positions: length 96 runs, 97 is refused: %s", sl_error());
	sl_model_free(m);
	m = make_model("transformer", NULL, NULL, 0, &t->shape, 1);
	int count;
	sl_tape_reset(tp);
	TAP_OK(m && t->ops->loss(t, m, tp, &(sl_batch){ .B = 1, .T = 4, .inp = (int32_t[]){ 0, 1, 2, 0 },
						       .tgt = (int32_t[]){ -1, -1, -1, 1 } }, &count) == NULL,
	       "an encoder-decoder cannot do recall: %s", sl_error());
	sl_model_free(m);
	sl_tape_free(tp);
	sl_arena_free(ar);
	sl_task_unref(t);
}

/* ---- fixed embeddings in the models ------------------------------------------------- */

static void test_fixed_models(void)
{
	float V[6 * 4];
	sl_recall_fixed_embed(6, 4, V);
	sl_model_shape fixed = { .vocab = 6, .maxlen = 10, .fixed_embed = V, .fixed_dim = 4 };
	sl_model_shape learned = { .vocab = 6, .maxlen = 10 };
	static const char *kinds[] = { "gpt", "mamba", "hybrid" };
	const char *keys[] = { "hidden", "heads" }, *vals[] = { "8", "2" };
	for (int i = 0; i < 3; i++) {
		int nk = strcmp(kinds[i], "mamba") ? 2 : 1;
		sl_model *mf = make_model(kinds[i], keys, vals, nk, &fixed, 1);
		sl_model *ml = make_model(kinds[i], keys, vals, nk, &learned, 1);
		if (!TAP_OK(mf && ml, "%s: built with and without a fixed embedding", kinds[i]))
			continue;
		sl_tensor *emb = ((sl_stack *)mf->impl)->emb.w; /* the three are stacks */
		int rows_ok = emb->shape[0] == 6 && emb->shape[1] == 8 && !emb->requires_grad;
		for (int v = 0; v < 6; v++)
			for (int j = 0; j < 8; j++)
				rows_ok &= emb->data[v * 8 + j] == (j < 4 ? V[v * 4 + j] : 0.0f);
		TAP_OK(rows_ok && !sl_params_find(mf->ps, "emb") && sl_params_find(ml->ps, "emb") &&
		       sl_params_count(ml->ps) - sl_params_count(mf->ps) == 6 * 8,
		       "%s: the fixed table (zero-padded to hidden) replaces the learned 'emb' parameter", kinds[i]);
		sl_model_free(mf);
		sl_model_free(ml);
	}
	const char *small[] = { "2" };
	const char *hk[] = { "hidden" };
	sl_rng r;
	sl_rng_seed(&r, 1);
	TAP_OK(!sl_model_new(sl_model_kind_find("gpt"), hk, small, 1, &fixed, &r),
	       "hidden below the fixed embedding's width is refused: %s", sl_error());
}

/* ---- RoPE ------------------------------------------------------------------------ */

typedef struct rope_case {
	int heads, pos0;
} rope_case;

static sl_tensor *build_rope(sl_tape *tp, sl_tensor **in, void *ctx)
{
	rope_case *c = ctx;
	return sl_rope(tp, in[0], c->heads, c->pos0, 10000.0f);
}

static void test_rope(void)
{
	sl_rng r;
	sl_rng_seed(&r, 21);
	int s1[3] = { 2, 5, 12 };
	sl_tensor *x = gc_input(&r, 3, s1, -1, 1);
	rope_case c1 = { 3, 0 }, c2 = { 1, 7 };
	gc_check("rope heads=3", build_rope, &c1, &x, 1, 1e-2, 1e-3, 1e-3, 0);
	gc_check("rope heads=1 pos0=7", build_rope, &c2, &x, 1, 1e-2, 1e-3, 1e-3, 0);
	gc_free(x);
	/* a size that takes the threaded path: the same bits at 1 and 2 threads */
	int s2[3] = { 2, 128, 128 };
	x = gc_input(&r, 3, s2, -1, 1);
	size_t nx = sl_tensor_numel(x);
	float *y1 = malloc(nx * sizeof *y1), *g1 = malloc(nx * sizeof *g1), *dy = malloc(nx * sizeof *dy);
	for (size_t i = 0; i < nx; i++)
		dy[i] = 2 * sl_rng_float(&r) - 1;
	int same = 1;
	for (int th = 1; th <= 2; th++) {
		sl_arena *ar = sl_arena_new(0);
		sl_pool *pool = sl_pool_new(th);
		sl_tape *tp = sl_tape_new(ar, pool);
		memset(x->grad, 0, nx * sizeof(float));
		sl_tensor *y = sl_rope(tp, x, 4, 3, 10000.0f);
		sl_tape_backward_from(tp, y, dy);
		if (th == 1) {
			memcpy(y1, y->data, nx * sizeof(float));
			memcpy(g1, x->grad, nx * sizeof(float));
		} else {
			same = !memcmp(y1, y->data, nx * sizeof(float)) && !memcmp(g1, x->grad, nx * sizeof(float));
		}
		sl_tape_free(tp);
		sl_pool_free(pool);
		sl_arena_free(ar);
	}
	TAP_OK(same, "rope (2, 128, 128): output and gradient the same bits at 1 and 2 threads");
	free(y1);
	free(g1);
	free(dy);
	gc_free(x);

	/* q and k the same at every position: after the rotation, the score of
	 * query i against key j (per head) depends only on j - i */
	int T = 48, H = 2, Dh = 8, D = H * Dh;
	int s3[3] = { 1, T, D };
	sl_tensor *q = gc_input(&r, 3, s3, 0, 0), *k = gc_input(&r, 3, s3, 0, 0);
	float qv[16], kv[16];
	for (int d = 0; d < D; d++) {
		qv[d] = 2 * sl_rng_float(&r) - 1;
		kv[d] = 2 * sl_rng_float(&r) - 1;
	}
	for (int t = 0; t < T; t++)
		for (int d = 0; d < D; d++) {
			q->data[t * D + d] = qv[d];
			k->data[t * D + d] = kv[d];
		}
	sl_arena *ar = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(ar, NULL);
	tp->grad_enabled = 0;
	sl_tensor *rq = sl_rope(tp, q, H, 0, 10000.0f), *rk = sl_rope(tp, k, H, 0, 10000.0f);
	double worst = 0, spread = 0;
	for (int h = 0; h < H; h++) {
		double ref[2 * 48];
		for (int i = 0; i < T; i++)
			for (int j = 0; j < T; j++) {
				double s = 0;
				for (int d = 0; d < Dh; d++)
					s += (double)rq->data[i * D + h * Dh + d] * rk->data[j * D + h * Dh + d];
				if (i == 0 || j == 0)
					ref[j - i + T] = s; /* offsets -T+1..T-1 as first met */
				else
					worst = fmax(worst, fabs(s - ref[j - i + T]));
			}
		for (int o = 1; o < T; o++)
			spread = fmax(spread, fabs(ref[T + o] - ref[T]));
	}
	TAP_OK(worst < 1e-4, "rope: q.k depends only on the offset j - i (worst difference %.2g over %d pairs)", worst,
	       H * T * T);
	TAP_OK(spread > 1e-2, "rope: and it does depend on the offset (spread %.3g)", spread);
	/* a shift of every position by pos0 changes nothing in the scores */
	sl_tensor *sq = sl_rope(tp, q, H, 13, 10000.0f), *sk = sl_rope(tp, k, H, 13, 10000.0f);
	double shift = 0;
	for (int i = 0; i < T; i++)
		for (int j = 0; j < T; j++) {
			double a = 0, b = 0;
			for (int d = 0; d < D; d++) {
				a += (double)rq->data[i * D + d] * rk->data[j * D + d];
				b += (double)sq->data[i * D + d] * sk->data[j * D + d];
			}
			shift = fmax(shift, fabs(a - b));
		}
	TAP_OK(shift < 1e-4, "rope: starting at position 13 instead of 0 leaves every score (worst %.2g)", shift);
	/* norms are kept: a rotation */
	double nerr = 0;
	for (int t = 0; t < T; t++) {
		double a = 0, b = 0;
		for (int d = 0; d < D; d++) {
			a += (double)q->data[t * D + d] * q->data[t * D + d];
			b += (double)rq->data[t * D + d] * rq->data[t * D + d];
		}
		nerr = fmax(nerr, fabs(a - b));
	}
	TAP_OK(nerr < 1e-4, "rope: a rotation (norms kept, worst %.2g)", nerr);
	sl_tape_free(tp);
	sl_arena_free(ar);
	gc_free(q);
	gc_free(k);
}

/* ---- gradient checks of the models ------------------------------------------------ */

typedef struct model_case {
	sl_model *m;
	const int32_t *x;
	int B, T;
} model_case;

static sl_tensor *build_model(sl_tape *tp, sl_tensor **in, void *ctx)
{
	(void)in;
	model_case *c = ctx;
	return c->m->kind->lm(c->m->impl, tp, c->x, c->B, c->T);
}

static void check_model(const char *kind, const char *const *keys, const char *const *vals, int n,
			const sl_model_shape *shape)
{
	sl_model *m = make_model(kind, keys, vals, n, shape, 3);
	if (!TAP_OK(m != NULL, "%s: built", kind))
		return;
	static const int32_t x[2 * 6] = { 0, 3, 1, 4, 2, 0, 4, 4, 1, 0, 3, 2 };
	model_case c = { m, x, 2, 6 };
	char label[256];
	size_t k = (size_t)snprintf(label, sizeof label, "%s", kind);
	for (int i = 0; i < n && k < sizeof label; i++)
		k += (size_t)snprintf(label + k, sizeof label - k, " %s=%s", keys[i], vals[i]);
	gc_check(label, build_model, &c, m->ps->t, m->ps->n, 1e-2, 2e-3, 2e-2, 0);
	sl_model_free(m);
}

static void test_model_grads(void)
{
	sl_model_shape shape = { .vocab = 5, .maxlen = 6 };
	const char *k1[] = { "hidden", "heads", "layers", "mlp", "pe" };
	const char *v1[] = { "8", "2", "2", "2", "rope" };
	check_model("gpt", k1, v1, 5, &shape);
	const char *v2[] = { "8", "2", "1", "0", "learned" };
	check_model("gpt", k1, v2, 5, &shape);
	const char *k3[] = { "hidden", "heads", "layers", "mlp", "pe", "norm", "window" };
	const char *v3[] = { "8", "1", "1", "1", "sinusoidal", "post", "2" };
	check_model("gpt", k3, v3, 7, &shape);
	const char *k4[] = { "hidden", "heads", "pattern", "state", "conv" };
	const char *v4[] = { "8", "2", "MA", "4", "3" };
	check_model("hybrid", k4, v4, 5, &shape);
	const char *v5[] = { "8", "2", "MAM", "2", "2" };
	check_model("hybrid", k4, v5, 5, &shape);
	sl_rng r;
	sl_rng_seed(&r, 1);
	const char *bk[] = { "pattern" }, *bv[] = { "MXA" };
	TAP_OK(!sl_model_new(sl_model_kind_find("hybrid"), bk, bv, 1, &shape, &r), "hybrid pattern=MXA is refused: %s",
	       sl_error());
	const char *ok[] = { "hidden", "heads", "pe" }, *ov[] = { "12", "4", "rope" };
	TAP_OK(!sl_model_new(sl_model_kind_find("gpt"), ok, ov, 3, &shape, &r),
	       "gpt pe=rope with an odd head width is refused: %s", sl_error());
}

int main(void)
{
	test_recall_generator();
	test_fixed_embed(16, 8);
	test_fixed_embed(16, 64);
	test_fixed_embed(5, 3);
	test_mqar();
	test_copy();
	test_task();
	test_fixed_models();
	test_rope();
	test_model_grads();
	return tap_done();
}
