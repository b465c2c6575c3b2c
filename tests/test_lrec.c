/* test_lrec.c - the LRU's and the RG-LRU's recurrences (op_lrec.c) and the
 * per-channel scale: finite-difference gradient checks (the loop and the
 * Blelloch scan, one thread and two), the forward pass against the defining
 * recurrence in double precision, and the two scans against each other. */
#include "seqlab/ops.h"
#include "gradcheck.h"

#include <complex.h>

typedef struct lru_case {
	int parallel;
} lru_case;

static sl_tensor *build_lru(sl_tape *tp, sl_tensor **in, void *ctx)
{
	lru_case *c = ctx;
	return sl_lru(tp, in[0], in[1], in[2], in[3], c->parallel);
}

static sl_tensor *build_rglru(sl_tape *tp, sl_tensor **in, void *ctx)
{
	lru_case *c = ctx;
	return sl_rglru(tp, in[0], in[1], in[2], in[3], c->parallel);
}

static sl_tensor *build_colmul(sl_tape *tp, sl_tensor **in, void *ctx)
{
	(void)ctx;
	return sl_colmul(tp, in[0], in[1]);
}

/* the LRU's ring: |λ| in [0.4, 0.9] so the finite differences stay clean */
static void lru_inputs(sl_rng *r, int B, int T, int N, sl_tensor **in)
{
	int sN[1] = { N }, sb[3] = { B, T, 2 * N };
	in[0] = gc_input(r, 1, sN, -2.3f, -0.1f); /* exp(nu) in [0.1, 0.9] */
	in[1] = gc_input(r, 1, sN, -2.0f, 1.5f);  /* phase exp(theta) in [0.14, 4.5] */
	in[2] = gc_input(r, 1, sN, -0.5f, 0.5f);
	in[3] = gc_input(r, 3, sb, -1.0f, 1.0f);
}

static void test_lru(void)
{
	sl_rng r;
	sl_rng_seed(&r, 7);
	int B = 2, T = 9, N = 3;
	sl_tensor *in[4];
	lru_inputs(&r, B, T, N, in);
	for (int par = 0; par < 2; par++)
		for (int th = 0; th <= 2; th += 2) {
			lru_case c = { .parallel = par };
			char name[64];
			snprintf(name, sizeof name, "lru %s threads=%d", par ? "blelloch" : "seq", th);
			gc_check(name, build_lru, &c, in, 4, 1e-3, 2e-3, 2e-2, th);
		}
	/* forward against the recurrence in double */
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	tp->grad_enabled = 0;
	sl_tensor *x = sl_lru(tp, in[0], in[1], in[2], in[3], 0);
	float *xs = malloc(sl_tensor_numel(x) * sizeof *xs);
	memcpy(xs, x->data, sl_tensor_numel(x) * sizeof *xs);
	sl_tensor *xp = sl_lru(tp, in[0], in[1], in[2], in[3], 1);
	double err = 0, perr = 0;
	for (int b = 0; b < B; b++)
		for (int n = 0; n < N; n++) {
			double complex lam = cexp(-exp(in[0]->data[n]) + I * exp(in[1]->data[n])), h = 0;
			double gam = exp(in[2]->data[n]);
			for (int t = 0; t < T; t++) {
				size_t row = ((size_t)b * T + t) * 2 * N;
				h = lam * h + gam * (in[3]->data[row + n] + I * in[3]->data[row + N + n]);
				err = fmax(err, cabs(xs[row + n] + I * xs[row + N + n] - h));
				perr = fmax(perr, cabs(xp->data[row + n] + I * xp->data[row + N + n] - h));
			}
		}
	TAP_OK(err < 1e-5, "lru: x_t = λ x_{t-1} + γ bu_t, λ = exp(-e^ν + i e^θ), as in double (%.2g)", err);
	TAP_OK(perr < 1e-5, "lru: the Blelloch scan equals the recurrence to rounding (%.2g)", perr);
	free(xs);
	sl_tape_free(tp);
	sl_arena_free(a);
	for (int k = 0; k < 4; k++)
		gc_free(in[k]);
}

static void test_rglru(void)
{
	sl_rng r;
	sl_rng_seed(&r, 8);
	int B = 2, T = 7, D = 4;
	int s3[3] = { B, T, D }, sD[1] = { D };
	sl_tensor *in[4] = { gc_input(&r, 3, s3, -1, 1), gc_input(&r, 3, s3, -2, 2), gc_input(&r, 3, s3, -2, 2),
			     gc_input(&r, 1, sD, -3.0f, -0.5f) };
	for (int par = 0; par < 2; par++)
		for (int th = 0; th <= 2; th += 2) {
			lru_case c = { .parallel = par };
			char name[64];
			snprintf(name, sizeof name, "rglru %s threads=%d", par ? "blelloch" : "seq", th);
			gc_check(name, build_rglru, &c, in, 4, 1e-3, 2e-3, 2e-2, th);
		}
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	tp->grad_enabled = 0;
	sl_tensor *h = sl_rglru(tp, in[0], in[1], in[2], in[3], 0);
	double err = 0;
	for (int b = 0; b < B; b++)
		for (int d = 0; d < D; d++) {
			double hv = 0, sp = log1p(exp(in[3]->data[d]));
			for (int t = 0; t < T; t++) {
				size_t k = ((size_t)b * T + t) * D + d;
				double rr = 1 / (1 + exp(-in[1]->data[k])), ii = 1 / (1 + exp(-in[2]->data[k]));
				double at = exp(-8 * rr * sp);
				hv = at * hv + (t ? sqrt(1 - at * at) : 1.0) * ii * in[0]->data[k]; /* reset at t = 0 */
				err = fmax(err, fabs(h->data[k] - hv));
			}
		}
	TAP_OK(err < 1e-5, "rglru: h_t = a_t h_{t-1} + sqrt(1-a_t^2)(i_t x_t), h_0 = i_0 x_0, log a_t = -8 r_t softplus(Λ) (%.2g)", err);
	sl_tape_free(tp);
	sl_arena_free(a);
	for (int k = 0; k < 4; k++)
		gc_free(in[k]);
}

/* Backward writes the fresh gradient buffers of x, ga and gx directly (as
 * 0 + v): the bits of the zero-filled buffers a request before backward
 * makes, also with one tensor as both gates (fresh for its first writer
 * only). The inputs pass through sl_scale(., 1) so their buffers are the
 * tape's own. */
static void test_rglru_fresh(void)
{
	sl_rng r;
	sl_rng_seed(&r, 12);
	int B = 3, T = 9, D = 20;
	int s3[3] = { B, T, D }, sD[1] = { D };
	sl_tensor *in[4] = { gc_input(&r, 3, s3, -1, 1), gc_input(&r, 3, s3, -2, 2), gc_input(&r, 3, s3, -2, 2),
			     gc_input(&r, 1, sD, -3.0f, -0.5f) };
	size_t n = (size_t)B * T * D;
	float *dout = malloc(n * sizeof *dout), *first = malloc((3 * n + D) * sizeof *first);
	for (size_t i = 0; i < n; i++)
		dout[i] = sinf((float)i);
	for (int same = 0; same <= 1; same++)
		for (int pass = 0; pass < 2; pass++) {
			sl_arena *a = sl_arena_new(0);
			sl_tape *tp = sl_tape_new(a, NULL);
			for (int k = 0; k < 4; k++)
				memset(in[k]->grad, 0, sl_tensor_numel(in[k]) * sizeof(float));
			sl_tensor *m[3];
			for (int k = 0; k < 3; k++)
				m[k] = sl_scale(tp, in[k], 1.0f);
			sl_tensor *h = sl_rglru(tp, m[0], m[1], same ? m[1] : m[2], in[3], 0);
			if (pass == 1)
				for (int k = 0; k < 3; k++)
					sl_tape_grad(tp, m[k]);
			sl_tape_backward_from(tp, h, dout);
			float *got = pass ? malloc((3 * n + D) * sizeof *got) : first;
			for (int k = 0; k < 3; k++)
				memcpy(got + k * n, in[k]->grad, n * sizeof(float));
			memcpy(got + 3 * n, in[3]->grad, D * sizeof(float));
			if (pass == 1) {
				TAP_OK(memcmp(first, got, (3 * n + D) * sizeof(float)) == 0,
				       "rglru%s: fresh gradient buffers written directly give the bits of zero-fill and add",
				       same ? " (ga = gx)" : "");
				free(got);
			}
			sl_tape_free(tp);
			sl_arena_free(a);
		}
	free(dout);
	free(first);
	for (int k = 0; k < 4; k++)
		gc_free(in[k]);
}

typedef struct la_case {
	int heads, causal;
} la_case;

static sl_tensor *build_la(sl_tape *tp, sl_tensor **in, void *ctx)
{
	la_case *c = ctx;
	return sl_linear_attention(tp, in[0], in[1], in[2], c->heads, c->causal, NULL);
}

/* fast-transformers' test: the parallel form equals the recurrent one
 * (S_t = S_{t-1} + φ(k_t) v_tᵀ, z_t = z_{t-1} + φ(k_t)), max |Δ| < 1e-5 at L = 100 */
static void test_linear_attention(void)
{
	sl_rng r;
	sl_rng_seed(&r, 10);
	int s3[3] = { 2, 6, 8 };
	sl_tensor *in[3] = { gc_input(&r, 3, s3, -1, 1), gc_input(&r, 3, s3, -1, 1), gc_input(&r, 3, s3, -1, 1) };
	for (int th = 0; th <= 2; th += 2) {
		la_case c = { .heads = 2, .causal = 1 };
		char name[48];
		snprintf(name, sizeof name, "linear attention threads=%d", th);
		gc_check(name, build_la, &c, in, 3, 1e-3, 2e-3, 2e-2, th);
	}
	gc_free(in[0]);
	/* not causal, and queries against another sequence's keys (cross attention) */
	int s4[3] = { 2, 4, 8 };
	in[0] = gc_input(&r, 3, s4, -1, 1);
	la_case cx = { .heads = 2, .causal = 0 };
	gc_check("linear cross attention (4 queries, 6 keys)", build_la, &cx, in, 3, 1e-3, 2e-3, 2e-2, 0);
	for (int k = 0; k < 3; k++)
		gc_free(in[k]);
	int B = 2, T = 100, H = 2, Dh = 8, D = H * Dh, sq[3] = { B, T, D };
	sl_tensor *q = gc_input(&r, 3, sq, -1, 1), *k = gc_input(&r, 3, sq, -1, 1), *v = gc_input(&r, 3, sq, -1, 1);
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	tp->grad_enabled = 0;
	float *P;
	sl_tensor *y = sl_linear_attention(tp, q, k, v, H, 1, &P);
	double err = 0, rowsum = 0;
	for (int b = 0; b < B; b++)
		for (int h = 0; h < H; h++) {
			double S[8][8] = { { 0 } }, z[8] = { 0 };
			for (int t = 0; t < T; t++) {
				size_t o = ((size_t)b * T + t) * D + (size_t)h * Dh;
				double fq[8], fk[8];
				for (int j = 0; j < Dh; j++) {
					fq[j] = q->data[o + j] > 0 ? q->data[o + j] + 1.0 : exp(q->data[o + j]);
					fk[j] = k->data[o + j] > 0 ? k->data[o + j] + 1.0 : exp(k->data[o + j]);
				}
				for (int i = 0; i < Dh; i++) {
					z[i] += fk[i];
					for (int j = 0; j < Dh; j++)
						S[i][j] += fk[i] * v->data[o + j];
				}
				double den = 1e-6;
				for (int i = 0; i < Dh; i++)
					den += fq[i] * z[i];
				for (int j = 0; j < Dh; j++) {
					double num = 0;
					for (int i = 0; i < Dh; i++)
						num += fq[i] * S[i][j];
					err = fmax(err, fabs(y->data[o + j] - num / den));
				}
				double rs = 0;
				for (int u = 0; u < T; u++)
					rs += P[(((size_t)b * H + h) * T + t) * T + u];
				rowsum = fmax(rowsum, fabs(rs - 1));
			}
		}
	TAP_OK(err < 1e-5, "linear attention: parallel form equals the recurrent one at L=100 (max |diff| %.2g)", err);
	TAP_OK(rowsum < 1e-5, "linear attention: the implied attention rows sum to 1 (%.2g)", rowsum);
	sl_tape_free(tp);
	sl_arena_free(a);
	gc_free(q);
	gc_free(k);
	gc_free(v);
	/* the products at the benchmark's head size (Dh = 64) and a ragged one
	 * (Dh = 24, 37 keys), against sums in float64, causal and across */
	for (int cs = 0; cs < 3; cs++) {
		int hb = 2, hh = cs == 0 ? 1 : 2, hd = cs == 0 ? 64 : 24, tq = cs == 2 ? 5 : 64, tk = cs == 0 ? 64 : 37;
		if (cs == 1)
			tq = tk;
		int causal = cs < 2, sqq[3] = { hb, tq, hh * hd }, skv[3] = { hb, tk, hh * hd };
		sl_tensor *Q = gc_input(&r, 3, sqq, -1, 1), *K = gc_input(&r, 3, skv, -1, 1), *V = gc_input(&r, 3, skv, -1, 1);
		sl_arena *a2 = sl_arena_new(0);
		sl_tape *tp2 = sl_tape_new(a2, NULL);
		tp2->grad_enabled = 0;
		sl_tensor *Y = sl_linear_attention(tp2, Q, K, V, hh, causal, NULL);
		double e2 = 0;
		int DD = hh * hd;
		for (int b = 0; b < hb; b++)
			for (int h = 0; h < hh; h++)
				for (int t = 0; t < tq; t++) {
					double w[64], den = 1e-6;
					int last = causal ? t : tk - 1;
					for (int u = 0; u <= last; u++) {
						w[u] = 0;
						for (int j = 0; j < hd; j++) {
							double x = Q->data[((size_t)b * tq + t) * DD + h * hd + j];
							double y = K->data[((size_t)b * tk + u) * DD + h * hd + j];
							w[u] += (x > 0 ? x + 1 : exp(x)) * (y > 0 ? y + 1 : exp(y));
						}
						den += w[u];
					}
					for (int j = 0; j < hd; j++) {
						double num = 0;
						for (int u = 0; u <= last; u++)
							num += w[u] * V->data[((size_t)b * tk + u) * DD + h * hd + j];
						double got = Y->data[((size_t)b * tq + t) * DD + h * hd + j];
						e2 = fmax(e2, fabs(got - num / den));
					}
				}
		TAP_OK(e2 < 1e-5, "linear attention %s, %d queries, %d keys, head dim %d: equals float64 sums (max |diff| %.2g)",
		       causal ? "causal" : "across", tq, tk, hd, e2);
		sl_tape_free(tp2);
		sl_arena_free(a2);
		gc_free(Q), gc_free(K), gc_free(V);
	}
	int sg[3] = { 1, 19, 32 }, sgk[3] = { 1, 21, 32 };
	sl_tensor *gin[3] = { gc_input(&r, 3, sg, -1, 1), gc_input(&r, 3, sg, -1, 1), gc_input(&r, 3, sg, -1, 1) };
	la_case cg = { .heads = 2, .causal = 1 };
	gc_check("linear attention 19 positions, head dim 16, threads=2", build_la, &cg, gin, 3, 1e-3, 2e-3, 2e-2, 2);
	gc_free(gin[1]), gc_free(gin[2]);
	gin[1] = gc_input(&r, 3, sgk, -1, 1);
	gin[2] = gc_input(&r, 3, sgk, -1, 1);
	la_case cgx = { .heads = 2, .causal = 0 };
	gc_check("linear cross attention 19 queries, 21 keys, head dim 16", build_la, &cgx, gin, 3, 1e-3, 2e-3, 2e-2, 0);
	for (int i = 0; i < 3; i++)
		gc_free(gin[i]);
}

typedef struct s4d_case {
	int L, disc;
} s4d_case;

static sl_tensor *build_kernel(sl_tape *tp, sl_tensor **in, void *ctx)
{
	s4d_case *c = ctx;
	return sl_s4d_kernel(tp, in[0], in[1], in[2], in[3], c->L, c->disc);
}

static sl_tensor *build_lconv(sl_tape *tp, sl_tensor **in, void *ctx)
{
	(void)ctx;
	return sl_causal_conv(tp, in[0], in[1]);
}

/* S4D: gradients of the kernel (zoh, bilinear) and of the convolution; the
 * reference's test: the causal convolution with K equals the recurrence
 * x <- Ā x + B̄ u, y = 2 Re(C x) (N = 8, L = 16, Δ = 1/L; atol 1e-4) */
static void test_s4d(void)
{
	sl_rng r;
	sl_rng_seed(&r, 11);
	int H = 2, M = 3, sH[1] = { H }, sHM[2] = { H, M }, sC[3] = { H, M, 2 };
	sl_tensor *in[4] = { gc_input(&r, 1, sH, -3.0f, -0.7f), gc_input(&r, 2, sHM, -1.0f, 0.5f),
			     gc_input(&r, 2, sHM, -3.0f, 3.0f), gc_input(&r, 3, sC, -1.0f, 1.0f) };
	for (int disc = 0; disc < 2; disc++) {
		s4d_case c = { .L = 7, .disc = disc };
		gc_check(disc ? "s4d kernel bilinear" : "s4d kernel zoh", build_kernel, &c, in, 4, 1e-3, 2e-3, 2e-2, 0);
	}
	for (int k = 0; k < 4; k++)
		gc_free(in[k]);
	int su[3] = { 2, 6, 3 }, sK[2] = { 3, 8 };
	sl_tensor *cv[2] = { gc_input(&r, 3, su, -1, 1), gc_input(&r, 2, sK, -1, 1) };
	gc_check("causal long convolution", build_lconv, NULL, cv, 2, 1e-3, 1e-3, 1e-2, 0);
	gc_check("causal long convolution threads=2", build_lconv, NULL, cv, 2, 1e-3, 1e-3, 1e-2, 2);
	gc_free(cv[0]);
	gc_free(cv[1]);

	int L = 16, N2 = 4, sh1[1] = { 1 }, sm[2] = { 1, N2 }, sc[3] = { 1, N2, 2 }, sx[3] = { 1, L, 1 };
	sl_tensor *ldt = gc_input(&r, 1, sh1, 0, 0), *are = gc_input(&r, 2, sm, 0, 0), *aim = gc_input(&r, 2, sm, 0, 0);
	sl_tensor *C = gc_input(&r, 3, sc, -1, 1), *u = gc_input(&r, 3, sx, -1, 1);
	ldt->data[0] = logf(1.0f / L);
	for (int n = 0; n < N2; n++) { /* S4D-Lin */
		are->data[n] = logf(0.5f);
		aim->data[n] = (float)(M_PI * n);
	}
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	tp->grad_enabled = 0;
	for (int disc = 0; disc < 2; disc++) {
		sl_tensor *K = sl_s4d_kernel(tp, ldt, are, aim, C, L, disc);
		sl_tensor *y = sl_causal_conv(tp, u, K);
		double err = 0;
		double complex x[4] = { 0 };
		for (int t = 0; t < L; t++) {
			double yt = 0;
			for (int n = 0; n < N2; n++) {
				double dt = 1.0 / L;
				double complex A = -0.5 + I * M_PI * n, w = dt * A, ab, bb;
				if (disc) {
					ab = (1 + w / 2) / (1 - w / 2);
					bb = dt / (1 - w / 2);
				} else {
					ab = cexp(w);
					bb = (cexp(w) - 1) / A;
				}
				x[n] = ab * x[n] + bb * u->data[t];
				yt += 2 * creal((C->data[2 * n] + I * C->data[2 * n + 1]) * x[n]);
			}
			err = fmax(err, fabs(y->data[t] - yt));
		}
		TAP_OK(err < 1e-4, "s4d %s: the convolution with K equals the recurrence (max |diff| %.2g)",
		       disc ? "bilinear" : "zoh", err);
	}
	sl_tape_free(tp);
	sl_arena_free(a);
	gc_free(ldt), gc_free(are), gc_free(aim), gc_free(C), gc_free(u);
}

/* the channel-vectorised causal convolution has the bits of the per-channel
 * loops it replaced (each sum in the same order), forward and backward, at a
 * width that is not a multiple of the kernel's blocks, on 1 and 2 threads */
static void test_lconv_bits(void)
{
	sl_rng r;
	sl_rng_seed(&r, 12);
	int B = 3, T = 37, H = 83, L = 40, su[3] = { B, T, H }, sK[2] = { H, L };
	sl_tensor *u = gc_input(&r, 3, su, -1, 1), *K = gc_input(&r, 2, sK, -1, 1), *dy = gc_input(&r, 3, su, -1, 1);
	size_t n = (size_t)B * T * H;
	float *y = calloc(n, sizeof *y), *du = calloc(n, sizeof *du), *dK = calloc((size_t)H * L, sizeof *dK);
	for (int b = 0; b < B; b++)
		for (int h = 0; h < H; h++)
			for (int t = 0; t < T; t++) {
				float acc = 0.0f, g = 0.0f;
				for (int s = 0; s <= t; s++)
					acc += K->data[(size_t)h * L + t - s] * u->data[((size_t)b * T + s) * H + h];
				y[((size_t)b * T + t) * H + h] = acc;
				for (int s = t; s < T; s++)
					g += K->data[(size_t)h * L + s - t] * dy->data[((size_t)b * T + s) * H + h];
				du[((size_t)b * T + t) * H + h] = g;
			}
	for (int h = 0; h < H; h++)
		for (int l = 0; l < T; l++) {
			float acc = 0.0f;
			for (int b = 0; b < B; b++)
				for (int t = l; t < T; t++)
					acc += dy->data[((size_t)b * T + t) * H + h] * u->data[((size_t)b * T + t - l) * H + h];
			dK[(size_t)h * L + l] = acc;
		}
	for (int th = 0; th <= 2; th += 2) {
		sl_arena *a = sl_arena_new(0);
		sl_pool *pool = th ? sl_pool_new(th) : NULL;
		sl_tape *tp = sl_tape_new(a, pool);
		memset(u->grad, 0, n * sizeof(float));
		memset(K->grad, 0, (size_t)H * L * sizeof(float));
		sl_tensor *out = sl_causal_conv(tp, u, K);
		int same_y = !memcmp(out->data, y, n * sizeof *y);
		int rc = sl_tape_backward_from(tp, out, dy->data);
		int same_du = rc == SL_OK && !memcmp(u->grad, du, n * sizeof *du);
		int same_dk = rc == SL_OK && !memcmp(K->grad, dK, (size_t)H * L * sizeof *dK);
		TAP_OK(same_y && same_du && same_dk,
		       "causal long convolution, %d threads: y, du and dK have the per-channel loops' bits (%d %d %d)",
		       th ? th : 1, same_y, same_du, same_dk);
		sl_tape_free(tp);
		sl_pool_free(pool);
		sl_arena_free(a);
	}
	free(y), free(du), free(dK);
	gc_free(u), gc_free(K), gc_free(dy);
}

static void test_colmul(void)
{
	sl_rng r;
	sl_rng_seed(&r, 9);
	int s3[3] = { 2, 3, 5 }, s1[1] = { 5 };
	sl_tensor *in[2] = { gc_input(&r, 3, s3, -1, 1), gc_input(&r, 1, s1, -1, 1) };
	gc_check("colmul", build_colmul, NULL, in, 2, 1e-3, 1e-3, 1e-2, 0);
	gc_free(in[0]);
	gc_free(in[1]);
}

/* the S4D kernel's channels split over the pool: output and every gradient
 * bit-identical with 1 and 2 threads, at a size that goes parallel */
static float *kernel_run(sl_tensor **in, int L, int disc, const float *dK, int threads, size_t *len)
{
	sl_arena *a = sl_arena_new(0);
	sl_pool *pool = sl_pool_new(threads);
	sl_tape *tp = sl_tape_new(a, pool);
	for (int k = 0; k < 4; k++)
		memset(in[k]->grad, 0, sl_tensor_numel(in[k]) * sizeof(float));
	sl_tensor *K = sl_s4d_kernel(tp, in[0], in[1], in[2], in[3], L, disc);
	size_t n = sl_tensor_numel(K);
	*len = n;
	for (int k = 0; k < 4; k++)
		*len += sl_tensor_numel(in[k]);
	float *res = malloc(*len * sizeof(float));
	memcpy(res, K->data, n * sizeof(float));
	SL_ASSERT(sl_tape_backward_from(tp, K, dK) == SL_OK);
	for (int k = 0; k < 4; k++) {
		memcpy(res + n, in[k]->grad, sl_tensor_numel(in[k]) * sizeof(float));
		n += sl_tensor_numel(in[k]);
	}
	sl_tape_free(tp);
	sl_pool_free(pool);
	sl_arena_free(a);
	return res;
}

static void test_s4d_kernel_threads(void)
{
	sl_rng r;
	sl_rng_seed(&r, 17);
	int H = 24, M = 16, L = 40, sH[1] = { H }, sHM[2] = { H, M }, sC[3] = { H, M, 2 };
	sl_tensor *in[4] = { gc_input(&r, 1, sH, -3.0f, -0.7f), gc_input(&r, 2, sHM, -1.0f, 0.5f),
			     gc_input(&r, 2, sHM, -3.0f, 3.0f), gc_input(&r, 3, sC, -1.0f, 1.0f) };
	float *dK = malloc((size_t)H * L * sizeof(float));
	for (int i = 0; i < H * L; i++)
		dK[i] = 2.0f * sl_rng_float(&r) - 1.0f;
	for (int disc = 0; disc < 2; disc++) {
		size_t n1, n2;
		float *r1 = kernel_run(in, L, disc, dK, 1, &n1), *r2 = kernel_run(in, L, disc, dK, 2, &n2);
		TAP_OK(n1 == n2 && memcmp(r1, r2, n1 * sizeof(float)) == 0,
		       "s4d kernel %s: output and gradients bit-identical with 1 and 2 threads", disc ? "bilinear" : "zoh");
		free(r1);
		free(r2);
	}
	free(dK);
	for (int k = 0; k < 4; k++)
		gc_free(in[k]);
}

int main(void)
{
	test_lru();
	test_rglru();
	test_rglru_fresh();
	test_colmul();
	test_linear_attention();
	test_s4d();
	test_s4d_kernel_threads();
	test_lconv_bits();
	return tap_done();
}
