/* test_attention.c - the fused attention op: gradients, masks, probabilities,
 * and equality with a plain double-precision reference at 1 and 2 threads;
 * the fast kernels (head-dim instances, the one-vector kernel for 16 keys or
 * fewer, the blocked kernel for more) against the generic one, bit for bit,
 * and decoding through a cache against the full pass, bit for bit. */
#include "gradcheck.h"

typedef struct attn_case {
	int heads, causal, window;
	float scale;
} attn_case;

static sl_tensor *build(sl_tape *tp, sl_tensor **in, void *ctx)
{
	attn_case *c = ctx;
	return sl_attention(tp, in[0], in[1], in[2], c->heads, c->causal, c->window, c->scale, NULL);
}

/* out (B,Tq,H*Dh) and P (B,H,Tq,Tk) by the textbook formula, in double. */
static void reference(const sl_tensor *q, const sl_tensor *k, const sl_tensor *v, const attn_case *c,
		      double *out, double *P)
{
	int B = q->shape[0], Tq = q->shape[1], Tk = k->shape[1], D = q->shape[2], H = c->heads, Dh = D / H;
	for (int b = 0; b < B; b++)
		for (int h = 0; h < H; h++)
			for (int i = 0; i < Tq; i++) {
				double s[256], m = -1e300, z = 0;
				int hi = c->causal ? i + Tk - Tq + 1 : Tk;
				int lo = c->causal && c->window > 0 && hi - c->window > 0 ? hi - c->window : 0;
				for (int j = 0; j < Tk; j++) {
					s[j] = 0;
					if (j < lo || j >= hi)
						continue;
					for (int d = 0; d < Dh; d++)
						s[j] += (double)q->data[((size_t)(b * Tq + i)) * D + h * Dh + d] *
							k->data[((size_t)(b * Tk + j)) * D + h * Dh + d];
					s[j] *= c->scale;
					m = s[j] > m ? s[j] : m;
				}
				for (int j = lo; j < hi; j++)
					z += exp(s[j] - m);
				for (int j = 0; j < Tk; j++) {
					double p = j < lo || j >= hi ? 0 : exp(s[j] - m) / z;
					P[(((size_t)(b * H + h)) * Tq + i) * Tk + j] = p;
				}
				for (int d = 0; d < Dh; d++) {
					double o = 0;
					for (int j = lo; j < hi; j++)
						o += P[(((size_t)(b * H + h)) * Tq + i) * Tk + j] *
						     v->data[((size_t)(b * Tk + j)) * D + h * Dh + d];
					out[((size_t)(b * Tq + i)) * D + h * Dh + d] = o;
				}
			}
}

static void check_case(const char *name, int B, int Tq, int Tk, int D, attn_case c)
{
	sl_rng r;
	sl_rng_seed(&r, (uint64_t)(B * 131 + Tq * 17 + Tk + D + c.causal * 7 + c.window));
	int qs[3] = { B, Tq, D }, ks[3] = { B, Tk, D };
	sl_tensor *in[3] = { gc_input(&r, 3, qs, -1, 1), gc_input(&r, 3, ks, -1, 1), gc_input(&r, 3, ks, -1, 1) };
	char label[128];
	/* finite differences on the small cases; the large one (which takes the
	 * threaded path) is compared with the serial gradients bit for bit below */
	for (int th = 0; th <= 2 && (size_t)B * Tk * D <= 1024; th += 2) {
		snprintf(label, sizeof label, "attention %s, %d thread(s)", name, th ? th : 1);
		gc_check(label, build, &c, in, 3, 1e-2, 2e-3, 1e-2, th);
	}
	/* values and probabilities against the reference, serial and threaded */
	size_t no = (size_t)B * Tq * D, np = (size_t)B * c.heads * Tq * Tk;
	double *ro = malloc(no * sizeof *ro), *rp = malloc(np * sizeof *rp);
	reference(in[0], in[1], in[2], &c, ro, rp);
	float *first = malloc(no * sizeof *first);
	size_t nk = (size_t)B * Tk * D;
	float *g1 = malloc((no + 2 * nk) * sizeof *g1);
	/* passes: 1 thread, 2 threads, then 1 thread through the generic
	 * head-dim kernels (the fast path's plain version) */
	for (int pass = 1; pass <= 3; pass++) {
		int th = pass == 3 ? 1 : pass;
		sl_attention_generic = pass == 3;
		sl_arena *a = sl_arena_new(0);
		sl_pool *pool = sl_pool_new(th);
		sl_tape *tp = sl_tape_new(a, pool);
		float *P;
		sl_tensor *o = sl_attention(tp, in[0], in[1], in[2], c.heads, c.causal, c.window, c.scale, &P);
		double eo = 0, ep = 0, rowerr = 0;
		int zeros = 1;
		for (size_t i = 0; i < no; i++)
			eo = fmax(eo, fabs(o->data[i] - ro[i]));
		for (size_t i = 0; i < np; i++) {
			ep = fmax(ep, fabs(P[i] - rp[i]));
			zeros &= rp[i] != 0 || P[i] == 0;
		}
		for (size_t row = 0; row < np / (size_t)Tk; row++) {
			double s = 0;
			for (int j = 0; j < Tk; j++)
				s += P[row * (size_t)Tk + j];
			rowerr = fmax(rowerr, fabs(s - 1));
		}
		TAP_OK(eo < 1e-5 && ep < 1e-6, "attention %s, %d thread(s): output (err %.2g) and P (err %.2g) match the reference",
		       name, th, eo, ep);
		TAP_OK(rowerr < 1e-5 && zeros, "attention %s: rows of P sum to 1, masked entries are 0", name);
		for (int i = 0; i < 3; i++)
			memset(in[i]->grad, 0, sl_tensor_numel(in[i]) * sizeof(float));
		float *dout = malloc(no * sizeof *dout);
		for (size_t i = 0; i < no; i++)
			dout[i] = sinf((float)i);
		sl_tape_backward_from(tp, o, dout);
		free(dout);
		if (pass == 1) {
			memcpy(first, o->data, no * sizeof *first);
			memcpy(g1, in[0]->grad, no * sizeof *g1);
			memcpy(g1 + no, in[1]->grad, nk * sizeof *g1);
			memcpy(g1 + no + nk, in[2]->grad, nk * sizeof *g1);
		} else {
			TAP_OK(memcmp(first, o->data, no * sizeof *first) == 0 &&
				       memcmp(g1, in[0]->grad, no * sizeof *g1) == 0 &&
				       memcmp(g1 + no, in[1]->grad, nk * sizeof *g1) == 0 &&
				       memcmp(g1 + no + nk, in[2]->grad, nk * sizeof *g1) == 0,
			       pass == 2 ? "attention %s: 1 and 2 threads give identical outputs and gradients"
					 : "attention %s: the generic kernel gives the same outputs and gradients, bit for bit",
			       name);
		}
		sl_attention_generic = 0;
		sl_tape_free(tp);
		sl_pool_free(pool);
		sl_arena_free(a);
	}
	free(first);
	free(g1);
	free(ro);
	free(rp);
	for (int i = 0; i < 3; i++)
		gc_free(in[i]);
}

/* A case for the blocked kernel: first that the dispatcher takes it (in an
 * AVX-512 build; elsewhere that it does not), so the comparison with the
 * generic kernel in check_case compares two kernels. */
static void blocked_case(const char *name, int B, int Tq, int Tk, int D, attn_case c)
{
	char label[160];
#if defined(__AVX512F__)
	TAP_OK(sl_attention_blocked(Tk, D / c.heads), "attention blocked %s: the blocked kernel runs", name);
#else
	TAP_OK(!sl_attention_blocked(Tk, D / c.heads), "attention blocked %s: no blocked kernel in this build", name);
#endif
	snprintf(label, sizeof label, "blocked %s", name);
	check_case(label, B, Tq, Tk, D, c);
}

/* q, k and v one intermediate tensor (self-attention of a scaled input, and
 * q = k with v apart): the op's gradient buffer is fresh for its first
 * request only, so dq writes it and dk, dv add to it, in the plain kernel's
 * order; vapart 2: the three apart, each gradient fresh (written). The input's gradient from the fast kernel against the generic
 * one's, bit for bit. */
static void aliased_case(const char *name, int B, int T, int D, attn_case c, int vapart)
{
	sl_rng r;
	sl_rng_seed(&r, (uint64_t)(T * 7 + D));
	int xs[3] = { B, T, D };
	sl_tensor *x = gc_input(&r, 3, xs, -1, 1);
	size_t n = sl_tensor_numel(x);
	float *g[2], *o[2];
	for (int pass = 0; pass < 2; pass++) {
		sl_attention_generic = pass == 1;
		sl_arena *a = sl_arena_new(0);
		sl_tape *tp = sl_tape_new(a, NULL);
		memset(x->grad, 0, n * sizeof(float));
		sl_tensor *h = sl_scale(tp, x, 0.9f), *v = vapart ? sl_scale(tp, x, -0.7f) : h;
		sl_tensor *k = vapart == 2 ? sl_scale(tp, x, 1.1f) : h;
		sl_tensor *out = sl_attention(tp, h, k, v, c.heads, c.causal, c.window, c.scale, NULL);
		float *dout = malloc(n * sizeof *dout);
		for (size_t i = 0; i < n; i++)
			dout[i] = cosf((float)i);
		sl_tape_backward_from(tp, out, dout);
		free(dout);
		o[pass] = malloc(n * sizeof(float));
		g[pass] = malloc(n * sizeof(float));
		memcpy(o[pass], out->data, n * sizeof(float));
		memcpy(g[pass], x->grad, n * sizeof(float));
		sl_attention_generic = 0;
		sl_tape_free(tp);
		sl_arena_free(a);
	}
	TAP_OK(memcmp(o[0], o[1], n * sizeof(float)) == 0 && memcmp(g[0], g[1], n * sizeof(float)) == 0,
	       "attention %s: the generic kernel gives the same output and input gradient, bit for bit", name);
	for (int i = 0; i < 2; i++) {
		free(o[i]);
		free(g[i]);
	}
	gc_free(x);
}

/* Decoding through a cache: query t alone against the first t + 1 keys
 * (sl_attention_cached, the one-vector kernel up to 16 keys, the blocked
 * one past them) gives row t of the full causal pass (the blocked kernel
 * for every row) bit for bit, and so do its probabilities: every kernel
 * keeps the same arithmetic. */
static void cached_case(const char *name, int B, int T, int D, int heads, int window)
{
	sl_rng r;
	sl_rng_seed(&r, (uint64_t)(T * 31 + D + window));
	int xs[3] = { B, T, D };
	sl_tensor *q = gc_input(&r, 3, xs, -1, 1), *k = gc_input(&r, 3, xs, -1, 1), *v = gc_input(&r, 3, xs, -1, 1);
	float scale = 1.0f / sqrtf((float)(D / heads));
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	float *P;
	sl_tensor *full = sl_attention(tp, q, k, v, heads, 1, window, scale, &P);
	int qs1[3] = { B, 1, D };
	sl_tensor *qt = sl_tape_tensor(tp, 3, qs1), *ot = sl_tape_tensor(tp, 3, qs1);
	/* sixteen floats past the probabilities, which no kernel writes (the
	 * one-vector kernel's whole-row stores stay inside them) */
	float *pt = malloc(((size_t)B * heads * T + 16) * sizeof *pt);
	int same = 1, psame = 1, guard = 1;
	for (int t = 0; t < T; t++) {
		for (int b = 0; b < B; b++)
			memcpy(qt->data + (size_t)b * D, q->data + ((size_t)b * T + t) * D, (size_t)D * sizeof(float));
		float *end = pt + (size_t)B * heads * (t + 1);
		for (int i = 0; i < 16; i++)
			end[i] = 12345.0f;
		sl_attention_cached(tp, qt, k->data, v->data, t + 1, T, heads, window, scale, ot, pt);
		for (int i = 0; i < 16; i++)
			guard &= end[i] == 12345.0f;
		for (int b = 0; b < B; b++) {
			same &= memcmp(ot->data + (size_t)b * D, full->data + ((size_t)b * T + t) * D,
				       (size_t)D * sizeof(float)) == 0;
			for (int h = 0; h < heads; h++)
				psame &= memcmp(pt + ((size_t)b * heads + h) * (t + 1),
						P + (((size_t)b * heads + h) * T + t) * T, (size_t)(t + 1) * sizeof(float)) == 0;
		}
	}
	TAP_OK(same && psame, "attention %s: decoding through the cache gives the full pass's rows and probabilities, bit for bit",
	       name);
	TAP_OK(guard, "attention %s: decoding writes no float past its probabilities", name);
	free(pt);
	sl_tape_free(tp);
	sl_arena_free(a);
	gc_free(q);
	gc_free(k);
	gc_free(v);
}

int main(void)
{
	check_case("full", 2, 5, 5, 8, (attn_case){ 2, 0, 0, 0.5f });
	check_case("causal", 2, 6, 6, 12, (attn_case){ 3, 1, 0, 0.577f });
	check_case("cross Tq!=Tk", 3, 4, 7, 8, (attn_case){ 4, 0, 0, 0.7f });
	check_case("causal cache Tq<Tk", 2, 2, 6, 8, (attn_case){ 2, 1, 0, 0.5f });
	check_case("causal window 3", 2, 7, 7, 8, (attn_case){ 2, 1, 3, 0.5f });
	check_case("head dim 16", 2, 5, 6, 32, (attn_case){ 2, 0, 0, 0.25f });
	check_case("threaded size", 8, 24, 24, 64, (attn_case){ 8, 1, 0, 0.35f });
	/* the edges of the one-vector kernel (16 keys or fewer, AVX-512) */
	check_case("16 keys, head dim 8", 2, 16, 16, 32, (attn_case){ 4, 0, 0, 0.35f });
	check_case("16 keys causal window 5, head dim 32", 2, 16, 16, 64, (attn_case){ 2, 1, 5, 0.3f });
	check_case("17 keys, head dim 8", 2, 9, 17, 16, (attn_case){ 2, 0, 0, 0.4f });
	check_case("1 key", 3, 1, 1, 16, (attn_case){ 2, 1, 0, 0.4f });
	check_case("causal, head dim 64, 12 keys", 2, 12, 12, 64, (attn_case){ 1, 1, 0, 0.125f });
	/* its tiles of queries side by side (8, 4, 2 and 1 rows: 13 = 8 + 4 +
	 * 1, 15 = 8 + 4 + 2 + 1; 4 rows at a time past two vectors of head
	 * dims), whose sums run over the union of their rows' keys, and P's
	 * rows stored whole where they fall on later rows (Tk < 16) */
	check_case("13 queries, 9 keys, head dim 8", 2, 13, 9, 16, (attn_case){ 2, 0, 0, 0.4f });
	check_case("15 causal window 4, head dim 8", 2, 15, 15, 32, (attn_case){ 4, 1, 4, 0.35f });
	check_case("causal cache 3 queries, 14 keys, head dim 8", 2, 3, 14, 16, (attn_case){ 2, 1, 0, 0.35f });
	/* tiles of 8 and 2 rows (rows in pairs for a head of 8), as Pig-Latin's */
	check_case("10 queries, 12 keys, 8 heads of 8", 2, 10, 12, 64, (attn_case){ 8, 0, 0, 0.35f });
	check_case("10 causal, 8 heads of 8", 2, 10, 10, 64, (attn_case){ 8, 1, 0, 0.35f });
	check_case("11 causal, head dim 48", 1, 11, 11, 96, (attn_case){ 2, 1, 0, 0.15f });
	check_case("7 causal, head dim 24", 2, 7, 7, 48, (attn_case){ 2, 1, 0, 0.2f });
	/* the blocked kernel (more than 16 keys) against the generic one at
	 * 17, 64, 100 and 192 keys: causal or not, windows narrower than a
	 * block of rows (row by row) and wider (a shared range between each
	 * row's own terms), cross attention, a cache's few queries, every
	 * usual head dim and three others (12, 24, 48: masked vectors) */
	blocked_case("17 causal, head dim 8", 2, 17, 17, 16, (attn_case){ 2, 1, 0, 0.35f });
	blocked_case("17 full, head dim 64", 1, 17, 17, 64, (attn_case){ 1, 0, 0, 0.125f });
	blocked_case("64 causal, head dim 64", 2, 64, 64, 64, (attn_case){ 1, 1, 0, 0.125f });
	blocked_case("64 causal, 4 heads of 32", 2, 64, 64, 128, (attn_case){ 4, 1, 0, 0.18f });
	blocked_case("64 causal window 9, head dim 12", 1, 64, 64, 36, (attn_case){ 3, 1, 9, 0.3f });
	blocked_case("100 causal window 5, head dim 16", 2, 100, 100, 32, (attn_case){ 2, 1, 5, 0.25f });
	blocked_case("100 causal window 20, head dim 32", 1, 100, 100, 64, (attn_case){ 2, 1, 20, 0.18f });
	blocked_case("100 full, head dim 48", 1, 100, 100, 96, (attn_case){ 2, 0, 0, 0.15f });
	blocked_case("192 causal, head dim 64", 1, 192, 192, 128, (attn_case){ 2, 1, 0, 0.125f });
	blocked_case("192 full, head dim 4", 1, 192, 192, 16, (attn_case){ 4, 0, 0, 0.5f });
	blocked_case("192 causal window 40, head dim 8", 1, 192, 192, 16, (attn_case){ 2, 1, 40, 0.35f });
	blocked_case("cross 37 queries, 100 keys, head dim 24", 2, 37, 100, 48, (attn_case){ 2, 0, 0, 0.2f });
	blocked_case("causal cache 5 queries, 64 keys, window 17", 2, 5, 64, 64, (attn_case){ 2, 1, 17, 0.18f });
	blocked_case("causal 1 query, 192 keys (a decoding step)", 3, 1, 192, 32, (attn_case){ 1, 1, 0, 0.18f });
	/* blocks of 7 and 3 rows at the end (tiles of 4, 2 and 1 rows) */
	blocked_case("63 causal, 4 heads of 16", 2, 63, 63, 64, (attn_case){ 4, 1, 0, 0.25f });
	blocked_case("cross 19 queries, 40 keys, head dim 32", 2, 19, 40, 64, (attn_case){ 2, 0, 0, 0.18f });
	blocked_case("causal cache 11 queries, 50 keys, window 23, head dim 64", 1, 11, 50, 128,
		     (attn_case){ 2, 1, 23, 0.125f });
	/* small enough for finite differences (B Tk D <= 1024) */
	blocked_case("20 causal, head dim 8 (gradient check)", 1, 20, 20, 16, (attn_case){ 2, 1, 0, 0.35f });
	blocked_case("18 queries, 33 keys, causal window 7 (gradient check)", 1, 18, 33, 16,
		     (attn_case){ 2, 1, 7, 0.35f });
	blocked_case("24 full, head dim 32 (gradient check)", 1, 24, 24, 32, (attn_case){ 1, 0, 0, 0.18f });
	aliased_case("blocked q = k = v, 40 causal, head dim 16", 2, 40, 32, (attn_case){ 2, 1, 0, 0.25f }, 0);
	aliased_case("blocked q = k, v apart, 70 causal window 12, head dim 64", 1, 70, 128, (attn_case){ 2, 1, 12, 0.125f }, 1);
	aliased_case("blocked q = k = v, 33 full, head dim 32", 2, 33, 64, (attn_case){ 2, 0, 0, 0.18f }, 0);
	/* the one-vector kernel's (head dim 8: two keys to a vector for dk, dv) */
	aliased_case("q = k = v, 11 causal, head dim 8", 2, 11, 16, (attn_case){ 2, 1, 0, 0.35f }, 0);
	aliased_case("q = k, v apart, 9 full, head dim 8", 2, 9, 32, (attn_case){ 4, 0, 0, 0.35f }, 1);
	aliased_case("q = k = v, 16 causal window 5, head dim 8", 1, 16, 16, (attn_case){ 2, 1, 5, 0.35f }, 0);
	aliased_case("q, k, v apart, 12 causal, head dim 8", 2, 12, 16, (attn_case){ 2, 1, 0, 0.35f }, 2);
	aliased_case("blocked q, k, v apart, 20 causal, head dim 8", 1, 20, 16, (attn_case){ 2, 1, 0, 0.35f }, 2);
	cached_case("40 keys, head dim 64", 2, 40, 64, 1, 0);
	cached_case("37 keys, 4 heads of 8, window 20", 2, 37, 32, 4, 20);
	cached_case("70 keys, 2 heads of 48", 1, 70, 96, 2, 0);
	return tap_done();
}
