/* pool.c - worker threads that spin briefly, then sleep, between tasks.
 *
 * A task is published by bumping `gen`; every worker runs fn(ctx, tid, n) and
 * decrements `pending`; the caller runs tid 0 and spins until pending is 0.
 * The partition of work is the caller's (sl_range), so it never depends on
 * which thread is faster. */
#include "seqlab/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPIN_LIMIT 20000

struct sl_pool {
	int n;
	pthread_t *th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sl_pool_fn fn;
	void *ctx;
	atomic_uint gen;
	atomic_int pending;
	atomic_int sleepers;
	atomic_int stop;
};

typedef struct worker_arg {
	sl_pool *p;
	int tid;
} worker_arg;

static _Thread_local int in_task;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void *worker(void *arg)
{
	worker_arg *wa = arg;
	sl_pool *p = wa->p;
	int tid = wa->tid;
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
		p->fn(p->ctx, tid, p->n);
		atomic_fetch_sub(&p->pending, 1);
	}
}

sl_pool *sl_pool_new(int n)
{
	sl_pool *p = sl_xcalloc(1, sizeof *p);
	p->n = n < 1 ? 1 : n;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->th = sl_xcalloc((size_t)p->n, sizeof *p->th);
	for (int i = 1; i < p->n; i++) {
		worker_arg *wa = sl_xmalloc(sizeof *wa);
		wa->p = p;
		wa->tid = i;
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
	p->fn = fn;
	p->ctx = ctx;
	atomic_store(&p->pending, p->n - 1);
	atomic_fetch_add(&p->gen, 1);
	if (atomic_load(&p->sleepers) > 0) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	in_task = 1;
	fn(ctx, 0, p->n);
	in_task = 0;
	int spins = 0;
	while (atomic_load(&p->pending) > 0) {
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

int sl_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (int)n;
}
