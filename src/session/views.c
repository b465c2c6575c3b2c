/* views.c - heatmaps of a language model's blocks, chosen by what each
 * block's mixer offers (mixer.h): attention grids, Mamba's decay, delta, B
 * and C, and each later mixer's. The mixers compute the matrices; this file
 * labels them and hands them to the session. */
#include "seqlab/commands.h"
#include "seqlab/piglatin.h"
#include "seqlab/views.h"
#include "seqlab/workbench.h"

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
	if (!sl_pl_task_data(r->task))
		return sl_fail(s, "run '%s' is on the %s task: %s views need piglatin", r->name, r->task->ops->name,
			       view);
	char out[4 * SL_PL_MAXLEN];
	r->tape->pool = sl_session_pool(s);
	if (sl_pl_translate(r->task, m, r->tape, word, 1, out, sizeof out) != SL_OK)
		return sl_fail(s, "%s", sl_error());
	/* the prefix-LM sequence: word, EOS, SOS, translation */
	int32_t x[8 * SL_PL_MAXLEN];
	int S = sl_pl_encode(word, x, SL_PL_MAXLEN);
	x[S] = SL_PL_EOS;
	x[S + 1] = SL_PL_SOS;
	int T = S + 2 + sl_pl_encode(out, x + S + 2, 4 * SL_PL_MAXLEN);
	sl_tape *tp = r->tape;
	sl_tape_reset(tp);
	tp->grad_enabled = 0;
	tp->training = 0;
	if (!m->kind->lm(m->impl, tp, x, 1, T)) {
		sl_tape_reset(tp);
		return sl_fail(s, "%s", sl_error());
	}
	char lab[8 * SL_PL_MAXLEN][4], (*chl)[8] = sl_xcalloc(4096, sizeof *chl);
	const char *rows[8 * SL_PL_MAXLEN], **cols = sl_xcalloc(4096, sizeof *cols);
	for (int t = 0; t < T; t++) {
		snprintf(lab[t], sizeof lab[t], "%c", sl_pl_char(x[t]));
		rows[t] = lab[t];
	}
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
						  .row_labels = rows,
						  .col_labels = g[i].col_kind == SL_GRID_POS ? rows : cols,
						  .fixed = g[i].fixed, .lo = g[i].lo, .hi = g[i].hi };
		char caption[640];
		snprintf(caption, sizeof caption, "%s of run %s: %s -> %s (prefix: word $ ^ translation)", view, r->name,
			 word, out);
		sl_out(s, "run=%s word=%s output=%s show=%s layers=%d..%d", r->name, word, out, view, l0, l1 - 1);
		sl_view v = { .caption = caption, .n = nm, .m = mv };
		sl_session_view(s, &v);
	}
	sl_mixer_grids_free(g, nm);
	free(g);
	free(mv);
	free(titles);
	free(cols);
	free(chl);
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
