/* copy.c - selective copying (Gu and Dao 2023, figure 2; the S4 repository's
 * copying data with variable spacing): data tokens scattered among noise,
 * to be output in order after the markers. */
#include "seqlab/recall.h"

#include <stdlib.h>

void sl_copy_sample(const sl_copy_config *c, sl_rng *r, int len, int32_t *x, int32_t *y)
{
	int N = c->N, A = c->A, noise = A, marker = A + 1;
	SL_ASSERT(N >= 1 && len >= N && A >= 1);
	/* N distinct positions of [0, len), in order: selection sampling (Knuth's
	 * algorithm S) visits positions in order and keeps each with probability
	 * (still needed) / (still left) */
	int need = N, k = 0;
	for (int p = 0; p < len; p++) {
		y[p] = -1;
		if ((int)sl_rng_below(r, (uint32_t)(len - p)) < need) {
			int32_t tok = (int32_t)sl_rng_below(r, (uint32_t)A);
			x[p] = tok;
			y[len + k] = tok; /* the k-th marker's answer */
			need--;
			k++;
		} else {
			x[p] = noise;
		}
	}
	SL_ASSERT(k == N);
	for (int j = 0; j < N; j++)
		x[len + j] = marker;
}

static int copy_total(const void *cfg, int len)
{
	return len + ((const sl_copy_config *)cfg)->N;
}

static int copy_min(const void *cfg)
{
	return ((const sl_copy_config *)cfg)->N;
}

static void copy_sample(const void *cfg, sl_rng *r, int len, int32_t *x, int32_t *y)
{
	sl_copy_sample(cfg, r, len, x, y);
}

const sl_gen_kind sl_copy_kind = {
	.name = "copy",
	.total = copy_total,
	.min_len = copy_min,
	.sample = copy_sample,
};
