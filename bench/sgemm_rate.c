/* sgemm_rate.c - the machine's cblas_sgemm rate at the shapes seqlab's models
 * use, the number their matmul floor is computed from (DESIGN.md sections 2
 * and 7, bench/RESULTS.md).
 *
 *   bench_models shapes [options] | sgemm_rate [-j THREADS] [-r REPEATS] [-f FILE]
 *   sgemm_rate [-j THREADS] [-r REPEATS]          (no input: the built-in shapes)
 *
 * Input: lines "ta tb M N K" (row-major C (M, N) = op(A) op(B), op a
 * transpose when its flag is 1), one per call, in the order a training step
 * makes them; lines starting with '#' are comments, and a "words=N" in one
 * says how many words the calls train (then the floor in words/s is printed
 * too). Without input, the DESIGN.md shapes: the Transformer's H=64 linears
 * at 2560 rows.
 *
 * It replays the whole list REPEATS times (default 5) and keeps the fastest
 * replay, three ways:
 *   own       OpenBLAS single-threaded, M split over THREADS threads of
 *             seqlab's pool with seqlab's fixed partition (what op_linear.c
 *             does; calls under 32768 multiply-adds run serially as there);
 *   seqlab    the same split with seqlab's own kernel (sl_gemm) instead of
 *             OpenBLAS, where the build has one (AVX-512);
 *   openblas  (THREADS > 1 only) OpenBLAS's own threading on each whole call.
 * Output, one key=value line each:
 *   split=own threads=2 calls=... gflop=... seconds=... gflops=... [floor_wps=...]
 * floor_wps = words / seconds: the words/s a training step would reach if it
 * did nothing but its sgemm calls. */
#include "seqlab/ops.h"
#include "seqlab/pool.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void openblas_set_num_threads(int num_threads);

#define PAR_MIN_WORK 32768 /* SL_PAR_MIN_WORK of src/core/ops_impl.h */

typedef struct call {
	int ta, tb, M, N, K;
} call;

typedef struct calls {
	call *c;
	int n, cap;
	double words;
	size_t amax, bmax, cmax; /* largest operand, in floats */
} calls;

static void add(calls *cs, int ta, int tb, int M, int N, int K)
{
	if (cs->n == cs->cap) {
		cs->cap = cs->cap ? 2 * cs->cap : 256;
		cs->c = sl_xrealloc(cs->c, (size_t)cs->cap * sizeof *cs->c);
	}
	cs->c[cs->n++] = (call){ ta, tb, M, N, K };
	cs->amax = SL_MAX(cs->amax, (size_t)M * K);
	cs->bmax = SL_MAX(cs->bmax, (size_t)K * N);
	cs->cmax = SL_MAX(cs->cmax, (size_t)M * N);
}

static int read_calls(FILE *f, calls *cs)
{
	char line[512];
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#') {
			const char *w = strstr(line, "words=");
			if (w)
				cs->words = atof(w + 6);
			continue;
		}
		int ta, tb, M, N, K;
		if (sscanf(line, "%d %d %d %d %d", &ta, &tb, &M, &N, &K) != 5 || M < 1 || N < 1 || K < 1) {
			if (strspn(line, " \t\r\n") == strlen(line))
				continue;
			fprintf(stderr, "sgemm_rate: bad line: %s", line);
			return -1;
		}
		add(cs, ta != 0, tb != 0, M, N, K);
	}
	return 0;
}

/* The DESIGN.md shapes: one H=64, MLP 4H linear layer's forward, dx and dW at
 * 2560 rows, for both the square and the MLP projections. */
static void builtin(calls *cs)
{
	int R = 2560, H = 64, io[3][2] = { { H, H }, { H, 4 * H }, { 4 * H, H } };
	for (int i = 0; i < 3; i++) {
		int ni = io[i][0], no = io[i][1];
		add(cs, 0, 1, R, no, ni);
		add(cs, 0, 0, R, ni, no);
		add(cs, 1, 0, no, ni, R);
	}
}

typedef struct job {
	const call *c;
	const float *a, *b;
	float *out;
} job;

static int seqlab_kernel; /* replay with sl_gemm instead of cblas_sgemm */

/* rows [lo, hi) of C: the same rows of op(A) */
static void rows(void *arg, size_t lo, size_t hi)
{
	const job *j = arg;
	const call *c = j->c;
	int lda = c->ta ? c->M : c->K, ldb = c->tb ? c->K : c->N;
	const float *a = c->ta ? j->a + lo : j->a + lo * (size_t)lda;
	if (seqlab_kernel)
		sl_gemm(c->ta, c->tb, (int)(hi - lo), c->N, c->K, 1.0f, a, lda, j->b, ldb, 1.0f,
			j->out + lo * (size_t)c->N, c->N);
	else
		cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans, c->tb ? CblasTrans : CblasNoTrans,
			    (int)(hi - lo), c->N, c->K, 1.0f, a, lda, j->b, ldb, 1.0f, j->out + lo * (size_t)c->N,
			    c->N);
}

/* One replay of every call; returns its wall time. */
static double replay(const calls *cs, sl_pool *pool, const float *a, const float *b, float *out)
{
	double t0 = sl_now();
	for (int i = 0; i < cs->n; i++) {
		job j = { &cs->c[i], a, b, out };
		const call *c = j.c;
		if (!pool || (size_t)c->M * c->N * c->K < PAR_MIN_WORK)
			rows(&j, 0, (size_t)c->M);
		else
			sl_pool_for(pool, (size_t)c->M, rows, &j);
	}
	return sl_now() - t0;
}

static void report(const char *split, int threads, const calls *cs, int repeats, const float *a, const float *b,
		   float *out, sl_pool *pool)
{
	double flop = 0, best = 1e30;
	for (int i = 0; i < cs->n; i++)
		flop += 2.0 * cs->c[i].M * cs->c[i].N * cs->c[i].K;
	replay(cs, pool, a, b, out); /* warm up: pages, threads, caches */
	for (int r = 0; r < repeats; r++) {
		double t = replay(cs, pool, a, b, out);
		if (t < best)
			best = t;
	}
	printf("split=%s threads=%d calls=%d gflop=%.4f seconds=%.6f gflops=%.2f", split, threads, cs->n, flop / 1e9,
	       best, flop / best / 1e9);
	if (cs->words > 0)
		printf(" words=%.0f floor_wps=%.1f", cs->words, cs->words / best);
	printf("\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int threads = 1, repeats = 5, c;
	const char *file = NULL;
	while ((c = getopt(argc, argv, "j:r:f:")) != -1) {
		switch (c) {
		case 'j': threads = atoi(optarg); break;
		case 'r': repeats = atoi(optarg); break;
		case 'f': file = optarg; break;
		default:
			fprintf(stderr, "usage: sgemm_rate [-j THREADS] [-r REPEATS] [-f FILE|-]\n");
			return 2;
		}
	}
	if (threads < 1 || repeats < 1) {
		fprintf(stderr, "sgemm_rate: -j and -r take a positive number\n");
		return 2;
	}
	calls cs = { 0 };
	if (!file && isatty(0))
		builtin(&cs);
	else {
		FILE *f = !file || strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
		if (!f) {
			perror(file);
			return 1;
		}
		if (read_calls(f, &cs) != 0)
			return 1;
		if (f != stdin)
			fclose(f);
		if (cs.n == 0)
			builtin(&cs);
	}
	/* operands: arbitrary values in [-1, 1); one buffer per role, reused */
	float *a = sl_xaligned(cs.amax * sizeof(float)), *b = sl_xaligned(cs.bmax * sizeof(float));
	float *out = sl_xaligned(cs.cmax * sizeof(float));
	for (size_t i = 0; i < cs.amax; i++)
		a[i] = (float)((i * 2654435761u) % 2048) / 1024.0f - 1.0f;
	for (size_t i = 0; i < cs.bmax; i++)
		b[i] = (float)((i * 40503u) % 2048) / 1024.0f - 1.0f;
	memset(out, 0, cs.cmax * sizeof(float));

	openblas_set_num_threads(1);
	sl_pool *pool = threads > 1 ? sl_pool_new(threads) : NULL;
	report("own", threads, &cs, repeats, a, b, out, pool);
	if (sl_gemm_available()) {
		seqlab_kernel = 1;
		report("seqlab", threads, &cs, repeats, a, b, out, pool);
		seqlab_kernel = 0;
	}
	sl_pool_free(pool);
	if (threads > 1) {
		openblas_set_num_threads(threads);
		report("openblas", threads, &cs, repeats, a, b, out, NULL);
	}
	free(a);
	free(b);
	free(out);
	free(cs.c);
	return 0;
}
