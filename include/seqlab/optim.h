/* optim.h - optimizers (SGD with momentum, Adam, AdamW), global-norm gradient
 * clipping, gradient accumulation and a NaN guard, over a parameter store.
 *
 * The optimizer's moments are blocks of the parameter store's layout
 * (ps->total floats), so an update is one loop over the blocks and a
 * checkpoint one write per block. The formulas are PyTorch's (1.13+):
 *
 *   SGD    g += wd p                               (L2, if wd > 0)
 *          buf = g at the first update, else buf = mu buf + (1 - dampening) g
 *          g = g + mu buf (nesterov) or g = buf;   p -= lr g
 *          (without momentum, p -= lr g)
 *   Adam   g += wd p                               (L2, if wd > 0)
 *          m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,  t = updates so far
 *          p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *   AdamW  p -= lr wd p (decoupled), then Adam without the L2 term
 *
 * Parameters flagged SL_PARAM_NO_DECAY skip weight decay in all three.
 *
 * One sl_optim_step() call per micro-batch: the tape adds each micro-batch's
 * gradient into ps->grad; on the accum-th call the summed gradient is divided
 * by accum (so the update uses the mean over micro-batches, and the loss need
 * not be scaled), its global L2 norm is taken (a fixed-order double sum, the
 * same bits at any thread count), clipped as torch.nn.utils.clip_grad_norm_
 * does, the update applied, and the gradients zeroed. */
#ifndef SEQLAB_OPTIM_H
#define SEQLAB_OPTIM_H

#include "seqlab/params.h"
#include "seqlab/pool.h"

typedef enum sl_optim_kind {
	SL_OPTIM_SGD,
	SL_OPTIM_ADAM,
	SL_OPTIM_ADAMW,
	SL_OPTIM_KIND_COUNT
} sl_optim_kind;

typedef struct sl_optim_config {
	int kind;            /* sl_optim_kind */
	float lr;            /* initial learning rate (sl_optim.lr is the live one) */
	float weight_decay;  /* L2 (SGD, Adam) or decoupled (AdamW); 0 = none */
	float momentum;      /* SGD; 0 = plain SGD */
	float dampening;     /* SGD */
	int nesterov;        /* SGD; needs momentum > 0 and dampening 0 */
	float beta1, beta2;  /* Adam, AdamW */
	float eps;           /* Adam, AdamW */
	float clip;          /* max global gradient norm; 0 = no clipping */
	int accum;           /* micro-batches per update, >= 1 */
} sl_optim_config;

/* The defaults of torch.optim for kind: SGD lr 0.01 (torch has none), no
 * momentum; Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay; AdamW the
 * same with weight_decay 0.01. No clipping, accum 1. */
sl_optim_config sl_optim_defaults(int kind);
/* Checks a configuration: SL_OK, or SL_ERR with the error set. */
int sl_optim_config_check(const sl_optim_config *cfg);

/* "sgd", "adam", "adamw"; the kind for a name, or -1. */
const char *sl_optim_kind_name(int kind);
int sl_optim_kind_from_name(const char *name);

/* An optimizer over a parameter store. Plain data, so a checkpoint can save
 * and restore the state fields; the private fields are derived from ps. */
typedef struct sl_optim {
	sl_optim_config cfg;
	sl_params *ps;         /* not owned; allocated before sl_optim_new() */
	sl_pool *pool;         /* not owned; may be NULL (serial) */
	float lr;              /* used by the next update; set it from a schedule */

	/* state: everything a checkpoint must save to resume exactly */
	int64_t step;          /* updates applied so far (Adam's t after an update) */
	int micro;             /* micro-batches accumulated toward the next update */
	int64_t skipped;       /* updates skipped by the NaN guard */
	float *m;              /* (ps->total) SGD momentum buffer or Adam first moment; NULL if unused */
	float *v;              /* (ps->total) Adam second moment; NULL if unused */

	/* the last update, for display */
	float grad_norm;       /* global norm of the mean gradient before clipping */
	int clipped;           /* 1 if that update was clipped */

	/* private */
	int nseg;
	struct sl_optim_seg *seg; /* runs of elements sharing a decay flag */
	size_t nchunk;
	double *partial;       /* per-chunk sums of squares */
} sl_optim;

/* An optimizer for ps (which must be allocated) with zeroed state and
 * lr = cfg->lr. Returns NULL with the error set for a bad configuration.
 * Free with sl_optim_free(). */
sl_optim *sl_optim_new(const sl_optim_config *cfg, sl_params *ps, sl_pool *pool);
void sl_optim_free(sl_optim *o);
/* Zeroes the state (step, micro, skipped, moments) and the gradients. */
void sl_optim_reset(sl_optim *o);

/* Call once per micro-batch, after its backward pass. Returns 0 when the
 * gradient was only accumulated, 1 when an update was applied (gradients are
 * then zeroed), and SL_ERR when the gradient norm was not finite: the update
 * is skipped, gradients are zeroed, `skipped` counts it, and the error reads
 * "non-finite gradient (norm=nan) at step N; update skipped". */
int sl_optim_step(sl_optim *o);

/* The global L2 norm of ps->grad as it is now: a double sum over fixed chunks
 * added in order, so it does not depend on the thread count. */
double sl_optim_grad_norm(sl_optim *o);

#endif
