/* fastmath.h - exp and erf for float32 kernels, written branch-free so GCC
 * vectorises the loops that call them (libm's expf/erff are calls it
 * cannot). Internal to src/core; accuracy is checked against libm in
 * tests/test_core.c. */
#ifndef SEQLAB_FASTMATH_H
#define SEQLAB_FASTMATH_H

#include <stdint.h>
#include <string.h>

/* e^x, relative error below 3e-7 on [-87, 88]; 0 below -87.3 (as float
 * underflow gives), and at most e^88.7 above. Cody-Waite reduction
 * x = n ln2 + r, |r| <= ln2/2, then a degree-6 polynomial for e^r. */
static inline float sl_fexp(float xin)
{
	float x = xin < -87.3f ? -87.3f : xin;
	x = x > 88.7f ? 88.7f : x;
	/* round to nearest by the 1.5 * 2^23 trick: plain arithmetic, vectorises */
	float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float r = x - n * 0.693145751953125f;
	r = r - n * 1.428606765330187e-06f;
	float p = 1.0f / 720;
	p = p * r + 1.0f / 120;
	p = p * r + 1.0f / 24;
	p = p * r + 1.0f / 6;
	p = p * r + 0.5f;
	p = p * r + 1.0f;
	p = p * r + 1.0f;
	/* scale by 2^n through the exponent bits (n in [-126, 128]: split in two
	 * so 2^n never overflows an intermediate) */
	int32_t ni = (int32_t)n;
	int32_t n1 = ni >> 1, n2 = ni - n1;
	uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
	float s1, s2;
	memcpy(&s1, &b1, 4);
	memcpy(&s2, &b2, 4);
	float y = p * s1 * s2;
	return xin < -87.3f ? 0.0f : y;
}

/* erf(x) as x P(x^2) / Q(x^2) on [-4, 4] (outside, +-1 in float), absolute
 * error below 5e-7: the rational approximation Eigen uses for float. */
static inline float sl_ferf(float x)
{
	x = x > 4.0f ? 4.0f : x;
	x = x < -4.0f ? -4.0f : x;
	float x2 = x * x;
	float p = -2.72614225801306e-10f;
	p = p * x2 + 2.77068142495902e-08f;
	p = p * x2 - 2.10102402082508e-06f;
	p = p * x2 - 5.69250639462346e-05f;
	p = p * x2 - 7.34990630326855e-04f;
	p = p * x2 - 2.95459980854025e-03f;
	p = p * x2 - 1.60960333262415e-02f;
	float q = -1.45660718464996e-05f;
	q = q * x2 - 2.13374055278905e-04f;
	q = q * x2 - 1.68282697438203e-03f;
	q = q * x2 - 7.37332916720468e-03f;
	q = q * x2 - 1.42647390514189e-02f;
	return x * p / q;
}

#endif
