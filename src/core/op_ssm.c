/* op_ssm.c - the selective state-space scan (Mamba) as one fused op: four
 * discretisations, three scans, a hand-derived backward.
 *
 * Shapes: x, delta, z, out (B, T, D); A (D, N); Bm, Cm (B, T, N); Dskip (D).
 * sl_ssm_softplus takes delta's pre-activation instead: each thread computes
 * delta = softplus(.) for its channels before its scan (into an eighth
 * input, the tensor it hands back for views and keeps for backward), and
 * backward multiplies delta's gradient by softplus' before adding it to the
 * pre-activation's (the softplus op's operations: the same bits).
 * Per (b, d), with w = Δ_t[d] A[d,n], the discretisation gives Ā_t[n] and an
 * input coefficient g_t[n] with B̄x_t[n] = g_t[n] B_t[n] x_t[d]:
 *
 *   zoh          Ā = e^w                   g = Δ φ1(w),  φ1(w) = (e^w - 1)/w
 *   zoh-approx   Ā = e^w                   g = Δ
 *   bilinear     Ā = (1 + w/2) q           g = Δ q,      q = 1/(1 - w/2)
 *   euler        Ā = 1 + w                 g = Δ
 *
 * Forward, one (b, d) at a time: fill Ā and bx = g B x over (T, N), scan
 *   h_t = Ā_t h_{t-1} + bx_t (h_{-1} = 0), then
 *   y_t = sum_n C_t[n] h_t[n] + D x_t,   out_t = y_t silu(z_t) (or y_t).
 *
 * Backward, from dout:
 *   dy_t  = dout_t silu(z_t)                  dz_t += dout_t y_t silu'(z_t)
 *   dh_t  = C_t dy_t + Ā_{t+1} dh_{t+1}        a reverse scan (dh_T = 0)
 *   dĀ_t  = dh_t h_{t-1}                      dg_t = dh_t B_t x_t
 *   dx_t += sum_n dh_t g_t B_t + D dy_t
 *   dB_t += sum_d dh_t g_t x_t                dC_t += sum_d dy_t h_t
 *   dD   += sum_{b,t} dy_t x_t                (dD and dA: b ascending, t descending)
 *   dΔ_t += sum_n dĀ ∂Ā/∂Δ + dg ∂g/∂Δ         dA += sum_{b,t} dĀ ∂Ā/∂A + dg ∂g/∂A
 * with the partials of each discretisation in disc_grad().
 *
 * Fused multiply-adds (SL_FMA, fastmath.h; rounded once) wherever a product
 * meets a sum in these: the exponential (sl_fexp2_fma), φ1's series, Euler's
 * 1 + w, the recurrences h and dh, the sums y (n ascending, then D x), dx's
 * and dD's, and the inner a b + c of each disc_grad term; every kernel the
 * same ones, so they agree bit for bit. Where g is Δ (zoh-approx, euler),
 * B̄x = B (Δ x) with Δ x once per step, one multiply per state fewer; and
 * backward sums S_t = sum_n dh_t B_t once, dx_t = Δ S + D dy and dΔ_t =
 * x S + sum_n dĀ ∂Ā/∂Δ (n ascending, then the S term), three multiplies per
 * state fewer than each state's dh g B and dh B x.
 * (Measured against a float64 reference, B=2 T=32 D=16 N=16 gated, 300-400
 * seeds per discretisation and regime: the outputs' mean normwise error
 * 6-8 % below that of separate roundings, e.g. 1.02e-7 -> 0.95e-7 for
 * zoh-approx at Mamba's Δ and A; the gradients, by finite differences in
 * float64, as accurate as before.)
 * The exponential e^w of zoh and zoh-approx is 2^(Δ a'), a' = a log2 e
 * (rounded once per (d, n); the 16-channel kernels keep a' beside A^T), by
 * sl_fexp2_fma: no reduction by ln 2, 11 vector operations where e^w by
 * sl_fexp16_fma took 15 with Δ a, 10 % off the op's forward and backward at
 * the Pig-Latin Mamba's shapes. It rounds Δ a' where e^w rounded Δ a, which
 * moves e^w by up to |w| 1.2e-7 relative; its polynomial is more accurate
 * (8e-8 against 3e-7): the outputs' error against float64 in test_ssm's
 * tables moved within 1.3e-7 .. 2.2e-7 (mamba, T 16 to 4096, was
 * 0.9e-7 .. 1.9e-7) and 0.9e-7 .. 1.3e-7 (stiff, was 1.1e-7 .. 1.7e-7).
 *
 * Saved for backward: h for every (b, d, t, n), laid out (B, D, T, N) so one
 * (b, d) is one contiguous (T, N) block (the 16-channel kernel further
 * down, which runs for Mamba's shapes, recomputes h instead), and y before
 * the gate (B, T, D) when z is given (that kernel keeps σ(z) too, an exp and
 * a division per element that backward would repeat). At seqlab's sizes (B·T ~ 2k rows, D·N ~ 2k) h is ~16 MB a
 * layer, inside the memory budget, and backward needs every h_{t-1} in
 * reverse order, which recomputation would have to rebuild with a second
 * forward scan. Ā and g are recomputed: an exp per element is cheaper than
 * storing and re-reading two more arrays of h's size. (Measured for the
 * 16-channel kernel below, whose backward recomputes h as well: keeping Ā
 * from forward took 8 % off the op's backward alone at recall's shapes,
 * B = T = 64, D = 128, but in training, where each layer's Ā waits in
 * memory through the other layers, the step was 4-7 % slower on a busy
 * machine and peak memory 48 MB higher.)
 *
 * Scans. Each evaluates h_t = a_t h_{t-1} + b_t, h_{-1} = 0, over N lanes
 * (arrays (T, N), lanes contiguous so the inner loops vectorise); a_0
 * multiplies h_{-1} = 0 and is never used.
 *  - seq: the loop.
 *  - parallel: Blelloch's work-efficient scan on the affine maps (a, b):
 *    h -> a h + b, composed "p then q" = (a_q a_p, a_q b_p + b_q). The
 *    up-sweep builds subtree totals, the down-sweep turns them into exclusive
 *    prefixes, whose b is h_{t-1}; then h_t = a_t h_{t-1} + b_t. T is padded
 *    with identities to a power of two; subtrees made only of padding are
 *    skipped, so the work stays ~2T combines. It runs on one thread here (the
 *    op's threads split channels) and reassociates the products and sums, so
 *    it agrees with seq to rounding (tests/test_ssm.c states the tolerance).
 *  - log: Heinsen's (arXiv 2311.06281)
 *        log h_t = a*_t + logcumsumexp_{k<=t}(log b_k - a*_k),
 *        a*_t = sum_{1<=j<=t} log a_j.
 *    Ā may be negative (euler for w < -1, bilinear for w < -2) and so may
 *    b (the sign of B x), so we stay real: carry log|a| and the sign s_t of
 *    the running product, and split the terms by the sign of s_k b_k into two
 *    logcumsumexps P (positive) and Q (negative):
 *        h_t = s_t (exp(a*_t + P_t) - exp(a*_t + Q_t)),
 *    exact in real arithmetic. A zero a_t (euler at w = -1, bilinear at
 *    w = -2) cuts the history: the scan restarts at t (a* = 0, P = Q = -inf).
 *    The cumulative sum and the logcumsumexp (online, with a running max) are
 *    prefix operations; they run as loops here. Care: for zoh and zoh-approx
 *    log Ā is w itself, never log(exp(w)), so Δ·A far below -87 (where e^w
 *    underflows in float) loses nothing. What remains is float32's: a*_t
 *    grows like |w| t and h_t = exp(a*_t + P_t) adds two large numbers of
 *    opposite sign, so the relative error grows with |w| t, like the ulp of
 *    a*_t. Measured at T = 4096 (tests/test_ssm.c prints the table): 4e-5
 *    with Mamba's Δ and A (|w| ~ 0.2), 1e-4 at |w| ~ 2, 2e-2 at |w| ~ 600;
 *    worse where P and Q nearly cancel.
 *  Backward runs its reverse recurrence with the forward's scan kind (on the
 *  arrays reversed in time), so each kind is one consistent computation.
 *
 * Threads. Channels are cut into at most 16 blocks of ceil(D/16) channels
 * (a function of D only); threads take whole blocks. Everything per channel
 * (out, dx, dΔ, dz, and dA, dD summed over b then t) is independent of the
 * partition. dB and dC sum over channels: each block sums its channels in
 * order into its own (B, T, N) partials (the 16-channel kernels below: a
 * block per 16 channels, summed by a tree), and a second pass over rows
 * (b, t) adds the blocks in order. Every bit is independent of the thread
 * count. */
#include "ops_impl.h"

#include "seqlab/fastmath.h"
#include "seqlab/scan.h"
#include "seqlab/ssm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SSM_MAXBLK 16
/* rough multiply-adds per (b, t, d, n) for the threading threshold */
#define SSM_WORK 8

static const char *const disc_names[SL_SSM_DISC_COUNT] = { "zoh", "zoh-approx", "bilinear", "euler" };
static const char *const scan_names[SL_SSM_SCAN_COUNT] = { "seq", "parallel", "log" };

const char *sl_ssm_disc_name(int disc)
{
	return disc >= 0 && disc < SL_SSM_DISC_COUNT ? disc_names[disc] : "?";
}

const char *sl_ssm_scan_name(int scan)
{
	return scan >= 0 && scan < SL_SSM_SCAN_COUNT ? scan_names[scan] : "?";
}

int sl_ssm_disc_parse(const char *name)
{
	for (int i = 0; name && i < SL_SSM_DISC_COUNT; i++)
		if (strcmp(name, disc_names[i]) == 0)
			return i;
	return -1;
}

int sl_ssm_scan_parse(const char *name)
{
	for (int i = 0; name && i < SL_SSM_SCAN_COUNT; i++)
		if (strcmp(name, scan_names[i]) == 0)
			return i;
	return -1;
}

/* ---- discretisations ------------------------------------------------------ */

/* φ1(w) = (e^w - 1)/w given e = e^w; its Taylor series for |w| < 1/2, where
 * the difference would cancel (error of the cut series < 1e-9). */
static inline float phi1(float w, float e)
{
	float s = 1.0f / 362880;
	s = SL_FMA(s, w, 1.0f / 40320);
	s = SL_FMA(s, w, 1.0f / 5040);
	s = SL_FMA(s, w, 1.0f / 720);
	s = SL_FMA(s, w, 1.0f / 120);
	s = SL_FMA(s, w, 1.0f / 24);
	s = SL_FMA(s, w, 1.0f / 6);
	s = SL_FMA(s, w, 0.5f);
	s = SL_FMA(s, w, 1.0f);
	return fabsf(w) < 0.5f ? s : (e - 1.0f) / w;
}

/* φ1'(w) = (e^w - φ1(w))/w = sum_{k>=1} k w^(k-1)/(k+1)!, likewise. */
static inline float dphi1(float w, float e, float p)
{
	float s = 1.0f / 45360;
	s = SL_FMA(s, w, 1.0f / 5760);
	s = SL_FMA(s, w, 1.0f / 840);
	s = SL_FMA(s, w, 1.0f / 144);
	s = SL_FMA(s, w, 1.0f / 30);
	s = SL_FMA(s, w, 1.0f / 8);
	s = SL_FMA(s, w, 1.0f / 3);
	s = SL_FMA(s, w, 0.5f);
	return fabsf(w) < 0.5f ? s : (e - p) / w;
}

/* Ā and g of one element (w = dt a), one function per discretisation, for
 * both kernels' loops (the choice stays outside the loops, which vectorise). */
static inline void zoh_elem(float dt, float a, float *abar, float *g)
{
	float w = dt * a, e = sl_fexp2_fma(dt * (a * SL_LOG2E));
	*abar = e;
	*g = dt * phi1(w, e);
}

static inline void zoh_approx_elem(float dt, float a, float *abar, float *g)
{
	*abar = sl_fexp2_fma(dt * (a * SL_LOG2E));
	*g = dt;
}

static inline void bilinear_elem(float dt, float a, float *abar, float *g)
{
	float w = dt * a, q = 1.0f / (1.0f - 0.5f * w);
	*abar = (1.0f + 0.5f * w) * q;
	*g = dt * q;
}

static inline void euler_elem(float dt, float a, float *abar, float *g)
{
	*abar = SL_FMA(dt, a, 1.0f);
	*g = dt;
}

/* g is Δ itself (zoh-approx, euler): then B̄x = B (Δ x), Δ x once per step,
 * where the others take g (B x) */
#define G_IS_DT(disc) ((disc) == SL_SSM_ZOH_APPROX || (disc) == SL_SSM_EULER)

/* Ā[n] and g[n] for one step dt over the N states a[n] (static, so the
 * op's kernels inline it as they did before it was shared; Mamba's step
 * reaches it through sl_ssm_disc_row below). */
static void disc_row(int disc, float dt, const float *a, int N, float *abar, float *g)
{
	switch (disc) {
	case SL_SSM_ZOH:
		for (int n = 0; n < N; n++)
			zoh_elem(dt, a[n], &abar[n], &g[n]);
		break;
	case SL_SSM_ZOH_APPROX:
		for (int n = 0; n < N; n++)
			zoh_approx_elem(dt, a[n], &abar[n], &g[n]);
		break;
	case SL_SSM_BILINEAR:
		for (int n = 0; n < N; n++)
			bilinear_elem(dt, a[n], &abar[n], &g[n]);
		break;
	default: /* SL_SSM_EULER */
		for (int n = 0; n < N; n++)
			euler_elem(dt, a[n], &abar[n], &g[n]);
		break;
	}
}

void sl_ssm_disc_row(int disc, float dt, const float *a, int N, float *abar, float *g)
{
	disc_row(disc, dt, a, N, abar, g);
}

/* log|Ā[n]| for the log scan (-inf where Ā = 0). For the exponential
 * discretisations it is w itself: no underflow for very negative w. */
static void disc_logabs(int disc, float dt, const float *a, const float *abar, int N, float *la)
{
	if (disc == SL_SSM_ZOH || disc == SL_SSM_ZOH_APPROX)
		for (int n = 0; n < N; n++)
			la[n] = dt * a[n];
	else
		for (int n = 0; n < N; n++)
			la[n] = logf(fabsf(abar[n]));
}

/* From dĀ (dab) and dg of one element: adds dL/dA into *dA and dL/dΔ into
 * *s. The partials (w = Δ a):
 *   zoh:        ∂Ā/∂Δ = a Ā, ∂Ā/∂a = Δ Ā, ∂g/∂Δ = Ā (d(w φ1)/dw = e^w), ∂g/∂a = Δ² φ1'(w)
 *   zoh-approx: ∂Ā/∂Δ = a Ā, ∂Ā/∂a = Δ Ā, ∂g/∂Δ = 1, ∂g/∂a = 0
 *   bilinear:   dĀ/dw = q², so ∂Ā/∂Δ = a q², ∂Ā/∂a = Δ q²; ∂g/∂Δ = q + w q²/2 = q², ∂g/∂a = Δ² q²/2
 *   euler:      ∂Ā/∂Δ = a, ∂Ā/∂a = Δ, ∂g/∂Δ = 1, ∂g/∂a = 0 */
static inline void zoh_grad(float dt, float a, float e, float dab, float dg, float *s, float *dA)
{
	float w = dt * a;
	float dp = dphi1(w, e, phi1(w, e));
	*s += e * SL_FMA(dab, a, dg);
	*dA += dt * SL_FMA(dab, e, dg * dt * dp);
}

static inline void zoh_approx_grad(float dt, float a, float abar, float dab, float dg, float *s, float *dA)
{
	(void)dg; /* g = Δ: the dg terms are summed apart (G_IS_DT) */
	float q = dab * abar;
	*s = SL_FMA(q, a, *s);
	*dA += q * dt;
}

static inline void bilinear_grad(float dt, float a, float abar, float dab, float dg, float *s, float *dA)
{
	(void)abar;
	float q = 1.0f / (1.0f - 0.5f * dt * a), q2 = q * q;
	*s += q2 * SL_FMA(dab, a, dg);
	*dA += q2 * dt * SL_FMA(0.5f * dt, dg, dab);
}

static inline void euler_grad(float dt, float a, float abar, float dab, float dg, float *s, float *dA)
{
	(void)abar;
	(void)dg;
	*s = SL_FMA(dab, a, *s);
	*dA += dab * dt;
}

/* One step's dĀ[n] and dg[n] over the N states: adds into dA[n] and returns
 * dL/dΔ, summed over n in order. */
static float disc_grad(int disc, float dt, const float *a, const float *abar, const float *dab, const float *dg,
		       int N, float *dA)
{
	float s = 0.0f;
	switch (disc) {
	case SL_SSM_ZOH:
		for (int n = 0; n < N; n++)
			zoh_grad(dt, a[n], abar[n], dab[n], dg[n], &s, &dA[n]);
		break;
	case SL_SSM_ZOH_APPROX:
		for (int n = 0; n < N; n++)
			zoh_approx_grad(dt, a[n], abar[n], dab[n], dg[n], &s, &dA[n]);
		break;
	case SL_SSM_BILINEAR:
		for (int n = 0; n < N; n++)
			bilinear_grad(dt, a[n], abar[n], dab[n], dg[n], &s, &dA[n]);
		break;
	default: /* SL_SSM_EULER */
		for (int n = 0; n < N; n++)
			euler_grad(dt, a[n], abar[n], dab[n], dg[n], &s, &dA[n]);
		break;
	}
	return s;
}

void sl_ssm_abar(int disc, const sl_tensor *delta, const sl_tensor *A, float *abar)
{
	SL_ASSERT(delta->ndim == 3 && A->ndim == 2 && A->shape[0] == delta->shape[2]);
	SL_ASSERT(disc >= 0 && disc < SL_SSM_DISC_COUNT);
	int D = A->shape[0], N = A->shape[1];
	size_t rows = sl_tensor_rows(delta);
	float g[64];
	for (size_t r = 0; r < rows; r++)
		for (int d = 0; d < D; d++)
			for (int n0 = 0; n0 < N; n0 += 64)
				disc_row(disc, delta->data[r * D + d], A->data + (size_t)d * N + n0, SL_MIN(64, N - n0),
					 abar + (r * D + d) * N + n0, g);
}

/* ---- the op ---------------------------------------------------------------- */

typedef struct ssm_saved {
	float *h;              /* (B, D, T, N) */
	float *y;              /* (B, T, D) before the gate, or NULL without z */
	float *sz;             /* σ(z) (B, T, D) of the AVX-512 kernel, or NULL */
} ssm_saved;

typedef struct ssm_ctx {
	int B, T, D, N, P;     /* P: T rounded up to a power of two */
	int disc, scan;
	int bs, nblk;          /* channels per block, blocks */
	const float *x, *dt, *A, *Bm, *Cm, *Ds, *z;   /* Ds, z may be NULL */
	size_t zs;             /* z's (and dz's) row stride: z may be columns of a wider tensor */
	float *out;
	float *h, *y;          /* saved (forward writes them when not NULL) */
	float *sz;             /* saved σ(z) (B, T, D), the AVX-512 kernel's, or NULL */
	const float *dout;
	/* gradients (+=), NULL when not needed */
	float *dx, *ddt, *dA, *dBm, *dCm, *dDs, *dz;
	int fresh;             /* dx, ddt, graw: fresh buffers that the AVX-512 kernel writes whole */
	float *dzo;            /* z's gradient fresh (the AVX-512 kernel): dz is written, not added
				* to, and the other D columns of each row, from dzo, zeroed; or NULL */
	float *pdB, *pdC;      /* (nblk, B, T, N) per-block partial sums, zeroed, or NULL */
	/* the fused softplus (sl_ssm_softplus): dt is then its output, delta,
	 * which forward writes from dtraw; backward adds into graw (NULL when
	 * dtraw needs no gradient), through ddt as a zeroed scratch or, in the
	 * AVX-512 kernel (ddt NULL), directly */
	const float *dtraw;
	float *delta, *graw;
	float *scratch;        /* sc floats per thread */
	size_t sc;
} ssm_ctx;

/* One thread's scratch, carved from c->scratch. */
typedef struct ssm_scr {
	float *abar, *g, *la, *h;            /* (T, N) */
	float *ra, *rla, *rb, *rout;         /* (T, N): the reverse scan's arrays */
	float *ea, *eb;                      /* (P, N): Blelloch */
	float *st;                           /* 6N: log scan state */
	float *dy;                           /* T */
	float *dAl, *dab, *dg;               /* N each */
} ssm_scr;

static size_t scr_floats(int T, int N, int P)
{
	size_t TN = (size_t)T * N;
	size_t n = 8 * TN + 2 * (size_t)P * N + 9 * (size_t)N + (size_t)T;
	return (n + 15) & ~(size_t)15;       /* each thread's part 64-byte aligned */
}

static ssm_scr scr_carve(const ssm_ctx *c, int tid)
{
	size_t TN = (size_t)c->T * c->N, PN = (size_t)c->P * c->N, N = (size_t)c->N;
	float *p = c->scratch + (size_t)tid * c->sc;
	ssm_scr s;
	s.abar = p;
	s.g = s.abar + TN;
	s.la = s.g + TN;
	s.h = s.la + TN;
	s.ra = s.h + TN;
	s.rla = s.ra + TN;
	s.rb = s.rla + TN;
	s.rout = s.rb + TN;
	s.ea = s.rout + TN;
	s.eb = s.ea + PN;
	s.st = s.eb + PN;
	s.dy = s.st + 6 * N;
	s.dAl = s.dy + c->T;
	s.dab = s.dAl + N;
	s.dg = s.dab + N;
	return s;
}

static void scan_run(const ssm_ctx *c, const ssm_scr *s, const float *a, const float *la, const float *b, float *h)
{
	switch (c->scan) {
	case SL_SSM_PARALLEL:
		sl_scan_blelloch(c->T, c->N, a, b, h, s->ea, s->eb);
		break;
	case SL_SSM_LOG:
		sl_scan_log(c->T, c->N, a, la, b, h, s->st);
		break;
	default:
		sl_scan_seq(c->T, c->N, a, b, h);
		break;
	}
}

/* Ā (and log|Ā| for the log scan) and g for every t of one (b, d). */
static void fill_disc(const ssm_ctx *c, const ssm_scr *s, int b, int d)
{
	int T = c->T, D = c->D, N = c->N;
	const float *a = c->A + (size_t)d * N;
	for (int t = 0; t < T; t++) {
		float dt = c->dt[((size_t)b * T + t) * D + d];
		float *abar = s->abar + (size_t)t * N;
		disc_row(c->disc, dt, a, N, abar, s->g + (size_t)t * N);
		if (c->scan == SL_SSM_LOG)
			disc_logabs(c->disc, dt, a, abar, N, s->la + (size_t)t * N);
	}
}

static inline float sigmoidf_(float z)
{
	return 1.0f / (1.0f + sl_fexp(-z));
}

/* Forward of one (b, d). */
static void fwd_bd(const ssm_ctx *c, const ssm_scr *s, int b, int d)
{
	int T = c->T, D = c->D, N = c->N;
	size_t TN = (size_t)T * N;
	float *h = c->h ? c->h + ((size_t)b * D + d) * TN : s->h;
	fill_disc(c, s, b, d);
	/* bx_t = g_t B_t x_t, in place of g */
	for (int t = 0; t < T; t++) {
		size_t r = (size_t)b * T + t;
		float u = c->x[r * D + d];
		const float *Bt = c->Bm + r * N;
		float *bx = s->g + (size_t)t * N, gu = c->dt[r * D + d] * u;
		if (G_IS_DT(c->disc))
			for (int n = 0; n < N; n++)
				bx[n] = Bt[n] * gu;
		else
			for (int n = 0; n < N; n++)
				bx[n] *= Bt[n] * u;
	}
	scan_run(c, s, s->abar, s->la, s->g, h);
	/* y_t = C_t . h_t + D x_t; out_t = y_t silu(z_t) */
	float Dd = c->Ds ? c->Ds[d] : 0.0f;
	for (int t = 0; t < T; t++) {
		size_t r = (size_t)b * T + t, i = r * D + d;
		const float *Ct = c->Cm + r * N, *ht = h + (size_t)t * N;
		float y = 0.0f;
		for (int n = 0; n < N; n++)
			y = SL_FMA(Ct[n], ht[n], y);
		y = SL_FMA(Dd, c->x[i], y);
		if (c->y)
			c->y[i] = y;
		size_t iz = r * c->zs + (size_t)d;
		c->out[i] = c->z ? y * c->z[iz] * sigmoidf_(c->z[iz]) : y;
	}
}

/* Backward of one (b, d): dx, dΔ, dz directly; dA, dD into the thread's
 * per-channel sums s->dAl and *dD; dB, dC into this block's partials. */
static void bwd_bd(const ssm_ctx *c, const ssm_scr *s, int b, int d, float *pdB, float *pdC, float *dD)
{
	int T = c->T, D = c->D, N = c->N;
	size_t TN = (size_t)T * N;
	const float *h = c->h + ((size_t)b * D + d) * TN;
	const float *a = c->A + (size_t)d * N;
	float Dd = c->Ds ? c->Ds[d] : 0.0f;
	fill_disc(c, s, b, d);
	/* dy_t and dz_t: silu'(z) = σ(z) (1 + z (1 - σ(z))) */
	for (int t = 0; t < T; t++) {
		size_t r = (size_t)b * T + t, i = r * D + d, iz = r * c->zs + (size_t)d;
		float go = c->dout[i];
		if (c->z) {
			float zi = c->z[iz], sg = sigmoidf_(zi);
			s->dy[t] = go * zi * sg;
			if (c->dz)
				c->dz[iz] += go * c->y[i] * sg * (1.0f + zi * (1.0f - sg));
		} else {
			s->dy[t] = go;
		}
	}
	/* the reverse recurrence dh_t = Ā_{t+1} dh_{t+1} + C_t dy_t, as a forward
	 * scan in reversed time u = T-1-t: a'_u = Ā_{T-u}, b'_u = C_{T-1-u} dy */
	for (int u = 0; u < T; u++) {
		int t = T - 1 - u;
		const float *Ct = c->Cm + ((size_t)b * T + t) * N;
		float *ra = s->ra + (size_t)u * N, *rla = s->rla + (size_t)u * N, *rb = s->rb + (size_t)u * N;
		for (int n = 0; n < N; n++)
			rb[n] = Ct[n] * s->dy[t];
		if (u == 0) {
			for (int n = 0; n < N; n++) {
				ra[n] = 0.0f;          /* multiplies dh_T = 0; unused */
				rla[n] = -INFINITY;
			}
		} else {
			memcpy(ra, s->abar + (size_t)(t + 1) * N, (size_t)N * sizeof(float));
			if (c->scan == SL_SSM_LOG)
				memcpy(rla, s->la + (size_t)(t + 1) * N, (size_t)N * sizeof(float));
		}
	}
	scan_run(c, s, s->ra, s->rla, s->rb, s->rout);
	/* the chain through each step, t descending (the order of the 16-lane
	 * kernels, whose chain runs with the reverse recurrence): the sums of
	 * dA and dD over t run backwards */
	for (int t = T - 1; t >= 0; t--) {
		size_t r = (size_t)b * T + t, i = r * D + d;
		const float *dh = s->rout + (size_t)(T - 1 - t) * N;
		const float *ht = h + (size_t)t * N, *hp = t > 0 ? ht - N : NULL;
		const float *Bt = c->Bm + r * N, *g = s->g + (size_t)t * N;
		float u = c->x[i], dyt = s->dy[t], dt = c->dt[i];
		float du = Dd * dyt, S = 0.0f, dtu = dt * u;
		for (int n = 0; n < N; n++) {
			s->dab[n] = hp ? dh[n] * hp[n] : 0.0f;   /* dĀ_t = dh_t h_{t-1} */
			if (G_IS_DT(c->disc)) {
				S = SL_FMA(dh[n], Bt[n], S);      /* S_t = sum_n dh_t B_t */
			} else {
				s->dg[n] = dh[n] * Bt[n] * u;     /* dg_t = dh_t B_t x_t */
				du = SL_FMA(dh[n] * g[n], Bt[n], du);
			}
		}
		if (G_IS_DT(c->disc))
			du = SL_FMA(dt, S, du);
		if (pdB)
			for (int n = 0; n < N; n++)
				pdB[r * N + n] += G_IS_DT(c->disc) ? dh[n] * dtu : dh[n] * g[n] * u;
		if (pdC)
			for (int n = 0; n < N; n++)
				pdC[r * N + n] += dyt * ht[n];
		if (c->dx)
			c->dx[i] += du;
		*dD = SL_FMA(dyt, u, *dD);
		float ddt = disc_grad(c->disc, dt, a, s->abar + (size_t)t * N, s->dab, s->dg, N, s->dAl);
		if (G_IS_DT(c->disc))
			ddt = SL_FMA(u, S, ddt);
		if (c->ddt)
			c->ddt[i] += ddt;
	}
}

/* ---- the sequential scan with lanes over channels ---------------------------
 * The loops above run over the N states of one channel, and each step ends
 * in sums over n (y = C.h, the dx and dΔ terms) that are chains of N
 * dependent adds. When the scan is seq and D is 16, 32, 64, 128 or 256 the
 * op runs instead on 16 channels at a time, one per vector lane: every
 * per-state loop becomes a loop over n of vector operations, the sums over n
 * run down the lanes in the order of n (each lane's own chain, sixteen side
 * by side), and the 16 recurrences per state are independent. Each value is
 * computed by the same operations in the same order as above, so the bits
 * are the same (tests/test_ssm.c compares the two), but for dB and dC. h is not saved: the
 * backward pass recomputes it from Ā and g, which it recomputes anyway, by
 * the forward's operations; that costs a multiply-add per element where
 * saving cost writing and reading back B·T·D·N floats (10 MB a layer for
 * the Pig-Latin Mamba), and the peak memory shrinks by as much. dB and dC,
 * sums over channels, are summed across the 16 lanes of a group by a
 * halving tree (lanes_tree16) into the group's partials, a block per group;
 * the plain kernel's blocks sum in channel order, so these two gradients
 * agree with its to rounding (the tree is the more accurate), not bit for
 * bit. In registers, with no transposes, the tree took 5 % off a Pig-Latin
 * training step at one thread, 4-10 % at two, where the in-order sums,
 * through a 16 x 16 transpose per (b, t) and group, took more shuffles
 * than the scan's arithmetic had multiplies. The lane loops are written on whole vectors
 * (ssm_v16) where they can be, so GCC keeps them in registers instead of
 * reloading arrays it fears overlap. */
#define SW 16
/* inlined, so the instance for N = 16 (Mamba's state size) has constant loops */
#define SSM_INLINE static inline __attribute__((always_inline))
typedef float ssm_v16 __attribute__((vector_size(64)));
#if defined(__AVX512F__)
#define SSM_HAVE_16 1
#else
#define SSM_HAVE_16 0
#endif

int sl_ssm_generic;

/* r = a b + c on each lane, rounded once (SL_FMA); a macro, not a
 * function, as no function here takes or returns these vectors by value (in
 * the portable build, without AVX-512, that draws GCC's ABI warning) */
#define V16_FMA(r, a, b, c)                                          \
	do {                                                         \
		ssm_v16 a_ = (a), b_ = (b), c_ = (c);                \
		for (int l_ = 0; l_ < SW; l_++)                      \
			(r)[l_] = SL_FMA(a_[l_], b_[l_], c_[l_]);    \
	} while (0)

static int ssm_lanes(const ssm_ctx *c)
{
	int D = c->D;
	return sl_ssm_generic != 1 && c->scan == SL_SSM_SEQ && D % SW == 0 && SW % (D / SW) == 0;
}

/* Ā and g for the 16 channels' steps dt[l] at state n */
SSM_INLINE void disc_lanes(int disc, const float *dt, const float *a, float *abar, float *g)
{
	switch (disc) {
	case SL_SSM_ZOH:
		for (int l = 0; l < SW; l++)
			zoh_elem(dt[l], a[l], &abar[l], &g[l]);
		break;
	case SL_SSM_ZOH_APPROX:
		for (int l = 0; l < SW; l++)
			zoh_approx_elem(dt[l], a[l], &abar[l], &g[l]);
		break;
	case SL_SSM_BILINEAR:
		for (int l = 0; l < SW; l++)
			bilinear_elem(dt[l], a[l], &abar[l], &g[l]);
		break;
	default:
		for (int l = 0; l < SW; l++)
			euler_elem(dt[l], a[l], &abar[l], &g[l]);
		break;
	}
}

/* disc_grad for state n on 16 lanes: adds into s[l] (dΔ) and dA[l] */
SSM_INLINE void disc_grad_lanes(int disc, const float *dt, const float *a, const float *abar, const float *dab,
				const float *dg, float *s, float *dA)
{
	switch (disc) {
	case SL_SSM_ZOH:
		for (int l = 0; l < SW; l++)
			zoh_grad(dt[l], a[l], abar[l], dab[l], dg[l], &s[l], &dA[l]);
		break;
	case SL_SSM_ZOH_APPROX:
		for (int l = 0; l < SW; l++)
			zoh_approx_grad(dt[l], a[l], abar[l], dab[l], dg[l], &s[l], &dA[l]);
		break;
	case SL_SSM_BILINEAR:
		for (int l = 0; l < SW; l++)
			bilinear_grad(dt[l], a[l], abar[l], dab[l], dg[l], &s[l], &dA[l]);
		break;
	default:
		for (int l = 0; l < SW; l++)
			euler_grad(dt[l], a[l], abar[l], dab[l], dg[l], &s[l], &dA[l]);
		break;
	}
}

/* The sum of v's 16 lanes (one channel each: the partial of dB or dC of
 * this group of channels at one (b, t, n)) by the halving tree: lanes l and
 * l + 8 first, then l and l + 4, l and l + 2, l and l + 1. The AVX-512
 * kernel reduces four states' vectors at once by shuffles in this same
 * tree (lanes_tree16x4), so both give the same bits. */
static inline float lanes_tree16(const float *v)
{
	float t[SW];
	memcpy(t, v, sizeof t);
	for (int s = SW / 2; s >= 1; s /= 2)
		for (int l = 0; l < s; l++)
			t[l] = t[l] + t[l + s];
	return t[0];
}

/* A^T for the group's channels, at[n][l] = A[d0 + l][n], and after it
 * A^T log2 e, at[N + n][l] (the exponentials' 2^(Δ a log2 e)) */
static void group_a(const ssm_ctx *c, int d0, float *at)
{
	for (int n = 0; n < c->N; n++)
		for (int l = 0; l < SW; l++) {
			float a = c->A[(size_t)(d0 + l) * c->N + n];
			at[n * SW + l] = a;
			at[(c->N + n) * SW + l] = a * SL_LOG2E;
		}
}

SSM_INLINE void fwd_lanes(const ssm_ctx *c, int b, int d0, const float *at, float *hprev, const int N)
{
	int T = c->T, D = c->D;
	float Dd[SW];
	for (int l = 0; l < SW; l++)
		Dd[l] = c->Ds ? c->Ds[d0 + l] : 0.0f;
	for (int t = 0; t < T; t++) {
		size_t r = (size_t)b * T + t, i0 = r * D + d0;
		const float *u = c->x + i0, *dt = c->dt + i0, *Bt = c->Bm + r * N, *Ct = c->Cm + r * N;
		ssm_v16 uv, dtv, yv = { 0 };
		memcpy(&uv, u, sizeof uv);
		memcpy(&dtv, dt, sizeof dtv);
		ssm_v16 guv = dtv * uv;
		for (int n = 0; n < N; n++) {
			float ab[SW], g[SW];
			disc_lanes(c->disc, dt, at + n * SW, ab, g);
			ssm_v16 abv, gv, h;
			memcpy(&abv, ab, sizeof abv);
			memcpy(&gv, g, sizeof gv);
			ssm_v16 bx = G_IS_DT(c->disc) ? Bt[n] * guv : gv * (Bt[n] * uv);
			if (t == 0) {
				h = bx;
			} else {
				memcpy(&h, hprev + n * SW, sizeof h);
				V16_FMA(h, abv, h, bx);
			}
			memcpy(hprev + n * SW, &h, sizeof h);
			ssm_v16 cv = { 0 };
			cv += Ct[n];
			V16_FMA(yv, cv, h, yv);
		}
		ssm_v16 Ddv;
		memcpy(&Ddv, Dd, sizeof Ddv);
		V16_FMA(yv, Ddv, uv, yv);
		float y[SW];
		memcpy(y, &yv, sizeof y);
		if (c->y)
			memcpy(c->y + i0, y, sizeof y);
		if (c->z) {
			const float *z = c->z + r * c->zs + d0;
			for (int l = 0; l < SW; l++)
				c->out[i0 + l] = y[l] * z[l] * sigmoidf_(z[l]);
		} else {
			memcpy(c->out + i0, y, sizeof y);
		}
	}
}

/* Scratch of the lanes backward, per thread: Ā, g and dh (T, N, 16). */
SSM_INLINE void bwd_lanes(const ssm_ctx *c, int b, int d0, const float *at, float *ab, float *g, float *hb,
			  float *dh, float *dAl, float *dD, const int N)
{
	int T = c->T, D = c->D;
	size_t BTN = (size_t)c->B * T * N;
	float Dd[SW], dy[SW];
	for (int l = 0; l < SW; l++)
		Dd[l] = c->Ds ? c->Ds[d0 + l] : 0.0f;
	/* Ā, g, and h again, by forward's operations (the same bits) */
	for (int t = 0; t < T; t++) {
		size_t r = (size_t)b * T + t, i0 = r * D + d0;
		const float *dt = c->dt + i0, *u = c->x + i0, *Bt = c->Bm + r * N;
		for (int n = 0; n < N; n++) {
			size_t o = ((size_t)t * N + n) * SW;
			disc_lanes(c->disc, dt, at + n * SW, ab + o, g + o);
			float *h = hb + o;
			for (int l = 0; l < SW; l++) {
				float bx = G_IS_DT(c->disc) ? Bt[n] * (dt[l] * u[l]) : g[o + l] * (Bt[n] * u[l]);
				h[l] = t == 0 ? bx : SL_FMA(ab[o + l], h[l - (ptrdiff_t)N * SW], bx);
			}
		}
	}
	/* dh_t = Ā_{t+1} dh_{t+1} + C_t dy_t, t descending (dh_{T-1} = C dy) */
	for (int t = T - 1; t >= 0; t--) {
		size_t r = (size_t)b * T + t, i0 = r * D + d0;
		/* dy and dz, the tests hoisted so the loops vectorise */
		const float *go = c->dout + i0;
		if (c->z) {
			size_t iz = r * c->zs + d0;
			const float *z = c->z + iz, *y = c->y + i0;
			float sg[SW];
			for (int l = 0; l < SW; l++) {
				sg[l] = sigmoidf_(z[l]);
				dy[l] = go[l] * z[l] * sg[l];
			}
			if (c->dz)
				for (int l = 0; l < SW; l++)
					c->dz[iz + l] += go[l] * y[l] * sg[l] * (1.0f + z[l] * (1.0f - sg[l]));
		} else {
			memcpy(dy, go, sizeof dy);
		}
		/* whole vectors, so nothing is reloaded for fear of aliasing */
		const float *Ct = c->Cm + r * N;
		ssm_v16 dyv;
		memcpy(&dyv, dy, sizeof dyv);
		for (int n = 0; n < N; n++) {
			float *d = dh + ((size_t)t * N + n) * SW;
			ssm_v16 v = Ct[n] * dyv;
			if (t < T - 1) {
				ssm_v16 an, dn;
				memcpy(&an, ab + ((size_t)(t + 1) * N + n) * SW, sizeof an);
				memcpy(&dn, d + (size_t)N * SW, sizeof dn);
				V16_FMA(v, an, dn, v);
			}
			memcpy(d, &v, sizeof v);
		}
		/* dy_t is needed again below: keep it in the last row of g's
		 * neighbour, dh's spare row */
		memcpy(dh + (size_t)T * N * SW + (size_t)t * SW, dy, sizeof dy);
	}
	/* the chain through each step, t descending (as the AVX-512 kernel's) */
	float *pdB = c->pdB ? c->pdB + (size_t)(d0 / SW) * BTN : NULL;
	float *pdC = c->pdC ? c->pdC + (size_t)(d0 / SW) * BTN : NULL;
	for (int t = T - 1; t >= 0; t--) {
		size_t r = (size_t)b * T + t, i0 = r * D + d0;
		const float *u = c->x + i0, *dt = c->dt + i0, *Bt = c->Bm + r * N;
		const float *dyt = dh + (size_t)T * N * SW + (size_t)t * SW;
		float du[SW], s[SW] = { 0 }, S[SW];
		ssm_v16 uv, dyv, duv, dtv, Sv = { 0 };
		memcpy(&uv, u, sizeof uv);
		memcpy(&dyv, dyt, sizeof dyv);
		memcpy(&duv, Dd, sizeof duv);
		memcpy(&dtv, dt, sizeof dtv);
		duv = duv * dyv;
		ssm_v16 dtuv = dtv * uv;
		for (int n = 0; n < N; n++) {
			size_t o = ((size_t)t * N + n) * SW;
			float dab[SW], dgv[SW], pb[SW], pc[SW];
			ssm_v16 dv, gv, hv, av = { 0 };
			memcpy(&dv, dh + o, sizeof dv);
			memcpy(&gv, g + o, sizeof gv);
			memcpy(&hv, hb + o, sizeof hv);
			if (t > 0) {
				memcpy(&av, hb + o - (size_t)N * SW, sizeof av);
				av = dv * av;                  /* dĀ_t = dh_t h_{t-1} */
			}
			ssm_v16 bv = dv * Bt[n] * uv;          /* dg_t = dh_t B_t x_t */
			ssm_v16 bn = { 0 }, pbv;
			bn += Bt[n];
			if (G_IS_DT(c->disc)) {
				V16_FMA(Sv, dv, bn, Sv);       /* S_t = sum_n dh_t B_t */
				pbv = dv * dtuv;
			} else {
				V16_FMA(duv, dv * gv, bn, duv);
				pbv = dv * gv * uv;
			}
			ssm_v16 pcv = dyv * hv;
			memcpy(dab, &av, sizeof dab);
			memcpy(dgv, &bv, sizeof dgv);
			memcpy(pb, &pbv, sizeof pbv);
			memcpy(pc, &pcv, sizeof pcv);
			/* this group's terms of dB_t and dC_t, summed over its channels */
			if (pdB)
				pdB[r * N + n] = lanes_tree16(pb);
			if (pdC)
				pdC[r * N + n] = lanes_tree16(pc);
			disc_grad_lanes(c->disc, dt, at + n * SW, ab + o, dab, dgv, s, dAl + (size_t)n * SW);
		}
		if (G_IS_DT(c->disc)) {
			/* g = Δ: dx's terms dt S, dΔ's x S */
			V16_FMA(duv, dtv, Sv, duv);
			memcpy(S, &Sv, sizeof S);
			for (int l = 0; l < SW; l++)
				s[l] = SL_FMA(u[l], S[l], s[l]);
		}
		memcpy(du, &duv, sizeof du);
		for (int l = 0; l < SW; l++) {
			size_t i = i0 + l;
			if (c->dx)
				c->dx[i] += du[l];
			dD[l] = SL_FMA(dyt[l], u[l], dD[l]);
			if (c->ddt)
				c->ddt[i] += s[l];
		}
	}
}

#if defined(__AVX512F__)
/* ---- the 16-channel kernels in AVX-512 ------------------------------------
 * The same computation as fwd_lanes and bwd_lanes above, every value by the
 * same operations in the same order (the fused multiply-adds where the plain
 * kernel has SL_FMA: the bits are the plain kernel's, tests/test_ssm.c),
 * written on __m512 with the discretisation chosen outside the loops (one
 * instance per discretisation) and the exponential by sl_fexp2_16_fma. The
 * backward pass also fuses the reverse recurrence for dh_t and the chain
 * through step t into one loop, t descending (at N = 16 four such loops,
 * of four states each, dh and dA's sums in registers), and dA and dD take
 * their terms as they come, t descending, the order all three kernels sum
 * them in (no array of dA's terms to add up afterwards). */
static inline __m512 v_bc(float v)
{
	return _mm512_set1_ps(v);
}

#define VMUL _mm512_mul_ps
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VFMA _mm512_fmadd_ps

/* phi1 and dphi1 on 16 lanes: the series and the quotient, one chosen */
static inline __m512 phi1_v(__m512 w, __m512 e)
{
	static const float c[9] = { 1.0f / 362880, 1.0f / 40320, 1.0f / 5040, 1.0f / 720, 1.0f / 120,
				    1.0f / 24,     1.0f / 6,     0.5f,         1.0f };
	__m512 s = v_bc(c[0]);
	for (int k = 1; k < 9; k++)
		s = VFMA(s, w, v_bc(c[k]));
	__m512 q = _mm512_div_ps(VSUB(e, v_bc(1.0f)), w);
	__mmask16 small = _mm512_cmp_ps_mask(_mm512_abs_ps(w), v_bc(0.5f), _CMP_LT_OQ);
	return _mm512_mask_blend_ps(small, q, s);
}

static inline __m512 dphi1_v(__m512 w, __m512 e, __m512 p)
{
	static const float c[8] = { 1.0f / 45360, 1.0f / 5760, 1.0f / 840, 1.0f / 144,
				    1.0f / 30,    1.0f / 8,    1.0f / 3,   0.5f };
	__m512 s = v_bc(c[0]);
	for (int k = 1; k < 8; k++)
		s = VFMA(s, w, v_bc(c[k]));
	__m512 q = _mm512_div_ps(VSUB(e, p), w);
	__mmask16 small = _mm512_cmp_ps_mask(_mm512_abs_ps(w), v_bc(0.5f), _CMP_LT_OQ);
	return _mm512_mask_blend_ps(small, q, s);
}

/* Ā and g (the *_elem functions) */
SSM_INLINE void disc_v(const int disc, __m512 dt, __m512 a, __m512 a2, __m512 *ab, __m512 *g)
{
	if (disc == SL_SSM_ZOH) {
		__m512 w = VMUL(dt, a), e = sl_fexp2_16_fma(VMUL(dt, a2));
		*ab = e;
		*g = VMUL(dt, phi1_v(w, e));
	} else if (disc == SL_SSM_ZOH_APPROX) {
		*ab = sl_fexp2_16_fma(VMUL(dt, a2));
		*g = dt;
	} else if (disc == SL_SSM_BILINEAR) {
		__m512 w = VMUL(dt, a), q = _mm512_div_ps(v_bc(1.0f), VSUB(v_bc(1.0f), VMUL(v_bc(0.5f), w)));
		*ab = VMUL(VADD(v_bc(1.0f), VMUL(v_bc(0.5f), w)), q);
		*g = VMUL(dt, q);
	} else {
		*ab = VFMA(dt, a, v_bc(1.0f));
		*g = dt;
	}
}

/* disc_grad's terms (the *_grad functions): adds into *s, returns dA's term */
SSM_INLINE __m512 disc_grad_v(const int disc, __m512 dt, __m512 a, __m512 abar, __m512 dab, __m512 dg, __m512 *s)
{
	if (disc == SL_SSM_ZOH) {
		__m512 w = VMUL(dt, a), e = abar;
		__m512 dp = dphi1_v(w, e, phi1_v(w, e));
		*s = VADD(*s, VMUL(e, VFMA(dab, a, dg)));
		return VMUL(dt, VFMA(dab, e, VMUL(VMUL(dg, dt), dp)));
	} else if (disc == SL_SSM_ZOH_APPROX) {
		__m512 q = VMUL(dab, abar);
		*s = VFMA(q, a, *s);
		return VMUL(q, dt);
	} else if (disc == SL_SSM_BILINEAR) {
		__m512 hdt = VMUL(v_bc(0.5f), dt);
		__m512 q = _mm512_div_ps(v_bc(1.0f), VSUB(v_bc(1.0f), VMUL(hdt, a))), q2 = VMUL(q, q);
		*s = VADD(*s, VMUL(q2, VFMA(dab, a, dg)));
		return VMUL(VMUL(q2, dt), VFMA(hdt, dg, dab));
	} else {
		*s = VFMA(dab, a, *s);
		return VMUL(dab, dt);
	}
}

/* the gate's sigmoid, sigmoidf_ on 16 lanes */
static inline __m512 sigmoid_v(__m512 z)
{
	__m512 e = sl_fexp16(_mm512_sub_ps(_mm512_setzero_ps(), z));
	return _mm512_div_ps(v_bc(1.0f), VADD(v_bc(1.0f), e));
}

/* Forward of one (b, group): h in hp (N vectors). */
SSM_INLINE void fwd_v(const ssm_ctx *c, int b, int d0, const float *at, float *hp, const int disc, const int N)
{
	int T = c->T, D = c->D;
	__m512 Dd = c->Ds ? _mm512_loadu_ps(c->Ds + d0) : _mm512_setzero_ps();
	for (int t = 0; t < T; t++) {
		size_t r = (size_t)b * T + t, i0 = r * D + d0;
		const float *Bt = c->Bm + r * N, *Ct = c->Cm + r * N;
		__m512 u = _mm512_loadu_ps(c->x + i0), dt = _mm512_loadu_ps(c->dt + i0), y = _mm512_setzero_ps();
		__m512 gu = VMUL(dt, u);
		for (int n = 0; n < N; n++) {
			__m512 ab, g, h;
			disc_v(disc, dt, _mm512_load_ps(at + n * SW), _mm512_load_ps(at + (N + n) * SW), &ab, &g);
			__m512 bx = G_IS_DT(disc) ? VMUL(v_bc(Bt[n]), gu) : VMUL(g, VMUL(v_bc(Bt[n]), u));
			h = t == 0 ? bx : VFMA(ab, _mm512_load_ps(hp + n * SW), bx);
			_mm512_store_ps(hp + n * SW, h);
			y = VFMA(v_bc(Ct[n]), h, y);
		}
		y = VFMA(Dd, u, y);
		if (c->y)
			_mm512_storeu_ps(c->y + i0, y);
		if (c->z) {
			__m512 z = _mm512_loadu_ps(c->z + r * c->zs + d0), sg = sigmoid_v(z);
			if (c->sz)
				_mm512_storeu_ps(c->sz + i0, sg);
			y = VMUL(VMUL(y, z), sg);
		}
		_mm512_storeu_ps(c->out + i0, y);
	}
}

/* The dB and dC terms of four states at one (b, t), pb[k] and pc[k] (16
 * lanes, one channel each), summed over the lanes by lanes_tree16's tree:
 * 256-bit halves (l + 8), 128-bit blocks (l + 4), pairs of floats (l + 2),
 * neighbours (l + 1). Stores the four sums of pb at p[0..3], of pc at
 * q[0..3] (either may be NULL). */
static inline void lanes_tree16x4(const __m512 *pb, const __m512 *pc, float *p, float *q)
{
	__m512 w[4], x[2];
	/* w: lanes 0-7 the first vector's l + (l + 8), 8-15 the second's */
	for (int k = 0; k < 2; k++) {
		w[k] = _mm512_add_ps(_mm512_shuffle_f32x4(pb[2 * k], pb[2 * k + 1], 0x44),
				     _mm512_shuffle_f32x4(pb[2 * k], pb[2 * k + 1], 0xee));
		w[2 + k] = _mm512_add_ps(_mm512_shuffle_f32x4(pc[2 * k], pc[2 * k + 1], 0x44),
					 _mm512_shuffle_f32x4(pc[2 * k], pc[2 * k + 1], 0xee));
	}
	/* x: 128-bit block j holds state j's four partials l + (l + 4) */
	for (int k = 0; k < 2; k++)
		x[k] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * k], w[2 * k + 1], 0x88),
				     _mm512_shuffle_f32x4(w[2 * k], w[2 * k + 1], 0xdd));
	/* y: block j = [pb_j 0+2, pb_j 1+3, pc_j 0+2, pc_j 1+3] */
	__m512d xb = _mm512_castps_pd(x[0]), xc = _mm512_castps_pd(x[1]);
	__m512 y = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(xb, xc)),
				 _mm512_castpd_ps(_mm512_unpackhi_pd(xb, xc)));
	/* lanes 4j: pb_j's sum, 4j + 2: pc_j's */
	__m512 z = _mm512_add_ps(y, _mm512_permute_ps(y, 0xb1));
	__m512 o = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0), z);
	if (p)
		_mm_storeu_ps(p, _mm512_castps512_ps128(o));
	if (q)
		_mm_storeu_ps(q, _mm512_extractf32x4_ps(o, 1));
}

/* Backward of one (b, group). Scratch: ab, h (T, N, 16), g likewise when
 * g is not Δ (zoh, bilinear), and w, 3 (T, 16) or N x 16 floats. */
SSM_INLINE void bwd_v(const ssm_ctx *c, int b, int d0, const float *at, float *abs_, float *gs, float *hs,
		      float *w, float *dAl, float *dD, const int disc, const int N)
{
	int T = c->T, D = c->D;
	size_t BTN = (size_t)c->B * T * N, NS = (size_t)N * SW;
	const int keepg = disc == SL_SSM_ZOH || disc == SL_SSM_BILINEAR;
	/* Ā, g, and h again, by forward's operations (the same bits) */
	for (int t = 0; t < T; t++) {
		size_t r = (size_t)b * T + t, i0 = r * D + d0;
		const float *Bt = c->Bm + r * N;
		__m512 u = _mm512_loadu_ps(c->x + i0), dt = _mm512_loadu_ps(c->dt + i0), gu = VMUL(dt, u);
		float *ab = abs_ + t * NS, *g = gs + t * NS, *h = hs + t * NS;
		for (int n = 0; n < N; n++) {
			__m512 abv, gv;
			disc_v(disc, dt, _mm512_load_ps(at + n * SW), _mm512_load_ps(at + (N + n) * SW), &abv, &gv);
			__m512 bx = G_IS_DT(disc) ? VMUL(v_bc(Bt[n]), gu) : VMUL(gv, VMUL(v_bc(Bt[n]), u));
			__m512 hv = t == 0 ? bx : VFMA(abv, _mm512_load_ps(h - NS + n * SW), bx);
			_mm512_store_ps(ab + n * SW, abv);
			if (keepg)
				_mm512_store_ps(g + n * SW, gv);
			_mm512_store_ps(h + n * SW, hv);
		}
	}
	float *pdB = c->pdB ? c->pdB + (size_t)(d0 / SW) * BTN : NULL;
	float *pdC = c->pdC ? c->pdC + (size_t)(d0 / SW) * BTN : NULL;
	__m512 Dd = c->Ds ? _mm512_loadu_ps(c->Ds + d0) : _mm512_setzero_ps();
	__m512 z0 = _mm512_setzero_ps();
	/* dx's and dΔ's terms of step t, du and s, complete: written out (a
	 * fresh gradient, c->fresh, is added to as zeros would be) */
#define BWD_V_STORE(du, s)                                                                                      \
	do {                                                                                                    \
		if (c->dx)                                                                                      \
			_mm512_storeu_ps(c->dx + i0, VADD(c->fresh ? z0 : _mm512_loadu_ps(c->dx + i0), du));   \
		if (c->ddt) {                                                                                   \
			_mm512_storeu_ps(c->ddt + i0, VADD(c->fresh ? z0 : _mm512_loadu_ps(c->ddt + i0), s));  \
		} else if (c->graw) {                                                                           \
			/* the fused softplus: delta's gradient (0 + s, as in a zeroed                          \
			 * gradient) times sigmoid(dtraw), or itself above the threshold */                     \
			__m512 xr = _mm512_loadu_ps(c->dtraw + i0), dd = VADD(z0, s);                           \
			__mmask16 id = _mm512_cmp_ps_mask(xr, v_bc(SL_SOFTPLUS_THRESHOLD), _CMP_GT_OQ);         \
			__m512 v = _mm512_mask_blend_ps(id, VMUL(dd, sl_fsigmoid16(xr)), dd);                   \
			_mm512_storeu_ps(c->graw + i0, VADD(c->fresh ? z0 : _mm512_loadu_ps(c->graw + i0), v)); \
		}                                                                                               \
	} while (0)
	/* dy and dz, t descending, with dD's terms */
	__m512 dDv = _mm512_loadu_ps(dD);
	float *dyb = w;
	for (int t = T - 1; t >= 0; t--) {
		size_t r = (size_t)b * T + t, i0 = r * D + d0;
		__m512 go = _mm512_loadu_ps(c->dout + i0), dy;
		if (c->z) {
			size_t iz = r * c->zs + d0;
			__m512 z = _mm512_loadu_ps(c->z + iz), sg = c->sz ? _mm512_loadu_ps(c->sz + i0) : sigmoid_v(z);
			dy = VMUL(VMUL(go, z), sg);
			if (c->dz) {
				__m512 y = _mm512_loadu_ps(c->y + i0);
				__m512 v = VMUL(VMUL(VMUL(go, y), sg), VADD(v_bc(1.0f), VMUL(z, VSUB(v_bc(1.0f), sg))));
				if (c->dzo) {
					/* added to zeros, as in a zeroed gradient */
					_mm512_storeu_ps(c->dz + iz, VADD(_mm512_setzero_ps(), v));
					_mm512_storeu_ps(c->dzo + iz, _mm512_setzero_ps());
				} else {
					_mm512_storeu_ps(c->dz + iz, VADD(_mm512_loadu_ps(c->dz + iz), v));
				}
			}
		} else {
			dy = go;
		}
		_mm512_store_ps(dyb + (size_t)t * SW, dy);
		dDv = VFMA(dy, _mm512_loadu_ps(c->x + i0), dDv);
	}
	_mm512_storeu_ps(dD, dDv);
	if (N == 16) {
		/* dh_t = Ā_{t+1} dh_{t+1} + C_t dy_t and the chain through step t, t
		 * descending, in four sweeps of four states each, so that their dh,
		 * their dA sums and their dB, dC terms stay in registers; the sums
		 * over n of dx's and dΔ's terms (du, s) run on from one sweep to
		 * the next through (T, 16) rows, n ascending as before */
		float *dub = w + (size_t)T * SW, *sb = dub + (size_t)T * SW;
		/* g = Δ (zoh-approx, euler): dx's and dΔ's terms share S_t =
		 * sum_n dh_t B_t, carried in dub, and dx's is dt S + D dy */
		for (int q = 0; q < 4; q++) {
			__m512 a[4], dh[4], dA[4];
			for (int k = 0; k < 4; k++) {
				a[k] = _mm512_load_ps(at + (4 * q + k) * SW);
				dA[k] = _mm512_load_ps(dAl + (4 * q + k) * SW);
				dh[k] = _mm512_setzero_ps();
			}
			for (int t = T - 1; t >= 0; t--) {
				size_t r = (size_t)b * T + t, i0 = r * D + d0;
				const float *Ct = c->Cm + r * 16 + 4 * q, *Bt = c->Bm + r * 16 + 4 * q;
				const float *ab = abs_ + t * NS + 4 * q * SW, *g = gs + t * NS + 4 * q * SW;
				const float *h = hs + t * NS + 4 * q * SW;
				__m512 dy = _mm512_load_ps(dyb + (size_t)t * SW);
				__m512 u = _mm512_loadu_ps(c->x + i0), dt = _mm512_loadu_ps(c->dt + i0);
				__m512 du = q ? _mm512_load_ps(dub + (size_t)t * SW)
					      : G_IS_DT(disc) ? _mm512_setzero_ps() : VMUL(Dd, dy);
				__m512 s = q ? _mm512_load_ps(sb + (size_t)t * SW) : _mm512_setzero_ps();
				__m512 pb[4], pc[4], dtu = VMUL(dt, u);
				for (int k = 0; k < 4; k++) {
					__m512 dv = VMUL(v_bc(Ct[k]), dy);
					if (t < T - 1)
						dv = VFMA(_mm512_load_ps(ab + NS + k * SW), dh[k], dv);
					dh[k] = dv;
					__m512 dab = t > 0 ? VMUL(dv, _mm512_load_ps(h - NS + k * SW)) : _mm512_setzero_ps();
					__m512 dg = _mm512_setzero_ps();
					if (G_IS_DT(disc)) {
						du = VFMA(dv, v_bc(Bt[k]), du); /* S */
						pb[k] = VMUL(dv, dtu);
					} else {
						__m512 dvg = VMUL(dv, _mm512_load_ps(g + k * SW));
						dg = VMUL(VMUL(dv, v_bc(Bt[k])), u);
						du = VFMA(dvg, v_bc(Bt[k]), du);
						pb[k] = VMUL(dvg, u);
					}
					pc[k] = VMUL(dy, _mm512_load_ps(h + k * SW));
					dA[k] = VADD(dA[k], disc_grad_v(disc, dt, a[k], _mm512_load_ps(ab + k * SW), dab, dg, &s));
				}
				lanes_tree16x4(pb, pc, pdB ? pdB + r * 16 + 4 * q : NULL, pdC ? pdC + r * 16 + 4 * q : NULL);
				if (q < 3) {
					_mm512_store_ps(dub + (size_t)t * SW, du);
					_mm512_store_ps(sb + (size_t)t * SW, s);
				} else if (G_IS_DT(disc)) {
					__m512 S = du;
					du = VFMA(dt, S, VMUL(Dd, dy));
					s = VFMA(u, S, s);
					BWD_V_STORE(du, s);
				} else {
					BWD_V_STORE(du, s);
				}
			}
			for (int k = 0; k < 4; k++)
				_mm512_store_ps(dAl + (4 * q + k) * SW, dA[k]);
		}
		return;
	}
	/* any N: one sweep, dh a row of N vectors, the sums over lanes one
	 * state at a time */
	float *dh = w + (size_t)T * SW;
	for (int t = T - 1; t >= 0; t--) {
		size_t r = (size_t)b * T + t, i0 = r * D + d0;
		const float *Ct = c->Cm + r * N, *Bt = c->Bm + r * N;
		const float *ab = abs_ + t * NS, *g = gs + t * NS, *h = hs + t * NS;
		__m512 dy = _mm512_load_ps(dyb + (size_t)t * SW);
		__m512 u = _mm512_loadu_ps(c->x + i0), dt = _mm512_loadu_ps(c->dt + i0);
		__m512 du = VMUL(Dd, dy), s = _mm512_setzero_ps(), S = _mm512_setzero_ps(), dtu = VMUL(dt, u);
		float pbm[SW] __attribute__((aligned(64))), pcm[SW] __attribute__((aligned(64)));
		for (int n = 0; n < N; n++) {
			__m512 dv = VMUL(v_bc(Ct[n]), dy);
			if (t < T - 1)
				dv = VFMA(_mm512_load_ps(ab + NS + n * SW), _mm512_load_ps(dh + n * SW), dv);
			_mm512_store_ps(dh + n * SW, dv);
			__m512 dab = t > 0 ? VMUL(dv, _mm512_load_ps(h - NS + n * SW)) : _mm512_setzero_ps();
			__m512 dg = _mm512_setzero_ps();
			if (G_IS_DT(disc)) {
				S = VFMA(dv, v_bc(Bt[n]), S);
				_mm512_store_ps(pbm, VMUL(dv, dtu));
			} else {
				__m512 dvg = VMUL(dv, _mm512_load_ps(g + n * SW));
				dg = VMUL(VMUL(dv, v_bc(Bt[n])), u);
				du = VFMA(dvg, v_bc(Bt[n]), du);
				_mm512_store_ps(pbm, VMUL(dvg, u));
			}
			_mm512_store_ps(pcm, VMUL(dy, _mm512_load_ps(h + n * SW)));
			if (pdB)
				pdB[r * N + n] = lanes_tree16(pbm);
			if (pdC)
				pdC[r * N + n] = lanes_tree16(pcm);
			__m512 a = _mm512_load_ps(at + n * SW);
			__m512 dAt = disc_grad_v(disc, dt, a, _mm512_load_ps(ab + n * SW), dab, dg, &s);
			_mm512_store_ps(dAl + n * SW, VADD(_mm512_load_ps(dAl + n * SW), dAt));
		}
		if (G_IS_DT(disc)) {
			du = VFMA(dt, S, du);
			s = VFMA(u, S, s);
		}
		BWD_V_STORE(du, s);
	}
#undef BWD_V_STORE
}

#undef VMUL
#undef VADD
#undef VSUB
#undef VFMA

/* one instance per (discretisation, N = 16 or any) */
#define SSM_DISC_SWITCH(disc, CALL)                                  \
	switch (disc) {                                              \
	case SL_SSM_ZOH: CALL(SL_SSM_ZOH); break;                    \
	case SL_SSM_ZOH_APPROX: CALL(SL_SSM_ZOH_APPROX); break;      \
	case SL_SSM_BILINEAR: CALL(SL_SSM_BILINEAR); break;          \
	default: CALL(SL_SSM_EULER); break;                          \
	}

static void fwd_v_group(const ssm_ctx *c, int b, int d0, const float *at, float *hp)
{
#define CALL(k) (c->N == 16 ? fwd_v(c, b, d0, at, hp, k, 16) : fwd_v(c, b, d0, at, hp, k, c->N))
	SSM_DISC_SWITCH(c->disc, CALL)
#undef CALL
}

static void bwd_v_group(const ssm_ctx *c, int b, int d0, const float *at, float *ab, float *g, float *h, float *dh,
			float *dAl, float *dD)
{
#define CALL(k)                                                              \
	(c->N == 16 ? bwd_v(c, b, d0, at, ab, g, h, dh, dAl, dD, k, 16) \
		    : bwd_v(c, b, d0, at, ab, g, h, dh, dAl, dD, k, c->N))
	SSM_DISC_SWITCH(c->disc, CALL)
#undef CALL
}
#endif

/* The fused softplus, forward: delta = softplus(dtraw) for channels
 * [d0, d1) of the rows of sequence b (every row for b < 0), the softplus op's operations (fastmath.h). */
static void sp_fwd(const ssm_ctx *c, int b, int d0, int d1)
{
	if (!c->dtraw || d1 <= d0)
		return;
	size_t r0 = b < 0 ? 0 : (size_t)b * c->T, r1 = b < 0 ? (size_t)c->B * c->T : r0 + c->T;
	for (size_t r = r0; r < r1; r++) {
		const float *x = c->dtraw + r * c->D + d0;
		float *y = c->delta + r * c->D + d0;
		int j = 0;
#if defined(__AVX512F__)
		/* the same bits in fewer operations than GCC makes of the loops */
		for (; j + 16 <= d1 - d0; j += 16)
			_mm512_storeu_ps(y + j, sl_fsoftplus16(_mm512_loadu_ps(x + j)));
#endif
		for (int i = j; i < d1 - d0; i++)
			y[i] = sl_fsoftplus_body(x[i]);
		for (int i = j; i < d1 - d0; i++)
			y[i] = x[i] > SL_SOFTPLUS_THRESHOLD ? x[i] : y[i];
	}
}

/* Backward: graw += ddt softplus'(dtraw) for channels [d0, d1), from the
 * scratch ddt (what the softplus op's backward does with delta's gradient). */
static void sp_bwd(const ssm_ctx *c, int d0, int d1)
{
	if (!c->graw || !c->ddt || d1 <= d0)
		return;
	size_t rows = (size_t)c->B * c->T;
	for (size_t r = 0; r < rows; r++)
		for (size_t i = r * c->D + d0; i < r * c->D + d1; i++) {
			float x = c->dtraw[i], dy = c->ddt[i];
			c->graw[i] += x > SL_SOFTPLUS_THRESHOLD ? dy : dy * sl_fsigmoid(x);
		}
}

/* Groups [lo, hi) of 16 channels on thread tid. */
static void groups_of(const ssm_ctx *c, int tid, int nth, int *g0, int *g1)
{
	size_t lo, hi;
	sl_range((size_t)(c->D / SW), tid, nth, &lo, &hi);
	*g0 = (int)lo;
	*g1 = (int)hi;
}

/* Per group of a thread: at (2N, 16), dAl (N, 16), dD (16). */
static size_t group_floats(int N)
{
	return 3 * (size_t)N * SW + SW;
}

/* One thread's scratch for the 16-channel kernels (backward's, the larger):
 * group_floats for each of (at most) D/16 groups; Ā, g, h, dh (T, N, 16)
 * (the AVX-512 kernel: Ā, g, h, and dy, du, s (T, 16) or dy and one row of
 * dh); dy (T, 16) and N x 16 more; 64-byte multiples. */
static size_t lanes_floats(int T, int N, int D)
{
	size_t NS = (size_t)N * SW, TNS = (size_t)T * NS;
	return (size_t)(D / SW) * group_floats(N) + NS + 4 * TNS + (size_t)T * SW;
}

/* the AVX-512 kernels, unless sl_ssm_generic asks for the portable ones */
static int ssm_v512(void)
{
	return SSM_HAVE_16 && sl_ssm_generic != 2;
}

/* b outer, the thread's groups inner: the rows of sequence b (x, delta, z,
 * out, ...) stay in cache while every group reads its 16 columns of them,
 * where group by group each group's pass over all rows fetched them again
 * (at recall's T = 64 the op's arrays are 16 MB). Each group keeps its own
 * A^T and its own sums over b (ascending either way): the same bits. */
static void fwd_lanes_task(const ssm_ctx *c, int tid, int nth)
{
	int g0, g1;
	groups_of(c, tid, nth, &g0, &g1);
	size_t GS = group_floats(c->N);
	float *gs = c->scratch + (size_t)tid * c->sc, *hp = gs + (size_t)(c->D / SW) * GS;
	for (int gi = g0; gi < g1; gi++)
		group_a(c, gi * SW, gs + (size_t)(gi - g0) * GS);
	for (int b = 0; b < c->B; b++) {
		sp_fwd(c, b, g0 * SW, g1 * SW);
		for (int gi = g0; gi < g1; gi++) {
			const float *at = gs + (size_t)(gi - g0) * GS;
#if defined(__AVX512F__)
			if (ssm_v512()) {
				fwd_v_group(c, b, gi * SW, at, hp);
				continue;
			}
#endif
			if (c->N == 16)
				fwd_lanes(c, b, gi * SW, at, hp, 16);
			else
				fwd_lanes(c, b, gi * SW, at, hp, c->N);
		}
	}
}

static void bwd_lanes_task(const ssm_ctx *c, int tid, int nth)
{
	int g0, g1;
	groups_of(c, tid, nth, &g0, &g1);
	size_t NS = (size_t)c->N * SW, TNS = (size_t)c->T * NS, GS = group_floats(c->N);
	/* per group: at, dAl (N, 16) (state-major: lanes are channels), dD;
	 * then Ā, g, h (T, N, 16); dh (T, N, 16) and dy (T, 16) (the AVX-512
	 * kernel: dy, du and s (T, 16) or dy and dh (N, 16) there) */
	float *gs = c->scratch + (size_t)tid * c->sc;
	float *ab = gs + (size_t)(c->D / SW) * GS, *g = ab + TNS, *hb = g + TNS, *dh = hb + TNS;
	for (int gi = g0; gi < g1; gi++) {
		float *at = gs + (size_t)(gi - g0) * GS;
		group_a(c, gi * SW, at);
		memset(at + 2 * NS, 0, (NS + SW) * sizeof(float));
	}
	for (int b = 0; b < c->B; b++)
		for (int gi = g0; gi < g1; gi++) {
			int d0 = gi * SW;
			float *at = gs + (size_t)(gi - g0) * GS, *dAl = at + 2 * NS, *dD = dAl + NS;
#if defined(__AVX512F__)
			if (ssm_v512()) {
				/* Ā, g, h (T, N, 16) and its rows of 16 */
				bwd_v_group(c, b, d0, at, ab, g, hb, dh, dAl, dD);
				continue;
			}
#endif
			if (c->N == 16)
				bwd_lanes(c, b, d0, at, ab, g, hb, dh, dAl, dD, 16);
			else
				bwd_lanes(c, b, d0, at, ab, g, hb, dh, dAl, dD, c->N);
		}
	for (int gi = g0; gi < g1; gi++) {
		int d0 = gi * SW;
		const float *dAl = gs + (size_t)(gi - g0) * GS + 2 * NS, *dD = dAl + NS;
		for (int l = 0; l < SW; l++) {
			int d = d0 + l;
			if (c->dA)
				for (int n = 0; n < c->N; n++)
					c->dA[(size_t)d * c->N + n] += dAl[(size_t)n * SW + l];
			if (c->dDs)
				c->dDs[d] += dD[l];
		}
	}
	sp_bwd(c, g0 * SW, g1 * SW);
}

/* Blocks [lo, hi) of channels on thread tid. */
static void blocks_of(const ssm_ctx *c, int tid, int nth, int *d0, int *d1)
{
	size_t lo, hi;
	sl_range((size_t)c->nblk, tid, nth, &lo, &hi);
	*d0 = SL_MIN((int)lo * c->bs, c->D);
	*d1 = SL_MIN((int)hi * c->bs, c->D);
}

static void fwd_task(void *arg, int tid, int nth)
{
	const ssm_ctx *c = arg;
	if (ssm_lanes(c)) {
		fwd_lanes_task(c, tid, nth);
		return;
	}
	ssm_scr s = scr_carve(c, tid);
	int d0, d1;
	blocks_of(c, tid, nth, &d0, &d1);
	sp_fwd(c, -1, d0, d1);
	/* b outer, d inner: neighbouring channels share the cache lines of
	 * x, delta, z and out rows */
	for (int b = 0; b < c->B; b++)
		for (int d = d0; d < d1; d++)
			fwd_bd(c, &s, b, d);
}

static void bwd_task(void *arg, int tid, int nth)
{
	const ssm_ctx *c = arg;
	if (ssm_lanes(c)) {
		bwd_lanes_task(c, tid, nth);
		return;
	}
	ssm_scr s = scr_carve(c, tid);
	size_t BTN = (size_t)c->B * c->T * c->N;
	int d0, d1;
	blocks_of(c, tid, nth, &d0, &d1);
	if (d1 <= d0)
		return;
	/* b outer, d inner for locality; each channel keeps its own dA and dD
	 * accumulators, so every sum still runs over b (and, for the dB/dC
	 * partials, over d) in increasing order: the same bits as d outer */
	int nd = d1 - d0;
	float *dAl = sl_xcalloc((size_t)nd * c->N, sizeof *dAl), *dD = sl_xcalloc((size_t)nd, sizeof *dD);
	for (int b = 0; b < c->B; b++)
		for (int d = d0; d < d1; d++) {
			size_t blk = (size_t)(d / c->bs);
			float *pdB = c->pdB ? c->pdB + blk * BTN : NULL;
			float *pdC = c->pdC ? c->pdC + blk * BTN : NULL;
			ssm_scr sd = s;
			sd.dAl = dAl + (size_t)(d - d0) * c->N;
			bwd_bd(c, &sd, b, d, pdB, pdC, &dD[d - d0]);
		}
	for (int d = d0; d < d1; d++) {
		if (c->dA)
			for (int n = 0; n < c->N; n++)
				c->dA[(size_t)d * c->N + n] += dAl[(size_t)(d - d0) * c->N + n];
		if (c->dDs)
			c->dDs[d] += dD[d - d0];
	}
	free(dAl);
	free(dD);
	sp_bwd(c, d0, d1);
}

static void reduce_rows(void *arg, size_t lo, size_t hi)
{
	const ssm_ctx *c = arg;
	size_t N = (size_t)c->N, BTN = (size_t)c->B * c->T * N;
	if (c->dBm)
		sl_reduce_blocks(c->pdB, c->nblk, BTN, lo * N, hi * N, c->dBm);
	if (c->dCm)
		sl_reduce_blocks(c->pdC, c->nblk, BTN, lo * N, hi * N, c->dCm);
}

static int ssm_serial(const ssm_ctx *c)
{
	return (size_t)c->B * c->T * c->D * c->N * SSM_WORK < SL_PAR_MIN_WORK;
}

/* Dimensions, blocks, inputs, and per-thread scratch from the arena. */
static ssm_ctx ssm_ctx_of(sl_tape *tp, const sl_node *n)
{
	const sl_tensor *x = n->in[0], *A = n->in[2];
	ssm_ctx c = { .B = x->shape[0], .T = x->shape[1], .D = x->shape[2], .N = A->shape[1],
		      .disc = n->i[0], .scan = n->i[1] };
	c.P = 1;
	while (c.P < c.T)
		c.P <<= 1;
	c.bs = (c.D + SSM_MAXBLK - 1) / SSM_MAXBLK;
	if (ssm_lanes(&c))
		c.bs = SW; /* the 16-channel kernels: a block per group */
	c.nblk = (c.D + c.bs - 1) / c.bs;
	c.x = x->data;
	c.dt = n->in[1]->data;
	if (n->i[2]) {
		c.dtraw = n->in[1]->data;
		c.delta = n->in[7]->data;
		c.dt = c.delta;
	}
	c.A = A->data;
	c.Bm = n->in[3]->data;
	c.Cm = n->in[4]->data;
	c.Ds = n->in[5] ? n->in[5]->data : NULL;
	/* z: columns [zcol, zcol + D) of its rows */
	c.z = n->in[6] ? n->in[6]->data + n->i[3] : NULL;
	c.zs = n->in[6] ? (size_t)n->in[6]->shape[2] : 0;
	int nth = ssm_serial(&c) ? 1 : sl_pool_size(tp->pool);
	c.sc = ssm_lanes(&c) ? lanes_floats(c.T, c.N, c.D) : scr_floats(c.T, c.N, c.P);
	c.scratch = sl_arena_alloc(tp->arena, (size_t)nth * c.sc * sizeof(float));
	return c;
}

static void ssm_run(sl_tape *tp, ssm_ctx *c, sl_pool_fn fn)
{
	if (ssm_serial(c))
		fn(c, 0, 1);
	else
		sl_pool_run(tp->pool, fn, c);
}

static sl_tensor *ssm_make(sl_tape *tp, sl_tensor *x, sl_tensor *delta, sl_tensor *A, sl_tensor *Bm, sl_tensor *Cm,
			   sl_tensor *Dskip, sl_tensor *z, int zcol, int disc, int scan, sl_tensor **sp)
{
	SL_ASSERT(x->ndim == 3 && sl_tensor_same_shape(x, delta));
	SL_ASSERT(A->ndim == 2 && A->shape[0] == x->shape[2]);
	SL_ASSERT(Bm->ndim == 3 && Bm->shape[0] == x->shape[0] && Bm->shape[1] == x->shape[1] &&
		  Bm->shape[2] == A->shape[1] && sl_tensor_same_shape(Bm, Cm));
	SL_ASSERT(!Dskip || (Dskip->ndim == 1 && Dskip->shape[0] == x->shape[2]));
	SL_ASSERT(!z || (z->ndim == 3 && z->shape[0] == x->shape[0] && z->shape[1] == x->shape[1] && zcol >= 0 &&
			 zcol <= z->shape[2] - x->shape[2]));
	SL_ASSERT(z || zcol == 0);
	SL_ASSERT(x->shape[0] > 0 && x->shape[1] > 0 && x->shape[2] > 0 && A->shape[1] > 0);
	SL_ASSERT(disc >= 0 && disc < SL_SSM_DISC_COUNT && scan >= 0 && scan < SL_SSM_SCAN_COUNT);
	/* the fused softplus's delta: an eighth input the forward writes */
	sl_tensor *ins[8] = { x, delta, A, Bm, Cm, Dskip, z, sp ? sl_tape_tensor(tp, 3, x->shape) : NULL };
	sl_node n = sl_node_make(tp, SL_OP_SSM, ins, sp ? 8 : 7, 3, x->shape);
	n.i[0] = disc;
	n.i[1] = scan;
	n.i[2] = sp != NULL;
	n.i[3] = zcol;
	if (sp)
		*sp = ins[7];
	return sl_tape_apply(tp, &n);
}

sl_tensor *sl_ssm(sl_tape *tp, sl_tensor *x, sl_tensor *delta, sl_tensor *A, sl_tensor *Bm, sl_tensor *Cm,
		  sl_tensor *Dskip, sl_tensor *z, int disc, int scan)
{
	SL_ASSERT(!z || sl_tensor_same_shape(z, x));
	return ssm_make(tp, x, delta, A, Bm, Cm, Dskip, z, 0, disc, scan, NULL);
}

sl_tensor *sl_ssm_softplus(sl_tape *tp, sl_tensor *x, sl_tensor *dt, sl_tensor *A, sl_tensor *Bm, sl_tensor *Cm,
			   sl_tensor *Dskip, sl_tensor *z, int disc, int scan, sl_tensor **delta)
{
	SL_ASSERT(!z || sl_tensor_same_shape(z, x));
	return sl_ssm_softplus_at(tp, x, dt, A, Bm, Cm, Dskip, z, 0, disc, scan, delta);
}

sl_tensor *sl_ssm_softplus_at(sl_tape *tp, sl_tensor *x, sl_tensor *dt, sl_tensor *A, sl_tensor *Bm, sl_tensor *Cm,
			      sl_tensor *Dskip, sl_tensor *z, int zcol, int disc, int scan, sl_tensor **delta)
{
	sl_tensor *d;
	sl_tensor *out = ssm_make(tp, x, dt, A, Bm, Cm, Dskip, z, zcol, disc, scan, &d);
	if (delta)
		*delta = d;
	return out;
}

void sl_op_ssm_forward(sl_tape *tp, sl_node *n)
{
	ssm_ctx c = ssm_ctx_of(tp, n);
	c.out = n->out->data;
	if (n->out->requires_grad) {
		ssm_saved *sv = sl_arena_alloc(tp->arena, sizeof *sv);
		/* the 16-channel kernel recomputes h in backward (cheaper than
		 * writing and reading B·T·D·N floats) */
		sv->h = ssm_lanes(&c) ? NULL : sl_arena_alloc(tp->arena, (size_t)c.B * c.D * c.T * c.N * sizeof(float));
		sv->y = c.z ? sl_arena_alloc(tp->arena, (size_t)c.B * c.T * c.D * sizeof(float)) : NULL;
		/* σ(z) beside y: an exp and a division per element fewer in backward */
		sv->sz = c.z && ssm_lanes(&c) && ssm_v512() ? sl_arena_alloc(tp->arena, (size_t)c.B * c.T * c.D * sizeof(float))
							   : NULL;
		c.h = sv->h;
		c.y = sv->y;
		c.sz = sv->sz;
		n->saved = sv;
	}
	ssm_run(tp, &c, fwd_task);
}

void sl_op_ssm_backward(sl_tape *tp, sl_node *n)
{
	ssm_ctx c = ssm_ctx_of(tp, n);
	const ssm_saved *sv = n->saved;
	sl_tensor *const *in = n->in;
	c.h = sv->h;
	c.y = sv->y;
	c.sz = sv->sz;
	c.dout = n->out->grad;
	/* x's and delta's (or dtraw's) gradients: the AVX-512 kernel writes
	 * every element of each, so where this op is the first to add to them
	 * (in[0] and in[1] then both fresh, and no other input shares their
	 * buffers: one flag for the kernel) they need no zeros; adding to 0.0f
	 * instead gives the same bits */
	int f0 = 0, f1 = 0, apart = in[0] != in[1];
	for (int k = 2; k < n->nin; k++)
		apart &= in[k] != in[0] && in[k] != in[1];
	if (ssm_lanes(&c) && ssm_v512() && apart && in[0]->requires_grad && in[1]->requires_grad && !in[0]->grad &&
	    !in[1]->grad) {
		c.dx = sl_tape_grad_fresh(tp, in[0], &f0);
		c.ddt = sl_tape_grad_fresh(tp, in[1], &f1);
		c.fresh = f0 && f1;
	} else {
		c.dx = in[0]->requires_grad ? sl_tape_grad(tp, in[0]) : NULL;
		c.ddt = in[1]->requires_grad ? sl_tape_grad(tp, in[1]) : NULL;
	}
	if (c.dtraw && c.ddt) {
		/* delta's gradient: straight into dtraw's in the AVX-512 kernel,
		 * else through a zeroed scratch */
		c.graw = c.ddt;
		c.ddt = ssm_lanes(&c) && ssm_v512() ? NULL
						    : sl_arena_calloc(tp->arena, (size_t)c.B * c.T * c.D * sizeof(float));
	}
	c.dA = in[2]->requires_grad ? sl_tape_grad(tp, in[2]) : NULL;
	c.dBm = in[3]->requires_grad ? sl_tape_grad(tp, in[3]) : NULL;
	c.dCm = in[4]->requires_grad ? sl_tape_grad(tp, in[4]) : NULL;
	c.dDs = in[5] && in[5]->requires_grad ? sl_tape_grad(tp, in[5]) : NULL;
	/* z's gradient: where z is [x | z] or [z | x] (Mamba's in-projection,
	 * 2D wide) and this op its first writer, the AVX-512 kernel writes dz
	 * and zeros in the other half, row by row, in parallel, where a zeroed
	 * buffer cost a memset of the whole on one thread */
	if (in[6] && in[6]->requires_grad) {
		int zfresh = 0, zapart = 1, zcol = n->i[3];
		for (int k = 0; k < n->nin; k++)
			zapart &= k == 6 || in[k] != in[6];
		if (ssm_lanes(&c) && ssm_v512() && zapart && !in[6]->grad && c.zs == 2 * (size_t)c.D &&
		    (zcol == 0 || zcol == c.D)) {
			float *g = sl_tape_grad_fresh(tp, in[6], &zfresh);
			c.dz = g + zcol;
			c.dzo = zfresh ? g + (zcol ? 0 : c.D) : NULL;
		} else {
			c.dz = sl_tape_grad(tp, in[6]) + zcol;
		}
	}
	size_t part = (size_t)c.nblk * c.B * c.T * c.N * sizeof(float);
	/* the lanes kernel writes every partial; the plain one adds to zeros */
	void *(*alloc)(sl_arena *, size_t) = ssm_lanes(&c) ? sl_arena_alloc : sl_arena_calloc;
	c.pdB = c.dBm ? alloc(tp->arena, part) : NULL;
	c.pdC = c.dCm ? alloc(tp->arena, part) : NULL;
	ssm_run(tp, &c, bwd_task);
	if (c.dBm || c.dCm) {
		size_t rows = (size_t)c.B * c.T;
		if (ssm_serial(&c))
			reduce_rows(&c, 0, rows);
		else
			sl_pool_for(tp->pool, rows, reduce_rows, &c);
	}
}
