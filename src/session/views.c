/* views.c - heatmaps of a language model's blocks, chosen by what each
 * block's mixer offers (mixer.h): attention grids, Mamba's decay, delta, B
 * and C, and each later mixer's. The mixers compute the matrices; this file
 * labels them and hands them to the session. */
#include "seqlab/commands.h"
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

int sl_cmd_gradflow(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	const char *name = sl_args_word(a), *word = sl_args_word(a);
	if (!name || !word)
		return sl_args_fail(a, "expected RUN INPUT");
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	sl_run *r = sl_workbench_run(wb, name);
	if (!r)
		return sl_fail(s, "no run '%s'; 'runs' lists them", name);
	sl_model *m = r->model;
	if (!m->kind->lm_probe) {
		char kinds[256] = "";
		size_t k = 0;
		for (int i = 0; sl_model_kinds[i] && k < sizeof kinds; i++)
			if (sl_model_kinds[i]->lm_probe)
				k += (size_t)snprintf(kinds + k, sizeof kinds - k, "%s%s", k ? ", " : "",
						      sl_model_kinds[i]->name);
		return sl_fail(s, "run '%s' is a %s: gradflow needs a language model trained by gradient (%s)", name,
			       m->kind->name, kinds);
	}
	sl_input in;
	if (view_input(s, a, r, word, &in) != SL_OK)
		return SL_ERR;
	int T = in.T, p = -1, tgt = -1;
	/* the loss at the last position whose target is known */
	for (int t = T - 1; in.y && t >= 0 && p < 0; t--)
		if (in.y[t] >= 0) {
			p = t;
			tgt = in.y[t];
		}
	if (p < 0 && T >= 2) {
		p = T - 2;
		tgt = in.x[T - 1];
	}
	if (p < 0) {
		input_free(&in);
		return sl_fail(s, "the input is too short: the loss needs a position and its next token");
	}
	sl_params *ps = m->ps;
	float *keep = sl_xmalloc(ps->total * sizeof *keep); /* the run's own gradient, untouched */
	memcpy(keep, ps->grad, ps->total * sizeof *keep);
	sl_tape *tp = r->tape;
	sl_tape_reset(tp);
	tp->pool = sl_session_pool(s);
	tp->grad_enabled = 1;
	tp->training = 0;
	sl_tensor *leaf = NULL;
	sl_tensor *logits = m->kind->lm_probe(m->impl, tp, in.x, 1, T, &leaf);
	int rc = SL_OK;
	if (!logits) {
		rc = sl_fail(s, "%s", sl_error());
	} else {
		int32_t *target = sl_arena_alloc(tp->arena, (size_t)T * sizeof *target);
		for (int t = 0; t < T; t++)
			target[t] = t == p ? tgt : -1;
		sl_tensor *loss = sl_cross_entropy(tp, logits, target, -1, NULL);
		if (sl_tape_backward(tp, loss) != SL_OK || !leaf->grad) {
			rc = sl_fail(s, "%s", *sl_error() ? sl_error() : "no gradient reached the input");
		} else {
			int H = sl_tensor_dim(leaf, -1);
			float *norm = sl_xmalloc((size_t)T * sizeof *norm), *lg = sl_xmalloc((size_t)T * sizeof *lg);
			for (int t = 0; t < T; t++) {
				double q = 0;
				for (int j = 0; j < H; j++)
					q += (double)leaf->grad[(size_t)t * H + j] * leaf->grad[(size_t)t * H + j];
				norm[t] = (float)sqrt(q);
				lg[t] = norm[t] > 0 ? log10f(norm[t]) : -12.0f;
				sl_out(s, "t=%d token=%s grad_norm=%.4g", t, in.lab[t], norm[t]);
			}
			const char **cols = sl_xcalloc((size_t)T, sizeof *cols);
			for (int t = 0; t < T; t++)
				cols[t] = in.lab[t];
			static const char *const row[] = { "log10" };
			sl_view_matrix mv = { .title = "log10 |d loss / d x_t|", .v = lg, .rows = 1, .cols = T,
					      .row_labels = row, .col_labels = cols };
			char caption[640];
			snprintf(caption, sizeof caption, "gradient of the loss at position %d (target %d) on each input of "
				 "run %s: %s", p, tgt, name, in.caption);
			sl_view v = { .caption = caption, .n = 1, .m = &mv };
			sl_session_view(s, &v);
			sl_out(s, "run=%s %s=%s loss_at=%d loss=%.4f grad_first=%.4g grad_last=%.4g", name, in.what, word, p,
			       loss->data[0], norm[0], norm[p]);
			free(cols);
			free(norm);
			free(lg);
		}
	}
	sl_tape_reset(tp);
	memcpy(ps->grad, keep, ps->total * sizeof *keep);
	free(keep);
	input_free(&in);
	return rc;
}
