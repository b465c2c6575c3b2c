/* ssm.h - the selective state-space scan of Mamba as one fused op.
 *
 * Per batch b, channel d and state n, with a diagonal real A (negative):
 *
 *   h_t[d,n] = Ā_t[d,n] h_{t-1}[d,n] + B̄x_t[d,n]                 h_{-1} = 0
 *   y_t[d]   = sum_n C_t[n] h_t[d,n] + D[d] x_t[d]
 *   out_t[d] = y_t[d] silu(z_t[d])   (or y_t[d] without a gate)
 *
 * where Ā and B̄x come from Δ_t[d], A[d,n], B_t[n] and x_t[d] by one of four
 * discretisations (w = Δ A):
 *
 *   zoh         Ā = e^w                       B̄x = (e^w - 1)/A · B x    exact zero-order hold
 *   zoh-approx  Ā = e^w                       B̄x = Δ B x                the Mamba code's
 *   bilinear    Ā = (1 + w/2) / (1 - w/2)     B̄x = Δ/(1 - w/2) · B x    S4's (Tustin)
 *   euler       Ā = 1 + w                     B̄x = Δ B x                forward Euler
 *
 * and the recurrence is evaluated by one of three scans that compute the same
 * thing in different orders: a plain loop, a work-efficient Blelloch scan, or
 * Heinsen's log-space scan (see src/core/op_ssm.c for their precision). */
#ifndef SEQLAB_SSM_H
#define SEQLAB_SSM_H

#include "seqlab/tape.h"

enum sl_ssm_disc {
	SL_SSM_ZOH,         /* "zoh" */
	SL_SSM_ZOH_APPROX,  /* "zoh-approx" */
	SL_SSM_BILINEAR,    /* "bilinear" */
	SL_SSM_EULER,       /* "euler" */
	SL_SSM_DISC_COUNT
};

enum sl_ssm_scan {
	SL_SSM_SEQ,         /* "seq": h_t = a_t h_{t-1} + b_t, t = 0, 1, ... */
	SL_SSM_PARALLEL,    /* "parallel": Blelloch up-sweep/down-sweep over t */
	SL_SSM_LOG,         /* "log": Heinsen's log-space scan */
	SL_SSM_SCAN_COUNT
};

/* The selective scan, fused: x (B, T, D), delta (B, T, D) (positive: the
 * caller applies softplus), A (D, N) (negative), Bm and Cm (B, T, N), Dskip
 * (D) or NULL, z (B, T, D) or NULL -> out (B, T, D). disc is an enum
 * sl_ssm_disc, scan an enum sl_ssm_scan. Returns a temporary from the tape's
 * arena. Channels are split over the tape's pool; outputs and gradients are
 * bit-identical at any thread count. Recording saves h, B*T*D*N floats. */
sl_tensor *sl_ssm(sl_tape *tp, sl_tensor *x, sl_tensor *delta, sl_tensor *A, sl_tensor *Bm, sl_tensor *Cm,
		  sl_tensor *Dskip, sl_tensor *z, int disc, int scan);

/* sl_ssm with the softplus in front of delta fused in: dt (B, T, D) is the
 * pre-activation and the op computes delta = softplus(dt) itself (torch's,
 * threshold 20, by the softplus op's operations), writing it to *delta (a
 * tape temporary, for views; delta may be NULL) and passing its gradient to
 * dt as the softplus op would: the same bits as
 * sl_ssm(tp, x, sl_softplus(tp, dt), ...), one pass fewer each way. */
sl_tensor *sl_ssm_softplus(sl_tape *tp, sl_tensor *x, sl_tensor *dt, sl_tensor *A, sl_tensor *Bm, sl_tensor *Cm,
			   sl_tensor *Dskip, sl_tensor *z, int disc, int scan, sl_tensor **delta);

/* sl_ssm_softplus with the gate read in place: z (B, T, Dz) of which columns
 * [zcol, zcol + D) gate the output (Mamba's in-projection, [x | z], with no
 * copy of its z half), their gradient added into z's at those columns. The
 * same bits as sl_ssm_softplus on sl_slice(tp, z, 2, zcol, D). */
sl_tensor *sl_ssm_softplus_at(sl_tape *tp, sl_tensor *x, sl_tensor *dt, sl_tensor *A, sl_tensor *Bm, sl_tensor *Cm,
			      sl_tensor *Dskip, sl_tensor *z, int zcol, int disc, int scan, sl_tensor **delta);

/* Forward only, for views: Ā for every (b, t, d, n) under discretisation
 * disc, from delta (B, T, D) and A (D, N), into abar (B, T, D, N), which the
 * caller owns. The product of Ā over (s, t] is the weight h_t still gives to
 * the input of step s. */
void sl_ssm_abar(int disc, const sl_tensor *delta, const sl_tensor *A, float *abar);

/* One step's discretisation over N states, as the op computes it (its
 * recurrent step mode must agree): from dt and a[n] (negative), Ā[n] and
 * the input coefficient g[n], with B̄x = g B x. */
void sl_ssm_disc_row(int disc, float dt, const float *a, int N, float *abar, float *g);

/* Names of the options ("zoh", "seq", ...); "?" when out of range. */
const char *sl_ssm_disc_name(int disc);
const char *sl_ssm_scan_name(int scan);
/* The enum value for a name, or -1 (no error is set) if there is none. */
int sl_ssm_disc_parse(const char *name);
int sl_ssm_scan_parse(const char *name);

#endif
