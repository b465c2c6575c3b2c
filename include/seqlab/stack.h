/* stack.h - language models as stacks: a token embedding (learned, or the
 * task's fixed vectors), positions (learned, rotary, none or sinusoidal), a
 * pattern of mixer blocks bottom up (mixer.h: "MMA", or one letter repeated
 * `layers` times), a final norm and a linear read-out. gpt, mamba and hybrid
 * are presets of this one stack (model.h's sl_stack_preset): each is a table
 * row in stack.c. */
#ifndef SEQLAB_STACK_H
#define SEQLAB_STACK_H

#include "seqlab/mixer.h"
#include "seqlab/nn.h"

#define SL_STACK_MAX_LAYERS 16

typedef struct sl_stack_config {
	char pattern[SL_OPT_STRMAX]; /* mixer letters bottom up (presets that repeat one letter fill it) */
	int hidden, layers;
	int pe;                      /* enum sl_pos */
	float dropout;
	/* each mixer's config, at its index in sl_mixers */
	_Alignas(16) unsigned char mix[SL_MIXER_COUNT][SL_MIXER_CFG_MAX];
} sl_stack_config;

/* What a preset fixes of the stack (model.h's sl_model_kind.stack). */
typedef struct sl_stack_preset {
	char repeat;            /* the letter repeated `layers` times; 0: the `pattern` option */
	const char *letters;    /* with a pattern: the blocks it may hold ("RA"); NULL: any */
	int rms;                /* the final norm: RMSNorm (1) or LayerNorm (0) */
	const char *stack_opts; /* the stack's options it offers, in order: "hidden layers pe dropout" */
	const char *defaults;   /* defaults that differ from the tables': "pe=learned mlp=0" */
} sl_stack_preset;

typedef struct sl_stack {
	sl_stack_config cfg;
	int vocab, maxlen;
	int n;                                    /* layers */
	sl_mixer_ctx ctx;
	const sl_mixer_kind *mixer[SL_STACK_MAX_LAYERS];
	void *layer[SL_STACK_MAX_LAYERS];         /* each mixer's block */
	sl_params *ps;
	sl_nn_embedding emb;                      /* learned, or a fixed table */
	int emb_fixed;
	sl_tensor *pos;                           /* learned positions (maxlen, hidden), or NULL */
	float *sin_table;                         /* sinusoidal positions (maxlen, hidden), or NULL */
	sl_tensor sin_pos;                        /* a view of sin_table */
	sl_nn_norm norm_f;
	int has_norm_f;
	sl_nn_linear out;
} sl_stack;

/* The option table of a preset: the stack's options it offers, then every
 * option of the mixers it can hold (one letter's, or all for a pattern),
 * with the preset's defaults; offsets into sl_stack_config. Built once. */
const sl_optspec *sl_stack_options(const sl_stack_preset *p);
/* Sets every stack option to the stack's default (before a preset's table
 * sets those it offers). */
void sl_stack_defaults(sl_stack_config *cfg);

/* Builds a stack from a filled config (the preset's table over
 * sl_stack_config) for a task's vocab and positions, with a fixed embedding
 * table (vocab, fixed_dim) or NULL; parameters from rng (a stream per
 * parameter name). NULL with the error set for a bad configuration. */
sl_stack *sl_stack_new(const sl_stack_preset *p, const sl_stack_config *cfg, int vocab, int maxlen,
		       const float *fixed, int fixed_dim, const sl_rng *rng);
void sl_stack_free(sl_stack *m);
/* Logits (B, T, V) for tokens x (B, T). NULL with the error set when T
 * exceeds the learned positions. */
sl_tensor *sl_stack_forward(sl_stack *m, sl_tape *tp, const int32_t *x, int B, int T);
/* The same, with the embedded input as a leaf that requires a gradient
 * (stream[0]: its grad after backward is ∂loss/∂x_t) and the residual
 * stream after each block l in stream[l + 1] (room for the blocks + 1). */
sl_tensor *sl_stack_forward_probe(sl_stack *m, sl_tape *tp, const int32_t *x, int B, int T, sl_tensor **stream);

/* Step mode, when every block has one (sl_stack_can_step): a state for B
 * sequences; each step feeds one token per sequence and writes the next
 * token's logits (B, V). NULL from state_new (error set) past the learned
 * positions or without step mode. */
int sl_stack_can_step(const sl_stack *m);
typedef struct sl_stack_state sl_stack_state;
sl_stack_state *sl_stack_state_new(const sl_stack *m, int B);
void sl_stack_state_free(sl_stack_state *st);
int sl_stack_step(sl_stack *m, sl_tape *tp, sl_stack_state *st, const int32_t *tok, float *logits);
/* Rows 0..n-1 of the state become the old rows parent[i] (beam search). */
void sl_stack_state_reorder(sl_stack_state *st, const int *parent, int n);

#endif
