/* tape.h - reverse-mode automatic differentiation over coarse ops.
 *
 * Ops run forward immediately and, when an input needs a gradient, append a
 * node to the tape. sl_tape_backward() walks the nodes in reverse and each op's
 * backward accumulates (+=) into its inputs' gradients. Temporaries (outputs,
 * their gradients, what backward needs) come from the tape's arena, which
 * sl_tape_reset() clears at the end of a step. Parameters keep their gradients
 * in the parameter store, so gradients accumulate across steps until zeroed. */
#ifndef SEQLAB_TAPE_H
#define SEQLAB_TAPE_H

#include "seqlab/arena.h"
#include "seqlab/pool.h"
#include "seqlab/tensor.h"

#define SL_NODE_NI 8
#define SL_NODE_NF 4

/* One recorded op application. Filled by the op's public function. */
typedef struct sl_node {
	int op;                  /* enum sl_op */
	sl_tensor *out;
	sl_tensor **in;          /* nin tensor inputs (arena); an optional input may be NULL */
	int nin;
	const int32_t *ids;      /* integer input (token ids, targets), or NULL */
	size_t nids;
	int i[SL_NODE_NI];       /* integer attributes, meaning per op */
	float f[SL_NODE_NF];     /* float attributes, meaning per op */
	uint64_t key;            /* random stream (dropout) */
	void *saved;             /* what backward needs (arena), set by forward */
} sl_node;

typedef struct sl_tape {
	sl_arena *arena;         /* temporaries; not owned */
	sl_pool *pool;           /* threads for kernels; not owned, may be NULL */
	sl_node *nodes;
	int n, cap;
	int grad_enabled;        /* record nodes (1) or run forward only (0) */
	int training;            /* dropout active */
	uint64_t dropout_key;    /* base key of this step's dropout masks */
	uint64_t dropout_count;  /* dropout ops applied so far this step */
	int keep_grads;          /* every tensor keeps a gradient buffer of its own, for a probe that reads
				  * them after backward (else an op may hand its output's on to an input:
				  * sl_linear_residual); cleared by sl_tape_reset */
} sl_tape;

typedef struct sl_op_def {
	const char *name;
	/* Computes n->out->data from the inputs; n->out is allocated. When
	 * n->out->requires_grad it may save what backward needs in n->saved. */
	void (*forward)(sl_tape *tp, sl_node *n);
	/* Accumulates into the grads of the inputs that require them, from
	 * n->out->grad. Gradients come from sl_tape_grad(). */
	void (*backward)(sl_tape *tp, sl_node *n);
} sl_op_def;

/* A tape drawing on `arena` and `pool` (neither owned). Gradients enabled. */
sl_tape *sl_tape_new(sl_arena *arena, sl_pool *pool);
void sl_tape_free(sl_tape *tp);
/* Forget every node and reset the arena: all temporaries become invalid. */
void sl_tape_reset(sl_tape *tp);

/* A temporary tensor (arena) of the given shape; data uninitialised, no grad. */
sl_tensor *sl_tape_tensor(sl_tape *tp, int ndim, const int *shape);
/* The same shape as t. */
sl_tensor *sl_tape_like(sl_tape *tp, const sl_tensor *t);
/* t's gradient buffer, allocated zero-filled from the arena on first use. */
float *sl_tape_grad(sl_tape *tp, sl_tensor *t);
/* The same without the zero fill: *fresh is 1 when the buffer is new, and
 * the caller must then write every element (as 0 + its contribution, so the
 * bits are those sl_tape_grad's zeros would give); 0 when it accumulates. */
float *sl_tape_grad_fresh(sl_tape *tp, sl_tensor *t, int *fresh);
/* For an op whose output's gradient is, element for element, x's share of
 * it (y = x + ...): where nothing has written x's gradient yet (and no probe
 * keeps gradients, tp->keep_grads), x takes the output's buffer, which no op
 * reads after n's backward, and NULL is returned: nothing to add. Else x's
 * buffer as sl_tape_grad_fresh gives it, to add dy into. Not for an x whose
 * gradient n's backward writes while it still reads dy. */
float *sl_tape_grad_handoff(sl_tape *tp, sl_tensor *x, sl_node *n, int *fresh);

/* Runs the op described by *n forward and records it when any input requires
 * a gradient and gradients are enabled. n->out must be allocated; n->in is
 * copied. Returns n->out. */
sl_tensor *sl_tape_apply(sl_tape *tp, sl_node *n);

/* Backpropagates from loss (any shape) with d(loss) = 1 for every element,
 * or from out with the given output gradient dout (numel floats, copied).
 * Returns SL_ERR if the tensor does not depend on any parameter. */
int sl_tape_backward(sl_tape *tp, sl_tensor *loss);
int sl_tape_backward_from(sl_tape *tp, sl_tensor *out, const float *dout);
/* Forgets the gradients a backward pass left, so another can start afresh:
 * every recorded output's is dropped (backward skips it again until it is
 * reached), every leaf input's (parameters, probes) zeroed. The parameters'
 * gradient store is zeroed too: a caller that keeps it saves it first. */
void sl_tape_zero_grads(sl_tape *tp);

#endif
