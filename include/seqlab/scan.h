/* scan.h - the linear recurrences every diagonal state-space model runs,
 *
 *   h_t = a_t h_{t-1} + b_t,   h_{-1} = 0,   t = 0 .. T-1,
 *
 * over N independent lanes (arrays (T, N), lanes contiguous, so the inner
 * loops vectorise), real or complex, by three scans that compute the same
 * thing in different orders (the sequential loop, Blelloch's work-efficient
 * scan, Heinsen's log-space scan; src/core/scan.c states their precision);
 * and the deterministic split of channels into blocks and the in-order sum
 * of per-block partials that make multi-threaded ops bit-identical at any
 * thread count. Used by the selective scan (op_ssm.c) and the linear
 * recurrences of the zoo's mixers. */
#ifndef SEQLAB_SCAN_H
#define SEQLAB_SCAN_H

#include <stddef.h>

/* The loop, h_t = a_t h_{t-1} + b_t in one fused multiply-add (SL_FMA:
 * the selective scan's recurrence). a_0 multiplies h_{-1} = 0 and is not
 * read. */
void sl_scan_seq(int T, int N, const float *a, const float *b, float *h);
/* Blelloch's scan on the affine maps h -> a h + b; ea, eb are (P, N)
 * scratch, P = T rounded up to a power of two. Agrees with seq to rounding. */
void sl_scan_blelloch(int T, int N, const float *a, const float *b, float *h, float *ea, float *eb);
/* Heinsen's log-space scan, real, with signs: la = log|a| (-inf where a = 0,
 * which restarts the history); st is 6N scratch. */
void sl_scan_log(int T, int N, const float *a, const float *la, const float *b, float *h, float *st);

/* Complex lanes: a, b, h as real and imaginary parts (T, N) each,
 * h_t = a_t h_{t-1} + b_t in complex arithmetic. */
void sl_scan_seq_complex(int T, int N, const float *ar, const float *ai, const float *br, const float *bi, float *hr,
			 float *hi);
/* Blelloch on complex lanes; ear, eai, ebr, ebi are (P, N) scratch each. */
void sl_scan_blelloch_complex(int T, int N, const float *ar, const float *ai, const float *br, const float *bi,
			      float *hr, float *hi, float *ear, float *eai, float *ebr, float *ebi);

/* Channels [*d0, *d1) of thread tid of nth when D channels are cut into
 * nblk blocks of bs channels (a function of D only) and threads take whole
 * blocks. */
void sl_block_range(int D, int bs, int nblk, int tid, int nth, int *d0, int *d1);
/* Elements [i0, i1) of dst += the nblk blocks' partials (each n floats,
 * block k at part + k n) added in block order, whatever the thread count. */
void sl_reduce_blocks(const float *part, int nblk, size_t n, size_t i0, size_t i1, float *dst);

#endif
