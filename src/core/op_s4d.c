/* op_s4d.c - S4D (Gu et al. 2022, "On the parameterization and
 * initialization of diagonal state space models"; state-spaces/s4
 * models/s4/s4d.py): the convolution kernel of a diagonal LTI state space
 * and the causal long convolution that applies it.
 *
 * Kernel. Per channel h, M complex modes n (B = 1 folded into C):
 *   Δ = exp(log_dt_h),  A_n = -exp(A_re_log[h,n]) + i A_im[h,n],  w = Δ A_n,
 *   zoh:      Ā = e^w,                  B̄ = (e^w - 1)/A_n = Δ φ1(w)
 *   bilinear: Ā = (1 + w/2)/(1 - w/2),  B̄ = Δ/(1 - w/2)
 *   K[h, l] = 2 Re Σ_n C_n B̄_n Ā_n^l,   l = 0 .. L-1.
 * Computed in double (Ā^l by repeated multiplication). Backward, with
 * G_n = C_n B̄_n and the complex gradient convention g = ∂f/∂re + i ∂f/∂im
 * (for a holomorphic z(w), ∂Re z/∂w's gradient is conj(z'(w))):
 *   g_G = 2 Σ_l dK_l conj(Ā^l),   g_Ā = 2 Σ_l dK_l conj(G l Ā^{l-1}),
 *   then through Ā(w), B̄(w, Δ), w = Δ A, A = -e^{a} + i b, Δ = e^{log_dt}.
 *
 * Convolution. y[b,t,h] = Σ_{s<=t} K[h, t-s] u[b,s,h], directly (the
 * lengths seqlab trains at are a few hundred at most, where the direct sum
 * beats an FFT of length 2L): O(T²) per (b, h). Backward:
 *   du[b,s,h] += Σ_{t>=s} K[h,t-s] dy[b,t,h],  dK[h,l] += Σ_{b,t} dy[b,t,h] u[b,t-l,h]. */
#include "ops_impl.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <complex.h>
#include <math.h>
#include <string.h>

/* Ā and B̄ of one mode */
static void s4d_disc(int disc, double dt, double complex A, double complex *ab, double complex *bb)
{
	double complex w = dt * A;
	if (disc == 1) { /* bilinear */
		*ab = (1 + w / 2) / (1 - w / 2);
		*bb = dt / (1 - w / 2);
	} else {
		*ab = cexp(w);
		*bb = cabs(w) < 1e-6 ? dt * (1 + w / 2) : (cexp(w) - 1) / A;
	}
}

sl_tensor *sl_s4d_kernel(sl_tape *tp, sl_tensor *log_dt, sl_tensor *A_re_log, sl_tensor *A_im, sl_tensor *C, int L,
			 int disc)
{
	int H = log_dt->shape[0];
	SL_ASSERT(log_dt->ndim == 1 && A_re_log->ndim == 2 && A_re_log->shape[0] == H);
	SL_ASSERT(sl_tensor_same_shape(A_re_log, A_im));
	SL_ASSERT(C->ndim == 3 && C->shape[0] == H && C->shape[1] == A_re_log->shape[1] && C->shape[2] == 2);
	SL_ASSERT(L >= 1 && (disc == 0 || disc == 1));
	sl_tensor *ins[4] = { log_dt, A_re_log, A_im, C };
	int s[2] = { H, L };
	sl_node n = sl_node_make(tp, SL_OP_S4D_KERNEL, ins, 4, 2, s);
	n.i[0] = disc;
	return sl_tape_apply(tp, &n);
}

/* Channels are independent (each writes its own row of K and its own
 * gradients), so both passes split channels over the pool: the same bits at
 * any thread count. */
typedef struct s4k_ctx {
	const sl_node *n;
	double *acc;            /* forward: L doubles per channel */
	float *gdt, *gre, *gim, *gC;
} s4k_ctx;

static void s4k_run(sl_tape *tp, size_t H, size_t work, sl_range_fn fn, void *ctx)
{
	if (!tp->pool || work < SL_PAR_MIN_WORK)
		fn(ctx, 0, H);
	else
		sl_pool_for(tp->pool, H, fn, ctx);
}

static void s4k_fwd(void *arg, size_t lo, size_t hi)
{
	const s4k_ctx *c = arg;
	const sl_node *n = c->n;
	const sl_tensor *ldt = n->in[0], *are = n->in[1], *aim = n->in[2], *C = n->in[3];
	int M = are->shape[1], L = n->out->shape[1];
	for (size_t h = lo; h < hi; h++) {
		double dt = exp((double)ldt->data[h]);
		float *K = n->out->data + h * L;
		double *acc = c->acc + h * L;
		memset(acc, 0, (size_t)L * sizeof *acc);
		for (int m = 0; m < M; m++) {
			size_t i = h * M + m;
			double complex A = -exp((double)are->data[i]) + I * (double)aim->data[i], ab, bb;
			s4d_disc(n->i[0], dt, A, &ab, &bb);
			double complex G = ((double)C->data[2 * i] + I * (double)C->data[2 * i + 1]) * bb, p = 1;
			for (int l = 0; l < L; l++) { /* modes in order, each l's sum in double */
				acc[l] += 2 * creal(G * p);
				p *= ab;
			}
		}
		for (int l = 0; l < L; l++)
			K[l] = (float)acc[l];
	}
}

void sl_op_s4d_kernel_forward(sl_tape *tp, sl_node *n)
{
	int H = n->in[1]->shape[0], M = n->in[1]->shape[1], L = n->out->shape[1];
	s4k_ctx c = { .n = n, .acc = sl_arena_alloc(tp->arena, (size_t)H * L * sizeof(double)) };
	s4k_run(tp, (size_t)H, (size_t)H * M * L * 4, s4k_fwd, &c);
}

static void s4k_bwd(void *arg, size_t lo, size_t hi)
{
	const s4k_ctx *c = arg;
	const sl_node *n = c->n;
	const sl_tensor *ldt = n->in[0], *are = n->in[1], *aim = n->in[2], *C = n->in[3];
	int M = are->shape[1], L = n->out->shape[1], disc = n->i[0];
	const float *dK = n->out->grad;
	float *gdt = c->gdt, *gre = c->gre, *gim = c->gim, *gC = c->gC;
	for (size_t h = lo; h < hi; h++) {
		double dt = exp((double)ldt->data[h]), gdt_h = 0;
		const float *dk = dK + h * L;
		for (int m = 0; m < M; m++) {
			size_t i = h * M + m;
			double ea = exp((double)are->data[i]);
			double complex A = -ea + I * (double)aim->data[i], ab, bb;
			s4d_disc(disc, dt, A, &ab, &bb);
			double complex Cn = (double)C->data[2 * i] + I * (double)C->data[2 * i + 1], G = Cn * bb;
			/* g_G = 2 Σ dK_l conj(Ā^l); g_Ā = 2 Σ dK_l conj(G l Ā^{l-1}) */
			double complex gG = 0, gAb = 0, p = 1, pm1 = 0; /* p = Ā^l, pm1 = Ā^{l-1} */
			for (int l = 0; l < L; l++) {
				gG += 2 * dk[l] * conj(p);
				if (l > 0)
					gAb += 2 * dk[l] * conj(G * (double)l * pm1);
				pm1 = p;
				p *= ab;
			}
			double complex gB = conj(Cn) * gG; /* G = C B̄ */
			if (gC) {
				double complex gc = conj(bb) * gG;
				gC[2 * i] += (float)creal(gc);
				gC[2 * i + 1] += (float)cimag(gc);
			}
			/* Ā and B̄ as functions of w = Δ A (and of Δ alone for B̄) */
			double complex w = dt * A, gw, dBdt_fixed_w;
			if (disc == 1) {
				double complex q = 1 / (1 - w / 2);
				/* Ā = (1 + w/2) q: dĀ/dw = q²; B̄ = Δ q: ∂B̄/∂w = Δ q²/2, ∂B̄/∂Δ|w = q */
				gw = conj(q * q) * gAb + conj(dt * q * q / 2) * gB;
				dBdt_fixed_w = q;
			} else {
				/* Ā = e^w; B̄ = Δ φ1(w): ∂B̄/∂w = Δ φ1'(w), φ1' = (e^w - φ1)/w; ∂B̄/∂Δ|w = φ1(w) */
				double complex e = cexp(w), phi = cabs(w) < 1e-6 ? 1 + w / 2 : (e - 1) / w;
				double complex dphi = cabs(w) < 1e-4 ? 0.5 + w / 3 : (e - phi) / w;
				gw = conj(e) * gAb + conj(dt * dphi) * gB;
				dBdt_fixed_w = phi;
			}
			double complex gA = dt * gw;                      /* w = Δ A */
			gdt_h += creal(conj(gw) * A) + creal(conj(gB) * dBdt_fixed_w);
			if (gre)
				gre[i] += (float)(-ea * creal(gA));        /* A_re = -e^{a} */
			if (gim)
				gim[i] += (float)cimag(gA);
		}
		if (gdt)
			gdt[h] += (float)(gdt_h * dt);                   /* Δ = e^{log_dt} */
	}
}

void sl_op_s4d_kernel_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *ldt = n->in[0], *are = n->in[1], *aim = n->in[2], *C = n->in[3];
	int H = are->shape[0], M = are->shape[1], L = n->out->shape[1];
	s4k_ctx c = { .n = n };
	c.gdt = ldt->requires_grad ? sl_tape_grad(tp, ldt) : NULL;
	c.gre = are->requires_grad ? sl_tape_grad(tp, are) : NULL;
	c.gim = aim->requires_grad ? sl_tape_grad(tp, aim) : NULL;
	c.gC = C->requires_grad ? sl_tape_grad(tp, C) : NULL;
	s4k_run(tp, (size_t)H, (size_t)H * M * L * 8, s4k_bwd, &c);
}

/* ---- the causal long convolution ---------------------------------------------------
 * y[b,t,h] = Σ_{s<=t} K[h,t-s] u[b,s,h], each element one sum over s in order;
 * du[b,s,h] += Σ_{t>=s} K[h,t-s] dy[b,t,h] over t in order; dK[h,l] += Σ_b Σ_{t>=l}
 * dy[b,t,h] u[b,t-l,h] over b, then t, in order. The loops run sixteen channels
 * at a time (channels are contiguous) on K transposed to (lag, channel); every
 * element's operations are those of the per-channel loop, so the bits are too. */

#define LCONV_CH 64 /* channels a register block of sums covers */

typedef struct lconv_ctx {
	int B, T, H;
	const float *u, *KT, *dy; /* KT (T, H): K's first T lags, transposed */
	float *y, *du, *dK;
	int L;                    /* dK's row length */
} lconv_ctx;

/* row r = b T + t: y[b,t,:] (forward) or du[b,t,:] (backward) */
static void lconv_rows(void *arg, size_t lo, size_t hi)
{
	const lconv_ctx *c = arg;
	int T = c->T, H = c->H;
	for (size_t r = lo; r < hi; r++) {
		int b = (int)(r / (size_t)T), t = (int)(r % (size_t)T);
		const float *u = c->u + (size_t)b * T * H;
		for (int h0 = 0; h0 < H; h0 += LCONV_CH) {
			int n = H - h0 < LCONV_CH ? H - h0 : LCONV_CH;
			float acc[LCONV_CH];
			for (int j = 0; j < n; j++)
				acc[j] = 0.0f;
			if (!c->dy) {
				for (int s = 0; s <= t; s++) {
					const float *k = c->KT + (size_t)(t - s) * H + h0, *x = u + (size_t)s * H + h0;
					for (int j = 0; j < n; j++)
						acc[j] += k[j] * x[j];
				}
				float *y = c->y + r * H + h0;
				for (int j = 0; j < n; j++)
					y[j] = acc[j];
			} else {
				const float *dy = c->dy + (size_t)b * T * H;
				for (int s = t; s < T; s++) { /* here t is the input's position */
					const float *k = c->KT + (size_t)(s - t) * H + h0, *g = dy + (size_t)s * H + h0;
					for (int j = 0; j < n; j++)
						acc[j] += k[j] * g[j];
				}
				float *du = c->du + r * H + h0;
				for (int j = 0; j < n; j++)
					du[j] += acc[j];
			}
		}
	}
}

/* dK's column of lag l */
static void lconv_dk_lag(const lconv_ctx *c, int l)
{
	int T = c->T, H = c->H;
	for (int h0 = 0; h0 < H; h0 += LCONV_CH) {
		int n = H - h0 < LCONV_CH ? H - h0 : LCONV_CH;
		float acc[LCONV_CH];
		for (int j = 0; j < n; j++)
			acc[j] = 0.0f;
		for (int b = 0; b < c->B; b++)
			for (int t = l; t < T; t++) {
				const float *g = c->dy + ((size_t)b * T + t) * H + h0;
				const float *x = c->u + ((size_t)b * T + t - l) * H + h0;
				for (int j = 0; j < n; j++)
					acc[j] += g[j] * x[j];
			}
		for (int j = 0; j < n; j++)
			c->dK[(size_t)(h0 + j) * c->L + l] += acc[j];
	}
}

#if defined(__AVX512F__)
/* Four outputs at a time, sixteen channels a vector: four sums share each
 * load of the input (or gradient) they multiply, where one output at a time
 * loads two vectors per product. Each output's terms are added in the
 * per-channel loop's order (the shared range first, then the outputs'
 * own terms one output at a time), by products rounded before they are added
 * (no fused multiply-add): the same bits. */
#define V_MUL_ADD(a, k, x) _mm512_add_ps((a), _mm512_mul_ps((k), (x)))

static inline __mmask16 lconv_mask(int n)
{
	return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

/* y[b, t0..t0+3, :]: output t0+r = Σ_{s<=t0+r} K[t0+r-s] u[s], s in order */
static void lconv_fwd4(const lconv_ctx *c, int b, int t0)
{
	int T = c->T, H = c->H;
	const float *u = c->u + (size_t)b * T * H;
	for (int h0 = 0; h0 < H; h0 += 16) {
		__mmask16 m = lconv_mask(H - h0);
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		const float *K = c->KT + h0;
		for (int s = 0; s <= t0; s++) {
			__m512 x = _mm512_maskz_loadu_ps(m, u + (size_t)s * H + h0);
			const float *k = K + (size_t)(t0 - s) * H;
			a0 = V_MUL_ADD(a0, _mm512_maskz_loadu_ps(m, k), x);
			a1 = V_MUL_ADD(a1, _mm512_maskz_loadu_ps(m, k + H), x);
			a2 = V_MUL_ADD(a2, _mm512_maskz_loadu_ps(m, k + 2 * (size_t)H), x);
			a3 = V_MUL_ADD(a3, _mm512_maskz_loadu_ps(m, k + 3 * (size_t)H), x);
		}
		__m512 x1 = _mm512_maskz_loadu_ps(m, u + (size_t)(t0 + 1) * H + h0);
		__m512 x2 = _mm512_maskz_loadu_ps(m, u + (size_t)(t0 + 2) * H + h0);
		__m512 x3 = _mm512_maskz_loadu_ps(m, u + (size_t)(t0 + 3) * H + h0);
		__m512 k0 = _mm512_maskz_loadu_ps(m, K), k1 = _mm512_maskz_loadu_ps(m, K + H);
		__m512 k2 = _mm512_maskz_loadu_ps(m, K + 2 * (size_t)H);
		a1 = V_MUL_ADD(a1, k0, x1);
		a2 = V_MUL_ADD(a2, k1, x1);
		a2 = V_MUL_ADD(a2, k0, x2);
		a3 = V_MUL_ADD(a3, k2, x1);
		a3 = V_MUL_ADD(a3, k1, x2);
		a3 = V_MUL_ADD(a3, k0, x3);
		float *y = c->y + ((size_t)b * T + t0) * H + h0;
		_mm512_mask_storeu_ps(y, m, a0);
		_mm512_mask_storeu_ps(y + H, m, a1);
		_mm512_mask_storeu_ps(y + 2 * (size_t)H, m, a2);
		_mm512_mask_storeu_ps(y + 3 * (size_t)H, m, a3);
	}
}

/* du[b, s0..s0+3, :] += Σ_{t>=s0+r} K[t-s0-r] dy[t], t in order */
static void lconv_du4(const lconv_ctx *c, int b, int s0)
{
	int T = c->T, H = c->H;
	const float *dy = c->dy + (size_t)b * T * H;
	for (int h0 = 0; h0 < H; h0 += 16) {
		__mmask16 m = lconv_mask(H - h0);
		const float *K = c->KT + h0;
		__m512 k0 = _mm512_maskz_loadu_ps(m, K), k1 = _mm512_maskz_loadu_ps(m, K + H);
		__m512 k2 = _mm512_maskz_loadu_ps(m, K + 2 * (size_t)H);
		__m512 g0 = _mm512_maskz_loadu_ps(m, dy + (size_t)s0 * H + h0);
		__m512 g1 = _mm512_maskz_loadu_ps(m, dy + (size_t)(s0 + 1) * H + h0);
		__m512 g2 = _mm512_maskz_loadu_ps(m, dy + (size_t)(s0 + 2) * H + h0);
		__m512 z = _mm512_setzero_ps();
		__m512 a0 = V_MUL_ADD(z, k0, g0), a1 = V_MUL_ADD(z, k0, g1), a2 = V_MUL_ADD(z, k0, g2);
		a0 = V_MUL_ADD(a0, k1, g1);
		a0 = V_MUL_ADD(a0, k2, g2);
		a1 = V_MUL_ADD(a1, k1, g2);
		__m512 a3 = z;
		for (int t = s0 + 3; t < T; t++) {
			__m512 g = _mm512_maskz_loadu_ps(m, dy + (size_t)t * H + h0);
			const float *k = K + (size_t)(t - s0 - 3) * H; /* row 3's lag; row r's is 3 - r more */
			a3 = V_MUL_ADD(a3, _mm512_maskz_loadu_ps(m, k), g);
			a2 = V_MUL_ADD(a2, _mm512_maskz_loadu_ps(m, k + H), g);
			a1 = V_MUL_ADD(a1, _mm512_maskz_loadu_ps(m, k + 2 * (size_t)H), g);
			a0 = V_MUL_ADD(a0, _mm512_maskz_loadu_ps(m, k + 3 * (size_t)H), g);
		}
		float *du = c->du + ((size_t)b * T + s0) * H + h0;
		__m512 acc[4] = { a0, a1, a2, a3 };
		for (int r = 0; r < 4; r++) {
			float *d = du + (size_t)r * H;
			_mm512_mask_storeu_ps(d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), acc[r]));
		}
	}
}

/* dK's columns of lags l0..l0+3: lag l0+r = Σ_b Σ_{t>=l0+r} dy[b,t] u[b,t-l0-r],
 * b then t in order */
static void lconv_dk4(const lconv_ctx *c, int l0)
{
	int T = c->T, H = c->H;
	for (int h0 = 0; h0 < H; h0 += 16) {
		__mmask16 m = lconv_mask(H - h0);
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		for (int b = 0; b < c->B; b++) {
			const float *dy = c->dy + (size_t)b * T * H + h0, *u = c->u + (size_t)b * T * H + h0;
			for (int t = l0; t < l0 + 3 && t < T; t++) { /* lags l0..t active */
				__m512 g = _mm512_maskz_loadu_ps(m, dy + (size_t)t * H);
				a0 = V_MUL_ADD(a0, g, _mm512_maskz_loadu_ps(m, u + (size_t)(t - l0) * H));
				if (t >= l0 + 1)
					a1 = V_MUL_ADD(a1, g, _mm512_maskz_loadu_ps(m, u + (size_t)(t - l0 - 1) * H));
				if (t >= l0 + 2)
					a2 = V_MUL_ADD(a2, g, _mm512_maskz_loadu_ps(m, u + (size_t)(t - l0 - 2) * H));
			}
			for (int t = l0 + 3; t < T; t++) {
				__m512 g = _mm512_maskz_loadu_ps(m, dy + (size_t)t * H);
				const float *x = u + (size_t)(t - l0 - 3) * H; /* lag l0+3's input; lag l0+r's is 3 - r later */
				a3 = V_MUL_ADD(a3, g, _mm512_maskz_loadu_ps(m, x));
				a2 = V_MUL_ADD(a2, g, _mm512_maskz_loadu_ps(m, x + H));
				a1 = V_MUL_ADD(a1, g, _mm512_maskz_loadu_ps(m, x + 2 * (size_t)H));
				a0 = V_MUL_ADD(a0, g, _mm512_maskz_loadu_ps(m, x + 3 * (size_t)H));
			}
		}
		float v[4][16];
		_mm512_storeu_ps(v[0], a0);
		_mm512_storeu_ps(v[1], a1);
		_mm512_storeu_ps(v[2], a2);
		_mm512_storeu_ps(v[3], a3);
		int n = H - h0 < 16 ? H - h0 : 16;
		for (int r = 0; r < 4; r++)
			for (int j = 0; j < n; j++)
				c->dK[(size_t)(h0 + j) * c->L + l0 + r] += v[r][j];
	}
}
#endif

/* blocks of four positions, i = b nb + q (nb = ceil(T / 4)): y or du of
 * positions 4q..4q+3 of sequence b (fewer at the end) */
static void lconv_blocks(void *arg, size_t lo, size_t hi)
{
	const lconv_ctx *c = arg;
	size_t nb = ((size_t)c->T + 3) / 4;
	for (size_t i = lo; i < hi; i++) {
		int b = (int)(i / nb), t0 = (int)(i % nb) * 4;
		size_t r0 = (size_t)b * c->T + t0;
#if defined(__AVX512F__)
		if (t0 + 4 <= c->T) {
			if (c->dy)
				lconv_du4(c, b, t0);
			else
				lconv_fwd4(c, b, t0);
			continue;
		}
#endif
		lconv_rows((void *)c, r0, r0 + (size_t)(c->T - t0 < 4 ? c->T - t0 : 4));
	}
}

/* blocks of four lags, taken as the first, the last, the second, ... so that
 * halves of the blocks hold about equal work */
static void lconv_dk_blocks(void *arg, size_t lo, size_t hi)
{
	const lconv_ctx *c = arg;
	size_t nb = ((size_t)c->T + 3) / 4;
	for (size_t i = lo; i < hi; i++) {
		int q = i % 2 == 0 ? (int)(i / 2) : (int)(nb - 1 - i / 2), l0 = 4 * q;
#if defined(__AVX512F__)
		if (l0 + 4 <= c->T) {
			lconv_dk4(c, l0);
			continue;
		}
#endif
		for (int l = l0; l < l0 + 4 && l < c->T; l++)
			lconv_dk_lag(c, l);
	}
}

static void lconv_for(sl_tape *tp, size_t rows, size_t work, sl_range_fn fn, lconv_ctx *c)
{
	if (!tp->pool || work < SL_PAR_MIN_WORK)
		fn(c, 0, rows);
	else
		sl_pool_for(tp->pool, rows, fn, c);
}

static float *lconv_kt(sl_tape *tp, const sl_tensor *K, int T)
{
	int H = K->shape[0], L = K->shape[1];
	float *kt = sl_arena_alloc(tp->arena, (size_t)T * H * sizeof(float));
	for (int h = 0; h < H; h++)
		for (int l = 0; l < T; l++)
			kt[(size_t)l * H + h] = K->data[(size_t)h * L + l];
	return kt;
}

sl_tensor *sl_causal_conv(sl_tape *tp, sl_tensor *u, sl_tensor *K)
{
	SL_ASSERT(u->ndim == 3 && K->ndim == 2 && K->shape[0] == u->shape[2] && K->shape[1] >= u->shape[1]);
	sl_tensor *ins[2] = { u, K };
	sl_node n = sl_node_make(tp, SL_OP_LCONV, ins, 2, 3, u->shape);
	return sl_tape_apply(tp, &n);
}

void sl_op_lconv_forward(sl_tape *tp, sl_node *n)
{
	const sl_tensor *u = n->in[0], *K = n->in[1];
	lconv_ctx c = { .B = u->shape[0], .T = u->shape[1], .H = u->shape[2], .L = K->shape[1], .u = u->data,
			.KT = lconv_kt(tp, K, u->shape[1]), .y = n->out->data };
	size_t rows = (size_t)c.B * c.T;
	lconv_for(tp, (size_t)c.B * (((size_t)c.T + 3) / 4), rows * c.H * c.T / 2, lconv_blocks, &c);
}

void sl_op_lconv_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *u = n->in[0], *K = n->in[1];
	int B = u->shape[0], T = u->shape[1], H = u->shape[2];
	lconv_ctx c = { .B = B, .T = T, .H = H, .L = K->shape[1], .u = u->data, .KT = lconv_kt(tp, K, T),
			.dy = n->out->grad, .du = u->requires_grad ? sl_tape_grad(tp, u) : NULL,
			.dK = K->requires_grad ? sl_tape_grad(tp, K) : NULL };
	size_t work = (size_t)B * T * H * T / 2;
	if (c.du)
		lconv_for(tp, (size_t)B * (((size_t)T + 3) / 4), work, lconv_blocks, &c);
	if (c.dK)
		lconv_for(tp, ((size_t)T + 3) / 4, work, lconv_dk_blocks, &c);
}
