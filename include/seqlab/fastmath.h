/* fastmath.h - exp, log1p, erf, the sigmoid and tanh for float32 kernels, written branch-free
 * so GCC vectorises the loops that call them (libm's expf/erff are calls it
 * cannot). Accuracy is checked against libm in tests/test_core.c. */
#ifndef SEQLAB_FASTMATH_H
#define SEQLAB_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* The end of sl_fexp (and of the kernels' variants of it): the polynomial p
 * of the reduced argument scaled by 2^n through the exponent bits (n in
 * [-126, 128]: split in two so 2^n never overflows an intermediate), 0 for
 * an input xin below -87.3. n must be in that range or NaN (the caller clamps
 * the argument to [-87.3, 88.7] first): converting a float beyond int's range
 * is undefined behaviour. */
static inline float sl_fexp_finish(float p, float n, float xin)
{
	int32_t ni = (int32_t)(n == n ? n : 0.0f); /* NaN in: NaN out through p, never (int)NaN (UB) */
	int32_t n1 = ni >> 1, n2 = ni - n1;
	uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
	float s1, s2;
	memcpy(&s1, &b1, 4);
	memcpy(&s2, &b2, 4);
	float y = p * s1 * s2;
	return xin < -87.3f ? 0.0f : y;
}

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
	return sl_fexp_finish(p, n, xin);
}

/* a b + c rounded once where the processor fuses multiply-adds (every
 * build with the fast kernels: AVX-512 has them), so a plain kernel and its
 * vector form agree bit for bit, at -O3 and -O0 alike; a build for a
 * processor without them (configure --disable-native) rounds twice rather
 * than calling libm's software fmaf for each term. */
#if defined(__FMA__) || defined(__AVX512F__)
#define SL_FMA(a, b, c) fmaf(a, b, c)
#define SL_FMA_FUSED 1
#else
#define SL_FMA(a, b, c) ((a) * (b) + (c))
#define SL_FMA_FUSED 0
#endif

/* e^x as sl_fexp, with the reduction and the polynomial in fused
 * multiply-adds (SL_FMA): r = x - n ln2 in two fused steps, then Horner's
 * rule; relative error below 3e-7 on [-87, 88], 0 below -87.3. Its bits
 * are sl_fexp16_fma's, not sl_fexp's. The selective scan's exponential. */
static inline float sl_fexp_fma(float xin)
{
	float x = 88.7f < xin ? 88.7f : xin;
	x = x < -87.3f ? -87.3f : x; /* n stays an int (the result is 0 there anyway) */
	float n = nearbyintf(x * 1.44269504088896341f);
	float r = SL_FMA(-n, 0.693145751953125f, x);
	r = SL_FMA(-n, 1.428606765330187e-06f, r);
	float p = 1.0f / 720;
	p = SL_FMA(p, r, 1.0f / 120);
	p = SL_FMA(p, r, 1.0f / 24);
	p = SL_FMA(p, r, 1.0f / 6);
	p = SL_FMA(p, r, 0.5f);
	p = SL_FMA(p, r, 1.0f);
	p = SL_FMA(p, r, 1.0f);
	return sl_fexp_finish(p, n, xin);
}

/* log2(e) in float: the selective scan's exponentials are 2^(Δ (a log2 e)) */
#define SL_LOG2E 1.44269504088896341f

/* 2^t with fused multiply-adds (SL_FMA): n = rint(t), f = t - n (exact,
 * |f| <= 1/2), a degree-6 polynomial for 2^f fitted minimax (relative
 * error 2e-9 in exact arithmetic, 8e-8 evaluated in float by Horner's rule
 * in fused steps), and 2^n through the exponent bits. t is clamped to
 * [-160, 128] first, which changes no result (2^-160 rounds to 0, and
 * 2^128 overflows); NaN gives NaN. Relative error below 1.5e-7 wherever
 * the result is normal (tests/test_core.c). The selective scan's e^w as
 * 2^(Δ a'), a' = a log2 e once per (d, n): no range reduction by ln 2, one
 * multiply fewer, 4 vector operations fewer than sl_fexp16_fma (whose
 * reduction keeps e^x's error below 3e-7 for every x, where this one's
 * error in e^w grows with |w| as the rounding of Δ a' does: |w| 1.2e-7,
 * below the float error of Mamba's Δ A, |w| < 1, beyond it where e^w is
 * tiny). */
#define SL_EXP2_C6 1.534581243e-04f
#define SL_EXP2_C5 1.339993090e-03f
#define SL_EXP2_C4 9.618489072e-03f
#define SL_EXP2_C3 5.550328642e-02f
#define SL_EXP2_C2 2.402264625e-01f
#define SL_EXP2_C1 6.931471825e-01f
#define SL_EXP2_C0 1.0f
static inline float sl_fexp2_fma(float t)
{
	t = t < -160.0f ? -160.0f : t;
	t = t > 128.0f ? 128.0f : t;
	float n = nearbyintf(t), f = t - n;
	float p = SL_EXP2_C6;
	p = SL_FMA(p, f, SL_EXP2_C5);
	p = SL_FMA(p, f, SL_EXP2_C4);
	p = SL_FMA(p, f, SL_EXP2_C3);
	p = SL_FMA(p, f, SL_EXP2_C2);
	p = SL_FMA(p, f, SL_EXP2_C1);
	p = SL_FMA(p, f, SL_EXP2_C0);
	return sl_fexp_finish(p, n, 0.0f);
}

/* 1 / (1 + e^-x) without overflow: e^-|x| is at most 1; branch-free so the
 * loops vectorise (the sigmoid op's, the recurrent cells'). */
static inline float sl_fsigmoid(float x)
{
	float e = sl_fexp(-fabsf(x)), r = 1.0f / (1.0f + e);
	return x >= 0.0f ? r : e * r;
}

/* tanh(x), absolute error below 1e-7 and relative below 2e-7: below
 * |x| = 0.625 its odd Taylor series to x^17 (the rest under 6e-8 relative), above it
 * 1 - 2 / (e^{2|x|} + 1) (sl_fexp's error halved, no cancellation worse
 * than 1 - 1/2); both computed and one chosen, so the loops vectorise
 * (libm's tanhf is a call). The recurrent cells' tanh. */
static inline float sl_ftanh(float x)
{
	float ax = fabsf(x), x2 = x * x;
	float p = 5.900274409e-04f;
	p = p * x2 - 1.455834387e-03f;
	p = p * x2 + 3.592128037e-03f;
	p = p * x2 - 8.863235530e-03f;
	p = p * x2 + 2.186948854e-02f;
	p = p * x2 - 5.396825397e-02f;
	p = p * x2 + 1.333333333e-01f;
	p = p * x2 - 3.333333333e-01f;
	float small = x + x * x2 * p;
	float big = 1.0f - 2.0f / (sl_fexp(2.0f * ax) + 1.0f);
	return copysignf(ax < 0.625f ? small : big, x); /* odd; tanh(-0) = -0 */
}

/* log(1 + y) for y in [0, 1] (softplus: log1p(e^-|x|)), absolute error
 * below 3e-7: 1 + y = 2^k m with m in [sqrt(1/2), sqrt(2)), then
 * log m = 2 atanh(s), s = (m - 1)/(m + 1), |s| < 0.172, by its odd series. */
static inline float sl_flog1p(float y)
{
	float u = 1.0f + y;
	uint32_t bits;
	memcpy(&bits, &u, 4);
	/* exponent k and mantissa m in [1, 2), moved to [sqrt(1/2), sqrt(2)) */
	int32_t k = (int32_t)((bits >> 23) & 0xff) - 127;
	uint32_t mb = (bits & 0x007fffffu) | 0x3f800000u;
	float m;
	memcpy(&m, &mb, 4);
	int big = m > 1.41421356f;
	m = big ? 0.5f * m : m;
	k = big ? k + 1 : k;
	/* the rounding of 1 + y loses y's low bits; add them back to first order */
	float corr = (y - (u - 1.0f)) / u;
	float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
	float p = 2.0f / 9;
	p = p * s2 + 2.0f / 7;
	p = p * s2 + 2.0f / 5;
	p = p * s2 + 2.0f / 3;
	p = p * s2 + 2.0f;
	return (float)k * 0.693147180559945f + s * p + corr;
}

/* softplus(x) = log(1 + e^x) as the softplus op and the selective scan's
 * fused softplus compute it: max(x, 0) + log1p(e^-|x|) (the max as a
 * comparison: fmaxf's NaN rule keeps GCC from vectorising, and the two
 * differ only in the sign of a zero, which the sum does not keep), and x
 * itself above SL_SOFTPLUS_THRESHOLD (torch: beta 1, threshold 20), applied
 * by the caller in a second loop so the first vectorises. softplus'(x) is
 * sigmoid(x), exactly 1 above the threshold. */
#define SL_SOFTPLUS_THRESHOLD 20.0f

static inline float sl_fsoftplus_body(float x)
{
	return (x > 0.0f ? x : 0.0f) + sl_flog1p(sl_fexp(-fabsf(x)));
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

/* tanh in double precision, branch-free so loops over it vectorise (libm's
 * tanh is a call per element): with e = e^{-2|x|}, tanh|x| = (1 - e)/(1 + e),
 * e by Cody-Waite reduction (n ln2 in two parts), a degree-13 Taylor
 * polynomial on |r| <= ln2/2 (truncation below 1e-17) and 2^n through the
 * exponent bits; |x| >= 20 gives 1 exactly, as libm does. The absolute error
 * is below 1e-15 (tests/test_core.c sweeps it against libm); near 0 the
 * relative error grows as 1e-16/|x| (1 - e cancels), harmless for a state. */
static inline double sl_dtanh(double x)
{
	double ax = x < 0 ? -x : x;
	double y = -2.0 * (ax > 20.0 ? 20.0 : ax);
	double n = (y * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0;
	double r = y - n * 0.6931471803691238;
	r = r - n * 1.9082149292705877e-10;
	double p = 1.0 / 6227020800.0;
	p = p * r + 1.0 / 479001600.0;
	p = p * r + 1.0 / 39916800.0;
	p = p * r + 1.0 / 3628800.0;
	p = p * r + 1.0 / 362880.0;
	p = p * r + 1.0 / 40320.0;
	p = p * r + 1.0 / 5040.0;
	p = p * r + 1.0 / 720.0;
	p = p * r + 1.0 / 120.0;
	p = p * r + 1.0 / 24.0;
	p = p * r + 1.0 / 6.0;
	p = p * r + 0.5;
	p = p * r + 1.0;
	p = p * r + 1.0;
	int64_t ni = (int64_t)(n == n ? n : 0.0); /* NaN in: NaN out through y, never (int)NaN */
	uint64_t bits = (uint64_t)(ni + 1023) << 52;
	double s;
	memcpy(&s, &bits, 8);
	double e = p * s, t = (1.0 - e) / (1.0 + e);
	t = ax > 20.0 ? 1.0 : t;
	return x < 0 ? -t : t;
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* sl_fexp on sixteen lanes, with every lane's bits what sl_fexp gives
 * (tests/test_core.c checks it), in fewer operations: the same multiplies
 * and adds (no fused multiply-adds), but
 *  - n = rint(x log2 e) by roundscale (the scalar 1.5 * 2^23 trick rounds
 *    to nearest-even the same way; only the sign of a zero n may differ, and
 *    x - n c is then x either way);
 *  - p 2^n by one scalef, which rounds the exact product once, as the
 *    scalar's two power-of-two multiplies do (the first is exact);
 *  - no clamp below: the lanes under -87.3 are zeroed at the end whatever
 *    they computed. */
static inline __m512 sl_fexp16(__m512 xin)
{
	__mmask16 keep = _mm512_cmp_ps_mask(xin, _mm512_set1_ps(-87.3f), _CMP_NLT_UQ); /* NaN kept */
	/* min(c, x) = c < x ? c : x: x > 88.7 ? 88.7 : x, NaN passed through */
	__m512 x = _mm512_min_ps(_mm512_set1_ps(88.7f), xin);
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
					_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693145751953125f)));
	r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(1.428606765330187e-06f)));
	__m512 p = _mm512_set1_ps(1.0f / 720);
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 120));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 24));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 6));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.5f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f));
	return _mm512_maskz_scalef_ps(keep, p, n);
}
/* sl_fexp_fma on sixteen lanes, every lane's bits what it gives
 * (tests/test_core.c checks it): n by roundscale (nearbyintf's rounding;
 * only the sign of a zero n may differ, which r cannot tell), p 2^n by one
 * scalef (the exact product rounded once, as the scalar's two exact
 * power-of-two steps), the lanes under -87.3 zeroed, NaN kept. 13 vector
 * operations where sl_fexp16 takes 21. */
static inline __m512 sl_fexp16_fma(__m512 xin)
{
	__mmask16 keep = _mm512_cmp_ps_mask(xin, _mm512_set1_ps(-87.3f), _CMP_NLT_UQ);
	__m512 x = _mm512_min_ps(_mm512_set1_ps(88.7f), xin);
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
					_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
	__m512 p = _mm512_set1_ps(1.0f / 720);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
	return _mm512_maskz_scalef_ps(keep, p, n);
}

/* sl_fexp2_fma on sixteen lanes, every lane's bits what it gives
 * (tests/test_core.c checks it): the clamps by min and max (NaN passed
 * through), n by roundscale, p 2^n by one scalef (the exact product
 * rounded once, as the scalar's two exact power-of-two steps). */
static inline __m512 sl_fexp2_16_fma(__m512 t)
{
	t = _mm512_max_ps(_mm512_set1_ps(-160.0f), t);
	t = _mm512_min_ps(_mm512_set1_ps(128.0f), t);
	__m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 f = _mm512_sub_ps(t, n);
	__m512 p = _mm512_set1_ps(SL_EXP2_C6);
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SL_EXP2_C5));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SL_EXP2_C4));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SL_EXP2_C3));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SL_EXP2_C2));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SL_EXP2_C1));
	p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SL_EXP2_C0));
	return _mm512_scalef_ps(p, n);
}

/* sl_fsigmoid on sixteen lanes, the same bits: e = e^-|x|, 1/(1 + e), times
 * e below 0 */
static inline __m512 sl_fsigmoid16(__m512 x)
{
	__m512 nx = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN)));
	__m512 e = sl_fexp16(nx), r = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
	return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ), _mm512_mul_ps(e, r), r);
}

/* sl_flog1p on sixteen lanes, its operations one for one (the same bits):
 * the exponent and mantissa by integer masks, the two quotients by vdivps. */
static inline __m512 sl_flog1p16(__m512 y)
{
	const __m512 one = _mm512_set1_ps(1.0f);
	__m512 u = _mm512_add_ps(one, y);
	__m512i bits = _mm512_castps_si512(u);
	__m512i k = _mm512_sub_epi32(_mm512_and_si512(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(0xff)),
				     _mm512_set1_epi32(127));
	__m512 m = _mm512_castsi512_ps(
		_mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x3f800000)));
	__mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
	m = _mm512_mask_mul_ps(m, big, _mm512_set1_ps(0.5f), m);
	k = _mm512_mask_add_epi32(k, big, k, _mm512_set1_epi32(1));
	__m512 corr = _mm512_div_ps(_mm512_sub_ps(y, _mm512_sub_ps(u, one)), u);
	__m512 s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one)), s2 = _mm512_mul_ps(s, s);
	__m512 p = _mm512_set1_ps(2.0f / 9);
	p = _mm512_add_ps(_mm512_mul_ps(p, s2), _mm512_set1_ps(2.0f / 7));
	p = _mm512_add_ps(_mm512_mul_ps(p, s2), _mm512_set1_ps(2.0f / 5));
	p = _mm512_add_ps(_mm512_mul_ps(p, s2), _mm512_set1_ps(2.0f / 3));
	p = _mm512_add_ps(_mm512_mul_ps(p, s2), _mm512_set1_ps(2.0f));
	__m512 r = _mm512_mul_ps(_mm512_cvtepi32_ps(k), _mm512_set1_ps(0.693147180559945f));
	return _mm512_add_ps(_mm512_add_ps(r, _mm512_mul_ps(s, p)), corr);
}

/* softplus on sixteen lanes with the bits of the scalar loops: the body
 * sl_fsoftplus_body, then x itself above SL_SOFTPLUS_THRESHOLD */
static inline __m512 sl_fsoftplus16(__m512 x)
{
	__m512 nax = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN))); /* -|x| */
	__m512 pos = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), x);
	__m512 y = _mm512_add_ps(pos, sl_flog1p16(sl_fexp16(nax)));
	return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(SL_SOFTPLUS_THRESHOLD), _CMP_GT_OQ), y, x);
}
#endif

#endif
