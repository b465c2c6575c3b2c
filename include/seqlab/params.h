/* params.h - the parameter store: named tensors in one block, with gradients
 * (and, from the optimizer, moments) in blocks of the same layout, so zeroing
 * gradients is one memset, an optimizer step one loop, a checkpoint one write. */
#ifndef SEQLAB_PARAMS_H
#define SEQLAB_PARAMS_H

#include "seqlab/rng.h"
#include "seqlab/tensor.h"

/* Flags of a parameter. */
#define SL_PARAM_NO_DECAY 1u   /* excluded from weight decay (norms, biases) */

typedef struct sl_params {
	int n, cap;
	sl_tensor **t;      /* n tensors; data and grad point into the blocks */
	size_t *offset;     /* element offset of each tensor in the blocks */
	unsigned *flags;
	float *lr_scale;    /* each tensor's learning-rate multiplier (1 unless set) */
	float *lr_cap;      /* each tensor's largest learning rate (0: none) */
	int *init;          /* sl_init_kind of each tensor */
	float *init_a, *init_b;
	size_t total;       /* elements in each block */
	float *data;        /* values */
	float *grad;        /* gradients */
	int allocated;
} sl_params;

sl_params *sl_params_new(void);
void sl_params_free(sl_params *ps);
/* Declares a parameter; its data and grad are NULL until sl_params_alloc().
 * Returns NULL with the error set for a duplicate name, a bad shape or a store
 * already allocated. The store owns the tensor and a copy of the name. */
sl_tensor *sl_params_add(sl_params *ps, const char *name, int ndim, const int *shape, unsigned flags);
/* Allocates the zero-filled blocks and points every tensor into them. */
void sl_params_alloc(sl_params *ps);
/* The parameter called name, or NULL. */
sl_tensor *sl_params_find(const sl_params *ps, const char *name);
int sl_params_index(const sl_params *ps, const char *name);
void sl_params_zero_grad(sl_params *ps);
/* The parameter group of t: its learning rate is the optimizer's times
 * scale (the LRU's ν, θ, γ and B train at 0.5x). */
void sl_params_set_lr_scale(sl_params *ps, const sl_tensor *t, float scale);
/* Its learning rate at most cap (S4D's Δ and A: lr <= 1e-3). */
void sl_params_set_lr_cap(sl_params *ps, const sl_tensor *t, float cap);

/* Total element count. */
size_t sl_params_count(const sl_params *ps);

/* How sl_params_init() fills a parameter. */
enum sl_init_kind {
	SL_INIT_ZERO,     /* zeros (the default) */
	SL_INIT_CONST,    /* a */
	SL_INIT_NORMAL,   /* mean a, std b */
	SL_INIT_UNIFORM,  /* in [a, b) */
	SL_INIT_MANUAL    /* left alone: the model fills it after sl_params_init() */
};
void sl_params_set_init(sl_params *ps, const sl_tensor *t, int kind, float a, float b);
/* Fills every parameter by its init kind, each from its own stream
 * sl_rng_split_str(rng, name): a parameter's values do not depend on what
 * else the model declares. */
void sl_params_init(sl_params *ps, const sl_rng *rng);

/* Initialisers. */
void sl_init_normal(sl_tensor *t, sl_rng *r, float mean, float std);
void sl_init_uniform(sl_tensor *t, sl_rng *r, float lo, float hi);
void sl_init_const(sl_tensor *t, float v);

#endif
