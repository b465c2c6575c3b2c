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

void sl_op_s4d_kernel_forward(sl_tape *tp, sl_node *n)
{
	(void)tp;
	const sl_tensor *ldt = n->in[0], *are = n->in[1], *aim = n->in[2], *C = n->in[3];
	int H = are->shape[0], M = are->shape[1], L = n->out->shape[1];
	for (int h = 0; h < H; h++) {
		double dt = exp((double)ldt->data[h]);
		float *K = n->out->data + (size_t)h * L;
		double *acc = sl_arena_alloc(tp->arena, (size_t)L * sizeof *acc);
		memset(acc, 0, (size_t)L * sizeof *acc);
		for (int m = 0; m < M; m++) {
			size_t i = (size_t)h * M + m;
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

void sl_op_s4d_kernel_backward(sl_tape *tp, sl_node *n)
{
	(void)tp;
	sl_tensor *ldt = n->in[0], *are = n->in[1], *aim = n->in[2], *C = n->in[3];
	int H = are->shape[0], M = are->shape[1], L = n->out->shape[1], disc = n->i[0];
	const float *dK = n->out->grad;
	float *gdt = ldt->requires_grad ? sl_tape_grad(tp, ldt) : NULL;
	float *gre = are->requires_grad ? sl_tape_grad(tp, are) : NULL, *gim = aim->requires_grad ? sl_tape_grad(tp, aim) : NULL;
	float *gC = C->requires_grad ? sl_tape_grad(tp, C) : NULL;
	for (int h = 0; h < H; h++) {
		double dt = exp((double)ldt->data[h]), gdt_h = 0;
		const float *dk = dK + (size_t)h * L;
		for (int m = 0; m < M; m++) {
			size_t i = (size_t)h * M + m;
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

/* ---- the causal long convolution --------------------------------------------------- */

typedef struct lconv_ctx {
	int B, T, H, L;
	const float *u, *K, *dy;
	float *y, *du;
} lconv_ctx;

static void lconv_rows(void *arg, size_t lo, size_t hi)
{
	const lconv_ctx *c = arg;
	int T = c->T, H = c->H, L = c->L;
	for (size_t r = lo; r < hi; r++) { /* r = b * H + h */
		int b = (int)(r / (size_t)H), h = (int)(r % (size_t)H);
		const float *K = c->K + (size_t)h * L;
		const float *u = c->u + (size_t)b * T * H + h;
		if (!c->dy) {
			float *y = c->y + (size_t)b * T * H + h;
			for (int t = 0; t < T; t++) {
				float acc = 0.0f;
				for (int s = 0; s <= t; s++)
					acc += K[t - s] * u[(size_t)s * H];
				y[(size_t)t * H] = acc;
			}
		} else if (c->du) {
			const float *dy = c->dy + (size_t)b * T * H + h;
			float *du = c->du + (size_t)b * T * H + h;
			for (int s = 0; s < T; s++) {
				float acc = 0.0f;
				for (int t = s; t < T; t++)
					acc += K[t - s] * dy[(size_t)t * H];
				du[(size_t)s * H] += acc;
			}
		}
	}
}

sl_tensor *sl_causal_conv(sl_tape *tp, sl_tensor *u, sl_tensor *K)
{
	SL_ASSERT(u->ndim == 3 && K->ndim == 2 && K->shape[0] == u->shape[2] && K->shape[1] >= u->shape[1]);
	sl_tensor *ins[2] = { u, K };
	sl_node n = sl_node_make(tp, SL_OP_LCONV, ins, 2, 3, u->shape);
	return sl_tape_apply(tp, &n);
}

static void lconv_run(sl_tape *tp, lconv_ctx *c)
{
	size_t rows = (size_t)c->B * c->H, work = rows * (size_t)c->T * c->T / 2;
	if (!tp->pool || work < SL_PAR_MIN_WORK)
		lconv_rows(c, 0, rows);
	else
		sl_pool_for(tp->pool, rows, lconv_rows, c);
}

void sl_op_lconv_forward(sl_tape *tp, sl_node *n)
{
	const sl_tensor *u = n->in[0], *K = n->in[1];
	lconv_ctx c = { .B = u->shape[0], .T = u->shape[1], .H = u->shape[2], .L = K->shape[1], .u = u->data,
			.K = K->data, .y = n->out->data };
	lconv_run(tp, &c);
}

void sl_op_lconv_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *u = n->in[0], *K = n->in[1];
	int B = u->shape[0], T = u->shape[1], H = u->shape[2], L = K->shape[1];
	lconv_ctx c = { .B = B, .T = T, .H = H, .L = L, .u = u->data, .K = K->data, .dy = n->out->grad,
			.du = u->requires_grad ? sl_tape_grad(tp, u) : NULL };
	if (c.du)
		lconv_run(tp, &c);
	if (K->requires_grad) { /* per (h, l): over b then t in order */
		float *dK = sl_tape_grad(tp, K);
		for (int h = 0; h < H; h++)
			for (int l = 0; l < T; l++) {
				float acc = 0.0f;
				for (int b = 0; b < B; b++)
					for (int t = l; t < T; t++)
						acc += c.dy[((size_t)b * T + t) * H + h] * u->data[((size_t)b * T + t - l) * H + h];
				dK[(size_t)h * L + l] += acc;
			}
	}
}
