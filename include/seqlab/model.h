/* model.h - the registry of model kinds and a model handle the layers above
 * use without knowing the architecture. Each kind declares its options as a
 * table (optspec.h), which drives `model NAME = KIND key=value...`, `help
 * model KIND`, completion and the manual. */
#ifndef SEQLAB_MODEL_H
#define SEQLAB_MODEL_H

#include "seqlab/mixer.h"
#include "seqlab/optspec.h"
#include "seqlab/params.h"
#include "seqlab/rng.h"
#include "seqlab/stack.h"
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
	/* Regression tasks (series): real values per position in and out;
	 * 0 for token tasks. Only kinds with a regress function take them. */
	int din, dout;
} sl_model_shape;

/* Data for a closed-form fit (an echo-state network's ridge read-out): B
 * sequences of T positions, either tokens tok (B, T) with targets tgt (B,
 * T) (-1: not fitted), or real values x (B, T, din) with targets y (B, T,
 * dout) (NaN: not fitted, e.g. a warm-up). */
typedef struct sl_fit_batch {
	int B, T;
	const int32_t *tok, *tgt;
	const float *x, *y;
	int din, dout;
	sl_pool *pool; /* threads the fit may use, or NULL */
} sl_fit_batch;
/* An encoder-decoder's attentions, for the attn command. */
enum sl_attn_kind { SL_ATTN_ENC, SL_ATTN_DEC, SL_ATTN_CROSS, SL_ATTN_KINDS };

typedef struct sl_model_kind sl_model_kind;
struct sl_model_kind {
	const char *name;
	const char *summary;
	/* The options, or NULL for a stack preset (its table is composed from
	 * the stack's and its mixers': use sl_model_options). */
	const sl_optspec *options;
	const sl_stack_preset *stack; /* a preset of stack.h's stack, or NULL */
	size_t cfg_size;
	/* Builds the model from a filled config; NULL with the error set. */
	void *(*create)(const sl_model_kind *kind, const void *cfg, const sl_model_shape *shape, const sl_rng *rng);
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
	/* Nonzero when greedy decodes a token at a time (caches); NULL: it does. */
	int (*greedy_steps)(void *impl);
	/* Language models' step mode (NULL, or can_step zero: none): a state
	 * for B sequences, fed one token each per step, the next logits (B, V)
	 * written; SL_ERR with the error set (e.g. past the positions). */
	int (*can_step)(void *impl);
	void *(*state_new)(void *impl, int B);
	void (*state_free)(void *state);
	int (*step)(void *impl, sl_tape *tp, void *state, const int32_t *tok, float *logits);
	/* Rows 0..n-1 of the state become the old rows parent[i] (beam search). */
	void (*state_reorder)(void *state, const int *parent, int n);
	/* Encoder-decoders' attention (the attn command): the layers of
	 * attention `which` (enum sl_attn_kind; 0: none such) and their heads in
	 * *heads; after a seq2seq pass, layer l's probabilities (B, heads, Tq,
	 * Tk), valid until the tape is reset. NULL: no attention to show. */
	int (*attn_layers)(void *impl, int which, int *heads);
	const float *(*attn_probs)(void *impl, int which, int l);
	/* Stacks: the blocks bottom up, for views by what a mixer offers. */
	int (*layers)(void *impl);
	const sl_mixer_kind *(*layer_mixer)(void *impl, int l);
	int (*layer_view)(void *impl, int l, int which, sl_mixer_grid *out, int max);
	/* A language model's forward pass whose embedded input (B, T, hidden)
	 * is a leaf requiring a gradient, returned in stream[0], and the
	 * residual stream after each block l in stream[l + 1] (room for
	 * layers() + 1): after backward their grads are ∂loss/∂x_t and
	 * ∂loss/∂h^l_t (the gradient-flow view). NULL: none. */
	sl_tensor *(*lm_probe)(void *impl, sl_tape *tp, const int32_t *x, int B, int T, sl_tensor **stream);
	/* An encoder-decoder's seq2seq pass whose embedded source (B, S, H)
	 * and embedded decoder input (B, T, H) are leaves requiring gradients,
	 * returned in *src_x and *dec_x (the gradient-flow view). NULL: none. */
	sl_tensor *(*s2s_probe)(void *impl, sl_tape *tp, const int32_t *src, const int32_t *dec, int B, int S, int T,
				sl_tensor **src_x, sl_tensor **dec_x);
	/* Block l's mixer's jacobian (mixer.h) after lm_probe; NULL, or
	 * SL_ERR with the error set for a block without a recurrent state. */
	int (*layer_jacobian)(void *impl, int l, sl_tape *tp, int p, float *norm);
	/* Regression (NULL: the kind cannot): predictions (B, T, dout) for
	 * real inputs x (B, T, din), each position seeing only itself and
	 * earlier ones; from position free_from on (T: never) the input is the
	 * model's own previous prediction instead of x (free running, din ==
	 * dout). NULL with the error set. */
	sl_tensor *(*regress)(void *impl, sl_tape *tp, const float *x, int B, int T, int free_from);
	/* Kinds fitted in closed form instead of by gradient (NULL: none): a
	 * training step adds an epoch's batches with fit_add, then fit_solve
	 * sets the weights from what was added (and forgets it), and gives the
	 * mean squared error of the fitted outputs on what was added (*mse, per
	 * output). SL_ERR with the error set, and what was added forgotten. */
	int (*fit_add)(void *impl, const sl_fit_batch *b);
	int (*fit_solve)(void *impl, double *mse);
	/* Facts for `info` beyond the options, as key=value pairs (may be NULL). */
	void (*info)(const void *impl, char *buf, size_t n);
	/* The work of a training step's forward pass on B sequences (sources of
	 * S tokens and targets of T; a language model sees S + 1 + T tokens, or
	 * T when S is 0), for the benchmark's FLOP counts. */
	void (*work)(const void *impl, double B, double S, double T, sl_work *w);
};

/* The kinds, NULL-terminated; lookup by name (NULL if unknown). */
extern const sl_model_kind *const sl_model_kinds[];
extern const sl_model_kind sl_model_transformer, sl_model_gpt, sl_model_mamba, sl_model_hybrid, sl_model_s4d,
	sl_model_lru, sl_model_hawk, sl_model_griffin, sl_model_elman, sl_model_gru, sl_model_lstm, sl_model_esn, sl_model_rnn;
const sl_model_kind *sl_model_kind_find(const char *name);
/* The kinds' names, "transformer, gpt, ...", or only the language models'
 * (lm nonzero); a thread's own static string. */
const char *sl_model_kind_names(int lm);
/* A kind's option table (composed once for stack presets). */
const sl_optspec *sl_model_options(const sl_model_kind *kind);

typedef struct sl_model {
	const sl_model_kind *kind;
	void *impl;
	void *cfg;          /* the filled config (kind->cfg_size bytes), owned */
	sl_params *ps;      /* the model's parameters (owned by impl) */
} sl_model;

/* A filled config of kind (kind->cfg_size bytes, owned by the caller): the
 * defaults, then the n key=value pairs. strict: NULL with the error set at
 * the first bad pair; otherwise bad pairs are skipped (for estimates). */
void *sl_model_config(const sl_model_kind *kind, const char *const *keys, const char *const *vals, int n,
		      int strict);
/* A model of `kind` from key=value pairs (n of them) over the kind's
 * defaults. Returns NULL with a one-line error for an unknown key, a bad
 * value or a shape the kind refuses. */
sl_model *sl_model_new(const sl_model_kind *kind, const char *const *keys, const char *const *vals, int n,
		       const sl_model_shape *shape, const sl_rng *rng);
void sl_model_free(sl_model *m);
/* "transformer hidden=64 enc=2 ..." with every option's value; returns buf. */
char *sl_model_spec(const sl_model *m, char *buf, size_t n);
/* Nonzero when the model is fitted in closed form (fit_add, fit_solve). */
int sl_model_fits(const sl_model *m);
/* Nonzero when the model decodes in step mode (a recurrent state, or a
 * key/value cache); otherwise generation re-runs the whole forward pass. */
int sl_model_can_step(const sl_model *m);
/* "step" when the model generates a token at a time (a step mode, or an
 * encoder-decoder's caches), "rerun" when each token re-runs it. */
const char *sl_model_decoding(const sl_model *m);

/* Beam search over any decoder that steps K hypotheses at once: step
 * returns the logits (K, V) for tokens cur (K) at step t (rows past the live
 * ones decode harmlessly); reorder makes rows 0..n-1 of the decoder's state
 * the old rows parent[i], after step t. */
typedef struct sl_beam_ops {
	void *ctx;
	const float *(*step)(void *ctx, const int32_t *cur, int t);
	void (*reorder)(void *ctx, const int *parent, int n, int t);
} sl_beam_ops;
/* The best hypothesis by total log-probability (finished at eos or maxT),
 * written to out; returns its length. Width 1 is greedy decoding exactly. */
int sl_beam_search(const sl_beam_ops *ops, int K, int V, int maxT, int sos, int eos, int32_t *out);
/* Greedy decoding of B rows through the same step (reorder unused): out (B,
 * maxT), len (B) (each row ends at eos, included, or at maxT); cur is
 * scratch for B tokens. */
void sl_greedy_steps(const sl_beam_ops *ops, int B, int V, int maxT, int sos, int eos, int32_t *cur, int32_t *out,
		     int *len);

/* The one generation path. Greedy decoding of B sources (B, S): an
 * encoder-decoder decodes from sos; a language model reads the prefix
 * `src eos sos` and continues it, in step mode where the kind has one, by
 * re-running the model otherwise. out (B, maxT) gets the tokens, len (B) the
 * count up to and including eos (maxT if none). V: the vocabulary. */
void sl_model_greedy(sl_model *m, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int sos, int eos, int V,
		     int32_t *out, int *len);
/* Samples n tokens after the prompt (np tokens, at least 1) from a language
 * model: the logits divided by temp (temp <= 0: the most likely token),
 * the top_k most likely kept (0: all), a token drawn from rng; in step mode
 * when the kind has one (and rerun is 0), else by re-running the model on
 * the last ctx tokens (the positions it has). emit(ud, token) gets each
 * token as it comes (may be NULL); out (n) gets them all. Returns the count
 * made, or -1 with the error set. */
int sl_model_sample(sl_model *m, sl_tape *tp, const int32_t *prompt, int np, int n, float temp, int top_k, int V,
		    int ctx, sl_rng *rng, int rerun, void (*emit)(void *ud, int32_t tok), void *ud, int32_t *out);

/* Beam search of width beam for one source (S tokens): the kind's own, or a
 * language model's in step mode over `src eos sos`; greedy decoding for a
 * kind with neither. Returns the length written to out (maxT at most). */
int sl_model_beam(sl_model *m, sl_tape *tp, const int32_t *src, int S, int maxT, int sos, int eos, int beam, int V,
		  int32_t *out);

#endif
