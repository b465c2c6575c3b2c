/* mixer.h - the per-layer sequence blocks a stack is made of, as registered
 * kinds. A mixer is one residual block (its norms inside it) that maps
 * h (B, T, hidden) to a new h: causal attention with its MLP, Mamba's
 * selective-scan block, and each later one. Each kind is one table row
 * defined in its own file (src/nn/NAME.c defines sl_mixer_NAME) and listed by
 * pointer in sl_mixers[]: a letter for stack patterns, a name, an option
 * table (optspec.h) over its own config struct, the parameters it declares,
 * its forward pass, a recurrent step mode with its state, the views it
 * offers and its FLOP count. Nothing else names a mixer. */
#ifndef SEQLAB_MIXER_H
#define SEQLAB_MIXER_H

#include "seqlab/optspec.h"
#include "seqlab/params.h"
#include "seqlab/rng.h"
#include "seqlab/tape.h"

/* The largest mixer config, in bytes (each mixer's file asserts its own). */
#define SL_MIXER_CFG_MAX 256
/* The most views one mixer offers. */
#define SL_MIXER_MAX_VIEWS 8

/* Positions a stack gives its tokens; attention rotates its queries and keys
 * when pe is SL_POS_ROPE. */
enum sl_pos { SL_POS_LEARNED, SL_POS_ROPE, SL_POS_NONE, SL_POS_SINUSOIDAL };

/* What every block of a stack shares. */
typedef struct sl_mixer_ctx {
	int hidden;
	int pe;        /* enum sl_pos */
	float dropout; /* after each sublayer (mixers that apply it) */
} sl_mixer_ctx;

/* One matrix of a view, plain data: rows are positions of the input (or,
 * row_kind SL_GRID_INDEX, an index: a bin, a channel); the columns are
 * positions again (SL_GRID_POS) or the mixer's channels or states
 * (SL_GRID_INDEX). v is owned by the grid (sl_mixer_grids_free). */
enum { SL_GRID_POS, SL_GRID_INDEX };
typedef struct sl_mixer_grid {
	char title[48];
	float *v;       /* (rows, cols), row-major */
	int rows, cols;
	int row_kind;   /* SL_GRID_POS (the default, 0) or SL_GRID_INDEX */
	int col_kind;   /* SL_GRID_POS or SL_GRID_INDEX */
	int fixed;      /* shade over [lo, hi] rather than the data's range */
	float lo, hi;
} sl_mixer_grid;

/* Work a forward pass does (the benchmark's FLOP counts). */
typedef struct sl_work {
	void (*lin)(void *ud, double rows, int in, int out); /* a product (rows, in) x (in, out) */
	void *ud;
	double other;  /* other FLOPs of forward and backward (attention scores and sums) */
} sl_work;

typedef struct sl_mixer_view {
	const char *name; /* "attn", "decay", "delta", ... */
	const char *help; /* one line */
} sl_mixer_view;

typedef struct sl_mixer_kind {
	char letter;                /* in stack patterns: "MA", "MMA" */
	const char *name;
	const char *summary;
	const sl_optspec *options;  /* offsets into the mixer's config */
	size_t cfg_size;            /* <= SL_MIXER_CFG_MAX */
	size_t layer_size;          /* the block's own struct (parameters, trace) */
	/* Refuses a config the block cannot be built with (SL_ERR, error set). */
	int (*check)(const void *cfg, const sl_mixer_ctx *ctx);
	/* Declares the block's parameters under "prefix.*" in ps; layer is
	 * layer_size zeroed bytes. */
	void (*add)(void *layer, sl_params *ps, const char *prefix, const void *cfg, const sl_mixer_ctx *ctx);
	/* After sl_params_init: the parameters initialised by hand. May be NULL. */
	void (*init)(void *layer, const void *cfg, const sl_mixer_ctx *ctx, const sl_rng *rng);
	/* h (B, T, hidden) -> (B, T, hidden), causal. Keeps what its views need
	 * in layer until the tape is reset. */
	sl_tensor *(*forward)(void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, sl_tensor *h);
	/* Nonzero when the block's output is already normalised (post-norm), so
	 * a stack ending with it needs no final norm. May be NULL. */
	int (*normalises)(const void *cfg);
	/* Step mode: a state for B sequences (owned; freed by state_free), and
	 * one token's step h (B, 1, hidden) -> (B, 1, hidden), gradients off.
	 * NULL when the kind has none (a stack then re-runs its forward pass). */
	void *(*state_new)(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int B);
	/* Nonzero when this config has a step mode (NULL: whenever step is set). */
	int (*can_step)(const void *cfg, const sl_mixer_ctx *ctx);
	void (*state_free)(void *state);
	sl_tensor *(*step)(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, void *state,
			   sl_tensor *h);
	/* Rows 0..n-1 of the state become the old rows parent[i] (beam search). */
	void (*state_reorder)(void *state, const int *parent, int n);
	/* The views it offers (NULL-terminated by name), and the grids of view
	 * `which` for sequence 0 of the last forward pass: at most max grids
	 * written to out, their count returned (0 with the error set if the
	 * block has no forward pass to show). */
	const sl_mixer_view *views;
	int (*view)(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int which, sl_mixer_grid *out,
		    int max);
	/* Blocks with a recurrent state (NULL: none): after a forward pass
	 * with gradients on, over one sequence, the Jacobian norm
	 * ||∂s_p/∂s_t||_F / √(units) of the state at position p with respect
	 * to the state at each t <= p (1 at t = p), into norm (p + 1): the
	 * recurrent cells by a backward pass per unit of the state through
	 * their op's trace (the tape's gradients are left alone; a caller
	 * must not count on either), the diagonal recurrences (Mamba, S4D, LRU, RG-LRU) from their
	 * decays (sl_mixer_diag_jacobian). SL_ERR with the error set when the
	 * block has no such forward pass. */
	int (*jacobian)(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, int p,
			float *norm);
	/* The forward pass's work on B sequences of T tokens, for the
	 * benchmark's FLOP counts: its matrix products, and its other
	 * multiply-adds (attention's scores and sums). */
	void (*work)(const void *cfg, const sl_mixer_ctx *ctx, double B, double T, sl_work *w);
} sl_mixer_kind;

/* The registered mixers, in this order (the index of a mixer's config in a
 * stack's config). */
enum sl_mixer_id {
	SL_MIXER_ATTN,
	SL_MIXER_LINATTN,
	SL_MIXER_MAMBA,
	SL_MIXER_S4D,
	SL_MIXER_LRU,
	SL_MIXER_RGLRU,
	SL_MIXER_ELMAN,
	SL_MIXER_GRU,
	SL_MIXER_LSTM,
	SL_MIXER_COUNT
};
extern const sl_mixer_kind *const sl_mixers[]; /* SL_MIXER_COUNT, then NULL */
extern const sl_mixer_kind sl_mixer_attn, sl_mixer_linattn, sl_mixer_mamba, sl_mixer_s4d, sl_mixer_lru,
	sl_mixer_rglru, sl_mixer_elman, sl_mixer_gru, sl_mixer_lstm;

/* By pattern letter or by name; NULL if none. */
const sl_mixer_kind *sl_mixer_by_letter(char letter);
const sl_mixer_kind *sl_mixer_find(const char *name);
/* The index of kind in sl_mixers. */
int sl_mixer_index(const sl_mixer_kind *kind);
/* "A = attention, M = mamba, ...": every letter (a thread's static string). */
const char *sl_mixer_legend(void);
/* The index of view `name` in kind->views, or -1. */
int sl_mixer_view_find(const sl_mixer_kind *kind, const char *name);
/* For state_reorder: rows 0..n-1 of v, B rows of w bytes, become the old
 * rows parent[i] (v may be NULL: nothing to do). */
void sl_mixer_reorder_rows(void *v, size_t w, int B, const int *parent, int n);

/* The Jacobian norm of a diagonal recurrence s_t = a_t ⊙ s_{t-1} + ...:
 * norm[t] = sqrt(mean_i prod_{k=t+1..p} a_k[i]^2) for t <= p, a_k the n
 * factors at a + k stride (stride 0: the same each step). */
void sl_mixer_diag_jacobian(const float *a, size_t stride, int n, int p, float *norm);

/* Frees the grids' data. */
void sl_mixer_grids_free(sl_mixer_grid *g, int n);

#endif
