/* arena.h - a bump allocator for the temporaries of one training or inference step. */
#ifndef SEQLAB_ARENA_H
#define SEQLAB_ARENA_H

#include "seqlab/common.h"

typedef struct sl_arena sl_arena;

/* A new arena whose first chunk holds at least `bytes` (0: a default). */
sl_arena *sl_arena_new(size_t bytes);
void sl_arena_free(sl_arena *a);
/* `n` bytes aligned to 64, valid until the next reset. Never NULL. */
void *sl_arena_alloc(sl_arena *a, size_t n);
/* Same, zero-filled. */
void *sl_arena_calloc(sl_arena *a, size_t n);
/* Drops every allocation. If the last step spilled into extra chunks, they are
 * merged into one chunk big enough for the whole step, so steady state is one
 * chunk and no malloc. */
void sl_arena_reset(sl_arena *a);
/* Bytes handed out since the last reset, and the most ever handed out. */
size_t sl_arena_used(const sl_arena *a);
size_t sl_arena_peak(const sl_arena *a);

#endif
