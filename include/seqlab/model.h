/* model.h - the registry of model kinds and a model handle the layers above
 * use without knowing the architecture. Each kind declares its options as a
 * table (optspec.h), which drives `model NAME = KIND key=value...`, `help
 * model KIND`, completion and the manual. */
#ifndef SEQLAB_MODEL_H
#define SEQLAB_MODEL_H

#include "seqlab/optspec.h"
#include "seqlab/params.h"
#include "seqlab/rng.h"
#include "seqlab/tape.h"

/* What a task gives a model: its vocabulary and longest sequence, and
 * optionally a fixed input embedding (recall's embed=fixed): language models
 * (gpt, mamba, hybrid) then look tokens up in it, untrained, instead of in a
 * learned table (zero-padded when hidden > fixed_dim; hidden < fixed_dim is
 * refused). The model copies it. */
typedef struct sl_model_shape {
	int vocab;
	int maxlen;
	const float *fixed_embed;   /* (vocab, fixed_dim), or NULL */
	int fixed_dim;
} sl_model_shape;

typedef struct sl_model_kind {
	const char *name;
	const char *summary;
	const sl_optspec *options;
	size_t cfg_size;
	/* Builds the model from a filled config; NULL with the error set. */
	void *(*create)(const void *cfg, const sl_model_shape *shape, const sl_rng *rng);
	void (*destroy)(void *impl);
	sl_params *(*params)(void *impl);
	/* Sequence to sequence: logits (B, T, V) for sources (B, S) and
	 * teacher-forced decoder inputs (B, T). */
	sl_tensor *(*seq2seq)(void *impl, sl_tape *tp, const int32_t *src, const int32_t *dec, int B, int S, int T);
	/* Language model: logits (B, T, V) for inputs x (B, T), each position
	 * seeing only itself and earlier ones. NULL for encoder-decoders. Returns
	 * NULL with the error set when T exceeds the positions the model has
	 * (learned positions: shape.maxlen). */
	sl_tensor *(*lm)(void *impl, sl_tape *tp, const int32_t *x, int B, int T);
	/* Greedy decoding: out (B, maxT), len (B). A language model decodes
	 * after the prefix `src eos sos`. */
	void (*greedy)(void *impl, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int sos, int eos,
		       int32_t *out, int *len);
	/* Beam search for one source; returns the length written to out. NULL if unsupported. */
	int (*beam)(void *impl, sl_tape *tp, const int32_t *src, int S, int maxT, int sos, int eos, int beam,
		    int32_t *out);
} sl_model_kind;

/* The kinds, NULL-terminated; lookup by name (NULL if unknown). */
extern const sl_model_kind *const sl_model_kinds[];
const sl_model_kind *sl_model_kind_find(const char *name);

typedef struct sl_model {
	const sl_model_kind *kind;
	void *impl;
	void *cfg;          /* the filled config (kind->cfg_size bytes), owned */
	sl_params *ps;      /* the model's parameters (owned by impl) */
} sl_model;

/* A model of `kind` from key=value pairs (n of them) over the kind's
 * defaults. Returns NULL with a one-line error for an unknown key, a bad
 * value or a shape the kind refuses. */
sl_model *sl_model_new(const sl_model_kind *kind, const char *const *keys, const char *const *vals, int n,
		       const sl_model_shape *shape, const sl_rng *rng);
void sl_model_free(sl_model *m);
/* "transformer hidden=64 enc=2 ..." with every option's value; returns buf. */
char *sl_model_spec(const sl_model *m, char *buf, size_t n);

#endif
