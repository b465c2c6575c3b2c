/* op_rnn.c - the recurrent cells (Elman, GRU, LSTM; ops.h) over whole
 * sequences as one op, where the tape would otherwise hold a dozen small ops
 * per step. With a_t = xg_t (the input's part, W_x x_t + b, one product
 * outside) and p_t = h_{t-1} W_hᵀ (G H per row):
 *
 *   Elman  h = tanh(a + p)
 *   GRU    r = σ(a_r + p_r), z = σ(a_z + p_z), n = p_g + b_hg,
 *          g = tanh(a_g + r n), h = g + z (h_{t-1} - g)
 *   LSTM   i, f, g, o = σ, σ, tanh, σ of a + p; c = f c_{t-1} + i g,
 *          h = o tanh(c)
 *
 * each elementwise expression rounded as the cell written with tape ops
 * rounds it (tests/test_rnn_seq.c's reference), so the forward pass equals
 * theirs bit for bit where the product does (sl_gemm: every element the same
 * chain of fused multiply-adds).
 *
 * Backward through time, per step from t = T-1 down, with dh the total
 * gradient of h_t (the output's plus the recurrent dh_t from step t+1) and,
 * for the LSTM, dc that of c_t:
 *
 *   Elman  dq = dh (1 - h²)                                  dp = da = dq
 *   GRU    dg = dh (1 - z), dz = dh (h_{t-1} - g), dq_g = dg (1 - g²),
 *          dr = dq_g n, dn = dq_g r, dq_r = dr r(1-r), dq_z = dz z(1-z);
 *          da = (dq_r, dq_z, dq_g), dp = (dq_r, dq_z, dn),
 *          recurrent dh_{t-1} = dp W_h + z dh
 *   LSTM   dc += dh o (1 - tanh²c); di = dc g, df = dc c_{t-1}, dg = dc i,
 *          do = dh tanh c; dp = da = (di i(1-i), df f(1-f), dg (1-g²),
 *          do o(1-o)); dc_{t-1} = dc f
 *   (Elman, LSTM: recurrent dh_{t-1} = dp W_h)
 *
 * (with_c: dc also takes the output's gradient of c_t). From given initial
 * states h_{-1} (and c_{-1}) rather than zeros, the recurrent dh_{-1} and
 * dc_{-1} left at t = 0 are their gradients: a decoder steps the op with
 * T = 1, its state carried from step to step on the tape. dp is kept for
 * every position, so the weight's gradient comes at the end from products
 * over all of them, dW_h += dpᵀ (G H, B T) · hp (B T, H) with hp_t = h_{t-1}
 * (RNN_DW_CHUNK positions a product), and db_hg += Σ dn.
 *
 * Threads: the sequences are independent, so each thread runs the whole
 * recurrence for its own fixed slice of them (one product per step over its
 * rows, no barrier between steps); dW_h splits over its rows, each summed
 * over all positions in order, and db_hg is summed in position order (a
 * problem under SL_PAR_MIN_WORK multiply-adds runs on one thread): with
 * sl_gemm (each element one fixed chain of fused multiply-adds) the bits do
 * not depend on the thread count. */
#include "seqlab/fastmath.h"
#include "ops_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

typedef struct rnn_ctx {
	int kind, B, T, H, G, W, S;
	const float *xg;   /* (B, T, G H) */
	const float *wh;   /* (G H, H) */
	const float *wht;  /* (H, G H): W_hᵀ, for the forward products */
	const float *bhg;  /* (H): the GRU's, else NULL */
	float *hs;         /* (B, T, W): the output */
	float *hp;         /* (B, T, H): h_{t-1} at t */
	float *sv;         /* (B, T, S): the gates (and c) */
	const float *dout; /* (B, T, W): the output's gradient (backward) */
	float *dp;         /* (B, T, G H): the gradient of p_t (+ b_hg) */
	float *dxg;        /* (B, T, G H): the input's gradient, or NULL */
	int fresh;         /* dxg is a fresh buffer: written, not added to */
	int has_h0;        /* hp's rows at t = 0 are given states, not zeros */
	const float *c0;   /* (B, H): the LSTM's c_{-1} per sequence, else NULL */
	float *dh0, *dc0;  /* (B, H): the initial states' gradients (+=), or NULL */
	float *scratch;     /* per thread, `per` floats */
	size_t per;
} rnn_ctx;

static int gates_of(int kind)
{
	return kind == SL_RNN_TANH ? 1 : kind == SL_RNN_GRU ? 3 : 4;
}

static int saved_of(int kind, int H)
{
	return kind == SL_RNN_TANH ? 0 : kind == SL_RNN_GRU ? 4 * H : 6 * H;
}

/* ---- one row (sequence) of one step --------------------------------------------- */

/* The LSTM's c_{t-1}: in the saved row before s, or at t = 0 the sequence's
 * initial cell c0 (H); NULL for the other cells */
static inline const float *cprev_of(int kind, int t, const float *s, int S, int H, const float *c0)
{
	return kind != SL_RNN_LSTM ? NULL : t > 0 ? s - S + 4 * H : c0;
}

/* Sequence b's c_{-1} (c0: (B, H), or NULL for the cells without one) */
static inline const float *c0_row(const float *c0, size_t b, int H)
{
	return c0 ? c0 + b * H : NULL;
}

/* Forward: a (G H) the input's part, p (G H) = h_{t-1} W_hᵀ, hprev (H),
 * cprev (H; the LSTM's) -> h (H; with_c: c after it), the saved gates s
 * (S). */
static void fwd_row(int kind, int H, int with_c, const float *restrict a, const float *restrict p,
		    const float *restrict bhg, const float *restrict hprev, const float *restrict cprev,
		    float *restrict h, float *restrict s)
{
	if (kind == SL_RNN_TANH) {
		for (int j = 0; j < H; j++)
			h[j] = sl_ftanh(a[j] + p[j]);
		return;
	}
	if (kind == SL_RNN_GRU) {
		float *r = s, *z = s + H, *g = s + 2 * H, *n = s + 3 * H;
		for (int j = 0; j < H; j++) {
			r[j] = sl_fsigmoid(a[j] + p[j]);
			z[j] = sl_fsigmoid(a[H + j] + p[H + j]);
			n[j] = p[2 * H + j] + bhg[j];
		}
		for (int j = 0; j < H; j++)
			g[j] = sl_ftanh(a[2 * H + j] + r[j] * n[j]);
		for (int j = 0; j < H; j++)
			h[j] = g[j] + z[j] * (hprev[j] - g[j]);
		return;
	}
	float *i = s, *f = s + H, *g = s + 2 * H, *o = s + 3 * H, *c = s + 4 * H, *tc = s + 5 * H;
	for (int j = 0; j < H; j++) {
		i[j] = sl_fsigmoid(a[j] + p[j]);
		f[j] = sl_fsigmoid(a[H + j] + p[H + j]);
		o[j] = sl_fsigmoid(a[3 * H + j] + p[3 * H + j]);
	}
	for (int j = 0; j < H; j++)
		g[j] = sl_ftanh(a[2 * H + j] + p[2 * H + j]);
	for (int j = 0; j < H; j++)
		c[j] = f[j] * cprev[j] + i[j] * g[j];
	for (int j = 0; j < H; j++)
		tc[j] = sl_ftanh(c[j]);
	for (int j = 0; j < H; j++)
		h[j] = o[j] * tc[j];
	if (with_c)
		memcpy(h + H, c, (size_t)H * sizeof *h);
}

/* Backward: dh (H) the total gradient of h_t; s, h (Elman: h_t), hprev,
 * cprev as forward's; dc (LSTM, H): in, the gradient of c_t from later
 * steps and the output, out, that of c_{t-1}. Writes dp (G H) and, the
 * GRU's, dhz = z dh (its direct path to h_{t-1}); adds da to dxg (G H; set
 * when fresh) unless it is NULL. */
static void bwd_row(int kind, int H, const float *restrict s, const float *restrict h,
		    const float *restrict hprev, const float *restrict cprev, const float *restrict dh,
		    float *restrict dc, float *restrict dp, float *restrict dxg, int fresh, float *restrict dhz)
{
	int G = gates_of(kind);
	if (kind == SL_RNN_TANH) {
		for (int j = 0; j < H; j++)
			dp[j] = dh[j] * (1.0f - h[j] * h[j]);
	} else if (kind == SL_RNN_GRU) {
		const float *r = s, *z = s + H, *g = s + 2 * H, *n = s + 3 * H;
		/* dp's last third holds dq_g (the input's) until dxg has it, then dn =
		 * dq_g r: three plain loops, each vectorised */
		for (int j = 0; j < H; j++) {
			float dqg = dh[j] * (1.0f - z[j]) * (1.0f - g[j] * g[j]);
			float dz = dh[j] * (hprev[j] - g[j]);
			dp[j] = dqg * n[j] * (r[j] * (1.0f - r[j]));
			dp[H + j] = dz * (z[j] * (1.0f - z[j]));
			dp[2 * H + j] = dqg;
			dhz[j] = dh[j] * z[j];
		}
		if (dxg)
			for (int k = 0; k < G * H; k++)
				dxg[k] = (fresh ? 0.0f : dxg[k]) + dp[k];
		for (int j = 0; j < H; j++)
			dp[2 * H + j] *= r[j];
		return;
	} else {
		const float *i = s, *f = s + H, *g = s + 2 * H, *o = s + 3 * H, *tc = s + 5 * H;
		for (int j = 0; j < H; j++) {
			float dcj = dc[j] + dh[j] * o[j] * (1.0f - tc[j] * tc[j]);
			dp[j] = dcj * g[j] * (i[j] * (1.0f - i[j]));
			dp[H + j] = dcj * cprev[j] * (f[j] * (1.0f - f[j]));
			dp[2 * H + j] = dcj * i[j] * (1.0f - g[j] * g[j]);
			dp[3 * H + j] = dh[j] * tc[j] * (o[j] * (1.0f - o[j]));
			dc[j] = dcj * f[j];
		}
	}
	if (dxg)
		for (int k = 0; k < G * H; k++)
			dxg[k] = (fresh ? 0.0f : dxg[k]) + dp[k];
}

/* ---- the recurrence over a thread's slice of sequences -------------------------- */

static void fwd_task(void *arg, int tid, int nth)
{
	const rnn_ctx *c = arg;
	size_t lo, hi;
	sl_range((size_t)c->B, tid, nth, &lo, &hi);
	if (lo == hi)
		return;
	int m = (int)(hi - lo), T = c->T, H = c->H, GH = c->G * c->H, W = c->W, S = c->S;
	float *p = c->scratch + (size_t)tid * c->per; /* (m, G H) */
	for (int t = 0; t < T; t++) {
		/* p (m, G H) = hp_t (m rows, T H apart) W_hᵀ; zero state at t = 0
		 * unless one is given */
		if (t == 0 && !c->has_h0)
			memset(p, 0, (size_t)m * GH * sizeof *p);
		else
			sl_sgemm(0, 0, m, GH, H, 1.0f, c->hp + (lo * T + t) * H, T * H, c->wht, GH, 0.0f, p, GH);
		for (size_t b = lo; b < hi; b++) {
			size_t bt = b * T + t;
			float *h = c->hs + bt * W, *s = c->sv + bt * S;
			fwd_row(c->kind, H, W > H, c->xg + bt * GH, p + (b - lo) * GH, c->bhg, c->hp + bt * H,
				cprev_of(c->kind, t, s, S, H, c0_row(c->c0, b, H)), h, s);
			if (t + 1 < T)
				memcpy(c->hp + (bt + 1) * H, h, (size_t)H * sizeof *h);
		}
	}
}

static void bwd_task(void *arg, int tid, int nth)
{
	const rnn_ctx *c = arg;
	size_t lo, hi;
	sl_range((size_t)c->B, tid, nth, &lo, &hi);
	if (lo == hi)
		return;
	int m = (int)(hi - lo), T = c->T, H = c->H, GH = c->G * c->H, W = c->W, S = c->S;
	/* per row: dh (the total gradient of h_t), dhr (the recurrent part of
	 * the next one down), dc (the LSTM's cell gradient) */
	float *dh = c->scratch + (size_t)tid * c->per, *dhr = dh + (size_t)m * H, *dc = dhr + (size_t)m * H;
	memset(dhr, 0, 2 * (size_t)m * H * sizeof *dhr);
	for (int t = T - 1; t >= 0; t--) {
		for (size_t b = lo; b < hi; b++) {
			size_t bt = b * T + t, i = (b - lo) * H;
			const float *dy = c->dout + bt * W, *s = c->sv + bt * S;
			for (int j = 0; j < H; j++)
				dh[i + j] = dy[j] + dhr[i + j];
			if (W > H) /* the output's c_t */
				for (int j = 0; j < H; j++)
					dc[i + j] += dy[H + j];
			bwd_row(c->kind, H, s, c->hs + bt * W, c->hp + bt * H,
				cprev_of(c->kind, t, s, S, H, c0_row(c->c0, b, H)),
				dh + i, dc + i, c->dp + bt * GH, c->dxg ? c->dxg + bt * GH : NULL, c->fresh, dhr + i);
		}
		/* dhr (m, H) = dp_t (m rows, T G H apart) W_h (+ z dh, the GRU's);
		 * at t = 0 that of the given initial state */
		if (t > 0 || c->dh0)
			sl_sgemm(0, 0, m, H, GH, 1.0f, c->dp + (lo * T + t) * GH, T * GH, c->wh, H,
				 c->kind == SL_RNN_GRU ? 1.0f : 0.0f, dhr, H);
	}
	for (size_t b = lo; b < hi; b++)
		for (int j = 0; j < H; j++) {
			size_t i = (b - lo) * H + j;
			if (c->dh0)
				c->dh0[b * H + j] += dhr[i];
			if (c->dc0)
				c->dc0[b * H + j] += dc[i];
		}
}

/* Runs task over the sequences on the pool (when there are two or more and
 * the products reach SL_PAR_MIN_WORK), with per floats of arena scratch per
 * thread for up to ⌈B / threads⌉ rows of `row` floats each. */
static void rnn_run(sl_tape *tp, rnn_ctx *c, size_t row, sl_pool_fn task)
{
	size_t work = (size_t)c->B * c->T * c->G * c->H * c->H;
	int nth = tp->pool && c->B > 1 && work >= SL_PAR_MIN_WORK ? sl_pool_size(tp->pool) : 1;
	c->per = (((size_t)c->B + nth - 1) / nth) * row;
	c->scratch = sl_arena_alloc(tp->arena, (size_t)nth * c->per * sizeof(float));
	if (nth > 1)
		sl_pool_run(tp->pool, task, c);
	else
		task(c, 0, 1);
}

/* ---- the op -------------------------------------------------------------------- */

/* at (cols, rows) = aᵀ for a (rows, cols). A decoder steps the op once per
 * position, transposing W_h each time: as a plain loop (a strided load per
 * element) that cost as much as the step's product, so with AVX-512 each
 * row of at is gathered sixteen elements at a time. */
static void transpose(const float *restrict a, int rows, int cols, float *restrict at)
{
	int r0 = 0;
#if defined(__AVX512F__)
	const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
					       _mm512_set1_epi32(cols));
	for (; r0 + 16 <= rows; r0 += 16)
		for (int c = 0; c < cols; c++)
			_mm512_storeu_ps(at + (size_t)c * rows + r0,
					 _mm512_i32gather_ps(idx, a + (size_t)r0 * cols + c, sizeof(float)));
#endif
	for (int c = 0; c < cols; c++)
		for (int r = r0; r < rows; r++)
			at[(size_t)c * rows + r] = a[(size_t)r * cols + c];
}

sl_tensor *sl_rnn_seq(sl_tape *tp, int kind, sl_tensor *xg, sl_tensor *wh, sl_tensor *bhg, sl_tensor *h0,
		      sl_tensor *c0, int with_c, const sl_rnn_trace **trace)
{
	SL_ASSERT(kind == SL_RNN_TANH || kind == SL_RNN_GRU || kind == SL_RNN_LSTM);
	SL_ASSERT(xg->ndim == 3 && wh->ndim == 2);
	int G = gates_of(kind), H = wh->shape[1];
	SL_ASSERT(wh->shape[0] == G * H && xg->shape[2] == G * H);
	SL_ASSERT(kind == SL_RNN_GRU ? bhg && bhg->ndim == 1 && bhg->shape[0] == H : !bhg);
	SL_ASSERT(!with_c || kind == SL_RNN_LSTM);
	SL_ASSERT(!c0 || kind == SL_RNN_LSTM);
	SL_ASSERT(!h0 || sl_tensor_numel(h0) == (size_t)xg->shape[0] * H);
	SL_ASSERT(!c0 || sl_tensor_numel(c0) == (size_t)xg->shape[0] * H);
	int shape[3] = { xg->shape[0], xg->shape[1], with_c ? 2 * H : H };
	sl_tensor *ins[5] = { xg, wh, bhg, h0, c0 };
	sl_node n = sl_node_make(tp, SL_OP_RNN, ins, 5, 3, shape);
	n.i[0] = kind;
	sl_tensor *y = sl_tape_apply(tp, &n);
	if (trace)
		*trace = n.saved;
	return y;
}

void sl_op_rnn_forward(sl_tape *tp, sl_node *n)
{
	const sl_tensor *xg = n->in[0], *wh = n->in[1], *bhg = n->in[2], *h0 = n->in[3], *c0 = n->in[4];
	int kind = n->i[0], B = xg->shape[0], T = xg->shape[1], H = wh->shape[1], G = gates_of(kind);
	int GH = G * H, S = saved_of(kind, H);
	size_t BT = (size_t)B * T;
	sl_rnn_trace *tr = sl_arena_calloc(tp->arena, sizeof *tr);
	float *hp = sl_arena_alloc(tp->arena, BT * H * sizeof *hp);
	float *sv = sl_arena_alloc(tp->arena, (BT * S + 1) * sizeof *sv);
	float *wht = sl_arena_alloc(tp->arena, (size_t)GH * H * sizeof *wht);
	transpose(wh->data, GH, H, wht);
	for (int b = 0; b < B; b++) /* h_{-1}: given, or zeros */
		if (h0)
			memcpy(hp + (size_t)b * T * H, h0->data + (size_t)b * H, (size_t)H * sizeof *hp);
		else
			memset(hp + (size_t)b * T * H, 0, (size_t)H * sizeof *hp);
	float *cz = NULL; /* the LSTM's c_{-1}: given, or zeros */
	if (kind == SL_RNN_LSTM) {
		cz = sl_arena_alloc(tp->arena, (size_t)B * H * sizeof *cz);
		if (c0)
			memcpy(cz, c0->data, (size_t)B * H * sizeof *cz);
		else
			memset(cz, 0, (size_t)B * H * sizeof *cz);
	}
	*tr = (sl_rnn_trace){ .kind = kind, .B = B, .T = T, .H = H, .W = n->out->shape[2], .S = S,
			      .wh = wh->data, .hs = n->out->data, .hp = hp, .sv = sv, .c0 = cz };
	rnn_ctx c = { .kind = kind, .B = B, .T = T, .H = H, .G = G, .W = tr->W, .S = S, .xg = xg->data,
		      .wh = wh->data, .wht = wht, .bhg = bhg ? bhg->data : NULL, .hs = n->out->data, .hp = hp,
		      .sv = sv, .has_h0 = h0 != NULL, .c0 = cz };
	rnn_run(tp, &c, (size_t)GH, fwd_task);
	n->saved = tr;
}

typedef struct rnn_dw_ctx {
	int H, GH;
	size_t BT;
	const float *dp, *hp;
	float *dwh;
} rnn_dw_ctx;

/* Positions per product of dW_h's sum: a panel of hp (RNN_DW_CHUNK, 32)
 * stays in L1 while every row tile of the product passes over it (the whole
 * B T would stream it from L2 once per tile: 2.5x slower at B T = 2000). */
#define RNN_DW_CHUNK 128

/* dW_h[lo:hi] (rows of G H, H) += dp[:, lo:hi]ᵀ (B T rows) · hp (B T, H),
 * one product per RNN_DW_CHUNK positions, in position order */
static void dw_rows(void *arg, size_t lo, size_t hi)
{
	const rnn_dw_ctx *c = arg;
	for (size_t k0 = 0; k0 < c->BT; k0 += RNN_DW_CHUNK) {
		int kc = (int)(c->BT - k0 < RNN_DW_CHUNK ? c->BT - k0 : RNN_DW_CHUNK);
		sl_sgemm(1, 0, (int)(hi - lo), c->H, kc, 1.0f, c->dp + k0 * c->GH + lo, c->GH, c->hp + k0 * c->H, c->H,
			 1.0f, c->dwh + lo * (size_t)c->H, c->H);
	}
}

void sl_op_rnn_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *xg = n->in[0], *wh = n->in[1], *bhg = n->in[2], *h0 = n->in[3], *c0 = n->in[4];
	const sl_rnn_trace *tr = n->saved;
	int want_b = bhg && bhg->requires_grad, want_h0 = h0 && h0->requires_grad, want_c0 = c0 && c0->requires_grad;
	if (!xg->requires_grad && !wh->requires_grad && !want_b && !want_h0 && !want_c0)
		return;
	int G = gates_of(tr->kind), H = tr->H, GH = G * H;
	size_t BT = (size_t)tr->B * tr->T;
	rnn_ctx c = { .kind = tr->kind, .B = tr->B, .T = tr->T, .H = H, .G = G, .W = tr->W, .S = tr->S,
		      .wh = wh->data, .hs = (float *)tr->hs, .hp = (float *)tr->hp, .sv = (float *)tr->sv,
		      .has_h0 = h0 != NULL, .c0 = tr->c0, .dh0 = want_h0 ? sl_tape_grad(tp, h0) : NULL,
		      .dc0 = want_c0 ? sl_tape_grad(tp, c0) : NULL, .dout = n->out->grad,
		      .dp = sl_arena_alloc(tp->arena, BT * GH * sizeof(float)) };
	if (xg->requires_grad)
		c.dxg = sl_tape_grad_fresh(tp, xg, &c.fresh);
	rnn_run(tp, &c, 3 * (size_t)H, bwd_task);
	if (wh->requires_grad) {
		rnn_dw_ctx d = { .H = H, .GH = GH, .BT = BT, .dp = c.dp, .hp = tr->hp, .dwh = sl_tape_grad(tp, wh) };
		if (BT * GH * H < SL_PAR_MIN_WORK)
			dw_rows(&d, 0, (size_t)GH);
		else
			sl_pool_for(tp->pool, (size_t)GH, dw_rows, &d);
	}
	if (want_b) /* db_hg += Σ dn over every position, in order */
		sl_colsum_add(sl_tape_grad(tp, bhg), c.dp + 2 * H, BT, (size_t)GH, 0, (size_t)H);
}

/* ---- what the views and gradflow read ----------------------------------------- */

void sl_rnn_trace_seq0(const sl_rnn_trace *tr, float *gate, float *h)
{
	int T = tr->T, H = tr->H;
	for (int t = 0; t < T; t++) {
		memcpy(h + (size_t)t * H, tr->hs + (size_t)t * tr->W, (size_t)H * sizeof *h);
		if (gate && tr->kind != SL_RNN_TANH) /* z and f are both the second of the saved */
			memcpy(gate + (size_t)t * H, tr->sv + (size_t)t * tr->S + H, (size_t)H * sizeof *gate);
	}
}

void sl_rnn_trace_jacobian(const sl_rnn_trace *tr, int p, float *norm)
{
	int H = tr->H, G = gates_of(tr->kind), GH = G * H, S = tr->S, W = tr->W;
	SL_ASSERT(p >= 0 && p < tr->T);
	/* row j of dh is the gradient a backward pass from unit j of h_p leaves
	 * on h_t; all H passes step down together, one product per step */
	float *dh = sl_xcalloc((size_t)H * H, sizeof *dh), *dhr = sl_xcalloc((size_t)H * H, sizeof *dhr);
	float *dc = sl_xcalloc((size_t)H * H, sizeof *dc), *dp = sl_xcalloc((size_t)H * GH, sizeof *dp);
	for (int j = 0; j < H; j++)
		dh[(size_t)j * H + j] = 1.0f;
	for (int t = p; t >= 0; t--) {
		double q = 0;
		for (size_t k = 0; k < (size_t)H * H; k++)
			q += (double)dh[k] * dh[k];
		norm[t] = (float)sqrt(q / H);
		if (t == 0)
			break;
		const float *s = tr->sv + (size_t)t * S; /* sequence 0 */
		for (int j = 0; j < H; j++)
			bwd_row(tr->kind, H, s, tr->hs + (size_t)t * W, tr->hp + (size_t)t * H,
				cprev_of(tr->kind, t, s, S, H, c0_row(tr->c0, 0, H)), dh + (size_t)j * H, dc + (size_t)j * H,
				dp + (size_t)j * GH, NULL, 0, dhr + (size_t)j * H);
		sl_sgemm(0, 0, H, H, GH, 1.0f, dp, GH, tr->wh, H, tr->kind == SL_RNN_GRU ? 1.0f : 0.0f, dhr, H);
		float *x = dh;
		dh = dhr;
		dhr = x;
	}
	free(dh);
	free(dhr);
	free(dc);
	free(dp);
}
