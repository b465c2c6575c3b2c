/* op_lrec.c - the diagonal linear recurrences of the LRU and the RG-LRU as
 * fused ops, a per-channel scale, and causal linear attention. Each runs h_t = a_t h_{t-1} + b_t per
 * (sequence, channel) on the shared scans (scan.h) and derives its backward
 * by hand:
 *
 *   G_t = dh_t + conj(a_{t+1}) G_{t+1}     (the total gradient of h_t)
 *   da_t = G_t conj(h_{t-1}),  db_t = G_t   (complex; real: no conj)
 *
 * LRU (Orvieto et al. 2023; minimal-LRU's lru/model.py), N complex lanes:
 *   λ_n = exp(-exp(ν_n)) e^{i exp(θ_n)},  γ_n = exp(γlog_n),
 *   x_t = λ ⊙ x_{t-1} + γ ⊙ bu_t,
 * bu (B, T, 2N) and x (B, T, 2N) with the real parts in [0, N) and the
 * imaginary parts in [N, 2N) of each row (the layout one linear layer of
 * weight [B_re; B_im] produces). With r = |λ|, φ = arg λ:
 *   dν = -(dr·r)·exp(ν), dθ = dφ·φ, dγlog = γ Σ_t Re(conj(bu_t) G_t).
 *
 * RG-LRU (De et al. 2024; recurrentgemma's torch/layers.py), D real lanes:
 *   r_t = σ(ga_t), i_t = σ(gx_t), log a_t = -c r_t softplus(Λ), c = 8,
 *   h_t = a_t h_{t-1} + sqrt(1 - a_t²) (i_t x_t), h_0 = i_0 x_0.
 * sqrt's derivative is bounded as the reference bounds it
 * (SqrtBoundDerivative: at most 1000), so a_t -> 1 gives no infinity.
 * Forward keeps a_t, r_t and i_t (rglru_saved_at), so backward computes no
 * sigmoid or exponential of its own (m_t = sqrt(1 - a_t²) again from a_t).
 *
 * Threads: sequences split over the pool; each sequence's parameter
 * gradients go to its own row of partials, summed over sequences in order
 * afterwards, so every bit is independent of the thread count. */
#include "ops_impl.h"

#include "seqlab/scan.h"
#include "seqlab/fastmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- LRU ----------------------------------------------------------------------- */

typedef struct lru_ctx {
	int B, T, N;
	const float *lr, *li, *gam; /* λ (re, im) and γ, N each */
	const float *bu;            /* (B, T, 2N) */
	float *x;                   /* (B, T, 2N): the output */
	const float *dx;            /* output gradient, or NULL (forward) */
	float *dbu;                 /* += (B, T, 2N), or NULL */
	int fresh;                  /* dbu a fresh buffer: written as 0 + contribution */
	float *part;                /* (B, 3N): dλr, dλi, dγ per sequence, or NULL */
	float *scratch;             /* per thread: 4 T N floats */
	int parallel;
} lru_ctx;

/* The loop (scan=seq) straight on the rows' layout, lanes innermost:
 * sl_scan_seq_complex's arithmetic with a_t = λ, b_t = γ bu_t, term for term */
static void lru_fwd_loop(const lru_ctx *c, int b)
{
	int T = c->T, N = c->N;
	size_t row = 2 * (size_t)N;
	const float *bu = c->bu + (size_t)b * T * row;
	const float *lr = c->lr, *li = c->li, *gam = c->gam;
	float *x = c->x + (size_t)b * T * row;
	for (int n = 0; n < N; n++) {
		x[n] = gam[n] * bu[n];
		x[N + n] = gam[n] * bu[N + n];
	}
	for (int t = 1; t < T; t++) {
		const float *p = x + (size_t)(t - 1) * row, *u = bu + (size_t)t * row;
		float *o = x + (size_t)t * row;
		for (int n = 0; n < N; n++) {
			float xr = p[n], xi = p[N + n], br = gam[n] * u[n], bi = gam[n] * u[N + n];
			o[n] = (lr[n] * xr - li[n] * xi) + br;
			o[N + n] = (lr[n] * xi + li[n] * xr) + bi;
		}
	}
}

static void lru_fwd_seq(const lru_ctx *c, int b, float *s)
{
	if (!c->parallel) {
		lru_fwd_loop(c, b);
		return;
	}
	int T = c->T, N = c->N;
	size_t TN = (size_t)T * N, row = 2 * (size_t)N;
	const float *bu = c->bu + (size_t)b * T * row;
	float *x = c->x + (size_t)b * T * row;
	float *ar = s, *ai = s + TN, *br = s + 2 * TN, *bi = s + 3 * TN;
	for (int t = 0; t < T; t++)
		for (int n = 0; n < N; n++) {
			size_t i = (size_t)t * N + n;
			ar[i] = c->lr[n];
			ai[i] = c->li[n];
			br[i] = c->gam[n] * bu[t * row + n];
			bi[i] = c->gam[n] * bu[t * row + N + n];
		}
	float *hr = sl_xmalloc(2 * TN * sizeof *hr), *hi = hr + TN;
	int P = 1;
	while (P < T)
		P <<= 1;
	size_t PN = (size_t)P * N;
	float *e = sl_xmalloc(4 * PN * sizeof *e);
	sl_scan_blelloch_complex(T, N, ar, ai, br, bi, hr, hi, e, e + PN, e + 2 * PN, e + 3 * PN);
	free(e);
	for (int t = 0; t < T; t++) {
		memcpy(x + t * row, hr + (size_t)t * N, (size_t)N * sizeof *x);
		memcpy(x + t * row + N, hi + (size_t)t * N, (size_t)N * sizeof *x);
	}
	free(hr);
}

/* backward of one sequence: the reverse recurrence G_t = dx_t + conj(λ)
 * G_{t+1} (sl_scan_seq_complex's arithmetic on the reversed arrays with
 * a = conj(λ)), into s (T rows of 2N, the rows' layout), then the gradients
 * with the sums over t in increasing order */
static void lru_bwd_seq(const lru_ctx *c, int b, float *s)
{
	int T = c->T, N = c->N;
	size_t row = 2 * (size_t)N;
	const float *bu = c->bu + (size_t)b * T * row, *x = c->x + (size_t)b * T * row;
	const float *dx = c->dx + (size_t)b * T * row;
	const float *lr = c->lr, *li = c->li, *gam = c->gam;
	float *G = s;
	memcpy(G + (size_t)(T - 1) * row, dx + (size_t)(T - 1) * row, row * sizeof *G);
	for (int t = T - 2; t >= 0; t--) {
		const float *q = G + (size_t)(t + 1) * row, *d = dx + (size_t)t * row;
		float *o = G + (size_t)t * row;
		for (int n = 0; n < N; n++) {
			float gr = q[n], gi = q[N + n], ai = -li[n];
			o[n] = (lr[n] * gr - ai * gi) + d[n];
			o[N + n] = (lr[n] * gi + ai * gr) + d[N + n];
		}
	}
	float *p = c->part ? c->part + (size_t)b * 3 * N : NULL;
	float *dbu = c->dbu ? c->dbu + (size_t)b * T * row : NULL;
	for (int t = 0; t < T; t++) {
		const float *g = G + (size_t)t * row, *ub = bu + (size_t)t * row;
		if (dbu) {
			float *db = dbu + (size_t)t * row;
			if (c->fresh)
				for (int n = 0; n < N; n++) {
					db[n] = 0.0f + gam[n] * g[n];
					db[N + n] = 0.0f + gam[n] * g[N + n];
				}
			else
				for (int n = 0; n < N; n++) {
					db[n] += gam[n] * g[n];
					db[N + n] += gam[n] * g[N + n];
				}
		}
		if (p) {
			if (t > 0) { /* dλ += G_t conj(x_{t-1}) */
				const float *xp = x + (size_t)(t - 1) * row;
				for (int n = 0; n < N; n++) {
					p[n] += g[n] * xp[n] + g[N + n] * xp[N + n];
					p[N + n] += g[N + n] * xp[n] - g[n] * xp[N + n];
				}
			}
			for (int n = 0; n < N; n++)
				p[2 * N + n] += g[n] * ub[n] + g[N + n] * ub[N + n];
		}
	}
}

/* Runs task on the tape's pool when the work reaches SL_PAR_MIN_WORK, else
 * once on this thread, with `per` floats of arena scratch for each thread
 * at *scratch (thread tid's at tid * per). Every op of this file runs so. */
static void run_threads(sl_tape *tp, size_t work, size_t per, float **scratch, sl_pool_fn task, void *ctx)
{
	int nth = tp->pool && work >= SL_PAR_MIN_WORK ? sl_pool_size(tp->pool) : 1;
	*scratch = sl_arena_alloc(tp->arena, (size_t)nth * per * sizeof(float));
	if (nth > 1)
		sl_pool_run(tp->pool, task, ctx);
	else
		task(ctx, 0, 1);
}

static void lru_task(void *arg, int tid, int nth)
{
	const lru_ctx *c = arg;
	size_t lo, hi;
	sl_range((size_t)c->B, tid, nth, &lo, &hi);
	float *s = c->scratch + (size_t)tid * 4 * c->T * c->N;
	for (size_t b = lo; b < hi; b++) {
		if (c->dx)
			lru_bwd_seq(c, (int)b, s);
		else
			lru_fwd_seq(c, (int)b, s);
	}
}

static void lru_run(sl_tape *tp, lru_ctx *c)
{
	run_threads(tp, (size_t)c->B * c->T * c->N * 8, (size_t)4 * c->T * c->N, &c->scratch, lru_task, c);
}

/* λ (re, im) and γ from the parameters, into the arena */
static void lru_params(sl_tape *tp, const sl_node *n, float **lr, float **li, float **gam)
{
	int N = n->in[0]->shape[0];
	*lr = sl_arena_alloc(tp->arena, 3 * (size_t)N * sizeof(float));
	*li = *lr + N;
	*gam = *li + N;
	for (int k = 0; k < N; k++) {
		double r = exp(-exp((double)n->in[0]->data[k])), ph = exp((double)n->in[1]->data[k]);
		(*lr)[k] = (float)(r * cos(ph));
		(*li)[k] = (float)(r * sin(ph));
		(*gam)[k] = (float)exp((double)n->in[2]->data[k]);
	}
}

sl_tensor *sl_lru(sl_tape *tp, sl_tensor *nu_log, sl_tensor *theta_log, sl_tensor *gamma_log, sl_tensor *bu,
		  int parallel)
{
	int N = nu_log->shape[0];
	SL_ASSERT(nu_log->ndim == 1 && theta_log->ndim == 1 && gamma_log->ndim == 1);
	SL_ASSERT(theta_log->shape[0] == N && gamma_log->shape[0] == N);
	SL_ASSERT(bu->ndim == 3 && bu->shape[2] == 2 * N);
	sl_tensor *ins[4] = { nu_log, theta_log, gamma_log, bu };
	sl_node n = sl_node_make(tp, SL_OP_LRU, ins, 4, 3, bu->shape);
	n.i[0] = parallel;
	return sl_tape_apply(tp, &n);
}

void sl_op_lru_forward(sl_tape *tp, sl_node *n)
{
	const sl_tensor *bu = n->in[3];
	lru_ctx c = { .B = bu->shape[0], .T = bu->shape[1], .N = bu->shape[2] / 2, .bu = bu->data,
		      .x = n->out->data, .parallel = n->i[0] };
	float *lr, *li, *gam;
	lru_params(tp, n, &lr, &li, &gam);
	c.lr = lr;
	c.li = li;
	c.gam = gam;
	lru_run(tp, &c);
}

void sl_op_lru_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *nu = n->in[0], *th = n->in[1], *ga = n->in[2], *bu = n->in[3];
	int B = bu->shape[0], T = bu->shape[1], N = bu->shape[2] / 2;
	int want_p = nu->requires_grad || th->requires_grad || ga->requires_grad;
	if (!want_p && !bu->requires_grad)
		return;
	float *lr, *li, *gam;
	lru_params(tp, n, &lr, &li, &gam);
	lru_ctx c = { .B = B, .T = T, .N = N, .lr = lr, .li = li, .gam = gam, .bu = bu->data, .x = n->out->data,
		      .dx = n->out->grad };
	if (bu->requires_grad)
		c.dbu = sl_tape_grad_fresh(tp, bu, &c.fresh);
	if (want_p) {
		c.part = sl_arena_alloc(tp->arena, (size_t)B * 3 * N * sizeof(float));
		memset(c.part, 0, (size_t)B * 3 * N * sizeof(float));
	}
	lru_run(tp, &c);
	if (!want_p)
		return;
	float *dnu = nu->requires_grad ? sl_tape_grad(tp, nu) : NULL, *dth = th->requires_grad ? sl_tape_grad(tp, th) : NULL;
	float *dga = ga->requires_grad ? sl_tape_grad(tp, ga) : NULL;
	for (int k = 0; k < N; k++) {
		double dlr = 0, dli = 0, dg = 0;
		for (int b = 0; b < B; b++) { /* sequences in order */
			const float *p = c.part + (size_t)b * 3 * N;
			dlr += p[k];
			dli += p[N + k];
			dg += p[2 * N + k];
		}
		double en = exp((double)nu->data[k]), r = exp(-en), ph = exp((double)th->data[k]);
		double dr = dlr * cos(ph) + dli * sin(ph), dph = -dlr * r * sin(ph) + dli * r * cos(ph);
		if (dnu)
			dnu[k] += (float)(dr * r * -en);
		if (dth)
			dth[k] += (float)(dph * ph);
		if (dga)
			dga[k] += (float)(dg * gam[k]);
	}
}

/* ---- RG-LRU -------------------------------------------------------------------- */

#define RGLRU_C 8.0f
#define SQRT_MAX_GRAD 1000.0f

typedef struct rglru_ctx {
	int B, T, D;
	const float *x, *ga, *gx, *sp; /* sp: softplus(Λ), D */
	float *h;                       /* (B, T, D): the output */
	float *a, *r, *i;               /* (B, T, D) each: the forward's a_t, r_t, i_t (rglru_saved_at) */
	const float *dh;                /* NULL: forward */
	float *dx, *dga, *dgx;          /* +=, or NULL */
	int fx, fga, fgx;               /* each: a fresh buffer, written (as 0 + ...) */
	float *part;                    /* (B, D): dΛ partials, or NULL */
	float *scratch;                 /* per thread: (T + 3) D floats */
	int parallel;
} rglru_ctx;

static inline float sigm(float v)
{
	return 1.0f / (1.0f + expf(-v));
}

/* One position of a sequence, D channels: r_t, i_t, a_t, m_t = sqrt(1 - a_t²)
 * and the input b_t = m_t i_t x_t, with fastmath.h's sigmoid and exp (loops
 * over channels that GCC vectorises; the mixer's step mode and views use the
 * same); at a sequence's first position m_t = 1
 * (recurrentgemma: `multiplier = reset + ~reset * multiplier`: h_0 = i_0 x_0,
 * nothing to normalise against). Forward keeps a, r, i for backward. */
static inline float rglru_m(float a, int first)
{
	float y = 1.0f - a * a;
	return first ? 1.0f : sqrtf(y > 0.0f ? y : 0.0f); /* fmaxf(y, 0), as a comparison GCC vectorises */
}

static void rglru_elems(const float *restrict ga, const float *restrict gx, const float *restrict x,
			const float *restrict sp, int D, int first, float *restrict a, float *restrict r,
			float *restrict i, float *restrict bt)
{
	for (int d = 0; d < D; d++) {
		float rv = sl_fsigmoid(ga[d]), iv = sl_fsigmoid(gx[d]), av = sl_fexp(-RGLRU_C * rv * sp[d]);
		float mv = rglru_m(av, first);
		r[d] = rv;
		i[d] = iv;
		a[d] = av;
		bt[d] = mv * iv * x[d];
	}
}

static void rglru_fwd_seq(const rglru_ctx *c, int b, float *s)
{
	int T = c->T, D = c->D;
	size_t off = (size_t)b * T * D;
	float *a = c->a + off, *r = c->r + off, *i = c->i + off, *h = c->h + off;
	float *bb = s; /* parallel: (T, D); seq: one row */
	for (int t = 0; t < T; t++) {
		size_t k = (size_t)t * D;
		float *bt = c->parallel ? bb + k : bb;
		rglru_elems(c->ga + off + k, c->gx + off + k, c->x + off + k, c->sp, D, t == 0, a + k, r + k,
			    i + k, bt);
		if (c->parallel)
			continue;
		/* sl_scan_seq's loop, fused: h_0 = b_0, h_t = a_t h_{t-1} + b_t */
		float *ht = h + k;
		if (t == 0) {
			memcpy(ht, bt, (size_t)D * sizeof *ht);
			continue;
		}
		const float *at = a + k, *hp = ht - D;
		for (int d = 0; d < D; d++)
			ht[d] = at[d] * hp[d] + bt[d];
	}
	if (c->parallel) {
		int P = 1;
		while (P < T)
			P <<= 1;
		float *e = sl_xmalloc(2 * (size_t)P * D * sizeof *e);
		sl_scan_blelloch(T, D, a, bb, h, e, e + (size_t)P * D);
		free(e);
	}
}

/* the gradients of one position u from the forward's a, r, i: hp is
 * h_{u-1} (zeros at u = 0), G the total gradient of h_u, dr and m rows of
 * scratch; first (u = 0, a constant where it is inlined): m_0 = 1, no path
 * to a_0 */
static inline void rglru_bwd_row(const rglru_ctx *c, size_t k, const float *restrict hp,
				 const float *restrict Gt, int first, float *restrict p, float *restrict dr,
				 float *restrict m)
{
	int D = c->D;
	const float *restrict a = c->a + k, *restrict r = c->r + k;
	const float *restrict i = c->i + k, *restrict xv = c->x + k, *restrict sp = c->sp;
	const float ymin = 1.0f / (SQRT_MAX_GRAD * SQRT_MAX_GRAD * 4);
	for (int d = 0; d < D; d++) {
		float da = Gt[d] * hp[d];                      /* through a_t h_{t-1} */
		float dm = Gt[d] * i[d] * xv[d];               /* through b_t = m i x */
		float y = 1.0f - a[d] * a[d];
		y = y > ymin ? y : ymin;                       /* fmaxf, as a comparison GCC vectorises */
		if (!first)
			da += dm * (-a[d] / sqrtf(y));         /* dm/da = -a / sqrt(1 - a²), bounded */
		dr[d] = da * a[d];                             /* d log a: a = exp(log a) */
		m[d] = rglru_m(a[d], first);                   /* the forward's m_t */
	}
	if (p)
		for (int d = 0; d < D; d++)
			p[d] += dr[d] * -RGLRU_C * r[d];       /* d/dsp: log a = -c r sp */
	for (int d = 0; d < D; d++)
		dr[d] = dr[d] * -RGLRU_C * sp[d];              /* d/dr */
/* g[d] = 0 + v on a fresh buffer (sl_tape_grad_fresh: the bits of zeros and
 * an add), else g[d] += v, for d in [0, D) */
#define RGLRU_PUT(g, fresh, v)                          \
	do {                                            \
		if (fresh)                              \
			for (int d = 0; d < D; d++)     \
				(g)[d] = 0.0f + (v);    \
		else                                    \
			for (int d = 0; d < D; d++)     \
				(g)[d] += (v);          \
	} while (0)
	if (c->dga)
		RGLRU_PUT(c->dga + k, c->fga, dr[d] * r[d] * (1.0f - r[d]));
	if (c->dgx)
		RGLRU_PUT(c->dgx + k, c->fgx, Gt[d] * m[d] * xv[d] * i[d] * (1.0f - i[d]));
	if (c->dx)
		RGLRU_PUT(c->dx + k, c->fx, Gt[d] * m[d] * i[d]);
#undef RGLRU_PUT
}

/* G_u = dh_u + a_{u+1} G_{u+1}, G_{T-1} = dh_{T-1} (sl_scan_seq's loop run
 * backward in time), then the positions in order (dΛ's partial sums in that
 * order). s: (T + 3) D floats. */
static void rglru_bwd_seq(const rglru_ctx *c, int b, float *s)
{
	int T = c->T, D = c->D;
	size_t off = (size_t)b * T * D;
	float *G = s, *dr = s + (size_t)T * D, *zero = dr + D, *m = zero + D;
	const float *A = c->a + off, *dh = c->dh + off, *H = c->h + off;
	memcpy(G + (size_t)(T - 1) * D, dh + (size_t)(T - 1) * D, (size_t)D * sizeof *G);
	for (int u = T - 2; u >= 0; u--) {
		size_t k = (size_t)u * D;
		const float *an = A + k + D, *gn = G + k + D, *du = dh + k;
		float *gu = G + k;
		for (int d = 0; d < D; d++)
			gu[d] = an[d] * gn[d] + du[d];
	}
	float *p = c->part ? c->part + (size_t)b * D : NULL;
	memset(zero, 0, (size_t)D * sizeof *zero);
	rglru_bwd_row(c, off, zero, G, 1, p, dr, m);
	for (int u = 1; u < T; u++) {
		size_t k = (size_t)u * D;
		rglru_bwd_row(c, off + k, H + k - D, G + k, 0, p, dr, m);
	}
}

static void rglru_task(void *arg, int tid, int nth)
{
	const rglru_ctx *c = arg;
	size_t lo, hi;
	sl_range((size_t)c->B, tid, nth, &lo, &hi);
	float *s = c->scratch + (size_t)tid * (c->T + 3) * c->D;
	for (size_t b = lo; b < hi; b++) {
		if (c->dh)
			rglru_bwd_seq(c, (int)b, s);
		else
			rglru_fwd_seq(c, (int)b, s);
	}
}

static void rglru_run(sl_tape *tp, rglru_ctx *c)
{
	run_threads(tp, (size_t)c->B * c->T * c->D * 16, (size_t)(c->T + 3) * c->D, &c->scratch, rglru_task, c);
}

/* What forward keeps for backward, in one block: a, r, i, (B, T, D) each */
static float *rglru_saved_at(rglru_ctx *c, float *base)
{
	size_t n = (size_t)c->B * c->T * c->D;
	c->a = base;
	c->r = base + n;
	c->i = base + 2 * n;
	return base;
}

static float *rglru_sp(sl_tape *tp, const sl_tensor *lam)
{
	int D = lam->shape[0];
	float *sp = sl_arena_alloc(tp->arena, (size_t)D * sizeof(float));
	for (int d = 0; d < D; d++) {
		float v = lam->data[d];
		sp[d] = v > 20.0f ? v : log1pf(expf(v));
	}
	return sp;
}

sl_tensor *sl_rglru(sl_tape *tp, sl_tensor *x, sl_tensor *ga, sl_tensor *gx, sl_tensor *lam, int parallel)
{
	SL_ASSERT(x->ndim == 3 && sl_tensor_same_shape(x, ga) && sl_tensor_same_shape(x, gx));
	SL_ASSERT(lam->ndim == 1 && lam->shape[0] == x->shape[2]);
	sl_tensor *ins[4] = { x, ga, gx, lam };
	sl_node n = sl_node_make(tp, SL_OP_RGLRU, ins, 4, 3, x->shape);
	n.i[0] = parallel;
	return sl_tape_apply(tp, &n);
}

void sl_op_rglru_forward(sl_tape *tp, sl_node *n)
{
	const sl_tensor *x = n->in[0];
	rglru_ctx c = { .B = x->shape[0], .T = x->shape[1], .D = x->shape[2], .x = x->data, .ga = n->in[1]->data,
			.gx = n->in[2]->data, .sp = rglru_sp(tp, n->in[3]), .h = n->out->data, .parallel = n->i[0] };
	n->saved = rglru_saved_at(&c, sl_arena_alloc(tp->arena, 3 * sl_tensor_numel(x) * sizeof(float)));
	rglru_run(tp, &c);
}

void sl_op_rglru_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *ga = n->in[1], *gx = n->in[2], *lam = n->in[3];
	int B = x->shape[0], T = x->shape[1], D = x->shape[2];
	rglru_ctx c = { .B = B, .T = T, .D = D, .x = x->data, .ga = ga->data, .gx = gx->data,
			.sp = rglru_sp(tp, lam), .h = n->out->data, .dh = n->out->grad };
	/* in the order each position writes them: a buffer asked for twice (one
	 * tensor as two inputs) is fresh for its first writer only */
	if (ga->requires_grad)
		c.dga = sl_tape_grad_fresh(tp, ga, &c.fga);
	if (gx->requires_grad)
		c.dgx = sl_tape_grad_fresh(tp, gx, &c.fgx);
	if (x->requires_grad)
		c.dx = sl_tape_grad_fresh(tp, x, &c.fx);
	rglru_saved_at(&c, n->saved);
	if (lam->requires_grad) {
		c.part = sl_arena_alloc(tp->arena, (size_t)B * D * sizeof(float));
		memset(c.part, 0, (size_t)B * D * sizeof(float));
	}
	rglru_run(tp, &c);
	if (!lam->requires_grad)
		return;
	float *dl = sl_tape_grad(tp, lam);
	for (int d = 0; d < D; d++) {
		float s = 0.0f;
		for (int b = 0; b < B; b++)
			s += c.part[(size_t)b * D + d];
		dl[d] += s * sigm(lam->data[d]); /* softplus' = σ */
	}
}

/* ---- per-channel scale ------------------------------------------------------------
 * Rows split over the pool for y and dx; dd's column sums split over columns,
 * each column summed over the rows in order (the same bits at any thread
 * count). */

typedef struct colmul_ctx {
	const float *x, *d, *dy;
	float *y, *dx, *dd;
	size_t R, C;
} colmul_ctx;

static void colmul_fwd_rows(void *arg, size_t lo, size_t hi)
{
	const colmul_ctx *c = arg;
	for (size_t r = lo; r < hi; r++)
		for (size_t j = 0; j < c->C; j++)
			c->y[r * c->C + j] = c->x[r * c->C + j] * c->d[j];
}

static void colmul_dx_rows(void *arg, size_t lo, size_t hi)
{
	const colmul_ctx *c = arg;
	for (size_t r = lo; r < hi; r++)
		for (size_t j = 0; j < c->C; j++)
			c->dx[r * c->C + j] += c->dy[r * c->C + j] * c->d[j];
}

/* each column's sum over rows in order, 64 columns at a time */
static void colmul_dd_cols(void *arg, size_t lo, size_t hi)
{
	const colmul_ctx *c = arg;
	sl_colsum_prod_add(c->dd, c->dy, c->x, c->R, c->C, lo, hi);
}

static void colmul_run(sl_tape *tp, size_t n, size_t work, sl_range_fn fn, void *ctx)
{
	if (!tp->pool || work < SL_PAR_MIN_WORK)
		fn(ctx, 0, n);
	else
		sl_pool_for(tp->pool, n, fn, ctx);
}

sl_tensor *sl_colmul(sl_tape *tp, sl_tensor *x, sl_tensor *d)
{
	SL_ASSERT(d->ndim == 1 && d->shape[0] == x->shape[x->ndim - 1]);
	sl_tensor *ins[2] = { x, d };
	sl_node n = sl_node_make(tp, SL_OP_COLMUL, ins, 2, x->ndim, x->shape);
	return sl_tape_apply(tp, &n);
}

void sl_op_colmul_forward(sl_tape *tp, sl_node *n)
{
	const sl_tensor *x = n->in[0], *d = n->in[1];
	colmul_ctx c = { .x = x->data, .d = d->data, .y = n->out->data, .R = sl_tensor_rows(x),
			 .C = (size_t)d->shape[0] };
	colmul_run(tp, c.R, c.R * c.C, colmul_fwd_rows, &c);
}

void sl_op_colmul_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *d = n->in[1];
	colmul_ctx c = { .x = x->data, .d = d->data, .dy = n->out->grad, .R = sl_tensor_rows(x),
			 .C = (size_t)d->shape[0] };
	if (x->requires_grad) {
		c.dx = sl_tape_grad(tp, x);
		colmul_run(tp, c.R, c.R * c.C, colmul_dx_rows, &c);
	}
	if (d->requires_grad) {
		c.dd = sl_tape_grad(tp, d);
		colmul_run(tp, c.C, c.R * c.C, colmul_dd_cols, &c);
	}
}

/* ---- causal linear attention -------------------------------------------------------
 * Katharopoulos et al. 2020 (idiap/fast-transformers causal_linear_attention):
 * with φ(x) = elu(x) + 1 per feature, for each sequence and head,
 *   y_t = φ(q_t)ᵀ S_t / (φ(q_t)ᵀ z_t + ε),  S_t = Σ_{s<=t} φ(k_s) v_sᵀ,  z_t = Σ_{s<=t} φ(k_s),
 * evaluated here in its parallel (quadratic) form through matrix products, as
 * PyTorch evaluates it: A = φ(Q) φ(K)ᵀ, masked to s <= t when causal,
 * den_t = Σ_s A_ts + ε, P = A / den, Y = P V (the recurrent form is the mixer's
 * step mode; tests/test_lrec.c checks they agree). Backward:
 *   dV += Pᵀ dY,   dA_ts = (dy_t·v_s - dy_t·y_t) / den_t (masked),
 *   dφ(Q) = dA φ(K),  dφ(K) = dAᵀ φ(Q),  dx = dφ φ'(x), φ'(x) = x > 0 ? 1 : φ(x).
 * The products run on sl_sgemm; the masked half of a causal A is computed and
 * zeroed (at T = 64 the product at the matrix rate costs less than skipping).
 * Forward keeps φ(Q) and φ(K) with P and den for backward (la_saved_at). */

#define LINATTN_EPS 1e-6f

typedef struct la_ctx {
	int B, T, Tk, H, Dh, causal; /* T: queries, Tk: keys (causal: Tk = T) */
	const float *q, *k, *v;
	float *y, *P, *den;          /* out (B, T, H Dh); P (B, H, T, Tk); den (B, H, T) */
	float *fq, *fk;              /* φ(q) (B, H, T, Dh), φ(k) (B, H, Tk, Dh): forward writes them */
	const float *dy;             /* NULL: forward */
	float *dq, *dk, *dv;
	float *scratch;              /* per thread: la_scratch() floats */
} la_ctx;

static size_t la_scratch(const la_ctx *c)
{
	size_t T = (size_t)c->T, Tk = (size_t)c->Tk, Dh = (size_t)c->Dh;
	return Tk * Dh + T * Tk + (T > Tk ? T : Tk) * Dh + T;
}

/* f (rows, Dh) = φ of one head's columns of x (rows, D) */
static void la_phi(const float *x, int rows, int D, int Dh, float *f)
{
	for (int t = 0; t < rows; t++) {
		const float *xr = x + (size_t)t * D;
		float *fr = f + (size_t)t * Dh;
		for (int j = 0; j < Dh; j++)
			fr[j] = xr[j] > 0.0f ? xr[j] + 1.0f : sl_fexp(xr[j]);
	}
}

/* dst (Dh, rows) = the transpose of one head's columns of x (rows, ld) */
static void la_transpose(const float *x, int rows, int ld, int Dh, float *dst)
{
	for (int t = 0; t < rows; t++)
		for (int j = 0; j < Dh; j++)
			dst[(size_t)j * rows + t] = x[(size_t)t * ld + j];
}

/* d (rows, D) += g (rows, Dh) φ'(x) for one head's columns */
static void la_dphi_add(const float *g, const float *x, const float *f, int rows, int D, int Dh, float *d)
{
	for (int t = 0; t < rows; t++)
		for (int j = 0; j < Dh; j++) {
			size_t o = (size_t)t * D + j;
			d[o] += g[(size_t)t * Dh + j] * (x[o] > 0.0f ? 1.0f : f[(size_t)t * Dh + j]);
		}
}

/* one (b, h): forward, or backward when c->dy */
static void la_bh(const la_ctx *c, int b, int h, float *s)
{
	int T = c->T, Tk = c->Tk, Dh = c->Dh, D = c->H * Dh;
	size_t bh = (size_t)b * c->H + h;
	float *fq = c->fq + bh * T * Dh, *fk = c->fk + bh * Tk * Dh, *tr = s, *A = tr + (size_t)Dh * Tk;
	float *g = A + (size_t)T * Tk, *dyy = g + (size_t)(T > Tk ? T : Tk) * Dh;
	const float *q = c->q + (size_t)b * T * D + (size_t)h * Dh, *k = c->k + (size_t)b * Tk * D + (size_t)h * Dh;
	const float *v = c->v + (size_t)b * Tk * D + (size_t)h * Dh;
	float *P = c->P + bh * T * Tk, *den = c->den + bh * T;
	float *y = c->y + (size_t)b * T * D + (size_t)h * Dh;
	if (!c->dy) {
		la_phi(q, T, D, Dh, fq);
		la_phi(k, Tk, D, Dh, fk);
		la_transpose(fk, Tk, Dh, Dh, tr);
		sl_sgemm(0, 0, T, Tk, Dh, 1.0f, fq, Dh, tr, Tk, 0.0f, P, Tk);
		for (int t = 0; t < T; t++) {
			float *Pr = P + (size_t)t * Tk, sum = 0.0f;
			int last = c->causal ? t : Tk - 1;
			for (int u = last + 1; u < Tk; u++)
				Pr[u] = 0.0f;
			for (int u = 0; u <= last; u++)
				sum += Pr[u];
			den[t] = sum + LINATTN_EPS;
			float inv = 1.0f / den[t];
			for (int u = 0; u <= last; u++)
				Pr[u] *= inv;
		}
		sl_sgemm(0, 0, T, Dh, Tk, 1.0f, P, Tk, v, D, 0.0f, y, D);
		return;
	}
	const float *dy = c->dy + (size_t)b * T * D + (size_t)h * Dh;
	for (int t = 0; t < T; t++) {
		float acc = 0.0f;
		for (int j = 0; j < Dh; j++)
			acc += dy[(size_t)t * D + j] * y[(size_t)t * D + j];
		dyy[t] = acc;
	}
	if (c->dv)
		sl_sgemm(1, 0, Tk, Dh, T, 1.0f, P, Tk, dy, D, 1.0f, c->dv + (size_t)b * Tk * D + (size_t)h * Dh, D);
	if (!c->dq && !c->dk)
		return;
	la_transpose(v, Tk, D, Dh, tr);
	sl_sgemm(0, 0, T, Tk, Dh, 1.0f, dy, D, tr, Tk, 0.0f, A, Tk);
	for (int t = 0; t < T; t++) {
		float *Ar = A + (size_t)t * Tk, inv = 1.0f / den[t];
		int last = c->causal ? t : Tk - 1;
		for (int u = 0; u <= last; u++)
			Ar[u] = (Ar[u] - dyy[t]) * inv;
		for (int u = last + 1; u < Tk; u++)
			Ar[u] = 0.0f;
	}
	if (c->dq) {
		sl_sgemm(0, 0, T, Dh, Tk, 1.0f, A, Tk, fk, Dh, 0.0f, g, Dh);
		la_dphi_add(g, q, fq, T, D, Dh, c->dq + (size_t)b * T * D + (size_t)h * Dh);
	}
	if (c->dk) {
		sl_sgemm(1, 0, Tk, Dh, T, 1.0f, A, Tk, fq, Dh, 0.0f, g, Dh);
		la_dphi_add(g, k, fk, Tk, D, Dh, c->dk + (size_t)b * Tk * D + (size_t)h * Dh);
	}
}

static void la_task(void *arg, int tid, int nth)
{
	const la_ctx *c = arg;
	size_t lo, hi;
	sl_range((size_t)c->B * c->H, tid, nth, &lo, &hi);
	float *s = c->scratch + (size_t)tid * la_scratch(c);
	for (size_t i = lo; i < hi; i++)
		la_bh(c, (int)(i / (size_t)c->H), (int)(i % (size_t)c->H), s);
}

/* What forward keeps for backward and the views, in one block: P, den, φ(q),
 * φ(k). la_saved_size: its floats; la_saved_at: c's arrays pointed into it. */
static size_t la_saved_size(const la_ctx *c)
{
	size_t bh = (size_t)c->B * c->H;
	return bh * ((size_t)c->T * c->Tk + c->T + ((size_t)c->T + c->Tk) * c->Dh);
}

static float *la_saved_at(la_ctx *c, float *base)
{
	size_t bh = (size_t)c->B * c->H;
	c->P = base;
	c->den = c->P + bh * c->T * c->Tk;
	c->fq = c->den + bh * c->T;
	c->fk = c->fq + bh * c->T * c->Dh;
	return base;
}

static void la_run(sl_tape *tp, la_ctx *c)
{
	size_t work = (size_t)c->B * c->H * c->T * c->Tk * c->Dh;
	run_threads(tp, work, la_scratch(c), &c->scratch, la_task, c);
}

sl_tensor *sl_linear_attention(sl_tape *tp, sl_tensor *q, sl_tensor *k, sl_tensor *v, int heads, int causal,
			       float **probs)
{
	SL_ASSERT(q->ndim == 3 && k->ndim == 3 && sl_tensor_same_shape(k, v));
	SL_ASSERT(q->shape[0] == k->shape[0] && q->shape[2] == k->shape[2] && (!causal || q->shape[1] == k->shape[1]));
	SL_ASSERT(heads >= 1 && q->shape[2] % heads == 0);
	sl_tensor *ins[3] = { q, k, v };
	sl_node n = sl_node_make(tp, SL_OP_LINATTN, ins, 3, 3, q->shape);
	n.i[0] = heads;
	n.i[1] = causal;
	sl_tensor *y = sl_tape_apply(tp, &n);
	if (probs)
		*probs = n.saved;
	return y;
}

void sl_op_linattn_forward(sl_tape *tp, sl_node *n)
{
	const sl_tensor *q = n->in[0];
	int B = q->shape[0], T = q->shape[1], Tk = n->in[1]->shape[1], H = n->i[0];
	la_ctx c = { .B = B, .T = T, .Tk = Tk, .H = H, .Dh = q->shape[2] / H, .causal = n->i[1], .q = q->data,
		     .k = n->in[1]->data, .v = n->in[2]->data, .y = n->out->data };
	n->saved = la_saved_at(&c, sl_arena_alloc(tp->arena, la_saved_size(&c) * sizeof(float)));
	la_run(tp, &c);
}

void sl_op_linattn_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
	int B = q->shape[0], T = q->shape[1], H = n->i[0];
	la_ctx c = { .B = B, .T = T, .Tk = k->shape[1], .H = H, .Dh = q->shape[2] / H, .causal = n->i[1],
		     .q = q->data, .k = k->data, .v = v->data,
		     .y = n->out->data, .dy = n->out->grad,
		     .dq = q->requires_grad ? sl_tape_grad(tp, q) : NULL,
		     .dk = k->requires_grad ? sl_tape_grad(tp, k) : NULL,
		     .dv = v->requires_grad ? sl_tape_grad(tp, v) : NULL };
	la_saved_at(&c, n->saved);
	la_run(tp, &c);
}
