/* test_rng.c - the generators: numpy-identical MT19937 Gaussians, and the
 * properties of the splittable xoshiro streams. */
#include "seqlab/rng.h"
#include "tap.h"

#include <stdint.h>
#include <string.h>

static void test_mt_known(void)
{
	sl_mt19937 m;
	sl_mt_seed(&m, 0);
	uint32_t a = sl_mt_u32(&m), b = sl_mt_u32(&m), c = sl_mt_u32(&m);
	TAP_OK(a == 2357136044u && b == 2546248239u && c == 3071714933u,
	       "MT19937 seed 0: first outputs 2357136044 2546248239 3071714933 (got %u %u %u)", a, b, c);
	sl_mt_seed(&m, 0);
	double g0 = sl_mt_gauss(&m), g1 = sl_mt_gauss(&m), g2 = sl_mt_gauss(&m);
	TAP_OK(g0 == 1.764052345967664 && g1 == 0.4001572083672233 && g2 == 0.9787379841057392,
	       "numpy.random.seed(0); randn(): %.16g %.16g %.16g", g0, g1, g2);
	sl_mt_seed(&m, 0);
	(void)sl_mt_u32(&m);
	(void)sl_mt_u32(&m);
	(void)sl_mt_u32(&m);
	TAP_OK(sl_mt_double(&m) == 0.8442657485810173, "random_sample() after three draws matches numpy");
}

/* Compare a whole randn(K, d) matrix with numpy's, when python3 + numpy exist. */
static void test_mt_numpy(uint32_t seed, int rows, int cols)
{
	const char *py = getenv("PYTHON3"), *src = getenv("SRCDIR");
	char cmd[1024];
	if (!py || !*py || !src) {
		printf("ok %d - numpy randn(%d, %d) seed %u # SKIP PYTHON3/SRCDIR not set\n", ++tap_n, rows,
		       cols, seed);
		return;
	}
	snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy' 2>/dev/null && '%s' '%s/tests/numpy_randn.py' %u %d %d",
		 py, py, src, seed, rows, cols);
	FILE *f = popen(cmd, "r");
	int n = 0, same = 0;
	double v;
	sl_mt19937 m;
	sl_mt_seed(&m, seed);
	while (f && fscanf(f, "%lf", &v) == 1) {
		double g = sl_mt_gauss(&m);
		same += memcmp(&g, &v, sizeof g) == 0;
		n++;
	}
	int st = f ? pclose(f) : -1;
	if (n == 0 && st != 0) {
		printf("ok %d - numpy randn(%d, %d) seed %u # SKIP python3-numpy not available\n", ++tap_n,
		       rows, cols, seed);
		return;
	}
	TAP_OK(n == rows * cols && same == n, "numpy randn(%d, %d) seed %u: %d of %d values bit-identical",
	       rows, cols, seed, same, n);
}

static void test_xoshiro(void)
{
	sl_rng a, b;
	sl_rng_seed(&a, 42);
	sl_rng_seed(&b, 42);
	int same = 1;
	for (int i = 0; i < 1000; i++)
		same &= sl_rng_u64(&a) == sl_rng_u64(&b);
	TAP_OK(same, "same seed, same stream");

	sl_rng_seed(&a, 42);
	sl_rng_seed(&b, 43);
	TAP_OK(sl_rng_u64(&a) != sl_rng_u64(&b), "different seeds, different streams");

	sl_rng_seed(&a, 7);
	sl_rng before = a;
	sl_rng c1 = sl_rng_split(&a, 1), c2 = sl_rng_split(&a, 2), c1b = sl_rng_split(&a, 1);
	TAP_OK(memcmp(&before, &a, sizeof a) == 0, "split does not advance the parent");
	TAP_OK(memcmp(&c1, &c1b, sizeof c1) == 0, "split is a function of (parent, id)");
	TAP_OK(sl_rng_u64(&c1) != sl_rng_u64(&c2), "split ids give different streams");
	sl_rng s1 = sl_rng_split_str(&a, "init"), s2 = sl_rng_split_str(&a, "data");
	TAP_OK(sl_rng_u64(&s1) != sl_rng_u64(&s2), "named streams differ");

	/* below(n): in range, and roughly uniform (chi-square, 10 bins, 10^5 draws) */
	int counts[10] = { 0 }, inrange = 1;
	for (int i = 0; i < 100000; i++) {
		uint32_t x = sl_rng_below(&a, 10);
		inrange &= x < 10;
		if (x < 10)
			counts[x]++;
	}
	double chi = 0;
	for (int i = 0; i < 10; i++)
		chi += (counts[i] - 10000.0) * (counts[i] - 10000.0) / 10000.0;
	TAP_OK(inrange, "below(10) stays in [0, 10)");
	TAP_OK(chi < 30, "below(10) uniform: chi-square %.2f < 30 (9 dof)", chi);

	double sum = 0, sq = 0, fmin = 1, fmax = 0;
	for (int i = 0; i < 100000; i++) {
		double x = sl_rng_normal(&a);
		float u = sl_rng_float(&a);
		sum += x;
		sq += x * x;
		fmin = u < fmin ? u : fmin;
		fmax = u > fmax ? u : fmax;
	}
	TAP_NEAR(sum / 1e5, 0.0, 0.02, "normal: mean ~ 0");
	TAP_NEAR(sq / 1e5, 1.0, 0.02, "normal: variance ~ 1");
	TAP_OK(fmin >= 0 && fmax < 1, "float in [0, 1)");

	int p[50], seen[50] = { 0 }, perm = 1;
	for (int i = 0; i < 50; i++)
		p[i] = i;
	sl_rng_shuffle(&a, p, 50);
	for (int i = 0; i < 50; i++)
		seen[p[i]]++;
	for (int i = 0; i < 50; i++)
		perm &= seen[i] == 1;
	TAP_OK(perm, "shuffle is a permutation");

	double hs = 0;
	int hok = 1;
	for (int i = 0; i < 100000; i++) {
		float u = sl_hash_uniform(99, (uint64_t)i);
		hok &= u >= 0 && u < 1;
		hs += u;
	}
	TAP_OK(hok, "hash_uniform in [0, 1)");
	TAP_NEAR(hs / 1e5, 0.5, 0.005, "hash_uniform mean ~ 0.5");
	TAP_OK(sl_hash_uniform(1, 5) == sl_hash_uniform(1, 5) && sl_hash_uniform(1, 5) != sl_hash_uniform(2, 5),
	       "hash_uniform is a function of (key, i)");
	TAP_OK(sl_hash_str("init") != sl_hash_str("data") && sl_hash_str("x") == sl_hash_str("x"),
	       "string hash");
}

int main(void)
{
	test_mt_known();
	test_mt_numpy(0, 16, 8);
	test_mt_numpy(0, 16, 64);
	test_mt_numpy(1234, 33, 7);
	test_xoshiro();
	return tap_done();
}
