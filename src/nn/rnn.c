/* rnn.c - recurrent cells as mixers (seed 002's lecture): Elman's tanh RNN
 * (letter E), the GRU (U) and the LSTM (C), each a residual block
 *
 *   u = LayerNorm(h);  s_t = cell(W_x u_t + b, s_{t-1});  h' = h + s
 *
 * the whole sequence one fused op (sl_rnn_seq, src/core/op_rnn.c: the
 * recurrence and its backpropagation through time), the step mode the same
 * op for one step from the carried state (sl_rnn_cell_step); rnn.h's, which
 * the rnn encoder-decoder shares. The cells, as the lecture and the
 * CSC413/CSE 849 handout write them:
 *   Elman  h_t = tanh(W_x x_t + b + W_h h_{t-1})
 *   GRU    r, z = σ(W_xr x + b_r + W_hr h), σ(W_xz x + b_z + W_hz h),
 *          g = tanh(W_xg x + b_xg + r ⊙ (W_hg h + b_hg)), h = (1 - z) ⊙ g + z ⊙ h_prev
 *   LSTM   i, f, o = σ(·), g = tanh(·) of W_x x + b + W_h h; c = f ⊙ c + i ⊙ g, h = o ⊙ tanh(c)
 * initialised as torch.nn.GRU/LSTM (every weight and bias U(-1/√H, 1/√H)).
 * Their step mode carries h (and c); their views: the GRU's update gate z,
 * the LSTM's forget gate f, the state's magnitude |h_t|. */
#include "seqlab/mixer.h"
#include "seqlab/rnn.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CELL_ELMAN = SL_RNN_TANH, CELL_GRU = SL_RNN_GRU, CELL_LSTM = SL_RNN_LSTM };

typedef struct rnn_config {
	int unused; /* the cells have no options of their own: their width is the stack's */
} rnn_config;
static_assert(sizeof(rnn_config) <= SL_MIXER_CFG_MAX, "the RNN's config fits a stack's slot");

static const sl_optspec options[] = {
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

typedef struct rnn_layer {
	sl_nn_norm norm;
	sl_rnn_cell cell;
	/* the last forward pass's trace (arena: valid until the tape is reset),
	 * for the views (sequence 0's gate and h) and the Jacobian across time */
	const sl_rnn_trace *trace;
} rnn_layer;

static int check(const void *cfg, const sl_mixer_ctx *ctx)
{
	(void)cfg;
	(void)ctx;
	return SL_OK;
}

void sl_rnn_cell_add(sl_rnn_cell *c, sl_params *ps, const char *prefix, int kind, int in, int H)
{
	c->kind = kind;
	c->G = kind == CELL_ELMAN ? 1 : kind == CELL_GRU ? 3 : 4;
	c->in = in;
	c->H = H;
	c->bhg = NULL;
	char name[64];
#define N_(suffix) (snprintf(name, sizeof name, "%s.%s", prefix, suffix), name)
	float s = 1.0f / sqrtf((float)H);
	sl_nn_linear_add(&c->wx, ps, N_("wx"), in, c->G * H, 1);
	sl_params_set_init(ps, c->wx.w, SL_INIT_UNIFORM, -s, s);
	sl_params_set_init(ps, c->wx.b, SL_INIT_UNIFORM, -s, s);
	sl_nn_linear_add(&c->wh, ps, N_("wh"), H, c->G * H, 0);
	sl_params_set_init(ps, c->wh.w, SL_INIT_UNIFORM, -s, s);
	if (kind == CELL_GRU) {
		c->bhg = sl_params_add(ps, N_("bhg"), 1, &H, SL_PARAM_NO_DECAY);
		sl_params_set_init(ps, c->bhg, SL_INIT_UNIFORM, -s, s);
	}
#undef N_
}

static void add_cell(rnn_layer *ly, int cell, sl_params *ps, const char *prefix, int H)
{
	char name[64];
	snprintf(name, sizeof name, "%s.norm", prefix);
	sl_nn_norm_add(&ly->norm, ps, name, H, 0);
	sl_rnn_cell_add(&ly->cell, ps, prefix, cell, H, H);
}

/* The gate a view shows (the GRU's z, the LSTM's f: second of the saved)
 * for every sequence of a one-step trace, as a tape tensor (B, 1, H) */
static sl_tensor *step_gate(sl_tape *tp, const sl_rnn_trace *tr)
{
	int s[3] = { tr->B, 1, tr->H };
	sl_tensor *g = sl_tape_tensor(tp, 3, s);
	for (int b = 0; b < tr->B; b++)
		memcpy(g->data + (size_t)b * tr->H, tr->sv + (size_t)b * tr->S + tr->H, (size_t)tr->H * sizeof(float));
	return g;
}

sl_tensor *sl_rnn_cell_step(const sl_rnn_cell *ly, sl_tape *tp, sl_tensor *xg, sl_tensor *h, sl_tensor **c,
			    sl_tensor **shown)
{
	int H = ly->H, lstm = ly->kind == CELL_LSTM;
	const sl_rnn_trace *tr;
	sl_tensor *y = sl_rnn_seq(tp, ly->kind, xg, ly->wh.w, ly->bhg, h, lstm ? *c : NULL, lstm, &tr);
	if (shown)
		*shown = ly->kind == CELL_ELMAN ? NULL : step_gate(tp, tr);
	if (!lstm)
		return y;
	*c = sl_slice(tp, y, 2, H, H); /* (B, 1, 2 H): h, then c */
	return sl_slice(tp, y, 2, 0, H);
}

sl_tensor *sl_rnn_cell_seq(const sl_rnn_cell *c, sl_tape *tp, sl_tensor *xg, int with_c, const sl_rnn_trace **trace)
{
	return sl_rnn_seq(tp, c->kind, xg, c->wh.w, c->bhg, NULL, NULL, with_c, trace);
}

sl_tensor *sl_rnn_zeros(sl_tape *tp, int B, int H)
{
	int s[3] = { B, 1, H };
	sl_tensor *z = sl_tape_tensor(tp, 3, s);
	memset(z->data, 0, (size_t)B * H * sizeof(float));
	return z;
}

static sl_tensor *forward(void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, sl_tensor *h)
{
	(void)cfg;
	rnn_layer *ly = layer;
	sl_tensor *xg = sl_nn_linear_forward(&ly->cell.wx, tp, sl_nn_norm_forward(&ly->norm, tp, h)); /* (B, T, G H) */
	sl_tensor *y = sl_rnn_cell_seq(&ly->cell, tp, xg, 0, &ly->trace);                            /* (B, T, H) */
	return sl_add(tp, h, sl_dropout(tp, y, ctx->dropout));
}

/* ---- step mode ---------------------------------------------------------------------- */

typedef struct rnn_state {
	int B, H;
	float *h, *c; /* (B, H) each (c: LSTM) */
} rnn_state;

static void *state_new(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int B)
{
	(void)cfg;
	(void)ctx;
	const rnn_layer *ly = layer;
	rnn_state *st = sl_xcalloc(1, sizeof *st);
	st->B = B;
	st->H = ly->cell.H;
	st->h = sl_xcalloc((size_t)B * st->H, sizeof(float));
	st->c = sl_xcalloc((size_t)B * st->H, sizeof(float));
	return st;
}

static void state_free(void *state)
{
	rnn_state *st = state;
	if (!st)
		return;
	free(st->h);
	free(st->c);
	free(st);
}

static void state_reorder(void *state, const int *parent, int n)
{
	rnn_state *st = state;
	sl_mixer_reorder_rows(st->h, (size_t)st->H * sizeof(float), st->B, parent, n);
	sl_mixer_reorder_rows(st->c, (size_t)st->H * sizeof(float), st->B, parent, n);
}

static sl_tensor *step(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, void *state,
		       sl_tensor *h)
{
	(void)cfg;
	(void)ctx;
	const rnn_layer *ly = layer;
	rnn_state *st = state;
	sl_tensor *xg = sl_nn_linear_forward(&ly->cell.wx, tp, sl_nn_norm_forward(&ly->norm, tp, h));
	sl_tensor *s = sl_rnn_zeros(tp, st->B, st->H), *c = sl_rnn_zeros(tp, st->B, st->H);
	memcpy(s->data, st->h, (size_t)st->B * st->H * sizeof(float));
	memcpy(c->data, st->c, (size_t)st->B * st->H * sizeof(float));
	s = sl_rnn_cell_step(&ly->cell, tp, xg, s, &c, NULL);
	memcpy(st->h, s->data, (size_t)st->B * st->H * sizeof(float));
	if (ly->cell.kind == CELL_LSTM)
		memcpy(st->c, c->data, (size_t)st->B * st->H * sizeof(float));
	return sl_add(tp, h, s);
}

/* ---- views ---------------------------------------------------------------------------- */

enum { VIEW_STATE, VIEW_GATE };
static const sl_mixer_view elman_views[] = {
	{ "h", "|h_t| per position and unit" },
	{ NULL, NULL },
};
static const sl_mixer_view gru_views[] = {
	{ "h", "|h_t| per position and unit" },
	{ "z", "the update gate z_t per position and unit (near 1: keep the old state)" },
	{ NULL, NULL },
};
static const sl_mixer_view lstm_views[] = {
	{ "h", "|h_t| per position and unit" },
	{ "f", "the forget gate f_t per position and unit (near 1: keep the cell)" },
	{ NULL, NULL },
};

static int view(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int which, sl_mixer_grid *out, int max)
{
	(void)cfg;
	(void)ctx;
	const rnn_layer *ly = layer;
	if (!ly->trace) {
		sl_errorf("the recurrent block has not run yet");
		return 0;
	}
	if (max < 1)
		return 0;
	int T = ly->trace->T, H = ly->cell.H;
	sl_mixer_grid *g = out;
	memset(g, 0, sizeof *g);
	g->rows = T;
	g->cols = H;
	g->col_kind = SL_GRID_INDEX;
	g->v = sl_xmalloc((size_t)T * H * sizeof *g->v);
	float *state = sl_xmalloc((size_t)T * H * sizeof *state);
	sl_rnn_trace_seq0(ly->trace, which == VIEW_GATE ? g->v : NULL, state);
	if (which == VIEW_GATE) {
		snprintf(g->title, sizeof g->title, "%s gate (position x unit)", ly->cell.kind == CELL_GRU ? "update" : "forget");
		g->fixed = 1;
		g->lo = 0;
		g->hi = 1;
	} else {
		snprintf(g->title, sizeof g->title, "|h| (position x unit)");
		for (size_t i = 0; i < (size_t)T * H; i++)
			g->v[i] = fabsf(state[i]);
	}
	free(state);
	return 1;
}

/* ||∂s_p/∂s_t||_F / √H (1 at t = p): row j of the Jacobian is the gradient a backward pass
 * from unit j of s_p leaves on each earlier s_t, stepped down through the op's trace. For
 * the LSTM s is h, with the cell state carried inside (h_t reaches c_{t+1} through the
 * gates). The tape's gradients are left alone. */
static int jacobian(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, int p, float *norm)
{
	(void)cfg;
	(void)ctx;
	(void)tp;
	const rnn_layer *ly = layer;
	if (!ly->trace || p < 0 || p >= ly->trace->T) {
		sl_errorf("the recurrent block has no forward pass to differentiate");
		return SL_ERR;
	}
	sl_rnn_trace_jacobian(ly->trace, p, norm);
	return SL_OK;
}

static void work(const void *cfg, const sl_mixer_ctx *ctx, double B, double T, sl_work *w, int G)
{
	(void)cfg;
	int H = ctx->hidden;
	w->lin(w->ud, B * T, H, G * H);
	w->lin(w->ud, B * T, H, G * H);
}

#define CELL(NAME, ID, G, LETTER, SUMMARY, VIEWS)                                                              \
	static void NAME##_add(void *layer, sl_params *ps, const char *prefix, const void *cfg,                \
			       const sl_mixer_ctx *ctx)                                                         \
	{                                                                                                     \
		(void)cfg;                                                                                    \
		add_cell(layer, ID, ps, prefix, ctx->hidden);                                                 \
	}                                                                                                     \
	static void NAME##_work(const void *cfg, const sl_mixer_ctx *ctx, double B, double T, sl_work *w)      \
	{                                                                                                     \
		work(cfg, ctx, B, T, w, G);                                                                   \
	}                                                                                                     \
	const sl_mixer_kind sl_mixer_##NAME = {                                                               \
		.letter = LETTER, .name = #NAME, .summary = SUMMARY, .options = options,                     \
		.cfg_size = sizeof(rnn_config), .layer_size = sizeof(rnn_layer), .check = check,             \
		.add = NAME##_add, .forward = forward, .state_new = state_new, .state_free = state_free,     \
		.state_reorder = state_reorder, .step = step, .views = VIEWS, .view = view,                  \
		.jacobian = jacobian,                                                                         \
		.work = NAME##_work,                                                                          \
	};

CELL(elman, CELL_ELMAN, 1, 'E', "Elman's RNN: h_t = tanh(W_x x_t + W_h h_{t-1}), through time by backpropagation",
     elman_views)
CELL(gru, CELL_GRU, 3, 'U', "the GRU: reset and update gates around a tanh candidate", gru_views)
CELL(lstm, CELL_LSTM, 4, 'C', "the LSTM: input, forget and output gates and a cell state", lstm_views)
