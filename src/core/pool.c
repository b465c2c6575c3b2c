/* pool.c - worker threads that spin briefly, then sleep, between tasks.
 *
 * A call splits into parts 0..n-1 (n = the pool's size); the caller and the
 * workers claim parts and run fn(ctx, part, n), and the call returns when
 * every part is done. Which thread runs a part does not matter: the
 * partition is the caller's (sl_range of the part index), so results do not
 * depend on it. Claiming rather than owning a part means a worker that the
 * OS has not scheduled yet (another process has the core) does not hold the
 * call up: the caller runs its part too.
 *
 * Each thread claims its own part first (the caller part 0, worker i part
 * i), then any left: successive calls over the same rows then find them in
 * the cache of the core that wrote them (a layer's output, read by the next
 * op), where claiming in turn gave each part to whichever thread came first.
 *
 * part[i] holds the last generation that claimed part i: a thread claims it
 * for call g by a compare-and-swap from an earlier generation, so a worker
 * that wakes late for an earlier call (every part of which is claimed)
 * claims nothing. fn and ctx are read before the claim, and the caller
 * changes them only after every part of its call is done, so a successful
 * claim has read this call's. */
#include "seqlab/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPIN_LIMIT 20000

struct sl_pool {
	int n;
	pthread_t *th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	_Atomic(sl_pool_fn) fn;
	_Atomic(void *) ctx;
	atomic_uint gen;
	atomic_uint *part;      /* the generation that last claimed each part */
	atomic_int done;        /* parts of this call finished */
	atomic_int sleepers;
	atomic_int stop;
};

typedef struct worker_arg {
	sl_pool *p;
	int id;
} worker_arg;

static _Thread_local int in_task;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Claims and runs parts of call `g`, part `self` first, until none is left. */
static void run_parts(sl_pool *p, unsigned g, int self)
{
	for (int k = 0; k < p->n; k++) {
		int i = self + k < p->n ? self + k : self + k - p->n;
		sl_pool_fn fn = atomic_load(&p->fn);
		void *ctx = atomic_load(&p->ctx);
		unsigned v = atomic_load(&p->part[i]);
		if ((int)(v - g) >= 0) /* claimed in call g, or g is over */
			continue;
		if (!atomic_compare_exchange_strong(&p->part[i], &v, g))
			continue; /* another thread claimed it: v is g now */
		fn(ctx, i, p->n);
		atomic_fetch_add(&p->done, 1);
	}
}

static void *worker(void *arg)
{
	worker_arg *wa = arg;
	sl_pool *p = wa->p;
	int id = wa->id;
	unsigned seen = 0;
	free(wa);
	in_task = 1;
	for (;;) {
		unsigned g;
		int spins = 0;
		while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop)) {
			if (++spins < SPIN_LIMIT) {
				cpu_relax();
				continue;
			}
			pthread_mutex_lock(&p->mu);
			atomic_fetch_add(&p->sleepers, 1);
			while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
				pthread_cond_wait(&p->cv, &p->mu);
			atomic_fetch_sub(&p->sleepers, 1);
			pthread_mutex_unlock(&p->mu);
			spins = 0;
		}
		if (atomic_load(&p->stop))
			return NULL;
		seen = g;
		run_parts(p, g, id);
	}
}

sl_pool *sl_pool_new(int n)
{
	sl_pool *p = sl_xcalloc(1, sizeof *p);
	p->n = n < 1 ? 1 : n;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->th = sl_xcalloc((size_t)p->n, sizeof *p->th);
	p->part = sl_xcalloc((size_t)p->n, sizeof *p->part);
	for (int i = 0; i < p->n; i++)
		atomic_init(&p->part[i], 0);
	for (int i = 1; i < p->n; i++) {
		worker_arg *wa = sl_xmalloc(sizeof *wa);
		wa->p = p;
		wa->id = i;
		if (pthread_create(&p->th[i], NULL, worker, wa) != 0) {
			free(wa);
			sl_errorf("cannot start thread %d of %d", i + 1, p->n);
			p->n = i; /* join the ones that started */
			sl_pool_free(p);
			return NULL;
		}
	}
	return p;
}

void sl_pool_free(sl_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, 1);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->th[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->th);
	free((void *)p->part);
	free(p);
}

int sl_pool_size(const sl_pool *p)
{
	return p ? p->n : 1;
}

void sl_pool_run(sl_pool *p, sl_pool_fn fn, void *ctx)
{
	if (!p || p->n == 1 || in_task) {
		fn(ctx, 0, 1);
		return;
	}
	/* the previous call is done: nobody reads fn, ctx or done until the new
	 * generation is out */
	atomic_store(&p->fn, fn);
	atomic_store(&p->ctx, ctx);
	atomic_store(&p->done, 0);
	unsigned g = atomic_load(&p->gen) + 1;
	atomic_store(&p->gen, g);
	if (atomic_load(&p->sleepers) > 0) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	in_task = 1;
	run_parts(p, g, 0);
	in_task = 0;
	int spins = 0;
	while (atomic_load(&p->done) < p->n) {
		if (++spins < SPIN_LIMIT)
			cpu_relax();
		else
			sched_yield();
	}
}

typedef struct for_ctx {
	size_t n;
	sl_range_fn fn;
	void *ctx;
} for_ctx;

static void for_task(void *arg, int tid, int nth)
{
	for_ctx *fc = arg;
	size_t lo, hi;
	sl_range(fc->n, tid, nth, &lo, &hi);
	if (lo < hi)
		fc->fn(fc->ctx, lo, hi);
}

void sl_pool_for(sl_pool *p, size_t n, sl_range_fn fn, void *ctx)
{
	for_ctx fc = { n, fn, ctx };
	sl_pool_run(p, for_task, &fc);
}

typedef struct for2_ctx {
	size_t n1, n2;
	sl_range_fn fn1, fn2;
	void *ctx;
} for2_ctx;

static void for2_task(void *arg, int tid, int nth)
{
	for2_ctx *fc = arg;
	size_t lo, hi;
	sl_range(fc->n1, tid, nth, &lo, &hi);
	if (lo < hi)
		fc->fn1(fc->ctx, lo, hi);
	sl_range(fc->n2, tid, nth, &lo, &hi);
	if (lo < hi)
		fc->fn2(fc->ctx, lo, hi);
}

void sl_pool_for2(sl_pool *p, size_t n1, sl_range_fn fn1, size_t n2, sl_range_fn fn2, void *ctx)
{
	for2_ctx fc = { n1, n2, fn1, fn2, ctx };
	sl_pool_run(p, for2_task, &fc);
}

int sl_relay_ready(const int *stage, int part)
{
	return __atomic_load_n(stage, __ATOMIC_ACQUIRE) >= part;
}

void sl_relay_wait(const int *stage, int part)
{
	int spins = 0;
	while (!sl_relay_ready(stage, part)) {
		if (++spins < SPIN_LIMIT)
			cpu_relax();
		else
			sched_yield();
	}
}

void sl_relay_pass(int *stage, int part)
{
	__atomic_store_n(stage, part + 1, __ATOMIC_RELEASE);
}

int sl_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (int)n;
}
