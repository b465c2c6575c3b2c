/* rng.h - seeded random number generators.
 *
 * sl_rng is xoshiro256** seeded through SplitMix64: fast, and splittable into
 * independent streams by name, so one session seed derives every stream
 * (init, data order, dropout, sampling). sl_mt19937 reproduces numpy's legacy
 * RandomState (MT19937 + polar Gaussian) bit for bit. */
#ifndef SEQLAB_RNG_H
#define SEQLAB_RNG_H

#include <stdint.h>

typedef struct sl_rng {
	uint64_t s[4];
} sl_rng;

void sl_rng_seed(sl_rng *r, uint64_t seed);
/* A child stream for `stream`, independent of the parent and of other ids;
 * does not advance the parent. */
sl_rng sl_rng_split(const sl_rng *parent, uint64_t stream);
/* The same, with the stream named by a string (e.g. "init", "data"). */
sl_rng sl_rng_split_str(const sl_rng *parent, const char *stream);
uint64_t sl_rng_u64(sl_rng *r);
uint32_t sl_rng_u32(sl_rng *r);
/* Uniform in [0, n), without modulo bias; n >= 1. */
uint32_t sl_rng_below(sl_rng *r, uint32_t n);
/* Uniform in [0, 1) with 53 (double) or 24 (float) random bits. */
double sl_rng_double(sl_rng *r);
float sl_rng_float(sl_rng *r);
/* Standard normal (Box-Muller, no cached second value: the state alone
 * determines the stream). */
double sl_rng_normal(sl_rng *r);
/* Fisher-Yates shuffle of n ints. */
void sl_rng_shuffle(sl_rng *r, int *a, int n);

/* SplitMix64 finaliser: a good 64-bit mixing function. */
uint64_t sl_hash64(uint64_t x);
/* FNV-1a of a string, mixed; for naming streams and hashing words. */
uint64_t sl_hash_str(const char *s);
/* Counter-based uniform in [0, 1) for element i of stream key: the same value
 * whichever thread computes it. */
float sl_hash_uniform(uint64_t key, uint64_t i);

/* numpy.random.RandomState (legacy MT19937). */
typedef struct sl_mt19937 {
	uint32_t mt[624];
	int pos;
	int has_gauss;
	double gauss;
} sl_mt19937;

/* numpy.random.seed(seed) for an integer seed in [0, 2^32). */
void sl_mt_seed(sl_mt19937 *m, uint32_t seed);
uint32_t sl_mt_u32(sl_mt19937 *m);
/* numpy.random.random_sample(): 53-bit double in [0, 1). */
double sl_mt_double(sl_mt19937 *m);
/* numpy.random.randn() / standard_normal() (legacy polar method). */
double sl_mt_gauss(sl_mt19937 *m);

#endif
