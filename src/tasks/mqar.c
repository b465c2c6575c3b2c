/* mqar.c - multi-query associative recall as zoology defines it
 * (zoology/data/multiquery_ar.py, Arora, Eyuboglu et al. 2023): key-value
 * pairs, then each key queried once at a power-law distributed gap, scored
 * only where a key is queried. Same layout and distributions; our own
 * random streams (not numpy's). */
#include "seqlab/recall.h"

#include <stdio.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sl_mqar_build(int pairs, int len, const int32_t *keys, const int32_t *vals, const int *gaps, int32_t *x,
		   int32_t *y)
{
	int P = pairs, ctx = 2 * P;
	for (int p = 0; p < len; p++) {
		x[p] = 0;
		y[p] = -1;
	}
	for (int j = 0; j < P; j++) {
		x[2 * j] = keys[j];
		x[2 * j + 1] = vals[j];
		int at = ctx + 2 * gaps[j]; /* the query; its label is the value, predicted here */
		SL_ASSERT(at < len);
		x[at] = keys[j];
		y[at] = vals[j];
	}
}

/* k distinct values of [lo, hi) into out, uniformly (numpy's choice without
 * replacement, as a partial Fisher-Yates) */
static void distinct(sl_rng *r, int lo, int hi, int k, int32_t *out)
{
	int n = hi - lo;
	int32_t *pool = sl_xmalloc((size_t)n * sizeof *pool);
	for (int i = 0; i < n; i++)
		pool[i] = lo + i;
	for (int i = 0; i < k; i++) {
		int j = i + (int)sl_rng_below(r, (uint32_t)(n - i));
		int32_t t = pool[i];
		pool[i] = pool[j];
		pool[j] = t;
		out[i] = pool[i];
	}
	free(pool);
}

/* k distinct gaps of [0, space) with P(g) proportional to (g+1)^(a-1),
 * drawn one after another from what remains (the distribution of numpy's
 * choice(space, k, replace=False, p=p)) */
static void power_gaps(sl_rng *r, int space, int k, double a, int *out)
{
	double *w = sl_xmalloc((size_t)space * sizeof *w);
	double total = 0;
	for (int g = 0; g < space; g++) {
		w[g] = a * pow(g + 1.0, a - 1.0);
		total += w[g];
	}
	for (int i = 0; i < k; i++) {
		double u = sl_rng_double(r) * total, acc = 0;
		int pick = -1;
		for (int g = 0; g < space; g++) {
			if (w[g] == 0)
				continue;
			pick = g;
			acc += w[g];
			if (u < acc)
				break;
		}
		SL_ASSERT(pick >= 0);
		out[i] = pick;
		total -= w[pick];
		w[pick] = 0;
	}
	free(w);
}

void sl_mqar_sample(const sl_mqar_config *c, sl_rng *r, int len, int32_t *x, int32_t *y)
{
	int P = c->pairs, V = c->vocab, half = V / 2;
	int space = (len - 2 * P) / 2;
	SL_ASSERT(P >= 1 && space >= P && half - 1 >= P && V - half >= P);
	int32_t keys[256], vals[256];
	int gaps[256];
	SL_ASSERT(P <= 256);
	distinct(r, 1, half, P, keys);
	distinct(r, half, V, P, vals);
	power_gaps(r, space, P, c->power_a, gaps);
	sl_mqar_build(P, len, keys, vals, gaps, x, y);
	if (c->noise) /* zoology's random_non_queries: every 0 becomes uniform over [0, V) */
		for (int p = 0; p < len; p++)
			if (x[p] == 0)
				x[p] = (int32_t)sl_rng_below(r, (uint32_t)V);
}

static int mqar_total(const void *cfg, int len)
{
	(void)cfg;
	return len;
}

static int mqar_min(const void *cfg)
{
	return 4 * ((const sl_mqar_config *)cfg)->pairs;
}

static void mqar_sample(const void *cfg, sl_rng *r, int len, int32_t *x, int32_t *y)
{
	sl_mqar_sample(cfg, r, len, x, y);
}

const sl_gen_kind sl_mqar_kind = {
	.name = "mqar",
	.total = mqar_total,
	.min_len = mqar_min,
	.sample = mqar_sample,
};

/* ---- the task kind ---------------------------------------------------------------- */

#define OFF(f) offsetof(sl_mqar_config, f)
static const sl_optspec mqar_options[] = {
	{ "vocab", SL_OPT_INT, OFF(vocab), "8192", 4, 1 << 20, NULL, "vocabulary: keys below vocab/2, values above" },
	{ "L", SL_OPT_INT, OFF(L), "64", 4, SL_GEN_MAX_LEN, NULL, "training sequence length (even)" },
	{ "pairs", SL_OPT_INT, OFF(pairs), "8", 1, 256, NULL, "key-value pairs, each queried once" },
	{ "power_a", SL_OPT_FLOAT, OFF(power_a), "0.01", 1e-6, 1, NULL,
	  "query gaps drawn with probability (g+1)^(power_a-1)" },
	{ "noise", SL_OPT_BOOL, OFF(noise), "on", 0, 0, NULL, "random tokens between the queries (off: zeros)" },
	SL_GEN_OPTIONS(sl_mqar_config),
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

static sl_task *mqar_create(void *cfg, uint64_t given, uint64_t seed, char *info, size_t n)
{
	(void)given;
	sl_mqar_config *c = cfg;
	if (c->L % 2) {
		sl_errorf("L=%d must be even (zoology's layout)", c->L);
		return NULL;
	}
	if (4 * c->pairs > c->L) {
		sl_errorf("pairs=%d needs L >= %d (4 per pair)", c->pairs, 4 * c->pairs);
		return NULL;
	}
	if (c->vocab <= c->L) {
		sl_errorf("vocab=%d must exceed L=%d (zoology's assert)", c->vocab, c->L);
		return NULL;
	}
	if (c->pairs > c->vocab / 2 - 1) {
		sl_errorf("pairs=%d: vocab=%d has only %d keys", c->pairs, c->vocab, c->vocab / 2 - 1);
		return NULL;
	}
	sl_gen_spec sp = { .kind = &sl_mqar_kind, .cfg = c, .cfg_size = sizeof *c, .vocab = c->vocab, .len = c->L };
	sl_task *t = sl_gen_task_make(&sp, c->batches, c->test, &c->maxlen, seed);
	if (!t)
		return NULL;
	char pa[32];
	sl_optspec_format(&mqar_options[3], c, pa, sizeof pa);
	snprintf(info, n, "task=mqar vocab=%d L=%d pairs=%d power_a=%s noise=%s lengths=%d..%d batches=%d test=%d "
		 "seed=%llu", c->vocab, c->L, c->pairs, pa, c->noise ? "on" : "off", 4 * c->pairs, c->maxlen, c->batches,
		 c->test, (unsigned long long)seed);
	return t;
}

static int64_t mqar_bytes(const void *cfg)
{
	const sl_mqar_config *c = cfg;
	sl_gen_spec sp = { .kind = &sl_mqar_kind, .cfg = c, .vocab = c->vocab, .len = c->L, .test = c->test };
	return sl_gen_task_bytes(&sp);
}

const sl_task_kind sl_task_mqar = {
	.name = "mqar",
	.summary = "zoology's multi-query associative recall",
	.options = mqar_options,
	.cfg_size = sizeof(sl_mqar_config),
	.create = mqar_create,
	.bytes = mqar_bytes,
};
