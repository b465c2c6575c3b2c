/* rng.c - xoshiro256** with SplitMix64 seeding and splitting; numpy's legacy
 * MT19937 RandomState. */
#include "seqlab/rng.h"

#include <math.h>

uint64_t sl_hash64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t sl_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return sl_hash64(h);
}

float sl_hash_uniform(uint64_t key, uint64_t i)
{
	uint64_t h = sl_hash64(sl_hash64(key) ^ (i * 0xd1b54a32d192ed03ull));
	return (float)(h >> 40) * (1.0f / 16777216.0f);
}

void sl_rng_seed(sl_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++) {
		x += 0x9e3779b97f4a7c15ull;
		uint64_t z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		r->s[i] = z ^ (z >> 31);
	}
}

sl_rng sl_rng_split(const sl_rng *parent, uint64_t stream)
{
	uint64_t h = sl_hash64(stream ^ 0x5851f42d4c957f2dull);
	for (int i = 0; i < 4; i++)
		h = sl_hash64(h ^ parent->s[i]);
	sl_rng child;
	sl_rng_seed(&child, h);
	return child;
}

sl_rng sl_rng_split_str(const sl_rng *parent, const char *stream)
{
	return sl_rng_split(parent, sl_hash_str(stream));
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sl_rng_u64(sl_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint32_t sl_rng_u32(sl_rng *r)
{
	return (uint32_t)(sl_rng_u64(r) >> 32);
}

uint32_t sl_rng_below(sl_rng *r, uint32_t n)
{
	/* Lemire's multiply-shift with rejection: unbiased */
	uint64_t m = (uint64_t)sl_rng_u32(r) * n;
	uint32_t lo = (uint32_t)m;
	if (lo < n) {
		uint32_t t = (uint32_t)(-n) % n;
		while (lo < t) {
			m = (uint64_t)sl_rng_u32(r) * n;
			lo = (uint32_t)m;
		}
	}
	return (uint32_t)(m >> 32);
}

double sl_rng_double(sl_rng *r)
{
	return (double)(sl_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

float sl_rng_float(sl_rng *r)
{
	return (float)(sl_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

double sl_rng_normal(sl_rng *r)
{
	double u1 = 1.0 - sl_rng_double(r); /* (0, 1] */
	double u2 = sl_rng_double(r);
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void sl_rng_shuffle(sl_rng *r, int *a, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)sl_rng_below(r, (uint32_t)i + 1);
		int t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

/* ---- numpy.random.RandomState: MT19937 ------------------------------------ */

#define MT_N 624
#define MT_M 397

void sl_mt_seed(sl_mt19937 *m, uint32_t seed)
{
	/* numpy's mt19937_seed (Knuth's init_genrand) */
	m->mt[0] = seed;
	for (int i = 1; i < MT_N; i++)
		m->mt[i] = 1812433253u * (m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) + (uint32_t)i;
	m->pos = MT_N;
	m->has_gauss = 0;
	m->gauss = 0;
}

static void mt_generate(sl_mt19937 *m)
{
	static const uint32_t mag01[2] = { 0u, 0x9908b0dfu };
	uint32_t *mt = m->mt, y;
	int k;
	for (k = 0; k < MT_N - MT_M; k++) {
		y = (mt[k] & 0x80000000u) | (mt[k + 1] & 0x7fffffffu);
		mt[k] = mt[k + MT_M] ^ (y >> 1) ^ mag01[y & 1];
	}
	for (; k < MT_N - 1; k++) {
		y = (mt[k] & 0x80000000u) | (mt[k + 1] & 0x7fffffffu);
		mt[k] = mt[k + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1];
	}
	y = (mt[MT_N - 1] & 0x80000000u) | (mt[0] & 0x7fffffffu);
	mt[MT_N - 1] = mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1];
	m->pos = 0;
}

uint32_t sl_mt_u32(sl_mt19937 *m)
{
	if (m->pos == MT_N)
		mt_generate(m);
	uint32_t y = m->mt[m->pos++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	y ^= y >> 18;
	return y;
}

double sl_mt_double(sl_mt19937 *m)
{
	int32_t a = (int32_t)(sl_mt_u32(m) >> 5), b = (int32_t)(sl_mt_u32(m) >> 6);
	return (a * 67108864.0 + b) / 9007199254740992.0;
}

double sl_mt_gauss(sl_mt19937 *m)
{
	if (m->has_gauss) {
		m->has_gauss = 0;
		return m->gauss;
	}
	double f, x1, x2, r2;
	do {
		x1 = 2.0 * sl_mt_double(m) - 1.0;
		x2 = 2.0 * sl_mt_double(m) - 1.0;
		r2 = x1 * x1 + x2 * x2;
	} while (r2 >= 1.0 || r2 == 0.0);
	f = sqrt(-2.0 * log(r2) / r2);
	m->gauss = f * x1;
	m->has_gauss = 1;
	return f * x2;
}
