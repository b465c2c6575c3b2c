/* hybrid.h - stacks of Mamba and attention blocks from a pattern of letters
 * (M = Mamba block, A = causal attention block), e.g. MA (the recall
 * homework's hybrid: a Mamba layer, then attention) or MAM. The blocks are
 * mamba.c's and gpt.c's; positions come from the Mamba blocks alone (or rope
 * on the attention blocks, if asked). A final RMSNorm and a linear read-out. */
#ifndef SEQLAB_HYBRID_H
#define SEQLAB_HYBRID_H

#include "seqlab/gpt.h"
#include "seqlab/mamba.h"

#define SL_HYBRID_MAX_LAYERS 16

typedef struct sl_hybrid_config {
	char pattern[SL_OPT_STRMAX];
	int hidden, heads, mlp, window;
	int rope;                           /* option pe: 0 none, 1 rope */
	float rope_base;
	int state, expand, conv, dt_rank, a_init, disc, scan;
	float dt_min, dt_max;
	int vocab, maxlen;                  /* set by the task */
	const float *fixed_embed;           /* the task's fixed input vectors, or NULL */
	int fixed_dim;
} sl_hybrid_config;

/* pattern=MA hidden=64 heads=4 mlp=0 window=0 pe=none rope_base=10000, and
 * the Mamba blocks' state=16 expand=2 conv=4 dt_rank=0 a_init disc scan
 * dt_min dt_max */
extern const sl_optspec sl_hybrid_options[];

typedef struct sl_hybrid {
	sl_hybrid_config cfg;
	sl_mamba_config mcfg;               /* what the Mamba blocks are built with */
	int n;                              /* layers: strlen(pattern) */
	sl_params *ps;
	sl_nn_embedding emb;
	sl_mamba_layer mamba[SL_HYBRID_MAX_LAYERS];
	sl_gpt_block attn[SL_HYBRID_MAX_LAYERS];
	sl_nn_norm norm_f;
	sl_nn_linear out;
	float *probs[SL_HYBRID_MAX_LAYERS]; /* attention layers' probabilities of the last pass */
	float *delta[SL_HYBRID_MAX_LAYERS]; /* Mamba layers' delta of the last pass */
} sl_hybrid;

/* NULL with the error set for a bad pattern or shape. */
sl_hybrid *sl_hybrid_new(const sl_hybrid_config *cfg, const sl_rng *rng);
void sl_hybrid_free(sl_hybrid *m);
/* Logits (B, T, V) for tokens x (B, T). */
sl_tensor *sl_hybrid_forward(sl_hybrid *m, sl_tape *tp, const int32_t *x, int B, int T);

#endif
