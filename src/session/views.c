/* views.c - heatmaps of a language model's blocks, chosen by what each
 * block's mixer offers (mixer.h): attention grids, Mamba's decay, delta, B
 * and C, and each later mixer's. The mixers compute the matrices; this file
 * labels them and hands them to the session. */
#include "seqlab/commands.h"
#include "seqlab/display.h"
#include "seqlab/piglatin.h"
#include "seqlab/recall.h"
#include "seqlab/views.h"
#include "seqlab/workbench.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The views the blocks of model m offer, "a, b, c" (distinct, in order). */
static void offered(const sl_model *m, char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = 0;
	int L = m->kind->layers(m->impl);
	for (int l = 0; l < L; l++) {
		const sl_mixer_kind *mk = m->kind->layer_mixer(m->impl, l);
		for (int v = 0; mk->views && mk->views[v].name; v++) {
			const char *nm = mk->views[v].name;
			int seen = 0;
			for (int j = 0; j < l && !seen; j++)
				seen = sl_mixer_view_find(m->kind->layer_mixer(m->impl, j), nm) >= 0;
			for (int w = 0; w < v && !seen; w++)
				seen = strcmp(mk->views[w].name, nm) == 0;
			if (!seen && k < n)
				k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? ", " : "", nm);
		}
	}
}

/* A number in 0..hi-1 or "all" (NULL: all) into [*lo, *hi). */
static int pick(sl_args *a, const char *key, const char *val, int *lo, int *hi)
{
	if (!val || strcmp(val, "all") == 0)
		return SL_OK;
	char *end;
	long v = strtol(val, &end, 10);
	if (*end || end == val || v < *lo || v >= *hi)
		return sl_args_fail(a, "%s=%s: %d..%d or all", key, val, *lo, *hi - 1);
	*lo = (int)v;
	*hi = *lo + 1;
	return SL_OK;
}

/* The sequence a view runs over, with a label per position. */
typedef struct sl_input {
	int32_t *x;
	const int32_t *y;   /* targets (-1: not scored), or NULL */
	int T;
	char (*lab)[8];
	char out[320];      /* what the model answers */
	char caption[512];
	const char *what;   /* "word", "text", "sequence" */
} sl_input;

static void input_free(sl_input *in)
{
	free(in->x);
	free(in->lab);
}

/* Pig-Latin: the prefix-LM sequence word $ ^ translation; a text task: the
 * text's characters; a generated task: test sequence N (or comma-separated
 * tokens), recall's query, key and value marked q, k, v. */
static int view_input(sl_session *s, sl_args *a, sl_run *r, const char *word, sl_input *in)
{
	memset(in, 0, sizeof *in);
	sl_task *t = r->task;
	if (sl_pl_task_data(t)) {
		char out[4 * SL_PL_MAXLEN];
		r->tape->pool = sl_session_pool(s);
		if (sl_pl_translate(t, r->model, r->tape, word, 1, out, sizeof out) != SL_OK)
			return sl_fail(s, "%s", sl_error());
		in->x = sl_xmalloc(8 * SL_PL_MAXLEN * sizeof *in->x);
		const sl_pl_data *d = sl_pl_task_data(t);
		int S = sl_pl_encode(d, word, in->x, SL_PL_MAXLEN);
		in->x[S] = SL_PL_EOS;
		in->x[S + 1] = SL_PL_SOS;
		in->T = S + 2 + sl_pl_encode(d, out, in->x + S + 2, 4 * SL_PL_MAXLEN);
		in->lab = sl_xcalloc((size_t)in->T, sizeof *in->lab);
		for (int i = 0; i < in->T; i++)
			snprintf(in->lab[i], sizeof in->lab[i], "%c", sl_pl_char(in->x[i]));
		snprintf(in->out, sizeof in->out, "%s", out);
		snprintf(in->caption, sizeof in->caption, "%s -> %s (prefix: word $ ^ translation)", word, out);
		in->what = "word";
		return SL_OK;
	}
	if (t->ops->encode) {
		size_t n = strlen(word);
		in->x = sl_xmalloc((n + 1) * sizeof *in->x);
		int T = t->ops->encode(t, word, in->x, (int)n);
		if (T <= 0) {
			input_free(in);
			return sl_fail(s, "%s", T < 0 ? sl_error() : "an empty text");
		}
		if (T > t->shape.maxlen)
			T = t->shape.maxlen; /* the positions the model has */
		in->T = T;
		in->lab = sl_xcalloc((size_t)T, sizeof *in->lab);
		for (int i = 0; i < T; i++) {
			char c = word[i];
			snprintf(in->lab[i], sizeof in->lab[i], "%c", c == ' ' ? '_' : c == '\n' ? '|' : isprint((unsigned char)c) ? c : '?');
		}
		snprintf(in->caption, sizeof in->caption, "\"%.*s\" (its characters; _ a space, | a newline)", T, word);
		snprintf(in->out, sizeof in->out, "-");
		in->what = "text";
		return SL_OK;
	}
	const sl_gen_kind *gk = sl_gen_task_kind(t);
	if (!gk)
		return sl_fail(s, "run '%s' is on the %s task, which has no inputs to show", r->name, t->ops->name);
	/* a test sequence by number, or tokens a,b,c */
	const int32_t *tx = NULL, *ty = NULL;
	int T = 0;
	char *end;
	long idx = strtol(word, &end, 10);
	if (*end == 0 && end != word) {
		tx = sl_gen_task_test(t, (int)idx, &ty, &T);
		if (!tx)
			return sl_args_fail(a, "%s: a test sequence's number (0 up to the task's test= less 1) or tokens a,b,c",
					    word);
	}
	if (tx) {
		in->x = sl_xmalloc((size_t)T * sizeof *in->x);
		memcpy(in->x, tx, (size_t)T * sizeof *in->x);
		in->y = ty;
	} else {
		in->x = sl_xmalloc((strlen(word) / 2 + 2) * sizeof *in->x);
		for (const char *p = word; *p; ) {
			long v = strtol(p, &end, 10);
			if (end == p || v < 0 || v >= t->shape.vocab || (*end && *end != ',')) {
				input_free(in);
				return sl_args_fail(a, "%s: tokens are numbers 0..%d separated by commas", word, t->shape.vocab - 1);
			}
			in->x[T++] = (int32_t)v;
			p = *end ? end + 1 : end;
		}
		if (T > t->shape.maxlen) {
			input_free(in);
			return sl_args_fail(a, "%d tokens: the task's longest sequence is %d", T, t->shape.maxlen);
		}
	}
	in->T = T;
	in->lab = sl_xcalloc((size_t)T, sizeof *in->lab);
	for (int i = 0; i < T; i++)
		snprintf(in->lab[i], sizeof in->lab[i], "%d", in->x[i]);
	if (strcmp(gk->name, "recall") == 0 && T >= 2) {
		/* the query (last), its first occurrence (the key) and the value tau on */
		const sl_recall_config *rc = sl_gen_task_config(t);
		int q = in->x[T - 1], k = -1;
		for (int i = 0; i < T - 1 && k < 0; i++)
			if (in->x[i] == q)
				k = i;
		snprintf(in->lab[T - 1], sizeof in->lab[T - 1], "%dq", q);
		if (k >= 0) {
			snprintf(in->lab[k], sizeof in->lab[k], "%dk", q);
			if (k + rc->tau < T - 1)
				snprintf(in->lab[k + rc->tau], sizeof in->lab[k + rc->tau], "%dv", in->x[k + rc->tau]);
		}
	} else if (in->y) {
		for (int i = 0; i < T; i++)
			if (in->y[i] >= 0)
				snprintf(in->lab[i], sizeof in->lab[i], "%d*", in->x[i]);
	}
	if (tx)
		snprintf(in->caption, sizeof in->caption, "%s test sequence %ld (q query, k its first occurrence, v the value; "
			 "* scored)", gk->name, idx);
	else
		snprintf(in->caption, sizeof in->caption, "%s tokens %s", gk->name, word);
	snprintf(in->out, sizeof in->out, "-");
	in->what = "sequence";
	return SL_OK;
}

int sl_views_show(sl_session *s, sl_args *a, sl_run *r, const char *word, const char *view, const char *layer_s,
		  const char *head_s)
{
	sl_model *m = r->model;
	if (!m->kind->layers)
		return sl_fail(s, "run '%s' is a %s: it has no blocks to show %s of", r->name, m->kind->name, view);
	char have[256];
	offered(m, have, sizeof have);
	int L = m->kind->layers(m->impl), l0 = 0, l1 = L, h0 = 0, h1 = 1 << 20;
	int any = 0;
	for (int l = 0; l < L; l++)
		any |= sl_mixer_view_find(m->kind->layer_mixer(m->impl, l), view) >= 0;
	if (!any)
		return sl_fail(s, "run '%s' (%s) has no block that shows %s; its blocks show: %s", r->name,
			       m->kind->name, view, have[0] ? have : "nothing");
	if (pick(a, "layer", layer_s, &l0, &l1) != SL_OK)
		return SL_ERR;
	if (head_s && strcmp(head_s, "all")) {
		char *end;
		long v = strtol(head_s, &end, 10);
		if (*end || end == head_s || v < 0)
			return sl_args_fail(a, "head=%s: a head number or all", head_s);
		h0 = (int)v;
		h1 = h0 + 1;
	}
	sl_input in;
	if (view_input(s, a, r, word, &in) != SL_OK)
		return SL_ERR;
	int32_t *x = in.x;
	int T = in.T;
	sl_tape *tp = r->tape;
	sl_tape_reset(tp);
	tp->grad_enabled = 0;
	tp->training = 0;
	sl_tensor *logits = m->kind->lm(m->impl, tp, x, 1, T);
	if (!logits) {
		sl_tape_reset(tp);
		input_free(&in);
		return sl_fail(s, "%s", sl_error());
	}
	if (in.y) { /* the model's answers where the task scores */
		int V = sl_tensor_dim(logits, -1), scored = 0, right = 0;
		char got[256] = "";
		size_t k = 0;
		for (int t = 0; t < T; t++)
			if (in.y[t] >= 0) {
				int o = sl_argmax(logits->data + (size_t)t * V, V);
				scored++;
				right += o == in.y[t];
				if (k < sizeof got - 16)
					k += (size_t)snprintf(got + k, sizeof got - k, "%s%d", k ? "," : "", o);
			}
		snprintf(in.out, sizeof in.out, "%s (right %d of %d)", got, right, scored);
	}
	const char **rows = sl_xcalloc((size_t)T, sizeof *rows);
	char (*chl)[8] = sl_xcalloc(4096, sizeof *chl);
	const char **cols = sl_xcalloc(4096, sizeof *cols);
	for (int t = 0; t < T; t++)
		rows[t] = in.lab[t];
	for (int j = 0; j < 4096; j++) {
		snprintf(chl[j], sizeof chl[j], "%d", j);
		cols[j] = chl[j];
	}
	int cap = 0, nm = 0;
	sl_mixer_grid *g = NULL;
	sl_view_matrix *mv = NULL;
	char (*titles)[64] = NULL;
	int rc = SL_OK;
	for (int l = l0; l < l1 && rc == SL_OK; l++) {
		const sl_mixer_kind *mk = m->kind->layer_mixer(m->impl, l);
		int which = sl_mixer_view_find(mk, view);
		if (which < 0)
			continue;
		sl_mixer_grid tmp[64];
		int k = m->kind->layer_view(m->impl, l, which, tmp, 64);
		if (k == 0) {
			rc = sl_fail(s, "%s", sl_error());
			break;
		}
		for (int i = 0; i < k; i++) {
			if (k > 1 && (i < h0 || i >= h1)) {
				free(tmp[i].v);
				continue;
			}
			if (nm == cap) {
				cap = cap ? 2 * cap : 16;
				g = sl_xrealloc(g, (size_t)cap * sizeof *g);
				mv = sl_xrealloc(mv, (size_t)cap * sizeof *mv);
				titles = sl_xrealloc(titles, (size_t)cap * sizeof *titles);
			}
			g[nm] = tmp[i];
			snprintf(titles[nm], sizeof titles[nm], "L%d %.47s", l, tmp[i].title);
			nm++;
		}
	}
	if (rc == SL_OK && nm == 0)
		rc = sl_args_fail(a, "no %s grid in layers %d..%d (head=%s)", view, l0, l1 - 1, head_s ? head_s : "all");
	if (rc == SL_OK) {
		for (int i = 0; i < nm; i++)
			mv[i] = (sl_view_matrix){ .title = titles[i], .v = g[i].v, .rows = g[i].rows, .cols = g[i].cols,
						  .row_labels = g[i].row_kind == SL_GRID_POS ? rows : cols,
						  .col_labels = g[i].col_kind == SL_GRID_POS ? rows : cols,
						  .fixed = g[i].fixed, .lo = g[i].lo, .hi = g[i].hi };
		char caption[768];
		snprintf(caption, sizeof caption, "%s of run %s: %s", view, r->name, in.caption);
		sl_out(s, "run=%s %s=%s output=%s show=%s layers=%d..%d", r->name, in.what, word, in.out, view, l0, l1 - 1);
		sl_view v = { .caption = caption, .n = nm, .m = mv };
		sl_session_view(s, &v);
	}
	sl_mixer_grids_free(g, nm);
	free(g);
	free(mv);
	free(titles);
	free(cols);
	free(chl);
	free(rows);
	input_free(&in);
	sl_tape_reset(tp);
	return rc;
}

int sl_cmd_ssm(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	const char *name = sl_args_word(a), *word = sl_args_word(a), *layer_s = NULL, *show = "decay";
	sl_args_str(a, "layer", &layer_s);
	sl_args_str(a, "show", &show);
	if (!name || !word)
		return sl_args_fail(a, "expected RUN WORD");
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	sl_run *r = sl_workbench_run(wb, name);
	if (!r)
		return sl_fail(s, "no run '%s'; 'runs' lists them", name);
	return sl_views_show(s, a, r, word, show, layer_s, NULL);
}

/* ---- gradient flow ------------------------------------------------------------------ */

/* The input gradflow reads when none is given: a generated task's first
 * test sequence, a Pig-Latin run's first validation word. NULL: none. */
static const char *default_input(const sl_run *r)
{
	const sl_pl_data *d = sl_pl_task_data(r->task);
	if (d) {
		for (int i = 0; i < d->n; i++)
			if (d->split[i] == 1)
				return d->src[i];
		return d->n ? d->src[0] : NULL;
	}
	return sl_gen_task_kind(r->task) ? "0" : NULL;
}

/* log10 of v (n), the zeros at the smallest nonzero value's (or -12). */
static void log10_floor(const float *v, float *out, int n)
{
	float lo = 0;
	int any = 0;
	for (int i = 0; i < n; i++)
		if (v[i] > 0 && (!any || log10f(v[i]) < lo)) {
			lo = log10f(v[i]);
			any = 1;
		}
	for (int i = 0; i < n; i++)
		out[i] = v[i] > 0 ? log10f(v[i]) : any ? lo : -12.0f;
}

/* The gradient's norm per position, ||g[t, :]|| of g (T, H) for t <= p. */
static void row_norms(const float *g, int H, int p, float *out)
{
	for (int t = 0; t <= p; t++) {
		double q = 0;
		for (int j = 0; g && j < H; j++)
			q += (double)g[(size_t)t * H + j] * g[(size_t)t * H + j];
		out[t] = (float)sqrt(q);
	}
}

/* The encoder-decoder: the source word and the teacher-forced decoder input
 * SOS + the model's own translation, the loss at decoder position at (by
 * default the last: EOS). */
static int gradflow_s2s(sl_session *s, sl_args *a, sl_run *r, const char *word, long long at, const char *file)
{
	sl_model *m = r->model;
	if (!sl_pl_task_data(r->task)) {
		const sl_gen_kind *gk = sl_gen_task_kind(r->task);
		return sl_fail(s, "run '%s' is a %s on the %s task: gradflow reads an encoder-decoder on piglatin", r->name,
			       m->kind->name, gk ? gk->name : r->task->ops->name);
	}
	char out[4 * SL_PL_MAXLEN];
	sl_tape *tp = r->tape;
	tp->pool = sl_session_pool(s);
	if (sl_pl_translate(r->task, m, tp, word, 1, out, sizeof out) != SL_OK)
		return sl_fail(s, "%s", sl_error());
	int32_t src[SL_PL_MAXLEN], dec[4 * SL_PL_MAXLEN + 1], tgt[4 * SL_PL_MAXLEN + 1];
	const sl_pl_data *d = sl_pl_task_data(r->task);
	int S = sl_pl_encode(d, word, src, SL_PL_MAXLEN), T = 1 + sl_pl_encode(d, out, dec + 1, 4 * SL_PL_MAXLEN);
	dec[0] = SL_PL_SOS;
	if (at >= T) /* decoder positions 0..T-1: SOS and the translation; T-1 predicts EOS */
		return sl_args_fail(a, "at=%lld: a decoder position, 0..%d", at, T - 1);
	int p = at >= 0 ? (int)at : T - 1;
	for (int t = 0; t < T; t++)
		tgt[t] = t == p ? (t + 1 < T ? dec[t + 1] : SL_PL_EOS) : -1;
	sl_params *ps = m->ps;
	float *keep = sl_xmalloc(ps->total * sizeof *keep);
	memcpy(keep, ps->grad, ps->total * sizeof *keep);
	sl_tape_reset(tp);
	tp->grad_enabled = 1;
	tp->training = 0;
	sl_tensor *sx = NULL, *dx = NULL;
	sl_tensor *logits = m->kind->s2s_probe(m->impl, tp, src, dec, 1, S, T, &sx, &dx);
	int32_t *y = sl_arena_alloc(tp->arena, (size_t)T * sizeof *y);
	memcpy(y, tgt, (size_t)T * sizeof *y);
	sl_tensor *loss = sl_cross_entropy(tp, logits, y, -1, NULL);
	int rc = SL_OK;
	if (sl_tape_backward(tp, loss) != SL_OK || !sx->grad || !dx->grad) {
		rc = sl_fail(s, "%s", *sl_error() ? sl_error() : "no gradient reached the input");
	} else {
		int H = sl_tensor_dim(sx, -1), P = p + 1;
		float *g = sl_xcalloc((size_t)(S + P), sizeof *g), *lg = sl_xcalloc((size_t)(S + P), sizeof *lg);
		row_norms(sx->grad, H, S - 1, g);
		row_norms(dx->grad, H, p, g + S);
		char (*lab)[8] = sl_xcalloc((size_t)(S + P), sizeof *lab);
		const char **cols = sl_xcalloc((size_t)(S + P), sizeof *cols);
		for (int i = 0; i < S + P; i++) {
			int tok = i < S ? src[i] : dec[i - S];
			snprintf(lab[i], sizeof lab[i], "%c", sl_pl_char(tok));
			cols[i] = lab[i];
			sl_out(s, "side=%s t=%d token=%s grad_norm=%.4g", i < S ? "src" : "dec", i < S ? i : i - S, lab[i],
			       g[i]);
		}
		log10_floor(g, lg, S);
		log10_floor(g + S, lg + S, P);
		static const char *const rows[] = { "source x", "decoder y" };
		sl_view_matrix mv[2] = {
			{ .title = "log10 |d loss / d x_s| (source)", .v = lg, .rows = 1, .cols = S, .row_labels = rows,
			  .col_labels = cols },
			{ .title = "log10 |d loss / d y_t| (decoder input)", .v = lg + S, .rows = 1, .cols = P,
			  .row_labels = rows + 1, .col_labels = cols + S },
		};
		char caption[640];
		snprintf(caption, sizeof caption, "run %s, the loss at decoder position %d (target %c): %s -> %s", r->name,
			 p, sl_pl_char(tgt[p]), word, out);
		sl_view v = { .caption = caption, .n = 2, .m = mv };
		sl_session_view(s, &v);
		if (file && sl_display_save_view(s, file, &v) != SL_OK)
			rc = SL_ERR;
		if (rc == SL_OK)
			sl_out(s, "run=%s word=%s output=%s loss_at=%d loss=%.4f grad_src_first=%.4g grad_src_last=%.4g "
			       "grad_first=%.4g grad_last=%.4g", r->name, word, out, p, loss->data[0], g[0], g[S - 1], g[S],
			       g[S + p]);
		free(cols);
		free(lab);
		free(lg);
		free(g);
	}
	sl_tape_reset(tp);
	memcpy(ps->grad, keep, ps->total * sizeof *keep);
	free(keep);
	return rc;
}

/* The loss position: at (its scored target, else the next token), or the
 * last position whose target is known. SL_ERR reported. */
static int loss_position(sl_session *s, sl_args *a, const sl_input *in, long long at, int *p, int *tgt)
{
	int T = in->T;
	*p = *tgt = -1;
	if (at >= 0) {
		*p = (int)at;
		if (*p < T && in->y && in->y[*p] >= 0)
			*tgt = in->y[*p];
		else if (*p + 1 < T)
			*tgt = in->x[*p + 1];
		if (*tgt < 0)
			return sl_args_fail(a, "at=%lld: a position with a target, 0..%d", at, T - 2 >= 0 ? T - 2 : 0);
		return SL_OK;
	}
	for (int t = T - 1; *p < 0 && in->y && t >= 0; t--)
		if (in->y[t] >= 0) {
			*p = t;
			*tgt = in->y[t];
		}
	if (*p < 0 && T >= 2) {
		*p = T - 2;
		*tgt = in->x[T - 1];
	}
	if (*p < 0)
		return sl_fail(s, "the input is too short: the loss needs a position and its next token");
	return SL_OK;
}

/* What a language model's gradient flow measured: rows of P positions, the
 * input and the stream after each of L blocks, then nj recurrent blocks'
 * Jacobians (their layers in jl). */
typedef struct flow {
	int L, P, nj;
	int *jl;
	float *g;   /* (L + 1 + nj, P) */
	float loss;
} flow;

/* Prints the measurements as lines, shows them as heatmaps (and writes
 * them to file), ends with the summary line. */
static int flow_show(sl_session *s, const char *name, const char *word, const sl_input *in, int p, int tgt,
		     const flow *f, const char *file)
{
	int L = f->L, P = f->P, nj = f->nj, rc = SL_OK;
	const float *g = f->g;
	char line[4096];
	for (int t = 0; t < P; t++) {
		size_t k = (size_t)snprintf(line, sizeof line, "t=%d token=%s grad_norm=%.4g", t, in->lab[t], g[t]);
		for (int l = 1; l <= L && k < sizeof line - 64; l++)
			k += (size_t)snprintf(line + k, sizeof line - k, " grad_L%d=%.4g", l - 1, g[(size_t)l * P + t]);
		for (int j = 0; j < nj && k < sizeof line - 64; j++)
			k += (size_t)snprintf(line + k, sizeof line - k, " jac_L%d=%.4g", f->jl[j],
					      g[(size_t)(L + 1 + j) * P + t]);
		sl_out(s, "%s", line);
	}
	float *lg = sl_xcalloc((size_t)(L + 1 + nj) * P, sizeof *lg);
	log10_floor(g, lg, (L + 1) * P);
	log10_floor(g + (size_t)(L + 1) * P, lg + (size_t)(L + 1) * P, nj * P);
	char (*rl)[24] = sl_xcalloc((size_t)(L + 1 + nj), sizeof *rl);
	const char **rows = sl_xcalloc((size_t)(L + 1 + nj), sizeof *rows), **cols = sl_xcalloc((size_t)P, sizeof *cols);
	snprintf(rl[0], sizeof rl[0], "x");
	for (int l = 0; l < L; l++)
		snprintf(rl[l + 1], sizeof rl[l + 1], "after L%d", l);
	for (int j = 0; j < nj; j++)
		snprintf(rl[L + 1 + j], sizeof rl[L + 1 + j], "L%d state", f->jl[j]);
	for (int i = 0; i < L + 1 + nj; i++)
		rows[i] = rl[i];
	for (int t = 0; t < P; t++)
		cols[t] = in->lab[t];
	sl_view_matrix mv[2] = {
		{ .title = "log10 |d loss / d h_t| (input x, residual stream)", .v = lg, .rows = L + 1, .cols = P,
		  .row_labels = rows, .col_labels = cols },
		{ .title = "log10 |d s_p / d s_t| (recurrent state)", .v = lg + (size_t)(L + 1) * P, .rows = nj, .cols = P,
		  .row_labels = rows + L + 1, .col_labels = cols },
	};
	char caption[640];
	snprintf(caption, sizeof caption, "run %s, the loss at position %d (target %d): %s", name, p, tgt, in->caption);
	sl_view v = { .caption = caption, .n = nj ? 2 : 1, .m = mv };
	sl_session_view(s, &v);
	if (file && sl_display_save_view(s, file, &v) != SL_OK)
		rc = SL_ERR;
	if (rc == SL_OK) {
		size_t k = (size_t)snprintf(line, sizeof line, "run=%s %s=%s loss_at=%d loss=%.4f grad_first=%.4g "
					    "grad_last=%.4g", name, in->what, word, p, f->loss, g[0], g[p]);
		if (nj)
			snprintf(line + k, sizeof line - k, " jac_first=%.4g", g[(size_t)(L + 1) * P]);
		sl_out(s, "%s", line);
	}
	free(cols);
	free(rows);
	free(rl);
	free(lg);
	return rc;
}

/* A language model's probed pass over in, the loss at p: the stream's
 * gradient norms and the recurrent blocks' Jacobians into f. */
static int flow_measure(sl_session *s, sl_run *r, const sl_input *in, int p, int tgt, flow *f)
{
	sl_model *m = r->model;
	int T = in->T, L = f->L, P = f->P;
	sl_tape *tp = r->tape;
	sl_tape_reset(tp);
	tp->pool = sl_session_pool(s);
	tp->grad_enabled = 1;
	tp->training = 0;
	sl_tensor **stream = sl_xcalloc((size_t)L + 1, sizeof *stream);
	sl_tensor *logits = m->kind->lm_probe(m->impl, tp, in->x, 1, T, stream);
	int rc = SL_OK;
	if (!logits) {
		rc = sl_fail(s, "%s", sl_error());
	} else {
		int32_t *target = sl_arena_alloc(tp->arena, (size_t)T * sizeof *target);
		for (int t = 0; t < T; t++)
			target[t] = t == p ? tgt : -1;
		sl_tensor *loss = sl_cross_entropy(tp, logits, target, -1, NULL);
		if (sl_tape_backward(tp, loss) != SL_OK || !stream[0]->grad) {
			rc = sl_fail(s, "%s", *sl_error() ? sl_error() : "no gradient reached the input");
		} else {
			f->loss = loss->data[0];
			int H = sl_tensor_dim(stream[0], -1);
			for (int l = 0; l <= L; l++)
				row_norms(stream[l]->grad, H, p, f->g + (size_t)l * P);
			/* last: the cells' Jacobians clobber the tape's gradients */
			for (int l = 0; l < L && rc == SL_OK; l++) {
				if (!m->kind->layer_jacobian || !m->kind->layer_mixer(m->impl, l)->jacobian)
					continue;
				if (m->kind->layer_jacobian(m->impl, l, tp, p, f->g + (size_t)(L + 1 + f->nj) * P) != SL_OK)
					rc = sl_fail(s, "%s", sl_error());
				f->jl[f->nj++] = l;
			}
		}
	}
	free(stream);
	sl_tape_reset(tp);
	return rc;
}

int sl_cmd_gradflow(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	const char *name = sl_args_word(a), *word = sl_args_word(a), *file = NULL;
	long long at = -1;
	sl_args_int(a, "at", 0, 1 << 20, &at);
	sl_args_str(a, "file", &file);
	if (!name)
		return sl_args_fail(a, "expected RUN [INPUT]");
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	sl_run *r = sl_workbench_run(wb, name);
	if (!r)
		return sl_fail(s, "no run '%s'; 'runs' lists them", name);
	sl_model *m = r->model;
	if (!m->kind->lm_probe && !m->kind->s2s_probe)
		return sl_fail(s, "run '%s' is a %s: gradflow needs a language model (%s) or the transformer", name,
			       m->kind->name, sl_model_kind_names(1));
	if (!word && !(word = default_input(r)))
		return sl_args_fail(a, "run '%s' is on the %s task: give the INPUT text", name, r->task->ops->name);
	if (!m->kind->lm_probe)
		return gradflow_s2s(s, a, r, word, at, file);
	sl_input in;
	if (view_input(s, a, r, word, &in) != SL_OK)
		return SL_ERR;
	int p, tgt;
	if (loss_position(s, a, &in, at, &p, &tgt) != SL_OK) {
		input_free(&in);
		return SL_ERR;
	}
	flow f = { .L = m->kind->layers ? m->kind->layers(m->impl) : 0, .P = p + 1 };
	f.g = sl_xcalloc((size_t)(2 * f.L + 1) * f.P, sizeof *f.g);
	f.jl = sl_xcalloc((size_t)f.L + 1, sizeof *f.jl);
	sl_params *ps = m->ps;
	float *keep = sl_xmalloc(ps->total * sizeof *keep); /* the run's own gradient, untouched */
	memcpy(keep, ps->grad, ps->total * sizeof *keep);
	int rc = flow_measure(s, r, &in, p, tgt, &f);
	memcpy(ps->grad, keep, ps->total * sizeof *keep);
	free(keep);
	if (rc == SL_OK)
		rc = flow_show(s, name, word, &in, p, tgt, &f, file);
	free(f.jl);
	free(f.g);
	input_free(&in);
	return rc;
}
