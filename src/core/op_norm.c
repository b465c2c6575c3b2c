/* op_norm.c - row-wise ops over the last dimension: layernorm, rmsnorm,
 * softmax and the fused log-softmax cross-entropy.
 *
 * A tensor (..., C) is seen as R rows of C. Rows are independent, so the
 * forward passes and dx split over rows with sl_pool_for. The gain and bias
 * gradients (dg, db) are sums over rows, each column's over all rows in row
 * order, so they have the same bits whatever the thread count: each part
 * of the rows adds its rows on to the sums of the parts before, right after
 * its dx, while they are in its cache (sl_rows_relay).
 *
 * Accuracy: row statistics (mean, variance, mean square, sum of exponentials,
 * and the dot products of the backward passes) are accumulated in double.
 * C is small (tens to a few thousand), so the cost is negligible next to the
 * expf calls, and it keeps e.g. the variance of a row with a large mean free
 * of float cancellation. Per-element values stay float. */
#include "seqlab/fastmath.h"
#include "ops_impl.h"

#include <math.h>
#include <string.h>

static void row_run(sl_tape *tp, size_t n, size_t work, sl_range_fn fn, void *ctx)
{
	if (work < SL_PAR_MIN_WORK)
		fn(ctx, 0, n);
	else
		sl_pool_for(tp->pool, n, fn, ctx);
}

typedef struct norm_ctx {
	const float *x, *g, *b;   /* x (R, C), g (C), b (C) or NULL */
	const float *dy;          /* (R, C) */
	float *y, *dx, *dg, *db;  /* y (R, C); gradients or NULL */
	float *mean, *rstd;       /* (R) each; saved for backward, or NULL */
	float eps;
	size_t R, C;
} norm_ctx;

/* ---- layernorm -------------------------------------------------------------
 * mu = mean_j x_j, var = mean_j (x_j - mu)^2, rstd = 1 / sqrt(var + eps),
 * xhat_j = (x_j - mu) rstd, y_j = xhat_j g_j + b_j.
 * Backward, with dxhat_j = dy_j g_j:
 *   dx_j += rstd (dxhat_j - mean(dxhat) - xhat_j mean(dxhat xhat))
 *   dg_j += sum_r dy_rj xhat_rj,  db_j += sum_r dy_rj. */

/* The row statistics are sequential sums over a row, each add waiting for
 * the one before; eight rows at a time make eight independent chains the
 * processor runs side by side. Each row's sum keeps its order (the same bits
 * as one row at a time). A block past the last row rereads the last row and
 * drops the result. */
#define RB 8

static inline size_t block_row(size_t r0, size_t k, size_t hi)
{
	return r0 + k < hi ? r0 + k : hi - 1;
}

#if defined(__AVX512F__)
#include <immintrin.h>
/* The same sums with the rows in the lanes of a vector: eight rows' columns
 * j..j+7 transposed (out[i]: column j + i of the eight rows), widened to
 * double, added column after column: each row's sum in its order, each term
 * rounded as the scalar code rounds it (the build contracts nothing into
 * fused multiply-adds). Sixteen rows at a time: two independent chains. */
#define LN_VEC 1
#define RBV 16

static inline void tr8(const float *const *x, size_t j, __m256 out[8])
{
	__m256 t0 = _mm256_unpacklo_ps(_mm256_loadu_ps(x[0] + j), _mm256_loadu_ps(x[1] + j));
	__m256 t1 = _mm256_unpackhi_ps(_mm256_loadu_ps(x[0] + j), _mm256_loadu_ps(x[1] + j));
	__m256 t2 = _mm256_unpacklo_ps(_mm256_loadu_ps(x[2] + j), _mm256_loadu_ps(x[3] + j));
	__m256 t3 = _mm256_unpackhi_ps(_mm256_loadu_ps(x[2] + j), _mm256_loadu_ps(x[3] + j));
	__m256 t4 = _mm256_unpacklo_ps(_mm256_loadu_ps(x[4] + j), _mm256_loadu_ps(x[5] + j));
	__m256 t5 = _mm256_unpackhi_ps(_mm256_loadu_ps(x[4] + j), _mm256_loadu_ps(x[5] + j));
	__m256 t6 = _mm256_unpacklo_ps(_mm256_loadu_ps(x[6] + j), _mm256_loadu_ps(x[7] + j));
	__m256 t7 = _mm256_unpackhi_ps(_mm256_loadu_ps(x[6] + j), _mm256_loadu_ps(x[7] + j));
	__m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
	__m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
	__m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
	__m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
	__m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
	__m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
	__m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
	__m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
	out[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
	out[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
	out[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
	out[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
	out[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
	out[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
	out[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
	out[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* layernorm's row sums of 16 rows x[0..15]: s = sum_j x_j, then mu = s / C
 * and v = sum_j (x_j - mu)^2, in double, j in order */
static void ln_stats16(const float *const *x, size_t C, double *mu, double *v)
{
	__m512d s[2] = { _mm512_setzero_pd(), _mm512_setzero_pd() };
	size_t j = 0;
	for (; j + 8 <= C; j += 8)
		for (int h = 0; h < 2; h++) {
			__m256 col[8];
			tr8(x + 8 * h, j, col);
			for (int i = 0; i < 8; i++)
				s[h] = _mm512_add_pd(s[h], _mm512_cvtps_pd(col[i]));
		}
	double sd[16];
	_mm512_storeu_pd(sd, s[0]);
	_mm512_storeu_pd(sd + 8, s[1]);
	for (int k = 0; k < 16; k++) {
		for (size_t jj = j; jj < C; jj++)
			sd[k] += x[k][jj];
		mu[k] = sd[k] / (double)C;
	}
	__m512d m[2] = { _mm512_loadu_pd(mu), _mm512_loadu_pd(mu + 8) };
	__m512d a[2] = { _mm512_setzero_pd(), _mm512_setzero_pd() };
	for (j = 0; j + 8 <= C; j += 8)
		for (int h = 0; h < 2; h++) {
			__m256 col[8];
			tr8(x + 8 * h, j, col);
			for (int i = 0; i < 8; i++) {
				__m512d d = _mm512_sub_pd(_mm512_cvtps_pd(col[i]), m[h]);
				a[h] = _mm512_add_pd(a[h], _mm512_mul_pd(d, d));
			}
		}
	_mm512_storeu_pd(v, a[0]);
	_mm512_storeu_pd(v + 8, a[1]);
	for (int k = 0; k < 16; k++)
		for (size_t jj = j; jj < C; jj++) {
			double d = x[k][jj] - mu[k];
			v[k] += d * d;
		}
}

/* layernorm backward's row sums of 16 rows: s1 = sum_j dxhat_j, s2 = sum_j
 * dxhat_j xhat_j, dxhat = dy g and xhat = (x - m) rs in float */
static void ln_dsums16(const float *const *x, const float *const *dy, const float *g, const float *m,
		       const float *rs, size_t C, double *s1, double *s2)
{
	__m512d a1[2] = { _mm512_setzero_pd(), _mm512_setzero_pd() };
	__m512d a2[2] = { _mm512_setzero_pd(), _mm512_setzero_pd() };
	__m256 mv[2] = { _mm256_loadu_ps(m), _mm256_loadu_ps(m + 8) };
	__m256 rv[2] = { _mm256_loadu_ps(rs), _mm256_loadu_ps(rs + 8) };
	size_t j = 0;
	for (; j + 8 <= C; j += 8)
		for (int h = 0; h < 2; h++) {
			__m256 xc[8], dc[8];
			tr8(x + 8 * h, j, xc);
			tr8(dy + 8 * h, j, dc);
			for (int i = 0; i < 8; i++) {
				__m256 dxh = _mm256_mul_ps(dc[i], _mm256_set1_ps(g[j + i]));
				__m256 xh = _mm256_mul_ps(_mm256_sub_ps(xc[i], mv[h]), rv[h]);
				__m512d dd = _mm512_cvtps_pd(dxh);
				a1[h] = _mm512_add_pd(a1[h], dd);
				a2[h] = _mm512_add_pd(a2[h], _mm512_mul_pd(dd, _mm512_cvtps_pd(xh)));
			}
		}
	_mm512_storeu_pd(s1, a1[0]);
	_mm512_storeu_pd(s1 + 8, a1[1]);
	_mm512_storeu_pd(s2, a2[0]);
	_mm512_storeu_pd(s2 + 8, a2[1]);
	for (int k = 0; k < 16; k++)
		for (size_t jj = j; jj < C; jj++) {
			float dxh = dy[k][jj] * g[jj], xh = (x[k][jj] - m[k]) * rs[k];
			s1[k] += dxh;
			s2[k] += (double)dxh * xh;
		}
}

/* rmsnorm's row sums of 16 rows: ss = sum_j x_j^2 in double, j in order */
static void rms_ss16(const float *const *x, size_t C, double *ss)
{
	__m512d s[2] = { _mm512_setzero_pd(), _mm512_setzero_pd() };
	size_t j = 0;
	for (; j + 8 <= C; j += 8)
		for (int h = 0; h < 2; h++) {
			__m256 col[8];
			tr8(x + 8 * h, j, col);
			for (int i = 0; i < 8; i++) {
				__m512d d = _mm512_cvtps_pd(col[i]);
				s[h] = _mm512_add_pd(s[h], _mm512_mul_pd(d, d));
			}
		}
	_mm512_storeu_pd(ss, s[0]);
	_mm512_storeu_pd(ss + 8, s[1]);
	for (int k = 0; k < 16; k++)
		for (size_t jj = j; jj < C; jj++)
			ss[k] += (double)x[k][jj] * x[k][jj];
}

/* rmsnorm backward's row sums of 16 rows: s2 = sum_j dxhat_j xhat_j,
 * dxhat = dy g and xhat = x rs in float */
static void rms_dsums16(const float *const *x, const float *const *dy, const float *g, const float *rs,
			size_t C, double *s2)
{
	__m512d a2[2] = { _mm512_setzero_pd(), _mm512_setzero_pd() };
	__m256 rv[2] = { _mm256_loadu_ps(rs), _mm256_loadu_ps(rs + 8) };
	size_t j = 0;
	for (; j + 8 <= C; j += 8)
		for (int h = 0; h < 2; h++) {
			__m256 xc[8], dc[8];
			tr8(x + 8 * h, j, xc);
			tr8(dy + 8 * h, j, dc);
			for (int i = 0; i < 8; i++) {
				__m256 dxh = _mm256_mul_ps(dc[i], _mm256_set1_ps(g[j + i]));
				__m256 xh = _mm256_mul_ps(xc[i], rv[h]);
				a2[h] = _mm512_add_pd(a2[h], _mm512_mul_pd(_mm512_cvtps_pd(dxh), _mm512_cvtps_pd(xh)));
			}
		}
	_mm512_storeu_pd(s2, a2[0]);
	_mm512_storeu_pd(s2 + 8, a2[1]);
	for (int k = 0; k < 16; k++)
		for (size_t jj = j; jj < C; jj++)
			s2[k] += (double)(dy[k][jj] * g[jj]) * (x[k][jj] * rs[k]);
}
#endif

static void ln_fwd_rows(void *arg, size_t lo, size_t hi)
{
	norm_ctx *c = arg;
	size_t C = c->C;
#ifdef LN_VEC
	for (size_t r0 = lo; r0 < hi; r0 += RBV) {
		const float *x[RBV];
		double v[RBV], mu[RBV];
		for (int k = 0; k < RBV; k++)
			x[k] = c->x + block_row(r0, k, hi) * C;
		ln_stats16(x, C, mu, v);
		for (size_t k = 0; k < RBV && r0 + k < hi; k++) {
#else
	for (size_t r0 = lo; r0 < hi; r0 += RB) {
		const float *x[RB];
		double s[RB], v[RB], mu[RB];
		for (int k = 0; k < RB; k++) {
			x[k] = c->x + block_row(r0, k, hi) * C;
			s[k] = v[k] = 0;
		}
		for (size_t j = 0; j < C; j++)
			for (int k = 0; k < RB; k++)
				s[k] += x[k][j];
		for (int k = 0; k < RB; k++)
			mu[k] = s[k] / (double)C;
		for (size_t j = 0; j < C; j++)
			for (int k = 0; k < RB; k++) {
				double d = x[k][j] - mu[k];
				v[k] += d * d;
			}
		for (size_t k = 0; k < RB && r0 + k < hi; k++) {
#endif
			size_t r = r0 + k;
			float *y = c->y + r * C;
			float m = (float)mu[k];
			float rs = (float)(1.0 / sqrt(v[k] / (double)C + c->eps));
			for (size_t j = 0; j < C; j++)
				y[j] = (x[k][j] - m) * rs * c->g[j] + (c->b ? c->b[j] : 0.0f);
			if (c->mean) {
				c->mean[r] = m;
				c->rstd[r] = rs;
			}
		}
	}
}

static void ln_dx_rows(void *arg, size_t lo, size_t hi)
{
	norm_ctx *c = arg;
	size_t C = c->C;
#ifdef LN_VEC
	for (size_t r0 = lo; r0 < hi; r0 += RBV) {
		const float *x[RBV], *dy[RBV];
		float m[RBV], rs[RBV];
		double s1[RBV], s2[RBV]; /* sum dxhat, sum dxhat xhat */
		for (int k = 0; k < RBV; k++) {
			size_t r = block_row(r0, k, hi);
			x[k] = c->x + r * C;
			dy[k] = c->dy + r * C;
			m[k] = c->mean[r];
			rs[k] = c->rstd[r];
		}
		ln_dsums16(x, dy, c->g, m, rs, C, s1, s2);
		for (size_t k = 0; k < RBV && r0 + k < hi; k++) {
#else
	for (size_t r0 = lo; r0 < hi; r0 += RB) {
		const float *x[RB], *dy[RB];
		float m[RB], rs[RB];
		double s1[RB], s2[RB]; /* sum dxhat, sum dxhat xhat */
		for (int k = 0; k < RB; k++) {
			size_t r = block_row(r0, k, hi);
			x[k] = c->x + r * C;
			dy[k] = c->dy + r * C;
			m[k] = c->mean[r];
			rs[k] = c->rstd[r];
			s1[k] = s2[k] = 0;
		}
		for (size_t j = 0; j < C; j++)
			for (int k = 0; k < RB; k++) {
				float dxh = dy[k][j] * c->g[j], xh = (x[k][j] - m[k]) * rs[k];
				s1[k] += dxh;
				s2[k] += (double)dxh * xh;
			}
		for (size_t k = 0; k < RB && r0 + k < hi; k++) {
#endif
			float *dx = c->dx + (r0 + k) * C;
			float m1 = (float)(s1[k] / (double)C), m2 = (float)(s2[k] / (double)C);
			for (size_t j = 0; j < C; j++) {
				float dxh = dy[k][j] * c->g[j], xh = (x[k][j] - m[k]) * rs[k];
				dx[j] += rs[k] * (dxh - m1 - xh * m2);
			}
		}
	}
}

/* dg[j] += sum_r dy_rj xhat_rj for the columns j in [lo, hi) over the rows
 * r in [r0, r1), in order, xhat = (x - mean) rstd (layernorm) or x rstd
 * (rmsnorm: no mean; x - 0 is x, the same bits): sixteen columns at a time
 * held in a vector register (each column's sum still runs over the rows in
 * order), rather than read and written back for every row; four or two
 * such groups side by side where there are, so independent chains of adds
 * overlap. */
typedef float norm_v16 __attribute__((vector_size(64)));

/* groups of V x 16 columns from j0, rows [r0, r1): V independent chains */
static inline __attribute__((always_inline)) void gain_group(const norm_ctx *c, size_t r0, size_t r1, size_t j0,
							     const int V)
{
	size_t C = c->C;
	norm_v16 a[4], x, dy;
	memcpy(a, c->dg + j0, (size_t)V * sizeof *a);
	for (size_t r = r0; r < r1; r++) {
		float m = c->mean ? c->mean[r] : 0.0f, rs = c->rstd[r];
		for (int v = 0; v < V; v++) {
			memcpy(&x, c->x + r * C + j0 + 16 * v, sizeof x);
			memcpy(&dy, c->dy + r * C + j0 + 16 * v, sizeof dy);
			a[v] += dy * ((x - m) * rs);
		}
	}
	memcpy(c->dg + j0, a, (size_t)V * sizeof *a);
}

static void gain_cols(const norm_ctx *c, size_t r0, size_t r1, size_t lo, size_t hi)
{
	size_t C = c->C, j0 = lo;
	for (; j0 + 64 <= hi; j0 += 64) /* four groups: four independent chains */
		gain_group(c, r0, r1, j0, 4);
	for (; j0 + 32 <= hi; j0 += 32) /* two */
		gain_group(c, r0, r1, j0, 2);
	for (; j0 + 16 <= hi; j0 += 16) {
		norm_v16 a, x, dy;
		memcpy(&a, c->dg + j0, sizeof a);
		for (size_t r = r0; r < r1; r++) {
			memcpy(&x, c->x + r * C + j0, sizeof x);
			memcpy(&dy, c->dy + r * C + j0, sizeof dy);
			a += dy * ((x - (c->mean ? c->mean[r] : 0.0f)) * c->rstd[r]);
		}
		memcpy(c->dg + j0, &a, sizeof a);
	}
	for (size_t r = r0; r < r1 && j0 < hi; r++) {
		const float *x = c->x + r * C, *dy = c->dy + r * C;
		float m = c->mean ? c->mean[r] : 0.0f, rs = c->rstd[r];
		for (size_t j = j0; j < hi; j++)
			c->dg[j] += dy[j] * ((x[j] - m) * rs);
	}
}

/* the gain's and the bias's sums over the rows [lo, hi), every column, in
 * place (each part's rows added on to the sums of the rows before) */
static void ln_dgb_rows(void *arg, size_t lo, size_t hi, int first, int last)
{
	norm_ctx *c = arg;
	(void)first;
	(void)last;
	if (c->dg)
		gain_cols(c, lo, hi, 0, c->C);
	if (c->db)
		sl_colsum_add(c->db, c->dy + lo * c->C, hi - lo, c->C, 0, c->C);
}

sl_tensor *sl_layernorm(sl_tape *tp, sl_tensor *x, sl_tensor *g, sl_tensor *b, float eps)
{
	int C = sl_tensor_dim(x, -1);
	SL_ASSERT(g->ndim == 1 && g->shape[0] == C);
	SL_ASSERT(!b || (b->ndim == 1 && b->shape[0] == C));
	SL_ASSERT(eps > 0.0f);
	sl_tensor *ins[3] = { x, g, b };
	sl_node n = sl_node_make(tp, SL_OP_LAYERNORM, ins, 3, x->ndim, x->shape);
	n.f[0] = eps;
	return sl_tape_apply(tp, &n);
}

/* n->saved: mean (R) then rstd (R), floats. */
void sl_op_layernorm_forward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *b = n->in[2];
	norm_ctx c = { .x = x->data, .g = n->in[1]->data, .b = b ? b->data : NULL, .y = n->out->data,
		       .eps = n->f[0], .R = sl_tensor_rows(x), .C = (size_t)sl_tensor_dim(x, -1) };
	if (n->out->requires_grad) {
		float *s = sl_arena_alloc(tp->arena, 2 * c.R * sizeof(float));
		c.mean = s;
		c.rstd = s + c.R;
		n->saved = s;
	}
	row_run(tp, c.R, c.R * c.C, ln_fwd_rows, &c);
}

void sl_op_layernorm_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *g = n->in[1], *b = n->in[2];
	float *s = n->saved;
	SL_ASSERT(s);
	norm_ctx c = { .x = x->data, .g = g->data, .dy = n->out->grad, .R = sl_tensor_rows(x),
		       .C = (size_t)sl_tensor_dim(x, -1) };
	c.mean = s;
	c.rstd = s + c.R;
	c.dx = x->requires_grad ? sl_tape_grad(tp, x) : NULL;
	c.dg = g->requires_grad ? sl_tape_grad(tp, g) : NULL;
	c.db = b && b->requires_grad ? sl_tape_grad(tp, b) : NULL;
	sl_rows_relay(tp, c.R, c.R * c.C, c.dx ? ln_dx_rows : NULL, c.dg || c.db ? ln_dgb_rows : NULL, &c);
}

/* ---- rmsnorm ---------------------------------------------------------------
 * rstd = 1 / sqrt(mean_j x_j^2 + eps), xhat_j = x_j rstd, y_j = xhat_j g_j.
 * Backward, with dxhat_j = dy_j g_j:
 *   dx_j += rstd (dxhat_j - xhat_j mean(dxhat xhat)),  dg_j += sum_r dy_rj xhat_rj. */

static void rms_fwd_rows(void *arg, size_t lo, size_t hi)
{
	norm_ctx *c = arg;
	size_t C = c->C;
#ifdef LN_VEC
	for (size_t r0 = lo; r0 < hi; r0 += RBV) {
		const float *x[RBV];
		double ss[RBV];
		for (int k = 0; k < RBV; k++)
			x[k] = c->x + block_row(r0, k, hi) * C;
		rms_ss16(x, C, ss);
		for (size_t k = 0; k < RBV && r0 + k < hi; k++) {
#else
	for (size_t r0 = lo; r0 < hi; r0 += RB) {
		const float *x[RB];
		double ss[RB];
		for (int k = 0; k < RB; k++) {
			x[k] = c->x + block_row(r0, k, hi) * C;
			ss[k] = 0;
		}
		for (size_t j = 0; j < C; j++)
			for (int k = 0; k < RB; k++)
				ss[k] += (double)x[k][j] * x[k][j];
		for (size_t k = 0; k < RB && r0 + k < hi; k++) {
#endif
			float *y = c->y + (r0 + k) * C;
			float rs = (float)(1.0 / sqrt(ss[k] / (double)C + c->eps));
			for (size_t j = 0; j < C; j++)
				y[j] = x[k][j] * rs * c->g[j];
			if (c->rstd)
				c->rstd[r0 + k] = rs;
		}
	}
}

static void rms_dx_rows(void *arg, size_t lo, size_t hi)
{
	norm_ctx *c = arg;
	size_t C = c->C;
#ifdef LN_VEC
	for (size_t r0 = lo; r0 < hi; r0 += RBV) {
		const float *x[RBV], *dy[RBV];
		float rs[RBV];
		double s2[RBV]; /* sum dxhat xhat */
		for (int k = 0; k < RBV; k++) {
			size_t r = block_row(r0, k, hi);
			x[k] = c->x + r * C;
			dy[k] = c->dy + r * C;
			rs[k] = c->rstd[r];
		}
		rms_dsums16(x, dy, c->g, rs, C, s2);
		for (size_t k = 0; k < RBV && r0 + k < hi; k++) {
#else
	for (size_t r0 = lo; r0 < hi; r0 += RB) {
		const float *x[RB], *dy[RB];
		float rs[RB];
		double s2[RB]; /* sum dxhat xhat */
		for (int k = 0; k < RB; k++) {
			size_t r = block_row(r0, k, hi);
			x[k] = c->x + r * C;
			dy[k] = c->dy + r * C;
			rs[k] = c->rstd[r];
			s2[k] = 0;
		}
		for (size_t j = 0; j < C; j++)
			for (int k = 0; k < RB; k++)
				s2[k] += (double)(dy[k][j] * c->g[j]) * (x[k][j] * rs[k]);
		for (size_t k = 0; k < RB && r0 + k < hi; k++) {
#endif
			float *dx = c->dx + (r0 + k) * C;
			float m2 = (float)(s2[k] / (double)C);
			for (size_t j = 0; j < C; j++)
				dx[j] += rs[k] * (dy[k][j] * c->g[j] - (x[k][j] * rs[k]) * m2);
		}
	}
}

static void rms_dg_rows(void *arg, size_t lo, size_t hi, int first, int last)
{
	norm_ctx *c = arg;
	(void)first;
	(void)last;
	gain_cols(c, lo, hi, 0, c->C);
}

sl_tensor *sl_rmsnorm(sl_tape *tp, sl_tensor *x, sl_tensor *g, float eps)
{
	SL_ASSERT(g->ndim == 1 && g->shape[0] == sl_tensor_dim(x, -1));
	SL_ASSERT(eps > 0.0f);
	sl_tensor *ins[2] = { x, g };
	sl_node n = sl_node_make(tp, SL_OP_RMSNORM, ins, 2, x->ndim, x->shape);
	n.f[0] = eps;
	return sl_tape_apply(tp, &n);
}

/* n->saved: rstd (R), floats. */
void sl_op_rmsnorm_forward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	norm_ctx c = { .x = x->data, .g = n->in[1]->data, .y = n->out->data, .eps = n->f[0],
		       .R = sl_tensor_rows(x), .C = (size_t)sl_tensor_dim(x, -1) };
	if (n->out->requires_grad)
		n->saved = c.rstd = sl_arena_alloc(tp->arena, c.R * sizeof(float));
	row_run(tp, c.R, c.R * c.C, rms_fwd_rows, &c);
}

void sl_op_rmsnorm_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *g = n->in[1];
	SL_ASSERT(n->saved);
	norm_ctx c = { .x = x->data, .g = g->data, .dy = n->out->grad, .rstd = n->saved,
		       .R = sl_tensor_rows(x), .C = (size_t)sl_tensor_dim(x, -1) };
	c.dx = x->requires_grad ? sl_tape_grad(tp, x) : NULL;
	c.dg = g->requires_grad ? sl_tape_grad(tp, g) : NULL;
	sl_rows_relay(tp, c.R, c.R * c.C, c.dx ? rms_dx_rows : NULL, c.dg ? rms_dg_rows : NULL, &c);
}

/* ---- softmax ---------------------------------------------------------------
 * y_j = e^(x_j - max x) / sum_k e^(x_k - max x); subtracting the row max keeps
 * every exponent <= 0, so large logits cannot overflow.
 * Backward: dx_j += y_j (dy_j - sum_k dy_k y_k). */

static void softmax_fwd_rows(void *arg, size_t lo, size_t hi)
{
	norm_ctx *c = arg;
	size_t C = c->C;
	for (size_t r = lo; r < hi; r++) {
		sl_softmax_row(c->x + r * C, c->y + r * C, C);
	}
}

static void softmax_dx_rows(void *arg, size_t lo, size_t hi)
{
	norm_ctx *c = arg;
	size_t C = c->C;
	for (size_t r = lo; r < hi; r++) {
		const float *y = c->y + r * C, *dy = c->dy + r * C;
		float *dx = c->dx + r * C;
		double dot = 0;
		for (size_t j = 0; j < C; j++)
			dot += (double)dy[j] * y[j];
		float d = (float)dot;
		for (size_t j = 0; j < C; j++)
			dx[j] += y[j] * (dy[j] - d);
	}
}

sl_tensor *sl_softmax(sl_tape *tp, sl_tensor *x)
{
	sl_tensor *ins[1] = { x };
	sl_node n = sl_node_make(tp, SL_OP_SOFTMAX, ins, 1, x->ndim, x->shape);
	return sl_tape_apply(tp, &n);
}

void sl_op_softmax_forward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	norm_ctx c = { .x = x->data, .y = n->out->data, .R = sl_tensor_rows(x),
		       .C = (size_t)sl_tensor_dim(x, -1) };
	row_run(tp, c.R, c.R * c.C, softmax_fwd_rows, &c);
}

void sl_op_softmax_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	if (!x->requires_grad)
		return;
	/* the output y is read back, it is what backward needs */
	norm_ctx c = { .y = n->out->data, .dy = n->out->grad, .dx = sl_tape_grad(tp, x),
		       .R = sl_tensor_rows(x), .C = (size_t)sl_tensor_dim(x, -1) };
	row_run(tp, c.R, c.R * c.C, softmax_dx_rows, &c);
}

/* ---- cross-entropy ---------------------------------------------------------
 * For each counted row r (target t_r != ignore) of logits x (R, V):
 *   m_r = max_j x_rj, ls_r = log sum_j e^(x_rj - m_r),
 *   loss_r = -log softmax(x_r)[t_r] = ls_r - (x_r,t_r - m_r),
 *   L = sum_r loss_r / N, N = the number of counted rows (L = 0 when N = 0).
 * Backward: dx_rj += dL/N (softmax(x_r)_j - [j == t_r]) on counted rows,
 * with softmax(x_r)_j = e^((x_rj - m_r) - ls_r); ignored rows get nothing.
 * n->i[0] = ignore, n->i[1] = N; n->ids (R) a copy of the targets;
 * n->saved: m (R) then ls (R), floats. */

/* An exponential per element costs several multiply-adds: the rows go
 * parallel from a quarter of SL_PAR_MIN_WORK logits on (a Pig-Latin batch's
 * 640 rows of 30: 19,200 logits, which ran serially). */
#define CE_COST 4

typedef struct ce_ctx {
	const float *x;       /* (R, V) */
	const int32_t *t;     /* (R) */
	int ignore;
	double *loss;         /* (R) per-row loss, 0 on ignored rows */
	float *m, *ls;        /* (R) each, saved, or NULL */
	float *dx;            /* (R, V) */
	float scale;          /* dL / N */
	size_t R, V;
} ce_ctx;

static void ce_fwd_rows(void *arg, size_t lo, size_t hi)
{
	ce_ctx *c = arg;
	size_t V = c->V;
	for (size_t r = lo; r < hi; r++) {
		const float *x = c->x + r * V;
		c->loss[r] = 0;
		if (c->t[r] == c->ignore)
			continue;
		float mx = x[0];
		for (size_t j = 1; j < V; j++)
			mx = x[j] > mx ? x[j] : mx;
		/* the exponentials a block at a time into e, where they vectorise,
		 * then summed in order */
		double s = 0;
		float e[64];
		for (size_t j0 = 0; j0 < V; j0 += 64) {
			size_t nj = SL_MIN(V - j0, (size_t)64);
			for (size_t j = 0; j < nj; j++)
				e[j] = sl_fexp(x[j0 + j] - mx);
			for (size_t j = 0; j < nj; j++)
				s += e[j];
		}
		double ls = log(s);
		c->loss[r] = ls - (double)(x[c->t[r]] - mx);
		if (c->m) {
			c->m[r] = mx;
			c->ls[r] = (float)ls;
		}
	}
}

static void ce_dx_rows(void *arg, size_t lo, size_t hi)
{
	ce_ctx *c = arg;
	size_t V = c->V;
	for (size_t r = lo; r < hi; r++) {
		if (c->t[r] == c->ignore)
			continue;
		const float *x = c->x + r * V;
		float *dx = c->dx + r * V;
		float mx = c->m[r], ls = c->ls[r];
		for (size_t j = 0; j < V; j++)
			dx[j] += c->scale * sl_fexp((x[j] - mx) - ls);
		dx[c->t[r]] -= c->scale;
	}
}

sl_tensor *sl_cross_entropy(sl_tape *tp, sl_tensor *logits, const int32_t *targets, int ignore, int *count)
{
	size_t R = sl_tensor_rows(logits);
	int V = sl_tensor_dim(logits, -1);
	int32_t *ids = sl_arena_alloc(tp->arena, R * sizeof *ids);
	memcpy(ids, targets, R * sizeof *ids);
	int N = 0;
	for (size_t r = 0; r < R; r++) {
		if (ids[r] == ignore)
			continue;
		SL_ASSERT(ids[r] >= 0 && ids[r] < V);
		N++;
	}
	int one = 1;
	sl_tensor *ins[1] = { logits };
	sl_node n = sl_node_make(tp, SL_OP_CROSS_ENTROPY, ins, 1, 1, &one);
	n.ids = ids;
	n.nids = R;
	n.i[0] = ignore;
	n.i[1] = N;
	if (count)
		*count = N;
	return sl_tape_apply(tp, &n);
}

void sl_op_cross_entropy_forward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	ce_ctx c = { .x = x->data, .t = n->ids, .ignore = n->i[0], .R = sl_tensor_rows(x),
		     .V = (size_t)sl_tensor_dim(x, -1) };
	SL_ASSERT(n->nids == c.R);
	c.loss = sl_arena_alloc(tp->arena, c.R * sizeof *c.loss);
	if (n->out->requires_grad) {
		float *s = sl_arena_alloc(tp->arena, 2 * c.R * sizeof(float));
		c.m = s;
		c.ls = s + c.R;
		n->saved = s;
	}
	row_run(tp, c.R, CE_COST * c.R * c.V, ce_fwd_rows, &c);
	/* the mean over counted rows, summed in row order */
	double total = 0;
	for (size_t r = 0; r < c.R; r++)
		total += c.loss[r];
	int N = n->i[1];
	n->out->data[0] = N > 0 ? (float)(total / N) : 0.0f;
}

void sl_op_cross_entropy_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	if (!x->requires_grad)
		return;
	float *s = n->saved;
	SL_ASSERT(s);
	ce_ctx c = { .x = x->data, .t = n->ids, .ignore = n->i[0], .dx = sl_tape_grad(tp, x),
		     .R = sl_tensor_rows(x), .V = (size_t)sl_tensor_dim(x, -1) };
	int N = n->i[1];
	if (N == 0)
		return; /* no counted row: the loss is constant 0 */
	c.m = s;
	c.ls = s + c.R;
	c.scale = n->out->grad[0] / (float)N;
	row_run(tp, c.R, CE_COST * c.R * c.V, ce_dx_rows, &c);
}
