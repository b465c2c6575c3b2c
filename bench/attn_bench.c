/* attn_bench.c - the fused attention op (src/core/op_attention.c) forward and
 * backward at the shapes seqlab's models give it, against the matrix
 * kernel's rate (sl_gemm) on the same products (issue 19, item 2).
 *
 *   bench/attn_bench [-j THREADS] [-r REPEATS] [-c CASE]
 *
 * For each case (B, Tq, Tk, heads, head dim, causal, window) it times
 * sl_attention forward and the tape's backward through it, REPEATS times
 * (default 50): the backward as the op's own (sl_ops[].backward on the
 * tape's node, the gradients of q, k and v fresh as a model's projections
 * give them, without the tape's seeding pass); it prints the fastest and
 * the median, in ms, with
 *   useful GFLOP/s: the products' multiply-adds a query's visible keys need
 *     (2 Dh per pair for each of S = QK^T, O = PV forward and dP, dQ, dK,
 *     dV backward), over the time: what the kernel really computes;
 *   dense GFLOP/s: the same with every (query, key) pair counted, as the
 *     benchmark's floor counts attention (bench/RESULTS.md);
 *   gemm GFLOP/s: sl_gemm on one head's six products at dense shapes
 *     (Tq x Tk x Dh and so on, contiguous operands), B x heads of them split
 *     over the threads as the attention is: the matrix kernel's rate there;
 *   frac = useful / gemm (1 would be the kernel's rate on the useful work).
 * One line per case:
 *   case=gpt B=64 Tq=64 Tk=64 H=1 Dh=64 causal=1 threads=1 fwd_ms=... bwd_ms=...
 *     total_ms=... med_ms=... useful_gflops=... dense_gflops=... gemm_gflops=... frac=... */
#include "seqlab/ops.h"
#include "seqlab/pool.h"
#include "seqlab/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct bcase {
	const char *name;
	int B, Tq, Tk, H, Dh, causal, window;
} bcase;

static const bcase cases[] = {
	{ "gpt", 64, 64, 64, 1, 64, 1, 0 },             /* recall, bench_models -m gpt */
	{ "gpt-b8", 8, 64, 64, 1, 64, 1, 0 },           /* the same, in L2 */
	{ "charlm", 12, 64, 64, 4, 32, 1, 0 },          /* sessions/charlm-nanogpt.sl */
	{ "griffin", 64, 64, 64, 4, 16, 1, 64 },        /* griffin pattern=RA hidden=64 */
	{ "tfm-enc", 64, 9, 9, 8, 8, 0, 0 },            /* Pig-Latin Transformer, self */
	{ "tfm-dec", 64, 12, 12, 8, 8, 1, 0 },          /* its decoder's causal self */
	{ "tfm-cross", 64, 12, 9, 8, 8, 0, 0 },         /* its cross attention */
	{ "recall128", 64, 128, 128, 1, 64, 1, 0 },     /* recall-lengths at L=128 */
	{ "charlm256", 12, 256, 256, 4, 32, 1, 0 },     /* the char LM at ctx=256 */
	{ "odd-T", 64, 60, 60, 1, 64, 1, 0 },           /* T % 8 != 0 */
	{ "full64", 64, 64, 64, 1, 64, 0, 0 },          /* no mask */
};

static sl_tensor *input(sl_rng *r, int B, int T, int D)
{
	sl_tensor *t = calloc(1, sizeof *t);
	int shape[3] = { B, T, D };
	size_t n = sl_shape_set(t, 3, shape);
	t->data = malloc(n * sizeof(float));
	t->requires_grad = 1;
	for (size_t i = 0; i < n; i++)
		t->data[i] = 2 * sl_rng_float(r) - 1;
	return t;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* the six products of one head at dense shapes, contiguous */
typedef struct gemm_ctx {
	int Tq, Tk, Dh;
	float *q, *k, *v, *s, *o, *dq;
} gemm_ctx;

static void gemm_heads(void *arg, size_t lo, size_t hi)
{
	gemm_ctx *g = arg;
	int Tq = g->Tq, Tk = g->Tk, Dh = g->Dh;
	for (size_t i = lo; i < hi; i++) {
		sl_gemm(0, 1, Tq, Tk, Dh, 1, g->q, Dh, g->k, Dh, 0, g->s, Tk);  /* S = Q K^T */
		sl_gemm(0, 0, Tq, Dh, Tk, 1, g->s, Tk, g->v, Dh, 0, g->o, Dh);  /* O = P V */
		sl_gemm(0, 1, Tq, Tk, Dh, 1, g->o, Dh, g->v, Dh, 0, g->s, Tk);  /* dP = dO V^T */
		sl_gemm(0, 0, Tq, Dh, Tk, 1, g->s, Tk, g->k, Dh, 0, g->dq, Dh); /* dQ = dS K */
		sl_gemm(1, 0, Tk, Dh, Tq, 1, g->s, Tk, g->q, Dh, 0, g->dq, Dh); /* dK = dS^T Q */
		sl_gemm(1, 0, Tk, Dh, Tq, 1, g->s, Tk, g->o, Dh, 0, g->dq, Dh); /* dV = P^T dO */
	}
}

int main(int argc, char **argv)
{
	int threads = 1, reps = 50, c;
	const char *only = NULL;
	while ((c = getopt(argc, argv, "j:r:c:")) != -1) {
		if (c == 'j')
			threads = atoi(optarg);
		else if (c == 'r')
			reps = atoi(optarg);
		else if (c == 'c')
			only = optarg;
		else {
			fprintf(stderr, "usage: attn_bench [-j THREADS] [-r REPEATS] [-c CASE]\n");
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;
	sl_pool *pool = sl_pool_new(threads);
	sl_arena *arena = sl_arena_new(64u << 20);
	sl_tape *tp = sl_tape_new(arena, pool);
	double *tf = malloc((size_t)reps * sizeof *tf), *tb = malloc((size_t)reps * sizeof *tb),
	       *tt = malloc((size_t)reps * sizeof *tt);
	for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
		const bcase *bc = &cases[ci];
		if (only && strcmp(only, bc->name))
			continue;
		int D = bc->H * bc->Dh;
		sl_rng r;
		sl_rng_seed(&r, 7);
		sl_tensor *q = input(&r, bc->B, bc->Tq, D), *k = input(&r, bc->B, bc->Tk, D),
			  *v = input(&r, bc->B, bc->Tk, D);
		sl_tensor *ts[3] = { q, k, v };
		size_t no = (size_t)bc->B * bc->Tq * D;
		float *dout = malloc(no * sizeof *dout);
		for (size_t i = 0; i < no; i++)
			dout[i] = 2 * sl_rng_float(&r) - 1;
		float scale = 1.0f / sqrtf((float)bc->Dh);
		/* the visible (query, key) pairs */
		double pairs = 0;
		for (int i = 0; i < bc->Tq; i++) {
			int hi = bc->Tk, lo = 0;
			if (bc->causal) {
				hi = i + bc->Tk - bc->Tq + 1;
				if (bc->window > 0 && hi - bc->window > 0)
					lo = hi - bc->window;
			}
			pairs += hi - lo;
		}
		double heads = (double)bc->B * bc->H;
		double useful = 6 * 2.0 * bc->Dh * pairs * heads, dense = 6 * 2.0 * bc->Dh * bc->Tq * bc->Tk * heads;
		for (int rep = -3; rep < reps; rep++) {
			sl_tape_reset(tp);
			double t0 = sl_now();
			sl_tensor *o = sl_attention(tp, q, k, v, bc->H, bc->causal, bc->window, scale, NULL);
			double t1 = sl_now();
			/* the op's backward alone, its gradients fresh (as from
			 * projections in a model): no seed pass of the tape */
			o->grad = dout;
			for (int i = 0; i < 3; i++)
				ts[i]->grad = NULL;
			double t1b = sl_now();
			sl_ops[SL_OP_ATTENTION].backward(tp, &tp->nodes[tp->n - 1]);
			double t2 = sl_now();
			t2 -= t1b - t1;
			if (rep >= 0) {
				tf[rep] = t1 - t0;
				tb[rep] = t2 - t1;
				tt[rep] = t2 - t0;
			}
		}
		qsort(tf, (size_t)reps, sizeof *tf, cmp);
		qsort(tb, (size_t)reps, sizeof *tb, cmp);
		qsort(tt, (size_t)reps, sizeof *tt, cmp);
		/* sl_gemm on the same products, dense */
		int Tm = bc->Tq > bc->Tk ? bc->Tq : bc->Tk;
		gemm_ctx g = { .Tq = bc->Tq, .Tk = bc->Tk, .Dh = bc->Dh };
		g.q = sl_xaligned((size_t)Tm * bc->Dh * sizeof(float));
		g.k = sl_xaligned((size_t)Tm * bc->Dh * sizeof(float));
		g.v = sl_xaligned((size_t)Tm * bc->Dh * sizeof(float));
		g.o = sl_xaligned((size_t)Tm * bc->Dh * sizeof(float));
		g.dq = sl_xaligned((size_t)Tm * bc->Dh * sizeof(float));
		g.s = sl_xaligned((size_t)bc->Tq * bc->Tk * sizeof(float));
		for (int i = 0; i < Tm * bc->Dh; i++)
			g.q[i] = g.k[i] = g.v[i] = g.o[i] = 2 * sl_rng_float(&r) - 1;
		for (int i = 0; i < bc->Tq * bc->Tk; i++)
			g.s[i] = sl_rng_float(&r);
		double gbest = 1e30;
		for (int rep = -3; rep < reps; rep++) {
			double t0 = sl_now();
			if (threads > 1)
				sl_pool_for(pool, (size_t)heads, gemm_heads, &g);
			else
				gemm_heads(&g, 0, (size_t)heads);
			double t = sl_now() - t0;
			gbest = rep >= 0 && t < gbest ? t : gbest;
		}
		double best = tt[0];
		printf("case=%s B=%d Tq=%d Tk=%d H=%d Dh=%d causal=%d window=%d threads=%d fwd_ms=%.4f bwd_ms=%.4f "
		       "total_ms=%.4f med_ms=%.4f useful_gflops=%.1f dense_gflops=%.1f gemm_gflops=%.1f frac=%.3f\n",
		       bc->name, bc->B, bc->Tq, bc->Tk, bc->H, bc->Dh, bc->causal, bc->window, threads, 1e3 * tf[0],
		       1e3 * tb[0], 1e3 * best, 1e3 * tt[reps / 2], useful / best * 1e-9, dense / best * 1e-9,
		       dense / gbest * 1e-9, (useful / best) / (dense / gbest));
		fflush(stdout);
		free(g.q);
		free(g.k);
		free(g.v);
		free(g.o);
		free(g.dq);
		free(g.s);
		free(dout);
		for (int i = 0; i < 3; i++) {
			free(ts[i]->data);
			free(ts[i]);
		}
	}
	free(tf);
	free(tb);
	free(tt);
	sl_tape_free(tp);
	sl_arena_free(arena);
	sl_pool_free(pool);
	return 0;
}
