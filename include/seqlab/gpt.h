/* gpt.h - the decoder-only Transformer: token embedding (learned, or the
 * task's fixed vectors), positions (learned, rotary, none or sinusoidal),
 * residual blocks of causal multi-head attention (optionally local: a window
 * of the last N keys) and an optional GELU MLP, pre- or post-LayerNorm, and
 * a linear read-out. The attention block is shared with the hybrids
 * (hybrid.c). */
#ifndef SEQLAB_GPT_H
#define SEQLAB_GPT_H

#include "seqlab/nn.h"
#include "seqlab/optspec.h"
#include "seqlab/rng.h"

enum sl_gpt_pe { SL_GPT_PE_LEARNED, SL_GPT_PE_ROPE, SL_GPT_PE_NONE, SL_GPT_PE_SINUSOIDAL };

#define SL_GPT_MAX_LAYERS 16

typedef struct sl_gpt_config {
	int hidden, layers, heads, mlp; /* mlp: inner width as a multiple of hidden; 0 = no MLP */
	int norm;                       /* 0 pre-LN, 1 post-LN */
	int pe;                         /* enum sl_gpt_pe */
	int window;                     /* local attention: the last `window` keys; 0 = all */
	float rope_base;
	float dropout;
	int vocab;                      /* set by the task */
	int maxlen;                     /* positions (learned, sinusoidal); set by the task */
	const float *fixed_embed;       /* the task's fixed input vectors (vocab, fixed_dim), or NULL */
	int fixed_dim;
} sl_gpt_config;

/* hidden=64 layers=2 heads=4 mlp=4 norm=pre pe=learned window=0 rope_base=10000 dropout=0 */
extern const sl_optspec sl_gpt_options[];

/* One residual attention block: x + Attn(LN(x)) [+ MLP(LN(x))] (pre-LN), or
 * the post-LN arrangement. */
typedef struct sl_gpt_block {
	sl_nn_norm n1, n2;
	sl_nn_mha attn;
	sl_nn_mlp mlp;
	int has_mlp, post;
} sl_gpt_block;

/* Declares a block's parameters under "name.*": LayerNorms, the Q/K/V/O
 * projections (hidden divisible by heads), and an MLP of width mlp_inner
 * (0: none). */
void sl_gpt_block_add(sl_gpt_block *blk, sl_params *ps, const char *name, int hidden, int heads, int mlp_inner,
		      int post);
/* x (B, T, hidden) -> (B, T, hidden), causal. rope: rotate queries and keys
 * (base rope_base) at positions 0..T-1; window > 0 limits each query to the
 * last window keys; dropout p after the sublayers. *probs, if not NULL,
 * receives the attention probabilities (B, heads, T, T). */
sl_tensor *sl_gpt_block_forward(const sl_gpt_block *blk, sl_tape *tp, sl_tensor *x, int rope, float rope_base,
				int window, float dropout, float **probs);

typedef struct sl_gpt {
	sl_gpt_config cfg;
	sl_params *ps;
	sl_nn_embedding emb;           /* learned, or a fixed table (cfg.fixed_embed) */
	sl_tensor *pos;                /* learned positions (maxlen, hidden), or NULL */
	float *sin_table;              /* sinusoidal positions (maxlen, hidden), or NULL */
	sl_tensor sin_pos;             /* a view of sin_table */
	sl_gpt_block *block;
	sl_nn_norm norm_f;             /* final LayerNorm (pre-LN) */
	sl_nn_linear out;
	/* The attention probabilities of the last forward pass per layer,
	 * (B, heads, T, T); valid until the tape is reset. */
	float *probs[SL_GPT_MAX_LAYERS];
	int probs_B, probs_T;
} sl_gpt;

/* Builds the model and initialises its parameters from rng (a stream per
 * parameter name). NULL with the error set for a bad configuration. */
sl_gpt *sl_gpt_new(const sl_gpt_config *cfg, const sl_rng *rng);
void sl_gpt_free(sl_gpt *m);
/* Logits (B, T, V) for tokens x (B, T). NULL with the error set when T
 * exceeds maxlen with learned positions (sinusoidal ones extend). */
sl_tensor *sl_gpt_forward(sl_gpt *m, sl_tape *tp, const int32_t *x, int B, int T);

#endif
