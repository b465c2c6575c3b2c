/* copy.c - selective copying (Gu and Dao 2023, figure 2; the S4 repository's
 * copying data with variable spacing): data tokens scattered among noise,
 * to be output in order after the markers. */
#include "seqlab/recall.h"

#include <stdio.h>
#include <string.h>

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

/* ---- the task kind ---------------------------------------------------------------- */

#define OFF(f) offsetof(sl_copy_config, f)
static const sl_optspec copy_options[] = {
	{ "L", SL_OPT_INT, OFF(L), "256", 1, SL_GEN_MAX_LEN, NULL, "positions of the region the data is scattered in" },
	{ "N", SL_OPT_INT, OFF(N), "16", 1, 4096, NULL, "data tokens to copy" },
	{ "A", SL_OPT_INT, OFF(A), "16", 1, 65536, NULL, "data alphabet (vocabulary A+2: noise and marker)" },
	SL_GEN_OPTIONS(sl_copy_config),
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

static sl_task *copy_create(void *cfg, uint64_t given, uint64_t seed, char *info, size_t n)
{
	(void)given;
	sl_copy_config *c = cfg;
	if (c->N > c->L) {
		sl_errorf("N=%d data tokens do not fit in L=%d positions", c->N, c->L);
		return NULL;
	}
	sl_gen_spec sp = { .kind = &sl_copy_kind, .cfg = c, .cfg_size = sizeof *c, .vocab = c->A + 2, .len = c->L };
	sl_task *t = sl_gen_task_make(&sp, c->batches, c->test, &c->maxlen, seed);
	if (!t)
		return NULL;
	snprintf(info, n, "task=copy L=%d N=%d A=%d vocab=%d seq=%d lengths=%d..%d batches=%d test=%d seed=%llu", c->L,
		 c->N, c->A, c->A + 2, c->L + c->N, c->N, c->maxlen, c->batches, c->test, (unsigned long long)seed);
	return t;
}

static int64_t copy_bytes(const void *cfg)
{
	const sl_copy_config *c = cfg;
	sl_gen_spec sp = { .kind = &sl_copy_kind, .cfg = c, .vocab = c->A + 2, .len = c->L, .test = c->test };
	return sl_gen_task_bytes(&sp);
}

const sl_task_kind sl_task_copy = {
	.name = "copy",
	.summary = "selective copying: N data tokens scattered over L positions, output in order",
	.options = copy_options,
	.cfg_size = sizeof(sl_copy_config),
	.create = copy_create,
	.bytes = copy_bytes,
};
