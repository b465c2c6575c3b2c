/* sample.c - `sample RUN [prompt="..."] [n=500] [temp=0.8] [top_k=0]
 * [seed=N] [file=PATH]`: text from a language model on a task with a text
 * vocabulary (charlm), streamed into the log a line at a time as it is
 * generated, in step mode where the model has one. */
#include "seqlab/sample.h"
#include "seqlab/workbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE_MAX 100000

typedef struct stream {
	sl_session *s;
	sl_task *task;
	char line[4096];
	size_t n;
	char *all;    /* everything generated, for file= */
	size_t len;
} stream;

static void flush_line(stream *st)
{
	st->line[st->n] = 0;
	sl_info(st->s, "%s", st->line);
	st->n = 0;
}

static void emit(void *ud, int32_t tok)
{
	stream *st = ud;
	char c[2];
	st->task->ops->decode(st->task, &tok, 1, c);
	st->all[st->len++] = c[0];
	if (c[0] == '\n') {
		flush_line(st);
		return;
	}
	st->line[st->n++] = c[0] == '\r' ? ' ' : c[0];
	if (st->n == sizeof st->line - 1)
		flush_line(st);
}

/* images=N pictures from an image task: drawn as text (two characters a
 * pixel) and shown as a view (the heatmap pane; `heatmap save FILE.png`). */
static int sample_images(sl_session *s, sl_run *r, int count, float temp, int top_k, uint64_t seed)
{
	sl_task *t = r->task;
	int side, levels, start = t->ops->image(t, &side, &levels), P = side * side;
	int32_t *tok = sl_xmalloc((size_t)P * sizeof *tok);
	float *v = sl_xmalloc((size_t)count * P * sizeof *v);
	sl_view_matrix *mv = sl_xcalloc((size_t)count, sizeof *mv);
	char (*titles)[24] = sl_xcalloc((size_t)count, sizeof *titles);
	sl_arena *ar = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(ar, sl_session_pool(s));
	sl_rng rng;
	sl_rng_seed(&rng, seed);
	static const char ramp[] = " .:-=+*#%@";
	int rc = SL_OK, made = 0;
	for (int k = 0; k < count && rc == SL_OK; k++) {
		int32_t first = start;
		if (sl_model_sample(r->model, tp, &first, 1, P, temp, top_k, t->shape.vocab, t->shape.maxlen, &rng, 0,
				    NULL, NULL, tok) != P) {
			rc = sl_fail(s, "%s", sl_error());
			break;
		}
		char line[2 * 28 + 1];
		for (int y = 0; y < side; y++) {
			for (int x = 0; x < side; x++) {
				int q = tok[y * side + x] < levels ? tok[y * side + x] : levels - 1;
				line[2 * x] = line[2 * x + 1] = ramp[q * 9 / (levels - 1)];
				v[(size_t)k * P + y * side + x] = (float)q;
			}
			line[2 * side] = 0;
			sl_info(s, "%s", line);
		}
		sl_info(s, "%s", "");
		snprintf(titles[k], sizeof titles[k], "image %d", k);
		mv[k] = (sl_view_matrix){ .title = titles[k], .v = v + (size_t)k * P, .rows = side, .cols = side,
					  .fixed = 1, .lo = 0, .hi = (float)(levels - 1) };
		made++;
	}
	if (rc == SL_OK) {
		char caption[128];
		snprintf(caption, sizeof caption, "%d images sampled from run %s (seed %llu)", made, r->name,
			 (unsigned long long)seed);
		sl_view view = { .caption = caption, .n = made, .m = mv };
		sl_session_view(s, &view);
		sl_out(s, "run=%s images=%d side=%d levels=%d temp=%g top_k=%d seed=%llu decoding=%s", r->name, made, side,
		       levels, temp, top_k, (unsigned long long)seed, sl_model_decoding(r->model));
	}
	sl_tape_free(tp);
	sl_arena_free(ar);
	free(titles);
	free(mv);
	free(v);
	free(tok);
	return rc;
}

int sl_cmd_sample(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	const char *name = sl_args_word(a), *prompt = NULL, *file = NULL;
	long long n = 500, top_k = 0, images = 4;
	double temp = 0.8;
	uint64_t seed = sl_session_seed(s);
	sl_args_str(a, "prompt", &prompt);
	sl_args_int(a, "n", 1, SAMPLE_MAX, &n);
	sl_args_float(a, "temp", 0, 100, &temp);
	sl_args_int(a, "top_k", 0, 1 << 20, &top_k);
	sl_args_u64(a, "seed", &seed);
	sl_args_str(a, "file", &file);
	int has_images = sl_args_int(a, "images", 1, 64, &images);
	if (!name)
		return sl_args_fail(a, "which run?");
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	sl_run *r = sl_workbench_run(wb, name);
	if (!r)
		return sl_fail(s, "no run '%s'; 'runs' lists them", name);
	sl_task *t = r->task;
	if (t->ops->image) {
		if (prompt || file)
			return sl_args_fail(a, "an image task samples whole images: prompt= and file= do not apply "
					    "(heatmap save FILE.png keeps them)");
		return sample_images(s, r, (int)images, (float)temp, (int)top_k, seed);
	}
	if (has_images)
		return sl_args_fail(a, "images= is for image tasks (task pixels)");
	if (!t->ops->encode || !t->ops->decode)
		return sl_fail(s, "run '%s' is on the %s task, which has no text or images to sample: sample needs "
			       "task charlm or pixels", name, t->ops->name);
	int32_t *tok = sl_xmalloc((size_t)(SAMPLE_MAX + n) * sizeof *tok);
	int np = t->ops->encode(t, prompt && *prompt ? prompt : "\n", tok, SAMPLE_MAX);
	if (np < 0 && !(prompt && *prompt)) /* a text without newlines: start from its first character */
		np = (tok[0] = 0, 1);
	if (np < 0) {
		free(tok);
		return sl_fail(s, "prompt: %s", sl_error());
	}
	sl_arena *ar = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(ar, sl_session_pool(s));
	sl_rng rng;
	sl_rng_seed(&rng, seed);
	stream st = { .s = s, .task = t, .all = sl_xmalloc((size_t)n + 1) };
	int made = sl_model_sample(r->model, tp, tok, np, (int)n, (float)temp, (int)top_k, t->shape.vocab,
				   t->shape.maxlen, &rng, 0, emit, &st, tok + np);
	sl_tape_free(tp);
	sl_arena_free(ar);
	int rc = SL_OK;
	if (made < 0) {
		rc = sl_fail(s, "%s", sl_error());
	} else {
		if (st.n)
			flush_line(&st);
		if (file) {
			FILE *f = fopen(file, "w");
			size_t pl = prompt ? strlen(prompt) : 0;
			int ok = f && fwrite(prompt ? prompt : "", 1, pl, f) == pl && fwrite(st.all, 1, st.len, f) == st.len;
			if (f && fclose(f) != 0)
				ok = 0;
			if (!ok)
				rc = sl_fail(s, "cannot write '%s'", file);
		}
		if (rc == SL_OK)
			sl_out(s, "run=%s sampled=%d temp=%g top_k=%lld seed=%llu decoding=%s%s%s", name, made, temp, top_k,
			       (unsigned long long)seed, sl_model_decoding(r->model), file ? " file=" : "", file ? file : "");
	}
	free(st.all);
	free(tok);
	return rc;
}
