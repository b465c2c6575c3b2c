/* op_misc.c - dropout and the causal depthwise convolution.
 *
 * Dropout stores no mask: element i of a dropout node is kept when a
 * counter-based hash of (node key, i) clears p, so forward and backward
 * recompute the same mask on any thread. The convolution splits rows of
 * (B*T) for its output and input gradient, and channels for the weight and
 * bias gradients, which it sums over (b, t) in order: its bits never depend
 * on the thread count. */
#include "ops_impl.h"

#include "seqlab/fastmath.h"
#include "seqlab/rng.h"

#include <string.h>

/* Runs fn over [0, n) on the pool, or serially below SL_PAR_MIN_WORK. */
static void misc_run(sl_tape *tp, size_t n, size_t work, sl_range_fn fn, void *ctx)
{
	if (work < SL_PAR_MIN_WORK)
		fn(ctx, 0, n);
	else
		sl_pool_for(tp->pool, n, fn, ctx);
}

/* ---- dropout: y_i = x_i * m_i / (1 - p), m_i = [u(key, i) >= p] ---------- */

typedef struct drop_ctx {
	uint64_t key;
	float p, scale;       /* scale = 1 / (1 - p) */
	const float *x;       /* forward: x; backward: dy */
	float *y;             /* forward: y (=); backward: dx (+=) */
	int acc;
} drop_ctx;

static void drop_range(void *arg, size_t lo, size_t hi)
{
	drop_ctx *c = arg;
	for (size_t i = lo; i < hi; i++) {
		float v = sl_hash_uniform(c->key, i) >= c->p ? c->x[i] * c->scale : 0.0f;
		if (c->acc)
			c->y[i] += v;
		else
			c->y[i] = v;
	}
}

int sl_dropout_applies(const sl_tape *tp, float p)
{
	return tp->training && p != 0.0f;
}

sl_tensor *sl_dropout(sl_tape *tp, sl_tensor *x, float p)
{
	SL_ASSERT(p >= 0.0f && p < 1.0f);
	if (!sl_dropout_applies(tp, p))
		return x;
	sl_tensor *ins[1] = { x };
	sl_node n = sl_node_make(tp, SL_OP_DROPOUT, ins, 1, x->ndim, x->shape);
	n.f[0] = p;
	n.key = sl_hash64(tp->dropout_key + tp->dropout_count++);
	return sl_tape_apply(tp, &n);
}

/* A hash per element costs about as much as a few multiply-adds. */
#define DROP_WORK 8

void sl_op_dropout_forward(sl_tape *tp, sl_node *n)
{
	float p = n->f[0];
	drop_ctx c = { .key = n->key, .p = p, .scale = 1.0f / (1.0f - p), .x = n->in[0]->data,
		       .y = n->out->data, .acc = 0 };
	size_t numel = sl_tensor_numel(n->out);
	misc_run(tp, numel, DROP_WORK * numel, drop_range, &c);
}

void sl_op_dropout_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	if (!x->requires_grad)
		return;
	float p = n->f[0];
	/* dx_i += dy_i * m_i / (1 - p), the mask recomputed from the key */
	drop_ctx c = { .key = n->key, .p = p, .scale = 1.0f / (1.0f - p), .x = n->out->grad,
		       .y = sl_tape_grad(tp, x), .acc = 1 };
	size_t numel = sl_tensor_numel(x);
	misc_run(tp, numel, DROP_WORK * numel, drop_range, &c);
}

/* ---- conv1d: causal depthwise convolution over time ---------------------
 *
 *   y[b,t,c]  = bias[c] + sum_k w[c,k] x[b, t-K+1+k, c]        x = 0 before t=0
 *   dx[b,s,c] += sum_k w[c,k] dy[b, s+K-1-k, c]                 terms with s+K-1-k < T
 *   dw[c,k]   += sum_{b,t} dy[b,t,c] x[b, t-K+1+k, c]
 *   dbias[c]  += sum_{b,t} dy[b,t,c]
 *
 * x, y (B, T, C); w (C, K). The kernels read w through wt (K, C), its
 * transpose, so the inner loops run along contiguous channels.
 *
 * With the SiLU fused (sl_conv1d_causal_silu, Mamba's conv), out = p sigma(p)
 * for the convolution p above, each row finished while it is in cache;
 * SiLU'(p) = s (1 + p (1 - s)), s = sigma(p), is kept for backward (one
 * array, computed while p and s are in registers), which runs on channels,
 * one pass over each sequence's rows: dp = dout SiLU'(p) a few rows ahead,
 * and dx, dw, db from it. Every value is computed by the operations, in the
 * order, of the convolution followed by the SiLU op, so the bits are theirs. */

typedef struct conv_ctx {
	int B, T, C, K;
	size_t xs;                        /* x's and dx's row stride: x may be columns of a wider tensor */
	const float *x, *wt, *bias, *dy;  /* wt (K, C) */
	float *y, *dx;
	float *dwt, *dbias;               /* (K, C) and (C) scratch sums, or NULL */
	float *dw, *db;                   /* the real gradients, or NULL */
	/* the fused SiLU: ds = SiLU'(p) = s (1 + p (1 - s)), s = sigma(p)
	 * (forward writes it when not NULL), dout, and dp (backward's ring of K rows) */
	int silu;
	float *ds, *dp;
	const float *dout;
} conv_ctx;

/* what the fused op's backward needs: SiLU'(p), which backward would
 * otherwise compute again (an exp and a division per element); forward has
 * p and sigma(p) in registers, and one stored array where p and sigma(p)
 * were two */
typedef struct conv_saved {
	float *wt, *ds;
} conv_saved;

/* w (C, K) -> wt (K, C), from the arena. */
static float *conv_wt(sl_tape *tp, const sl_tensor *w)
{
	int C = w->shape[0], K = w->shape[1];
	float *wt = sl_arena_alloc(tp->arena, (size_t)C * K * sizeof(float));
	for (int c = 0; c < C; c++)
		for (int k = 0; k < K; k++)
			wt[(size_t)k * C + c] = w->data[(size_t)c * K + k];
	return wt;
}

#if defined(__AVX512F__)
/* conv_fwd_rows' row r for the sixteen channels from j, the sum in a
 * register: bias (or 0), then + w x tap by tap (the same operations, the
 * same order), then the SiLU as below */
static inline void conv_fwd16(const conv_ctx *c, size_t r, int t, size_t j)
{
	size_t C = (size_t)c->C;
	__m512 acc = c->bias ? _mm512_loadu_ps(c->bias + j) : _mm512_setzero_ps();
	for (int k = c->K - 1 - t > 0 ? c->K - 1 - t : 0; k < c->K; k++) {
		const float *xs = c->x + (r + (size_t)k + 1 - (size_t)c->K) * c->xs + j;
		acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(c->wt + (size_t)k * C + j), _mm512_loadu_ps(xs)));
	}
	if (!c->silu) {
		_mm512_storeu_ps(c->y + r * C + j, acc);
		return;
	}
	__m512 s = sl_fsigmoid16(acc), one = _mm512_set1_ps(1.0f);
	if (c->ds)
		_mm512_storeu_ps(c->ds + r * C + j,
				 _mm512_mul_ps(s, _mm512_add_ps(one, _mm512_mul_ps(acc, _mm512_sub_ps(one, s)))));
	_mm512_storeu_ps(c->y + r * C + j, _mm512_mul_ps(acc, s));
}
#endif

/* Rows r = b*T + t of y. */
static void conv_fwd_rows(void *arg, size_t lo, size_t hi)
{
	conv_ctx *c = arg;
	size_t C = (size_t)c->C;
#if defined(__AVX512F__)
	if (C % 16 == 0) {
		for (size_t r = lo; r < hi; r++)
			for (size_t j = 0; j < C; j += 16)
				conv_fwd16(c, r, (int)(r % (size_t)c->T), j);
		return;
	}
#endif
	for (size_t r = lo; r < hi; r++) {
		int t = (int)(r % (size_t)c->T);
		float *y = c->y + r * C; /* p, then the SiLU in place */
		if (c->bias)
			memcpy(y, c->bias, C * sizeof(float));
		else
			memset(y, 0, C * sizeof(float));
		/* tap k reads x at s = t-K+1+k, row r-K+1+k of the same sequence */
		for (int k = c->K - 1 - t > 0 ? c->K - 1 - t : 0; k < c->K; k++) {
			const float *xs = c->x + (r + (size_t)k + 1 - (size_t)c->K) * c->xs;
			const float *wk = c->wt + (size_t)k * C;
			for (size_t j = 0; j < C; j++)
				y[j] += wk[j] * xs[j];
		}
		if (c->silu) {
			/* the SiLU op's x sigmoid(x), from p, in place; SiLU'(p)
			 * kept for backward when ds is set */
			float *ds = c->ds ? c->ds + r * C : NULL;
			size_t j = 0;
#if defined(__AVX512F__)
			/* the same bits in fewer operations than GCC makes of the loop */
			for (; j + 16 <= C; j += 16) {
				__m512 v = _mm512_loadu_ps(y + j), s = sl_fsigmoid16(v), one = _mm512_set1_ps(1.0f);
				if (ds)
					_mm512_storeu_ps(ds + j, _mm512_mul_ps(s, _mm512_add_ps(one, _mm512_mul_ps(
											 v, _mm512_sub_ps(one, s)))));
				_mm512_storeu_ps(y + j, _mm512_mul_ps(v, s));
			}
#endif
			for (; j < C; j++) {
				float v = y[j], s = sl_fsigmoid(v);
				if (ds)
					ds[j] = s * (1.0f + v * (1.0f - s));
				y[j] = v * s;
			}
		}
	}
}

/* Rows [lo, hi), r = b*T + s, channels [j0, j1) of dx. */
static void conv_dx_part(const conv_ctx *c, size_t lo, size_t hi, size_t j0, size_t j1)
{
	size_t C = (size_t)c->C;
	for (size_t r = lo; r < hi; r++) {
		int s = (int)(r % (size_t)c->T);
		float *dx = c->dx + r * c->xs;
		/* tap k carries x[s] to y at t = s+K-1-k, which must be < T */
		for (int k = 0; k < c->K; k++) {
			int t = s + c->K - 1 - k;
			if (t >= c->T)
				continue;
			const float *dy = c->dy + (r + (size_t)(c->K - 1 - k)) * C;
			const float *wk = c->wt + (size_t)k * C;
			for (size_t j = j0; j < j1; j++)
				dx[j] += wk[j] * dy[j];
		}
	}
}

static void conv_dx_rows(void *arg, size_t lo, size_t hi)
{
	conv_dx_part(arg, lo, hi, 0, (size_t)((conv_ctx *)arg)->C);
}

/* Channels [lo, hi): sums over (b, t) in order into the zeroed scratch, then
 * adds the totals into dw and db. */
static void conv_dw_chans(void *arg, size_t lo, size_t hi)
{
	conv_ctx *c = arg;
	size_t C = (size_t)c->C;
	for (int b = 0; b < c->B; b++)
		for (int t = 0; t < c->T; t++) {
			size_t r = (size_t)b * c->T + (size_t)t;
			const float *dy = c->dy + r * C;
			if (c->dbias)
				for (size_t j = lo; j < hi; j++)
					c->dbias[j] += dy[j];
			if (!c->dwt)
				continue;
			for (int k = c->K - 1 - t > 0 ? c->K - 1 - t : 0; k < c->K; k++) {
				const float *xs = c->x + (r + (size_t)k + 1 - (size_t)c->K) * c->xs;
				float *dwk = c->dwt + (size_t)k * C;
				for (size_t j = lo; j < hi; j++)
					dwk[j] += dy[j] * xs[j];
			}
		}
	for (size_t j = lo; j < hi; j++) {
		if (c->dwt)
			for (int k = 0; k < c->K; k++)
				c->dw[j * (size_t)c->K + (size_t)k] += c->dwt[(size_t)k * C + j];
		if (c->dbias)
			c->db[j] += c->dbias[j];
	}
}

/* Row r's dp (the SiLU op's derivative, added to a zero as into a fresh
 * gradient) for channels [lo, hi), into dp[lo, hi). */
static void conv_silu_dp(const conv_ctx *c, size_t r, size_t lo, size_t hi, float *dp)
{
	const float *ds = c->ds + r * (size_t)c->C, *dout = c->dout + r * (size_t)c->C;
	for (size_t j = lo; j < hi; j++)
		dp[j] = 0.0f + dout[j] * ds[j];
}

/* The fused SiLU's backward, channels [lo, hi), in one pass over the rows of
 * each sequence, t ascending: dp K-1 rows ahead into a ring of K rows (dx at
 * t takes dp at t .. t+K-1), then db, dw and dx at t. The dw and db sums run
 * over (b, t) ascending into the zeroed scratch as conv_dw_chans's do, and dx
 * takes its taps k ascending as conv_dx_part's does: the same bits, with
 * one read of p, dout and x and one of dx where three passes read dp again.
 * The sums of dw and db stay in the scratch (conv_silu_bwd_chans adds them
 * into the gradients). */
static void conv_silu_bwd_part(const conv_ctx *c, size_t lo, size_t hi)
{
	size_t C = (size_t)c->C;
	int K = c->K, T = c->T;
	float *ring = c->dp; /* (K, C): this thread's channels of it */
	for (int b = 0; b < c->B; b++) {
		size_t r0 = (size_t)b * T;
		for (int t = 0; t < K - 1 && t < T; t++)
			conv_silu_dp(c, r0 + (size_t)t, lo, hi, ring + (size_t)(t % K) * C);
		for (int t = 0; t < T; t++) {
			size_t r = r0 + (size_t)t;
			if (t + K - 1 < T)
				conv_silu_dp(c, r + (size_t)K - 1, lo, hi, ring + (size_t)((t + K - 1) % K) * C);
			const float *dp = ring + (size_t)(t % K) * C;
			if (c->dbias)
				for (size_t j = lo; j < hi; j++)
					c->dbias[j] += dp[j];
			if (c->dwt)
				for (int k = K - 1 - t > 0 ? K - 1 - t : 0; k < K; k++) {
					const float *xs = c->x + (r + (size_t)k + 1 - (size_t)K) * c->xs;
					float *dwk = c->dwt + (size_t)k * C;
					for (size_t j = lo; j < hi; j++)
						dwk[j] += dp[j] * xs[j];
				}
			if (c->dx) {
				float *dx = c->dx + r * c->xs;
				for (int k = 0; k < K; k++) {
					if (t + K - 1 - k >= T)
						continue;
					const float *dy = ring + (size_t)((t + K - 1 - k) % K) * C;
					const float *wk = c->wt + (size_t)k * C;
					for (size_t j = lo; j < hi; j++)
						dx[j] += wk[j] * dy[j];
				}
			}
		}
	}
}

#if defined(__AVX512F__)
#define CONV_INLINE static inline __attribute__((always_inline))

/* dp at row r for the sixteen channels from j (conv_silu_dp's operations) */
CONV_INLINE __m512 conv_silu_dp16(const conv_ctx *c, size_t r, size_t j)
{
	size_t i = r * (size_t)c->C + j;
	return _mm512_add_ps(_mm512_setzero_ps(), _mm512_mul_ps(_mm512_loadu_ps(c->dout + i), _mm512_loadu_ps(c->ds + i)));
}

/* conv_silu_bwd_part on the sixteen channels from j, K taps (a constant in
 * the instance for Mamba's K = 4), with everything that lives across rows in
 * registers: the weights, the sums of dw and db, and two windows sliding
 * along t, dp at t .. t+K-1 and x at t-K+1 .. t. Each value by
 * conv_silu_bwd_part's operations in its order (sums over (b, t) ascending,
 * dx's taps k ascending, the same terms skipped): the same bits. */
CONV_INLINE void conv_silu_bwd16(const conv_ctx *c, size_t j, const int K)
{
	size_t C = (size_t)c->C;
	int T = c->T;
	__m512 w[16], dw[16], dpw[16], xw[16], zero = _mm512_setzero_ps();
	__m512 db = c->dbias ? _mm512_loadu_ps(c->dbias + j) : zero;
	for (int k = 0; k < K; k++) {
		w[k] = _mm512_loadu_ps(c->wt + (size_t)k * C + j);
		dw[k] = c->dwt ? _mm512_loadu_ps(c->dwt + (size_t)k * C + j) : zero;
	}
	for (int b = 0; b < c->B; b++) {
		size_t r0 = (size_t)b * T;
		/* before t = 0: dpw[i + 1] = dp at i, xw all zero (never read) */
		for (int i = 0; i < K; i++) {
			dpw[i] = i >= 1 && i - 1 < T ? conv_silu_dp16(c, r0 + (size_t)i - 1, j) : zero;
			xw[i] = zero;
		}
		for (int t = 0; t < T; t++) {
			size_t r = r0 + (size_t)t;
			/* slide: dpw[i] = dp at t + i, xw[k] = x at t-K+1+k */
			for (int i = 0; i + 1 < K; i++) {
				dpw[i] = dpw[i + 1];
				xw[i] = xw[i + 1];
			}
			dpw[K - 1] = t + K - 1 < T ? conv_silu_dp16(c, r + (size_t)K - 1, j) : zero;
			xw[K - 1] = _mm512_loadu_ps(c->x + r * c->xs + j);
			__m512 dp = dpw[0];
			if (c->dbias)
				db = _mm512_add_ps(db, dp);
			if (c->dwt)
				for (int k = K - 1 - t > 0 ? K - 1 - t : 0; k < K; k++)
					dw[k] = _mm512_add_ps(dw[k], _mm512_mul_ps(dp, xw[k]));
			if (c->dx) {
				float *dx = c->dx + r * c->xs + j;
				__m512 d = _mm512_loadu_ps(dx);
				for (int k = 0; k < K; k++)
					if (t + K - 1 - k < T)
						d = _mm512_add_ps(d, _mm512_mul_ps(w[k], dpw[K - 1 - k]));
				_mm512_storeu_ps(dx, d);
			}
		}
	}
	if (c->dbias)
		_mm512_storeu_ps(c->dbias + j, db);
	if (c->dwt)
		for (int k = 0; k < K; k++)
			_mm512_storeu_ps(c->dwt + (size_t)k * C + j, dw[k]);
}
#endif

/* Channels [lo, hi) of the fused SiLU's backward: sixteen at a time in
 * registers where AVX-512 is built and K <= 16, the rest by
 * conv_silu_bwd_part; then the totals into dw and db. */
static void conv_silu_bwd_chans(void *arg, size_t lo, size_t hi)
{
	conv_ctx *c = arg;
	size_t C = (size_t)c->C, j = lo;
	int K = c->K;
#if defined(__AVX512F__)
	for (; j + 16 <= hi && K <= 16; j += 16)
		if (K == 4)
			conv_silu_bwd16(c, j, 4);
		else
			conv_silu_bwd16(c, j, K);
#endif
	if (j < hi)
		conv_silu_bwd_part(c, j, hi);
	for (j = lo; j < hi; j++) {
		if (c->dwt)
			for (int k = 0; k < K; k++)
				c->dw[j * (size_t)K + (size_t)k] += c->dwt[(size_t)k * C + j];
		if (c->dbias)
			c->db[j] += c->dbias[j];
	}
}

/* The convolution of x's columns [col, col + C), C = w's channels. */
static sl_tensor *conv_make(sl_tape *tp, sl_tensor *x, int col, sl_tensor *w, sl_tensor *b, int silu)
{
	SL_ASSERT(x->ndim == 3 && w->ndim == 2 && col >= 0 && col <= x->shape[2] - w->shape[0]);
	SL_ASSERT(!b || (b->ndim == 1 && b->shape[0] == w->shape[0]));
	sl_tensor *ins[3] = { x, w, b };
	int shape[3] = { x->shape[0], x->shape[1], w->shape[0] };
	sl_node n = sl_node_make(tp, SL_OP_CONV1D, ins, 3, 3, shape);
	n.i[0] = silu;
	n.i[1] = col;
	return sl_tape_apply(tp, &n);
}

sl_tensor *sl_conv1d_causal(sl_tape *tp, sl_tensor *x, sl_tensor *w, sl_tensor *b)
{
	SL_ASSERT(x->ndim == 3 && w->ndim == 2 && w->shape[0] == x->shape[2]);
	return conv_make(tp, x, 0, w, b, 0);
}

sl_tensor *sl_conv1d_causal_silu(sl_tape *tp, sl_tensor *x, sl_tensor *w, sl_tensor *b)
{
	SL_ASSERT(x->ndim == 3 && w->ndim == 2 && w->shape[0] == x->shape[2]);
	return conv_make(tp, x, 0, w, b, 1);
}

sl_tensor *sl_conv1d_causal_silu_at(sl_tape *tp, sl_tensor *x, int col, sl_tensor *w, sl_tensor *b)
{
	return conv_make(tp, x, col, w, b, 1);
}

static conv_ctx conv_ctx_of(const sl_node *n)
{
	const sl_tensor *x = n->in[0], *w = n->in[1];
	conv_ctx c = { .B = x->shape[0], .T = x->shape[1], .C = w->shape[0], .K = w->shape[1],
		       .xs = (size_t)x->shape[2], .x = x->data + n->i[1] };
	return c;
}

void sl_op_conv1d_forward(sl_tape *tp, sl_node *n)
{
	conv_ctx c = conv_ctx_of(n);
	sl_tensor *b = n->in[2];
	c.wt = conv_wt(tp, n->in[1]);
	c.bias = b ? b->data : NULL;
	c.y = n->out->data;
	c.silu = n->i[0];
	size_t rows = (size_t)c.B * c.T;
	if (n->out->requires_grad) {
		conv_saved *sv = sl_arena_alloc(tp->arena, sizeof *sv);
		sv->wt = (float *)c.wt;
		sv->ds = c.silu ? sl_arena_alloc(tp->arena, rows * c.C * sizeof(float)) : NULL;
		c.ds = sv->ds;
		n->saved = sv;
	}
	misc_run(tp, rows, rows * c.C * (c.K + 4 * c.silu), conv_fwd_rows, &c);
}

void sl_op_conv1d_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
	conv_ctx c = conv_ctx_of(n);
	const conv_saved *sv = n->saved;
	c.wt = sv->wt;
	c.dy = n->out->grad;
	size_t rows = (size_t)c.B * c.T, work = rows * c.C * c.K;
	/* the weights' and bias's gradients: per-channel partials, either path */
	if (w->requires_grad) {
		c.dw = sl_tape_grad(tp, w);
		c.dwt = sl_arena_calloc(tp->arena, (size_t)c.K * c.C * sizeof(float));
	}
	if (b && b->requires_grad) {
		c.db = sl_tape_grad(tp, b);
		c.dbias = sl_arena_calloc(tp->arena, (size_t)c.C * sizeof(float));
	}
	if (n->i[0]) {
		/* the fused SiLU: one pass on channels */
		c.ds = sv->ds;
		c.dout = n->out->grad;
		c.dp = sl_arena_alloc(tp->arena, (size_t)c.K * c.C * sizeof(float)); /* the ring */
		c.dx = x->requires_grad ? sl_tape_grad(tp, x) + n->i[1] : NULL;
		misc_run(tp, (size_t)c.C, rows * c.C * (2 * c.K + 4), conv_silu_bwd_chans, &c);
		return;
	}
	if (x->requires_grad) {
		c.dx = sl_tape_grad(tp, x) + n->i[1];
		misc_run(tp, rows, work, conv_dx_rows, &c);
	}
	if (c.dw || c.db)
		misc_run(tp, (size_t)c.C, work, conv_dw_chans, &c);
}
