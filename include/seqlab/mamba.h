/* mamba.h - the Mamba language model (Gu and Dao, 2023): pre-RMSNorm
 * residual blocks of in-projection, causal depthwise convolution, SiLU, the
 * selective scan with input-dependent Δ, B and C, a SiLU gate and an
 * out-projection; a recurrent step mode for decoding. */
#ifndef SEQLAB_MAMBA_H
#define SEQLAB_MAMBA_H

#include "seqlab/nn.h"
#include "seqlab/optspec.h"
#include "seqlab/ssm.h"

enum sl_mamba_ainit { SL_AINIT_S4D_REAL, SL_AINIT_CONST, SL_AINIT_S4D_LIN };

typedef struct sl_mamba_config {
	int hidden, layers, state, expand, conv, dt_rank; /* dt_rank 0: ceil(hidden / 16) */
	int a_init;                                       /* enum sl_mamba_ainit */
	int disc, scan;                                   /* enum sl_ssm_disc, sl_ssm_scan */
	float dt_min, dt_max;                             /* Δ initialised log-uniform in [dt_min, dt_max] */
	int vocab;                                        /* set by the task */
	int maxlen;
} sl_mamba_config;

extern const sl_optspec sl_mamba_options[];

typedef struct sl_mamba_layer {
	sl_nn_norm norm;
	sl_nn_linear in_proj, x_proj, dt_proj, out_proj;
	sl_tensor *conv_w, *conv_b, *A_log, *D;
} sl_mamba_layer;

typedef struct sl_mamba {
	sl_mamba_config cfg;
	int E, R, N;                 /* inner width, dt rank, state size */
	sl_params *ps;
	sl_nn_embedding emb;
	int emb_fixed;               /* emb is a fixed table (sl_mamba_new_fixed), not a parameter */
	sl_mamba_layer *layer;
	sl_nn_norm norm_f;
	sl_nn_linear out;
	/* The internals of the last forward pass, per layer, for the views:
	 * delta (B, T, E), Bm and Cm (B, T, N); valid until the tape is reset. */
	float *delta[16], *Bm[16], *Cm[16];
	int last_B, last_T;
} sl_mamba;

/* One residual block, for models that stack Mamba blocks with others (the
 * hybrids): declares its parameters as "prefix.norm.g", "prefix.in_proj.w",
 * ... with the config's widths; _init fills the manually initialised ones
 * (Δ bias, A_log) after sl_params_init(); _forward maps h (B, T, hidden) to
 * h + out_proj(...) and, when not NULL, points *delta (B, T, E), *Bm and *Cm
 * (B, T, N) at the block's internals (valid until the tape is reset). */
void sl_mamba_layer_add(sl_mamba_layer *ly, sl_params *ps, const char *prefix, const sl_mamba_config *cfg);
void sl_mamba_layer_init(sl_mamba_layer *ly, const sl_mamba_config *cfg, const sl_rng *rng);
sl_tensor *sl_mamba_layer_forward(const sl_mamba_layer *ly, const sl_mamba_config *cfg, sl_tape *tp, sl_tensor *h,
				  float **delta, float **Bm, float **Cm);

sl_mamba *sl_mamba_new(const sl_mamba_config *cfg, const sl_rng *rng);
/* The same with a fixed input embedding: tokens are looked up in a copy of
 * fixed (vocab, fixed_dim), untrained and zero-padded to hidden, instead of
 * a learned "emb". NULL with the error set if fixed_dim > hidden. */
sl_mamba *sl_mamba_new_fixed(const sl_mamba_config *cfg, const float *fixed, int fixed_dim, const sl_rng *rng);
void sl_mamba_free(sl_mamba *m);
/* Logits (B, T, V) for tokens x (B, T). */
sl_tensor *sl_mamba_forward(sl_mamba *m, sl_tape *tp, const int32_t *x, int B, int T);

/* Recurrent step mode: a state for B sequences, fed one token at a time. */
typedef struct sl_mamba_state sl_mamba_state;
sl_mamba_state *sl_mamba_state_new(const sl_mamba *m, int B);
void sl_mamba_state_free(sl_mamba_state *st);
/* Advances every sequence by one token (tok, B of them) and writes the next
 * token's logits (B, V) into logits. Runs with gradients off. */
void sl_mamba_step(sl_mamba *m, sl_tape *tp, sl_mamba_state *st, const int32_t *tok, float *logits);

#endif
