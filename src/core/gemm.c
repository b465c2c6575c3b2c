/* gemm.c - seqlab's own single-precision matrix product for the skinny
 * shapes of its models, and the plain loop it must equal bit for bit.
 *
 * C (m, n) = alpha op(A) op(B) + beta C, row-major, with cblas_sgemm's
 * arguments. Every element is one sum started from zero and extended by a
 * fused multiply-add for k = 0, 1, ..., K-1 in that order, then scaled:
 *
 *   acc = 0; for k: acc = fmaf(A(i,k), B(k,j), acc);
 *   C(i,j) = beta == 0 ? alpha acc : alpha == 1 && beta == 1 ? C(i,j) + acc
 *          : fmaf(alpha, acc, beta C(i,j))
 *
 * so the result depends neither on the tiling, nor on the thread count, nor
 * on which BLAS kernels the machine has: sl_gemm_ref is that loop, and the
 * vector kernel does the same operations sixteen columns at a time.
 *
 * The vector kernel (AVX-512, when the compiler targets it) computes tiles of
 * MR <= 8 rows by 16 or 32 columns in registers: per k, one or two vectors of
 * B and MR broadcasts of A feed 2 MR fused multiply-adds. B is read in place
 * when its rows are the columns of C (tb = 0); a transposed B (the weights of
 * a linear layer) is first packed into 32-column panels. A long k (a weight
 * gradient, summed over thousands of rows) runs in blocks of KB rows, every
 * tile's sums parked in memory between blocks (the same chain of fma, so
 * the same bits). OpenBLAS does the
 * same with larger machinery; at these shapes (hundreds of rows, 16-256
 * columns, K of 64-256) the call overhead and packing of A dominate it. */
#include "ops_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

static inline float gemm_out(float alpha, float beta, float acc, const float *c)
{
	if (beta == 0.0f)
		return alpha * acc;
	if (alpha == 1.0f && beta == 1.0f)
		return *c + acc;
	return fmaf(alpha, acc, beta * *c);
}

/* sl_gemm_bias's plain form: the bias copied into each row of C, then
 * C + acc (beta = 1): each element bias_j + acc, one rounding. */
void sl_gemm_bias_ref(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
		      const float *bias, float *c, int ldc)
{
	for (int i = 0; i < m; i++)
		memcpy(c + (size_t)i * ldc, bias, (size_t)n * sizeof(float));
	sl_gemm_ref(0, 1, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, c, ldc);
}

/* sl_gemm_res's plain form: the product (with its bias, or alpha = 1 and
 * beta = 0: acc itself), then the residual added as sl_add adds it. */
void sl_gemm_res_ref(int m, int n, int k, const float *a, int lda, const float *b, int ldb, const float *bias,
		     const float *res, int ldr, float *c, int ldc)
{
	if (bias)
		sl_gemm_bias_ref(m, n, k, a, lda, b, ldb, bias, c, ldc);
	else
		sl_gemm_ref(0, 1, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++)
			c[(size_t)i * ldc + j] = res[(size_t)i * ldr + j] + c[(size_t)i * ldc + j];
}

/* sl_gemm_epi_run's plain form: the product (with its bias: tb = 1, alpha =
 * 1), then the epilogue once over all of C */
void sl_gemm_epi_ref(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
		     int ldb, float beta, const float *bias, float *c, int ldc, sl_gemm_epi epi, void *ectx)
{
	if (bias)
		sl_gemm_bias_ref(m, n, k, a, lda, b, ldb, bias, c, ldc);
	else
		sl_gemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	if (m > 0 && n > 0)
		epi(ectx, c, ldc, m, n);
}

/* sl_gemm_chain's plain form: sl_gemm_ref's loop over one stretch of k,
 * each element's sum parked at park[i n + j] between stretches */
void sl_gemm_chain_ref(int ta, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
		       float beta, float *c, int ldc, float *park, int first, int last)
{
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			float acc = first ? 0.0f : park[(size_t)i * n + j];
			for (int p = 0; p < k; p++) {
				float x = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
				acc = fmaf(x, b[(size_t)p * ldb + j], acc);
			}
			float *cij = c + (size_t)i * ldc + j;
			if (last)
				*cij = gemm_out(alpha, beta, acc, cij);
			else
				park[(size_t)i * n + j] = acc;
		}
}

/* sl_gemm_bias2's plain form: sl_gemm_bias_ref on each half of C */
void sl_gemm_bias2_ref(int m, int k, const float *a, int lda, int n1, const float *b1, int ldb1, const float *bias1,
		       int n2, const float *b2, int ldb2, const float *bias2, float *c, int ldc)
{
	sl_gemm_bias_ref(m, n1, k, a, lda, b1, ldb1, bias1, c, ldc);
	sl_gemm_bias_ref(m, n2, k, a, lda, b2, ldb2, bias2, c + n1, ldc);
}

void sl_gemm_ref(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
		 const float *b, int ldb, float beta, float *c, int ldc)
{
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			float acc = 0.0f;
			for (int p = 0; p < k; p++) {
				float x = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
				float y = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
				acc = fmaf(x, y, acc);
			}
			float *cij = c + (size_t)i * ldc + j;
			*cij = gemm_out(alpha, beta, acc, cij);
		}
}

#if defined(__AVX512F__)

int sl_gemm_available(void)
{
	return 1;
}

#define GEMM_INLINE static inline __attribute__((always_inline))
#define NR 32
#define KB 256 /* rows of k per block when k exceeds 2 KB */
#define EPI_ROWS 16 /* rows of C per epilogue call */

/* Stores v into 16 columns of C (mask: those that exist) with the epilogue;
 * with a bias (sl_gemm_bias: alpha = beta = 1), bias + v in place of C + v;
 * with a residual (sl_gemm_res), res + (bias + v) or res + v: the sum a
 * separate sl_add of the stored product would make. */
GEMM_INLINE void store16(float *c, __m512 v, __mmask16 mask, float alpha, float beta, const float *bias,
			 const float *res)
{
	if (res) {
		if (bias)
			v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, bias), v);
		_mm512_mask_storeu_ps(c, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, res), v));
	} else if (bias) {
		_mm512_mask_storeu_ps(c, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, bias), v));
	} else if (beta == 0.0f) {
		_mm512_mask_storeu_ps(c, mask, _mm512_mul_ps(_mm512_set1_ps(alpha), v));
	} else if (alpha == 1.0f && beta == 1.0f) {
		_mm512_mask_storeu_ps(c, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, c), v));
	} else {
		__m512 old = _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mask, c));
		_mm512_mask_storeu_ps(c, mask, _mm512_fmadd_ps(_mm512_set1_ps(alpha), v, old));
	}
}

/* One tile: MR rows from i0, NV vectors of 16 columns from j0 (m0, m1: the
 * columns that exist). A(i, p) is at a[i*ars + p*aks]; B's row p of the tile
 * at b + p*bks, in place or in a packed panel (bks = NR). full: load
 * whole vectors (a panel is padded with zeros); else masked loads (m0, m1)
 * for B in place at a ragged edge. first: the sums start at zero, else from
 * the parked ones at ab (MR rows of NR floats); last: the epilogue into C,
 * else the sums are parked at ab for the next block of k. */
GEMM_INLINE void tile(const int MR, const int NV, int k, const float *a, size_t ars, size_t aks,
		      const float *b, size_t bks, const int full, __mmask16 m0, __mmask16 m1,
		      float alpha, float beta, const float *bias, const float *res, int ldr, float *c, int ldc, float *ab,
		      int first, int last)
{
	__m512 acc[8][2];
	for (int r = 0; r < MR; r++)
		for (int v = 0; v < NV; v++)
			acc[r][v] = first ? _mm512_setzero_ps() : _mm512_load_ps(ab + r * NR + v * 16);
	for (int p = 0; p < k; p++) {
		const float *bp = b + (size_t)p * bks;
		__m512 b0, b1 = _mm512_setzero_ps();
		if (full) {
			b0 = _mm512_loadu_ps(bp);
			if (NV == 2)
				b1 = _mm512_loadu_ps(bp + 16);
		} else {
			b0 = _mm512_maskz_loadu_ps(m0, bp);
			if (NV == 2)
				b1 = _mm512_maskz_loadu_ps(m1, bp + 16);
		}
		const float *ap = a + (size_t)p * aks;
		for (int r = 0; r < MR; r++) {
			__m512 x = _mm512_set1_ps(ap[(size_t)r * ars]);
			acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
			if (NV == 2)
				acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
		}
	}
	if (!last) { /* the sums so far, exactly, for the next block of k */
		for (int r = 0; r < MR; r++)
			for (int v = 0; v < NV; v++)
				_mm512_store_ps(ab + r * NR + v * 16, acc[r][v]);
		return;
	}
	for (int r = 0; r < MR; r++) {
		const float *rr = res ? res + (size_t)r * ldr : NULL;
		store16(c + (size_t)r * ldc, acc[r][0], m0, alpha, beta, bias, rr);
		if (NV == 2)
			store16(c + (size_t)r * ldc + 16, acc[r][1], m1, alpha, beta, bias ? bias + 16 : NULL,
				rr ? rr + 16 : NULL);
	}
}

#define TILE_ROWS(NV, PK)                                                                              \
	switch (mr) {                                                                              \
	case 8: tile(8, NV, kk, ai, ars, aks, bj, bks, PK, m0, m1, alpha, beta, bj_bias, rij, ldr, cij, ldc, ab, first, last); break; \
	case 7: tile(7, NV, kk, ai, ars, aks, bj, bks, PK, m0, m1, alpha, beta, bj_bias, rij, ldr, cij, ldc, ab, first, last); break; \
	case 6: tile(6, NV, kk, ai, ars, aks, bj, bks, PK, m0, m1, alpha, beta, bj_bias, rij, ldr, cij, ldc, ab, first, last); break; \
	case 5: tile(5, NV, kk, ai, ars, aks, bj, bks, PK, m0, m1, alpha, beta, bj_bias, rij, ldr, cij, ldc, ab, first, last); break; \
	case 4: tile(4, NV, kk, ai, ars, aks, bj, bks, PK, m0, m1, alpha, beta, bj_bias, rij, ldr, cij, ldc, ab, first, last); break; \
	case 3: tile(3, NV, kk, ai, ars, aks, bj, bks, PK, m0, m1, alpha, beta, bj_bias, rij, ldr, cij, ldc, ab, first, last); break; \
	case 2: tile(2, NV, kk, ai, ars, aks, bj, bks, PK, m0, m1, alpha, beta, bj_bias, rij, ldr, cij, ldc, ab, first, last); break; \
	default: tile(1, NV, kk, ai, ars, aks, bj, bks, PK, m0, m1, alpha, beta, bj_bias, rij, ldr, cij, ldc, ab, first, last); break; \
	}

static inline __mmask16 cols_mask(int cols)
{
	return cols >= 16 ? (__mmask16)0xffff : cols <= 0 ? 0 : (__mmask16)((1u << cols) - 1);
}

/* B transposed (n, k) into panels of NR columns: panel q holds rows p of
 * columns [q NR, q NR + NR), zero past n; columns from n1 on are those of
 * a second matrix b2 (n - n1 rows of k, stride ldb2), as if it were
 * stacked under b. Sixteen rows of B by sixteen of k at a time, transposed
 * in registers (sl_transpose16): whole-vector loads and stores, where an
 * element at a time was most of the cost of a small product. */
static void pack_bt(int n, int k, const float *b, int ldb, int n1, const float *b2, int ldb2, float *bp)
{
	for (int q = 0; q * NR < n; q++) {
		float *dst = bp + (size_t)q * k * NR;
		for (int h = 0; h < NR / 16; h++) {
			int j0 = q * NR + 16 * h, rows = n - j0 < 0 ? 0 : n - j0 > 16 ? 16 : n - j0;
			const float *src[16];
			for (int i = 0; i < rows; i++) {
				int col = j0 + i;
				src[i] = col < n1 ? b + (size_t)col * ldb : b2 + (size_t)(col - n1) * ldb2;
			}
			for (int p0 = 0; p0 < k; p0 += 16) {
				int np = k - p0 < 16 ? k - p0 : 16;
				__mmask16 m = cols_mask(np);
				__m512 r[16];
				for (int i = 0; i < 16; i++)
					r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src[i] + p0) : _mm512_setzero_ps();
				if (rows)
					sl_transpose16(r);
				for (int c = 0; c < np; c++)
					_mm512_store_ps(dst + (size_t)(p0 + c) * NR + 16 * h, r[c]);
			}
		}
	}
}

/* One tile of C: rows [i0, i0 + mr), columns [j0, j0 + cols) (at most NR),
 * over the block [p0, p0 + kk) of k. B's panel at bj: packed (rows of NR),
 * or in place (row stride ldb). */
static void gemm_tile(int mr, int cols, int kk, const float *ai, size_t ars, size_t aks, const float *bj,
		      int packed, size_t ldb, float alpha, float beta, const float *bj_bias, const float *rij, int ldr,
		      float *cij, int ldc, float *ab, int first, int last)
{
	__mmask16 m0 = cols_mask(cols), m1 = cols_mask(cols - 16);
	size_t bks = packed ? NR : ldb;
	/* full loads from a packed panel or from whole 16-column vectors of B
	 * in place; masked ones for a ragged edge */
	int full = packed || cols == NR || cols == 16;
	if (full && cols > 16) {
		TILE_ROWS(2, 1)
	} else if (full) {
		TILE_ROWS(1, 1)
	} else if (cols > 16) {
		TILE_ROWS(2, 0)
	} else {
		TILE_ROWS(1, 0)
	}
}

/* C = alpha op(A) B + beta C (or bias + A B: alpha = beta = 1; with a
 * residual, res + that: sl_gemm_res) with B as packed panels (bp: panel q
 * at bp + q k NR) or in place (b, ldb); epi, when set, over each block of
 * EPI_ROWS rows of C once they are final. park: NULL for the whole product;
 * else this call is one stretch of a longer k (sl_gemm_chain, no res or
 * epi): its sums start from zero (first) or from the floats parked there by
 * the stretch before, and end in C (last) or parked. */
static void gemm_core(int ta, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
		      int ldb, const float *bp, float beta, const float *bias, const float *res, int ldr, float *c,
		      int ldc, sl_gemm_epi epi, void *ectx, float *park, int first_call, int last_call)
{
	size_t ars = ta ? 1 : (size_t)lda, aks = ta ? (size_t)lda : 1;
	int packed = bp != NULL;
	/* a long k (a weight gradient's sum over the rows) in blocks of KB: every
	 * tile takes one block, its sums parked in abuf, then the next block, so
	 * the block's rows of A and B stay in cache across the tiles instead of
	 * being streamed once per tile. The parked sums are the floats the
	 * registers held: the same fma chain, the same bits. */
	int kb = k > 2 * KB ? KB : k;
	int npan = (n + NR - 1) / NR;
	/* with an epilogue, EPI_ROWS rows at a time through every panel, then the
	 * epilogue over those rows whole: contiguous rows of its side arrays,
	 * which the processor prefetches, where a tile's are 128 bytes a row */
	int mb = epi ? EPI_ROWS : m;
	if (kb == k && !park && (size_t)npan * k * NR * sizeof(float) <= 32768) {
		/* one block and a B that fits the L1 cache (a layer's weights): rows
		 * of tiles outermost, so a tile's rows of A stay in cache across
		 * the panels of B, where panels outermost read all of A from
		 * farther out once per panel */
		for (int i1 = 0; i1 < m; i1 += mb) {
			int i1end = m - i1 < mb ? m : i1 + mb;
			for (int i0 = i1; i0 < i1end; i0 += 8) {
				int mr = i1end - i0 < 8 ? i1end - i0 : 8;
				const float *ai = a + (size_t)i0 * ars;
				for (int j0 = 0; j0 < n; j0 += NR) {
					int cols = n - j0 < NR ? n - j0 : NR;
					const float *bj = packed ? bp + (size_t)(j0 / NR) * k * NR : b + j0;
					gemm_tile(mr, cols, k, ai, ars, aks, bj, packed, (size_t)ldb, alpha, beta,
						  bias ? bias + j0 : NULL, res ? res + (size_t)i0 * ldr + j0 : NULL, ldr,
						  c + (size_t)i0 * ldc + j0, ldc, NULL, 1, 1);
				}
			}
			if (epi) /* the block's final values, still in cache */
				epi(ectx, c + (size_t)i1 * ldc, ldc, i1end - i1, n);
		}
		return;
	}
	float *abuf = park ? park : kb < k ? sl_xaligned((size_t)((m + 7) / 8) * npan * 8 * NR * sizeof(float)) : NULL;
	for (int i1 = 0; i1 < m; i1 += mb) {
		int i1end = m - i1 < mb ? m : i1 + mb;
		int p0 = 0, last;
		do {
			int kk = k - p0 < kb ? k - p0 : kb, first = first_call && p0 == 0;
			last = p0 + kk >= k;
			for (int j0 = 0; j0 < n; j0 += NR) {
				int cols = n - j0 < NR ? n - j0 : NR;
				size_t bks = packed ? NR : (size_t)ldb;
				const float *bj = (packed ? bp + (size_t)(j0 / NR) * k * NR : b + j0) + (size_t)p0 * bks;
				for (int i0 = i1; i0 < i1end; i0 += 8) {
					int mr = i1end - i0 < 8 ? i1end - i0 : 8;
					const float *ai = a + (size_t)i0 * ars + (size_t)p0 * aks;
					float *ab = abuf ? abuf + ((size_t)(i0 / 8) * npan + (size_t)(j0 / NR)) * 8 * NR : NULL;
					gemm_tile(mr, cols, kk, ai, ars, aks, bj, packed, (size_t)ldb, alpha, beta,
						  bias ? bias + j0 : NULL, res ? res + (size_t)i0 * ldr + j0 : NULL, ldr,
						  c + (size_t)i0 * ldc + j0, ldc, ab, first, last && last_call);
				}
			}
			p0 += kk;
		} while (!last);
		if (epi)
			epi(ectx, c + (size_t)i1 * ldc, ldc, i1end - i1, n);
	}
	if (!park)
		free(abuf);
}

static void gemm_run(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
		     const float *b, int ldb, float beta, const float *bias, const float *res, int ldr, float *c,
		     int ldc, sl_gemm_epi epi, void *ectx)
{
	if (m <= 0 || n <= 0)
		return;
	float *bp = NULL;
	if (tb) {
		bp = sl_xaligned((size_t)((n + NR - 1) / NR) * (size_t)(k ? k : 1) * NR * sizeof(float));
		pack_bt(n, k, b, ldb, n, NULL, 0, bp);
	}
	gemm_core(ta, m, n, k, alpha, a, lda, b, ldb, bp, beta, bias, res, ldr, c, ldc, epi, ectx, NULL, 1, 1);
	free(bp);
}

void sl_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
	     const float *b, int ldb, float beta, float *c, int ldc)
{
	gemm_run(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, NULL, NULL, 0, c, ldc, NULL, NULL);
}

void sl_gemm_bias(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
		  const float *bias, float *c, int ldc)
{
	gemm_run(0, 1, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, bias, NULL, 0, c, ldc, NULL, NULL);
}

void sl_gemm_res(int m, int n, int k, const float *a, int lda, const float *b, int ldb, const float *bias,
		 const float *res, int ldr, float *c, int ldc)
{
	gemm_run(0, 1, m, n, k, 1.0f, a, lda, b, ldb, bias ? 1.0f : 0.0f, bias, res, ldr, c, ldc, NULL, NULL);
}

void sl_gemm_epi_run(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
		     int ldb, float beta, const float *bias, float *c, int ldc, sl_gemm_epi epi, void *ectx)
{
	gemm_run(ta, tb, m, n, k, alpha, a, lda, b, ldb, bias ? 1.0f : beta, bias, NULL, 0, c, ldc, epi, ectx);
}

size_t sl_gemm_park_floats(int m, int n)
{
	return (size_t)((m + 7) / 8) * (size_t)((n + NR - 1) / NR) * 8 * NR;
}

void sl_gemm_chain(int ta, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
		   float beta, float *c, int ldc, float *park, int first, int last)
{
	if (m <= 0 || n <= 0)
		return;
	gemm_core(ta, m, n, k, alpha, a, lda, b, ldb, NULL, beta, NULL, NULL, 0, c, ldc, NULL, NULL, park, first, last);
}

void sl_gemm_bias2(int m, int k, const float *a, int lda, int n1, const float *b1, int ldb1, const float *bias1,
		   int n2, const float *b2, int ldb2, const float *bias2, float *c, int ldc)
{
	int n = n1 + n2;
	if (m <= 0 || n <= 0)
		return;
	float *bp = sl_xaligned((size_t)((n + NR - 1) / NR) * (size_t)(k ? k : 1) * NR * sizeof(float) +
				(size_t)n * sizeof(float));
	float *bias = bp + (size_t)((n + NR - 1) / NR) * (size_t)(k ? k : 1) * NR;
	pack_bt(n, k, b1, ldb1, n1, b2, ldb2, bp);
	memcpy(bias, bias1, (size_t)n1 * sizeof(float));
	memcpy(bias + n1, bias2, (size_t)n2 * sizeof(float));
	gemm_core(0, m, n, k, 1.0f, a, lda, NULL, 0, bp, 1.0f, bias, NULL, 0, c, ldc, NULL, NULL, NULL, 1, 1);
	free(bp);
}

#else /* no AVX-512: the plain loop, and callers use OpenBLAS instead */

int sl_gemm_available(void)
{
	return 0;
}

void sl_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
	     const float *b, int ldb, float beta, float *c, int ldc)
{
	sl_gemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void sl_gemm_bias(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
		  const float *bias, float *c, int ldc)
{
	sl_gemm_bias_ref(m, n, k, a, lda, b, ldb, bias, c, ldc);
}

void sl_gemm_res(int m, int n, int k, const float *a, int lda, const float *b, int ldb, const float *bias,
		 const float *res, int ldr, float *c, int ldc)
{
	sl_gemm_res_ref(m, n, k, a, lda, b, ldb, bias, res, ldr, c, ldc);
}

void sl_gemm_epi_run(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
		     int ldb, float beta, const float *bias, float *c, int ldc, sl_gemm_epi epi, void *ectx)
{
	sl_gemm_epi_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, bias, c, ldc, epi, ectx);
}

size_t sl_gemm_park_floats(int m, int n)
{
	return (size_t)m * (size_t)n;
}

void sl_gemm_chain(int ta, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
		   float beta, float *c, int ldc, float *park, int first, int last)
{
	sl_gemm_chain_ref(ta, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, park, first, last);
}

void sl_gemm_bias2(int m, int k, const float *a, int lda, int n1, const float *b1, int ldb1, const float *bias1,
		   int n2, const float *b2, int ldb2, const float *bias2, float *c, int ldc)
{
	sl_gemm_bias2_ref(m, k, a, lda, n1, b1, ldb1, bias1, n2, b2, ldb2, bias2, c, ldc);
}

#endif
