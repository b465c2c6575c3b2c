/* views.c - the Mamba views: delta per position and channel, the decay each
 * earlier input still has (Mamba's implicit attention), and B and C. */
#include "seqlab/commands.h"
#include "seqlab/mamba.h"
#include "seqlab/piglatin.h"
#include "seqlab/workbench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const show_names[] = { "decay", "delta", "B", "C", NULL };
enum { SHOW_DECAY, SHOW_DELTA, SHOW_B, SHOW_C };

int sl_cmd_ssm(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	const char *name = sl_args_word(a), *word = sl_args_word(a), *layer_s = NULL;
	int show = SHOW_DECAY;
	sl_args_str(a, "layer", &layer_s);
	sl_args_enum(a, "show", show_names, &show);
	if (!name || !word)
		return sl_args_fail(a, "expected RUN WORD");
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	sl_run *r = sl_workbench_run(wb, name);
	if (!r)
		return sl_fail(s, "no run '%s'; 'runs' lists them", name);
	if (strcmp(r->model->kind->name, "mamba") != 0)
		return sl_fail(s, "run '%s' is a %s: ssm views need a mamba", name, r->model->kind->name);
	if (!sl_pl_task_data(r->task))
		return sl_fail(s, "run '%s' is on the %s task: ssm views need piglatin", name, r->task->ops->name);
	sl_mamba *m = r->model->impl;
	int layers = m->cfg.layers, l0 = 0, l1 = layers;
	if (layer_s && strcmp(layer_s, "all")) {
		char *end;
		long v = strtol(layer_s, &end, 10);
		if (*end || v < 0 || v >= layers)
			return sl_args_fail(a, "layer=%s: 0..%d or all", layer_s, layers - 1);
		l0 = (int)v;
		l1 = l0 + 1;
	}
	char out[4 * SL_PL_MAXLEN];
	r->tape->pool = sl_session_pool(s);
	if (sl_pl_translate(r->task, r->model, r->tape, word, 1, out, sizeof out) != SL_OK)
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
	sl_mamba_forward(m, tp, x, 1, T);
	char lab[8 * SL_PL_MAXLEN][4], chl[1024][8];
	const char *rows[8 * SL_PL_MAXLEN], *cols[1024];
	for (int t = 0; t < T; t++) {
		snprintf(lab[t], sizeof lab[t], "%c", sl_pl_char(x[t]));
		rows[t] = lab[t];
	}
	int E = m->E, N = m->N;
	for (int j = 0; j < E && j < 1024; j++) {
		snprintf(chl[j], sizeof chl[j], "%d", j);
		cols[j] = chl[j];
	}
	int nm = l1 - l0;
	sl_view_matrix *mv = sl_xcalloc((size_t)nm, sizeof *mv);
	float **bufs = sl_xcalloc((size_t)nm, sizeof *bufs);
	char (*titles)[48] = sl_xcalloc((size_t)nm, sizeof *titles);
	float *abar = show == SHOW_DECAY ? sl_xmalloc((size_t)T * E * N * sizeof *abar) : NULL;
	for (int k = 0; k < nm; k++) {
		int l = l0 + k;
		sl_view_matrix *v = &mv[k];
		v->title = titles[k];
		v->row_labels = rows;
		if (show == SHOW_DELTA) {
			snprintf(titles[k], sizeof titles[k], "layer %d: delta (position x channel)", l);
			v->v = m->delta[l];
			v->rows = T;
			v->cols = E;
			v->col_labels = cols;
		} else if (show == SHOW_B || show == SHOW_C) {
			snprintf(titles[k], sizeof titles[k], "layer %d: %s (position x state)", l, show == SHOW_B ? "B" : "C");
			v->v = show == SHOW_B ? m->Bm[l] : m->Cm[l];
			v->rows = T;
			v->cols = N;
			v->col_labels = cols;
		} else {
			/* decay[t][s]: the weight the state at t still gives to the input at s,
			 * prod_{k=s+1..t} Abar_k, averaged over channels and states */
			snprintf(titles[k], sizeof titles[k], "layer %d: decay (row t keeps column s)", l);
			int ds[3] = { 1, T, E }, as[2] = { E, N };
			sl_tensor delta = { .data = m->delta[l] }, A = { 0 };
			sl_shape_set(&delta, 3, ds);
			sl_shape_set(&A, 2, as);
			float *Aneg = sl_xmalloc((size_t)E * N * sizeof *Aneg);
			for (int i = 0; i < E * N; i++)
				Aneg[i] = -expf(m->layer[l].A_log->data[i]);
			A.data = Aneg;
			sl_ssm_abar(m->cfg.disc, &delta, &A, abar);
			free(Aneg);
			float *dec = bufs[k] = sl_xcalloc((size_t)T * T, sizeof *dec);
			double *prod = sl_xmalloc((size_t)E * N * sizeof *prod);
			for (int t = 0; t < T; t++) {
				/* walk s from t down to 0, multiplying in Abar_{s+1} */
				for (int i = 0; i < E * N; i++)
					prod[i] = 1;
				for (int s2 = t; s2 >= 0; s2--) {
					if (s2 < t)
						for (int i = 0; i < E * N; i++)
							prod[i] *= abar[(size_t)(s2 + 1) * E * N + i];
					double sum = 0;
					for (int i = 0; i < E * N; i++)
						sum += prod[i];
					dec[(size_t)t * T + s2] = (float)(sum / (E * N));
				}
			}
			free(prod);
			v->v = dec;
			v->rows = T;
			v->cols = T;
			v->col_labels = rows;
			v->fixed = 1;
			v->lo = 0;
			v->hi = 1;
		}
	}
	char caption[640];
	snprintf(caption, sizeof caption, "%s of run %s: %s -> %s (prefix: word $ ^ translation)", show_names[show],
		 r->name, word, out);
	sl_out(s, "run=%s word=%s output=%s show=%s layers=%d..%d", r->name, word, out, show_names[show], l0, l1 - 1);
	sl_view view = { .caption = caption, .n = nm, .m = mv };
	sl_session_view(s, &view);
	for (int k = 0; k < nm; k++)
		free(bufs[k]);
	free(bufs);
	free(abar);
	free(mv);
	free(titles);
	sl_tape_reset(tp);
	return SL_OK;
}
