/* pool.h - a fixed pool of worker threads with a fixed partition of work.
 *
 * Work is always split by index ranges that depend only on the problem size and
 * the thread count, never on timing, so results are bit-identical run after run
 * at a given thread count. */
#ifndef SEQLAB_POOL_H
#define SEQLAB_POOL_H

#include "seqlab/common.h"

typedef struct sl_pool sl_pool;

/* A pool of n threads (the caller counts as thread 0); n < 1 means 1.
 * Returns NULL and sets the error if threads cannot be created. */
sl_pool *sl_pool_new(int n);
void sl_pool_free(sl_pool *p);
int sl_pool_size(const sl_pool *p);

/* fn(ctx, tid, nthreads) runs once for each part tid in [0, nthreads), each
 * on whichever thread claims it first (the caller's or a worker); returns
 * when all are done. Per-part state indexed by tid is never shared.
 * A call made from inside a running task runs serially on the calling thread
 * as if the pool had one thread. p may be NULL (serial). */
typedef void (*sl_pool_fn)(void *ctx, int tid, int nthreads);
void sl_pool_run(sl_pool *p, sl_pool_fn fn, void *ctx);

/* fn(ctx, lo, hi) over contiguous slices of [0, n), one slice per thread.
 * Slices are the fixed partition of sl_range(). */
typedef void (*sl_range_fn)(void *ctx, size_t lo, size_t hi);
void sl_pool_for(sl_pool *p, size_t n, sl_range_fn fn, void *ctx);

/* Two independent loops in one call: each part runs fn1 over its range of
 * [0, n1), then fn2 over its range of [0, n2) (either n may be 0). Both
 * partitions are sl_pool_for's, so the results are those of two calls; one
 * hand-off to the workers instead of two. For loops that neither read what
 * the other writes (a layer's dx and its weight gradients). */
void sl_pool_for2(sl_pool *p, size_t n1, sl_range_fn fn1, size_t n2, sl_range_fn fn2, void *ctx);

/* A relay: sums over rows split among a call's parts, each continued by
 * the next part from where the one before left it (a column of a weight
 * gradient summed over every row, in row order, each part on the rows it
 * holds), so the result is the one sum's, whatever the thread count.
 * stage (zero before the call) counts the parts through: part t waits
 * until it is t, runs its stretch, then passes (makes it t + 1). A part
 * only waits for the part before it, which runs or will be claimed (the
 * caller claims part 0 first and never waits), so the relay cannot stall;
 * a part that may wait does other work first (sl_relay_ready). */
int sl_relay_ready(const int *stage, int part);
void sl_relay_wait(const int *stage, int part);
void sl_relay_pass(int *stage, int part);

/* The slice [lo, hi) of [0, n) that thread tid of nth owns. */
static inline void sl_range(size_t n, int tid, int nth, size_t *lo, size_t *hi)
{
	size_t q = n / (size_t)nth, r = n % (size_t)nth, t = (size_t)tid;
	*lo = t * q + (t < r ? t : r);
	*hi = *lo + q + (t < r ? 1 : 0);
}

/* The number of online CPUs (at least 1). */
int sl_cpu_count(void);

#endif
