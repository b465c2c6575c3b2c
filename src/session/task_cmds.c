/* task_cmds.c - `task recall | mqar | copy` and `eval RUN lengths=...`. */
#include "seqlab/task_cmds.h"
#include "seqlab/recall.h"
#include "seqlab/budget.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEN SL_GEN_MAX_LEN

/* The kind named `name`, or NULL after the error naming the kinds. */
static const sl_task_kind *find_kind(sl_args *a, const char *name)
{
	const sl_task_kind *k = name ? sl_task_kind_find(name) : NULL;
	if (k)
		return k;
	if (!name)
		return sl_args_fail(a, "which task? (%s)", sl_task_kind_names()), NULL;
	const char *names[16];
	int n = 0;
	for (; sl_task_kinds[n] && n < 15; n++)
		names[n] = sl_task_kinds[n]->name;
	names[n] = NULL;
	const char *near = sl_args_suggest(name, names);
	if (near)
		return sl_args_fail(a, "unknown task '%s'; did you mean '%s'?", name, near), NULL;
	return sl_args_fail(a, "unknown task '%s' (%s)", name, sl_task_kind_names()), NULL;
}

/* The canonical `task` arguments of a built task: its kind, every option
 * the kind describes with the value it was built with, and the seed, quoted
 * as the command line reads them (load re-runs `task DESC`). NULL if too
 * long for the task's desc. Owned by the caller. */
static char *describe(const sl_task_kind *k, const void *cfg, uint64_t seed)
{
	int n = 0;
	for (const sl_optspec *o = k->options; o->key; o++)
		n++;
	sl_word *w = sl_xcalloc((size_t)n + 2, sizeof *w);
	char (*vals)[SL_OPT_STRMAX] = sl_xcalloc((size_t)n + 2, sizeof *vals); /* the name's slot, n options, the seed */
	int m = 0;
	w[m++] = (sl_word){ .text = k->name };
	for (const sl_optspec *o = k->options; o->key; o++)
		if (!k->describes || k->describes(cfg, o->key)) {
			sl_optspec_format(o, cfg, vals[m], sizeof vals[m]);
			w[m] = (sl_word){ .key = o->key, .value = vals[m] };
			m++;
		}
	snprintf(vals[m], sizeof vals[m], "%llu", (unsigned long long)seed);
	w[m] = (sl_word){ .key = "seed", .value = vals[m] };
	m++;
	char *canon = sl_session_format_words(w, m);
	free(w);
	free(vals);
	return canon;
}

sl_task *sl_task_cmd_make(sl_session *s, sl_args *a, const char *name)
{
	const sl_task_kind *k = find_kind(a, name);
	if (!k)
		return NULL;
	void *cfg = sl_xcalloc(1, k->cfg_size);
	sl_optspec_defaults(k->options, cfg);
	uint64_t seed = sl_session_seed(s), given = 0;
	sl_args_u64(a, "seed", &seed); /* default: the session's */
	const char *key, *val;
	while (sl_args_next_option(a, &key, &val)) {
		const sl_optspec *o = sl_optspec_find(k->options, key);
		if (!o) {
			const sl_task_kind *other = sl_task_kind_with_option(key, k);
			if (other)
				sl_args_fail(a, "%s= is an option of task %s, not %s", key, other->name, k->name);
			else
				sl_args_fail(a, "%s", (sl_optspec_set(k->options, cfg, key, val), sl_error()));
			free(cfg);
			return NULL;
		}
		if (sl_optspec_set(k->options, cfg, key, val) != SL_OK) {
			free(cfg);
			return sl_args_fail(a, "%s", sl_error()), NULL;
		}
		given |= 1ull << (o - k->options);
	}
	/* a kind whose first option is a choice takes it bare: task series mackey-glass */
	const sl_optspec *first = k->options;
	const char *v;
	if (first->key && first->type == SL_OPT_ENUM && !(given & 1) && sl_args_words_left(a) > 0 &&
	    (v = sl_args_word(a))) {
		if (sl_optspec_set(k->options, cfg, first->key, v) != SL_OK) {
			free(cfg);
			return sl_args_fail(a, "%s", sl_error()), NULL;
		}
		given |= 1;
	}
	if (sl_args_end(a) != SL_OK) {
		free(cfg);
		return NULL;
	}
	if (k->bytes && sl_budget_check(k->bytes(cfg), "this task", "fewer test= sequences or a shorter L") != SL_OK) {
		free(cfg); /* refused before anything is allocated */
		return sl_fail(s, "%s", sl_error()), NULL;
	}
	char info[1024] = "";
	sl_task *t = k->create(cfg, given, seed, info, sizeof info);
	if (!t) { /* the values together, or the data: no usage line */
		free(cfg);
		return sl_fail(s, "%s", sl_error()), NULL;
	}
	char *canon = describe(k, cfg, seed);
	free(cfg);
	if (strlen(canon) >= sizeof t->desc) {
		free(canon);
		sl_task_ref(t);
		sl_task_unref(t);
		return sl_fail(s, "the task's description is too long (a path of %zu characters at most)",
			       sizeof t->desc - 64), NULL;
	}
	snprintf(t->desc, sizeof t->desc, "%s", canon);
	free(canon);
	/* what it made, a line each ("note: " lines are remarks) */
	for (char *line = info, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (strncmp(line, "note: ", 6) == 0)
			sl_info(s, "%s", line);
		else
			sl_out(s, "%s", line);
		if (!nl)
			break;
	}
	return t;
}

/* "A..B", "N" or "all" into [lo, hi] */
static int parse_lengths(const char *spec, int dlo, int dhi, int *lo, int *hi)
{
	if (!strcmp(spec, "all")) {
		*lo = dlo;
		*hi = dhi;
		return SL_OK;
	}
	char *end;
	long a = strtol(spec, &end, 10), b = a;
	if (end == spec)
		return SL_ERR;
	if (!strncmp(end, "..", 2)) {
		const char *p = end + 2;
		b = strtol(p, &end, 10);
		if (end == p)
			return SL_ERR;
	}
	if (*end || a < 1 || b < a || b > 3 * MAX_LEN)
		return SL_ERR;
	*lo = (int)a;
	*hi = (int)b;
	return SL_OK;
}

int sl_task_cmd_eval_lengths(sl_session *s, sl_args *a, sl_run *r, int *status)
{
	const char *spec = NULL;
	long long n = 256, step = 1;
	int has_spec = sl_args_str(a, "lengths", &spec);
	int has_n = sl_args_int(a, "n", 1, 100000, &n);
	int has_step = sl_args_int(a, "step", 1, MAX_LEN, &step);
	if (!has_spec && !has_n && !has_step)
		return 0; /* a bad n= or step= is remembered: the plain eval's sl_args_end reports it */
	*status = SL_ERR;
	if (sl_args_end(a) != SL_OK)
		return 1;
	if (!has_spec)
		return sl_args_fail(a, "n= and step= go with lengths="), 1;
	if (!sl_gen_task_kind(r->task))
		return sl_fail(s, "run '%s' is on the %s task: lengths= needs recall, mqar or copy", r->name,
			       r->task->ops->name), 1;
	if (!r->model->kind->lm)
		return sl_fail(s, "run '%s' is a %s: lengths= needs a language model (%s)", r->name,
			       r->model->kind->name, sl_model_kind_names(1)), 1;
	int dlo, dhi, train, lo, hi;
	sl_gen_task_lengths(r->task, &dlo, &dhi, &train);
	if (parse_lengths(spec, dlo, dhi, &lo, &hi) != SL_OK)
		return sl_args_fail(a, "lengths=%s: expected A..B, N or all", spec), 1;
	if (lo < dlo)
		return sl_fail(s, "lengths=%s: the task's shortest sequence is %d", spec, dlo), 1;
	/* the longest length's n sequences and a forward pass over 256 of them, before allocating */
	int64_t T = sl_gen_task_kind(r->task)->total(sl_gen_task_config(r->task), hi);
	int64_t need = (int64_t)n * T * 8 +
		       sl_budget_step(r->model->kind, r->model->cfg, &r->task->shape, SL_MIN(n, 256), T) / 2;
	if (sl_budget_check(need, "this evaluation", "a smaller n= or shorter lengths=") != SL_OK)
		return sl_fail(s, "%s", sl_error()), 1;
	r->tape->pool = sl_session_pool(s);
	/* check first: one sequence of the longest length through the model (a
	 * model's learned positions end somewhere); on failure the longest that
	 * passes, by bisection, for the way out */
	double acc1, loss1;
	int last = lo + (hi - lo) / (int)step * (int)step; /* the last length evaluated */
	if (sl_gen_task_eval_length(r->task, r->model, r->tape, last, 1, &acc1, &loss1) != SL_OK) {
		char why[256];
		snprintf(why, sizeof why, "%s", sl_error());
		int good = lo - 1, bad = last;
		while (bad - good > 1) {
			int mid = good + (bad - good) / 2;
			if (sl_gen_task_eval_length(r->task, r->model, r->tape, mid, 1, &acc1, &loss1) == SL_OK)
				good = mid;
			else
				bad = mid;
		}
		if (good >= lo)
			return sl_fail(s, "lengths=%s: length %d: %s; run '%s' takes lengths up to %d (lengths=%d..%d)",
				       spec, last, why, r->name, good, lo, good), 1;
		return sl_fail(s, "lengths=%s: length %d: %s", spec, last, why), 1;
	}
	sl_out(s, "run=%s lengths=%d..%d step=%lld n=%lld train_len=%d", r->name, lo, hi, step, n, train);
	for (int len = lo; len <= hi; len += (int)step) {
		double acc, loss;
		if (sl_session_interrupted(s))
			return sl_fail(s, "interrupted at length %d", len), 1;
		if (sl_gen_task_eval_length(r->task, r->model, r->tape, len, (int)n, &acc, &loss) != SL_OK)
			return sl_fail(s, "length %d: %s", len, sl_error()), 1;
		sl_out(s, "length=%d acc=%.4f", len, acc);
	}
	*status = SL_OK;
	return 1;
}
