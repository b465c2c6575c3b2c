/* test_gemm.c - seqlab's own matrix product: bit for bit the plain
 * fused-multiply-add loop (sl_gemm_ref), close to a double-precision product
 * and to OpenBLAS, on every transpose, edge and epilogue, strided operands
 * included; the kernel choice. */
#include "seqlab/ops.h"
#include "seqlab/rng.h"
#include "tap.h"

#include <string.h>

static float *randm(sl_rng *r, size_t n)
{
	float *m = malloc((n ? n : 1) * sizeof *m);
	for (size_t i = 0; i < n; i++)
		m[i] = (float)sl_rng_normal(r);
	return m;
}

/* an epilogue for the tests: c = c^2 - 1/3 (it counts the elements it maps) */
typedef struct epi_ctx {
	float *base;
	int count;
} epi_ctx;

static void epi_square(void *arg, float *c, int ldc, int rows, int cols)
{
	epi_ctx *e = arg;
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++) {
			float *v = c + (size_t)i * ldc + j;
			*v = *v * *v - 1.0f / 3;
			e->count++;
		}
}

/* Worst |C - C_double| / (|alpha| sum |A||B| + |beta C0|) over the matrix. */
static double rel_err_double(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
			     const float *b, int ldb, float beta, const float *c0, const float *c, int ldc)
{
	double worst = 0;
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			double s = 0, mag = 0;
			for (int p = 0; p < k; p++) {
				double x = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
				double y = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
				s += x * y;
				mag += fabs(x * y);
			}
			double old = beta == 0 ? 0 : c0[(size_t)i * ldc + j];
			double want = alpha * s + beta * old;
			double scale = fabs(alpha) * mag + fabs(beta * old) + 1e-30;
			double e = fabs(c[(size_t)i * ldc + j] - want) / scale;
			worst = e > worst ? e : worst;
		}
	return worst;
}

int main(void)
{
	sl_rng r;
	sl_rng_seed(&r, 42);
	static const int ms[] = { 1, 3, 8, 9, 17, 64, 130 };
	static const int ns[] = { 1, 5, 16, 17, 31, 32, 33, 64, 100 };
	static const int ks[] = { 0, 1, 7, 64, 259, 513, 1100 };
	static const float ab[][2] = { { 1, 0 }, { 1, 1 }, { 0.5f, -2 }, { -1.5f, 0 } };
	int cases = 0, same = 0, close = 0, blas_close = 0, untouched = 0;
	double worst = 0;
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++)
			for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
				for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
					for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++) {
						int m = ms[im], n = ns[in], k = ks[ik];
						const float *e = ab[(im + in + ik) % 4];
						/* padded leading dimensions: the kernel must not touch the pad */
						int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
						int arows = ta ? k : m, brows = tb ? n : k;
						float *a = randm(&r, (size_t)arows * lda), *b = randm(&r, (size_t)brows * ldb);
						float *c0 = randm(&r, (size_t)m * ldc);
						float *c1 = malloc((size_t)m * ldc * sizeof *c1), *c2 = malloc((size_t)m * ldc * sizeof *c2);
						float *c3 = malloc((size_t)m * ldc * sizeof *c3);
						memcpy(c1, c0, (size_t)m * ldc * sizeof *c1);
						memcpy(c2, c0, (size_t)m * ldc * sizeof *c2);
						memcpy(c3, c0, (size_t)m * ldc * sizeof *c3);
						if (e[1] == 0) /* beta 0: C is not read, NaN stays out */
							for (int i = 0; i < m; i++)
								for (int j = 0; j < n; j++)
									c1[(size_t)i * ldc + j] = c2[(size_t)i * ldc + j] = NAN;
						sl_gemm(ta, tb, m, n, k, e[0], a, lda, b, ldb, e[1], c1, ldc);
						sl_gemm_ref(ta, tb, m, n, k, e[0], a, lda, b, ldb, e[1], c2, ldc);
						sl_gemm_select("openblas");
						sl_sgemm(ta, tb, m, n, k, e[0], a, lda, b, ldb, e[1], c3, ldc);
						sl_gemm_select("auto");
						cases++;
						same += !memcmp(c1, c2, (size_t)m * ldc * sizeof *c1);
						double err = rel_err_double(ta, tb, m, n, k, e[0], a, lda, b, ldb, e[1], c0, c1, ldc);
						worst = err > worst ? err : worst;
						close += err < 1e-6;
						blas_close += rel_err_double(ta, tb, m, n, k, e[0], a, lda, b, ldb, e[1], c0, c3, ldc) < 1e-6;
						int pad_ok = 1;
						for (int i = 0; i < m; i++)
							for (int j = n; j < ldc; j++)
								pad_ok &= c1[(size_t)i * ldc + j] == c0[(size_t)i * ldc + j];
						untouched += pad_ok;
						free(a);
						free(b);
						free(c0);
						free(c1);
						free(c2);
						free(c3);
					}
	TAP_OK(same == cases, "sl_gemm equals the plain fma loop bit for bit: %d of %d shapes", same, cases);
	TAP_OK(close == cases, "sl_gemm within 1e-6 (relative) of double: %d of %d (worst %.2g)", close, cases, worst);
	TAP_OK(blas_close == cases, "OpenBLAS through sl_sgemm within 1e-6 of double: %d of %d", blas_close, cases);
	TAP_OK(untouched == cases, "columns past n are left alone: %d of %d", untouched, cases);

	/* the bias in the kernel's store against the bias copied into C and beta = 1 */
	int bcases = 0, bsame = 0;
	for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
		for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
			for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++) {
				int m = ms[im], n = ns[in], k = ks[ik];
				int lda = k + 3, ldb = k + 5, ldc = n + 2;
				float *a = randm(&r, (size_t)m * lda), *b = randm(&r, (size_t)n * ldb);
				float *bias = randm(&r, (size_t)n), *c1 = randm(&r, (size_t)m * ldc);
				float *c2 = malloc((size_t)m * ldc * sizeof *c2);
				memcpy(c2, c1, (size_t)m * ldc * sizeof *c2);
				sl_gemm_bias(m, n, k, a, lda, b, ldb, bias, c1, ldc);
				for (int i = 0; i < m; i++)
					memcpy(c2 + (size_t)i * ldc, bias, (size_t)n * sizeof *c2);
				sl_gemm_ref(0, 1, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, c2, ldc);
				bcases++;
				bsame += !memcmp(c1, c2, (size_t)m * ldc * sizeof *c1); /* the pad included */
				free(a);
				free(b);
				free(bias);
				free(c1);
				free(c2);
			}
	TAP_OK(bsame == bcases, "sl_gemm_bias equals the bias copied into C, then the fma loop with beta 1: %d of %d",
	       bsame, bcases);

	/* the residual in the kernel's store against the product, then res + C */
	int rcases = 0, rsame = 0;
	for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
		for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
			for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++)
				for (int withb = 0; withb <= 1; withb++) {
					int m = ms[im], n = ns[in], k = ks[ik];
					int lda = k + 3, ldb = k + 5, ldc = n + 2;
					float *a = randm(&r, (size_t)m * lda), *b = randm(&r, (size_t)n * ldb);
					float *bias = withb ? randm(&r, (size_t)n) : NULL;
					float *res = randm(&r, (size_t)m * ldc), *c1 = randm(&r, (size_t)m * ldc);
					float *c2 = malloc((size_t)m * ldc * sizeof *c2);
					memcpy(c2, c1, (size_t)m * ldc * sizeof *c2);
					sl_gemm_res(m, n, k, a, lda, b, ldb, bias, res, ldc, c1, ldc);
					sl_gemm_res_ref(m, n, k, a, lda, b, ldb, bias, res, ldc, c2, ldc);
					rcases++;
					rsame += !memcmp(c1, c2, (size_t)m * ldc * sizeof *c1); /* the pad included */
					free(a);
					free(b);
					free(bias);
					free(res);
					free(c1);
					free(c2);
				}
	TAP_OK(rsame == rcases, "sl_gemm_res equals the product stored, then the residual added: %d of %d", rsame,
	       rcases);

	/* an epilogue per stored tile against one over all of C after the product */
	int ecases = 0, esame = 0;
	for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
		for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
			for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++)
				for (int form = 0; form < 3; form++) { /* bias; ta = 0, tb = 0; ta = 1 */
					int m = ms[im], n = ns[in], k = ks[ik], ta = form == 2, tb = form == 0;
					int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
					float *a = randm(&r, (size_t)(ta ? k : m) * lda), *b = randm(&r, (size_t)(tb ? n : k) * ldb);
					float *bias = form == 0 ? randm(&r, (size_t)n) : NULL;
					float *c1 = randm(&r, (size_t)m * ldc), *c2 = malloc((size_t)m * ldc * sizeof *c2);
					memcpy(c2, c1, (size_t)m * ldc * sizeof *c2);
					epi_ctx e1 = { c1, 0 }, e2 = { c2, 0 };
					sl_gemm_epi_run(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, bias, c1, ldc, epi_square, &e1);
					sl_gemm_epi_ref(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, bias, c2, ldc, epi_square, &e2);
					ecases++;
					esame += !memcmp(c1, c2, (size_t)m * ldc * sizeof *c1) && e1.count == m * n &&
						 e2.count == m * n;
					free(a);
					free(b);
					free(bias);
					free(c1);
					free(c2);
				}
	TAP_OK(esame == ecases, "sl_gemm_epi_run equals the product, then the epilogue over C, each element once: %d of %d",
	       esame, ecases);
	/* a long k in stretches (sl_gemm_chain: the sums parked between them)
	 * against one sl_gemm_ref over the whole k; its plain form too */
	/* each row: the ends of the stretches, the last at k = 1100; empty
	 * stretches (0, and a repeated end) included */
	static const int cuts[][6] = { { 1100 }, { 0, 1, 1, 1100 }, { 3, 300, 1100 }, { 256, 257, 600, 1100 },
				       { 700, 1100 }, { 513, 514, 1030, 1031, 1100 } };
	int ccases = 0, csame = 0, crsame = 0;
	for (int ta = 0; ta < 2; ta++)
		for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
			for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
				for (size_t ic = 0; ic < SL_COUNT(cuts); ic++) {
					int m = ms[im], n = ns[in], k = 1100;
					const float *e = ab[(im + in + ic) % 4];
					int lda = (ta ? m : k) + 3, ldb = n + 5, ldc = n + 2;
					float *a = randm(&r, (size_t)(ta ? k : m) * lda), *b = randm(&r, (size_t)k * ldb);
					float *c1 = randm(&r, (size_t)m * ldc);
					float *c2 = malloc((size_t)m * ldc * sizeof *c2), *c3 = malloc((size_t)m * ldc * sizeof *c3);
					memcpy(c2, c1, (size_t)m * ldc * sizeof *c2);
					memcpy(c3, c1, (size_t)m * ldc * sizeof *c3);
					float *park = sl_xaligned(sl_gemm_park_floats(m, n) * sizeof(float));
					float *rpark = malloc((size_t)m * n * sizeof *rpark);
					for (int q = 0, p0 = 0; q == 0 || p0 < k; q++) {
						int p1 = cuts[ic][q];
						const float *as = ta ? a + (size_t)p0 * lda : a + p0;
						sl_gemm_chain(ta, m, n, p1 - p0, e[0], as, lda, b + (size_t)p0 * ldb, ldb, e[1], c1, ldc,
							      park, q == 0, p1 == k);
						sl_gemm_chain_ref(ta, m, n, p1 - p0, e[0], as, lda, b + (size_t)p0 * ldb, ldb, e[1], c3,
								  ldc, rpark, q == 0, p1 == k);
						p0 = p1;
					}
					sl_gemm_ref(ta, 0, m, n, k, e[0], a, lda, b, ldb, e[1], c2, ldc);
					ccases++;
					csame += !memcmp(c1, c2, (size_t)m * ldc * sizeof *c1);
					crsame += !memcmp(c3, c2, (size_t)m * ldc * sizeof *c3);
					free(a);
					free(b);
					free(c1);
					free(c2);
					free(c3);
					free(park);
					free(rpark);
				}
	TAP_OK(csame == ccases, "sl_gemm_chain over stretches of k equals one fma loop over k: %d of %d", csame, ccases);
	TAP_OK(crsame == ccases, "sl_gemm_chain_ref likewise: %d of %d", crsame, ccases);

	/* two linear layers in one product against sl_gemm_bias on each half */
	int pcases = 0, psame = 0;
	for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
		for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
			for (size_t ik = 1; ik < sizeof ks / sizeof *ks; ik += 2) {
				int m = ms[im], n1 = ns[in], n2 = ns[(in + 3) % SL_COUNT(ns)], k = ks[ik];
				int lda = k + 3, ldb1 = k + 5, ldb2 = k + 1, ldc = n1 + n2 + 2;
				float *a = randm(&r, (size_t)m * lda), *b1 = randm(&r, (size_t)n1 * ldb1);
				float *b2 = randm(&r, (size_t)n2 * ldb2), *bias1 = randm(&r, (size_t)n1);
				float *bias2 = randm(&r, (size_t)n2), *c1 = randm(&r, (size_t)m * ldc);
				float *c2 = malloc((size_t)m * ldc * sizeof *c2);
				memcpy(c2, c1, (size_t)m * ldc * sizeof *c2);
				sl_gemm_bias2(m, k, a, lda, n1, b1, ldb1, bias1, n2, b2, ldb2, bias2, c1, ldc);
				sl_gemm_bias(m, n1, k, a, lda, b1, ldb1, bias1, c2, ldc);
				sl_gemm_bias(m, n2, k, a, lda, b2, ldb2, bias2, c2 + n1, ldc);
				pcases++;
				psame += !memcmp(c1, c2, (size_t)m * ldc * sizeof *c1); /* the pad included */
				free(a);
				free(b1);
				free(b2);
				free(bias1);
				free(bias2);
				free(c1);
				free(c2);
			}
	TAP_OK(psame == pcases, "sl_gemm_bias2 equals sl_gemm_bias on each half of C: %d of %d", psame, pcases);

	TAP_OK(sl_gemm_select("openblas") == SL_OK && !strcmp(sl_gemm_name(), "openblas"), "select openblas");
	TAP_OK(sl_gemm_select("fast") == SL_ERR && strstr(sl_error(), "unknown kernel 'fast'"),
	       "an unknown kernel is refused: %s", sl_error());
	if (sl_gemm_available())
		TAP_OK(sl_gemm_select("seqlab") == SL_OK && !strcmp(sl_gemm_name(), "seqlab"), "select seqlab");
	else
		TAP_OK(sl_gemm_select("seqlab") == SL_ERR, "no vector kernel in this build: seqlab refused");
	TAP_OK(sl_gemm_select("auto") == SL_OK &&
		       !strcmp(sl_gemm_name(), sl_gemm_available() ? "seqlab" : "openblas"),
	       "auto picks %s", sl_gemm_name());
	return tap_done();
}
