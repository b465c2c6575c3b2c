/* sweep.c - ablation sweeps (sweep.h): definitions, points, workers,
 * results files and the table. */
#include "seqlab/sweep.h"
#include "seqlab/checkpoint.h"
#include "seqlab/commands.h"
#include "seqlab/journal.h"
#include "seqlab/model.h"
#include "seqlab/rng.h"
#include "seqlab/workbench.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { M_VAL_ACC, M_VAL_LOSS, M_LOSS, M_CER };
static const char *const metric_names[] = { "val_acc", "val_loss", "loss", "cer", NULL };

/* Options that go to `optim` (the rest are the model kind's). */
static const char *const optim_keys[] = { "optim", "lr", "wd", "momentum", "nesterov", "beta1", "beta2",
					  "eps", "clip", "accum", "batch", "shuffle", "sched", "warmup",
					  "min_lr", "step_size", "gamma", "factor", "patience", "threshold", NULL };

struct sl_sweep {
	char name[64];
	char *task;                     /* the task's desc */
	const sl_model_kind *kind;
	int nkeys;
	char keys[SL_SWEEP_MAX_KEYS][32];
	int is_optim[SL_SWEEP_MAX_KEYS];
	int nvals[SL_SWEEP_MAX_KEYS];
	char *vals[SL_SWEEP_MAX_KEYS][SL_SWEEP_MAX_VALUES];
	int nseeds;
	uint64_t seeds[SL_SWEEP_MAX_VALUES];
	int64_t budget;                 /* steps, or epochs */
	int epochs;                     /* the budget is in epochs */
	int eval_every;
	int metric;
	int random;                     /* sample this many option combinations (0: all) */
	int nconf;
	int64_t *conf;                  /* grid index of each option combination run */
	char *line;                     /* canonical */
};

static int key_index(const char *const *list, const char *k)
{
	for (int i = 0; list[i]; i++)
		if (!strcmp(list[i], k))
			return i;
	return -1;
}

static int valid_value(const char *v)
{
	if (!*v)
		return 0;
	for (; *v; v++)
		if (!isalnum((unsigned char)*v) && !strchr("_.+-:", *v))
			return 0;
	return 1;
}

static int valid_name(const char *n)
{
	if (!n[0] || strlen(n) > 31 || !(isalpha((unsigned char)n[0]) || n[0] == '_'))
		return 0;
	for (const char *p = n; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.'))
			return 0;
	return 1;
}

void sl_sweep_free(sl_sweep *sw)
{
	if (!sw)
		return;
	for (int i = 0; i < sw->nkeys; i++)
		for (int j = 0; j < sw->nvals[i]; j++)
			free(sw->vals[i][j]);
	free(sw->task);
	free(sw->conf);
	free(sw->line);
	free(sw);
}

static int parse_int(const char *v, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (!*v || *end || errno || x < lo || x > hi)
		return 0;
	*out = x;
	return 1;
}

/* Builds the canonical line from the parsed fields. */
static void make_line(sl_sweep *sw)
{
	size_t cap = 256, n = 0;
	char *b = sl_xmalloc(cap);
#define PUT(...)                                                                  \
	do {                                                                      \
		int k_ = snprintf(NULL, 0, __VA_ARGS__);                          \
		while (n + (size_t)k_ + 1 > cap)                                  \
			b = sl_xrealloc(b, cap *= 2);                             \
		n += (size_t)snprintf(b + n, cap - n, __VA_ARGS__);               \
	} while (0)
	PUT("sweep %s = %s", sw->name, sw->kind->name);
	for (int i = 0; i < sw->nkeys; i++) {
		PUT(" %s=", sw->keys[i]);
		for (int j = 0; j < sw->nvals[i]; j++)
			PUT("%s%s", j ? "," : "", sw->vals[i][j]);
	}
	PUT(" seed=");
	for (int j = 0; j < sw->nseeds; j++)
		PUT("%s%" PRIu64, j ? "," : "", sw->seeds[j]);
	PUT(" %s=%lld", sw->epochs ? "epochs" : "steps", (long long)sw->budget);
	if (sw->eval_every)
		PUT(" eval=%d", sw->eval_every);
	PUT(" metric=%s", metric_names[sw->metric]);
	if (sw->random)
		PUT(" random=%d", sw->random);
#undef PUT
	free(sw->line);
	sw->line = b;
}

/* steps=N, epochs=N, eval=N, random=N, metric=M: SL_OK, or SL_ERR with the
 * error; *done 0 when k is none of them */
static int parse_setting(sl_sweep *sw, const char *k, const char *v, int *done)
{
	long long x;
	*done = 1;
	if (!strcmp(k, "steps") || !strcmp(k, "epochs")) {
		if (sw->budget >= 0)
			return sl_errorf("give steps=N or epochs=N once"), SL_ERR;
		if (!parse_int(v, 1, 1000000000, &x))
			return sl_errorf("%s=%s: expected one count (1..1000000000)", k, v), SL_ERR;
		sw->budget = x;
		sw->epochs = k[0] == 'e';
	} else if (!strcmp(k, "eval")) {
		if (!parse_int(v, 1, 1000000000, &x))
			return sl_errorf("eval=%s: expected a step count", v), SL_ERR;
		sw->eval_every = (int)x;
	} else if (!strcmp(k, "random")) {
		if (!parse_int(v, 1, SL_SWEEP_MAX_POINTS, &x))
			return sl_errorf("random=%s: expected a count", v), SL_ERR;
		sw->random = (int)x;
	} else if (!strcmp(k, "metric")) {
		sw->metric = key_index(metric_names, v);
		if (sw->metric < 0)
			return sl_errorf("metric=%s: one of val_acc, val_loss, loss, cer", v), SL_ERR;
	} else {
		*done = 0;
	}
	return SL_OK;
}

/* seed=a,b,c */
static int parse_seeds(sl_sweep *sw, const char *v)
{
	for (const char *s = v;;) {
		size_t len = strcspn(s, ",");
		char one[32];
		char *end;
		snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one ? len : sizeof one - 1), s);
		errno = 0;
		unsigned long long u = strtoull(one, &end, 10);
		if (!len || len >= sizeof one || *end || errno || *one == '-' || sw->nseeds == SL_SWEEP_MAX_VALUES)
			return sl_errorf("seed=%s: expected seeds separated by commas (at most %d)", v, SL_SWEEP_MAX_VALUES),
			       SL_ERR;
		for (int j = 0; j < sw->nseeds; j++)
			if (sw->seeds[j] == u)
				return sl_errorf("seed %llu is listed twice", u), SL_ERR;
		sw->seeds[sw->nseeds++] = u;
		if (!s[len])
			break;
		s += len + 1;
	}
	return SL_OK;
}

/* KEY=v1,v2 of the model or of optim: the values to sweep */
static int parse_values(sl_sweep *sw, const char *k, const char *v)
{
	int opt = key_index(optim_keys, k) >= 0;
	if (!opt && !sl_optspec_find(sl_model_options(sw->kind), k)) {
		const char *near = sl_optspec_suggest(sl_model_options(sw->kind), k);
		return sl_errorf("'%s' is not an option of %s or of optim%s%s%s", k, sw->kind->name,
				 near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : ""), SL_ERR;
	}
	for (int i = 0; i < sw->nkeys; i++)
		if (!strcmp(sw->keys[i], k))
			return sl_errorf("%s= given twice", k), SL_ERR;
	if (sw->nkeys == SL_SWEEP_MAX_KEYS || strlen(k) >= sizeof sw->keys[0])
		return sl_errorf("too many options (at most %d)", SL_SWEEP_MAX_KEYS), SL_ERR;
	int i = sw->nkeys++;
	snprintf(sw->keys[i], sizeof sw->keys[i], "%s", k);
	sw->is_optim[i] = opt;
	/* split at commas, keeping empty values to reject them */
	for (const char *p = v;;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		char *val = sl_xmalloc(len + 1);
		memcpy(val, p, len);
		val[len] = 0;
		if (!valid_value(val) || sw->nvals[i] == SL_SWEEP_MAX_VALUES) {
			free(val);
			return sl_errorf("%s=%s: values are letters, digits and _ . + - : separated by commas (at most %d)",
					 k, v, SL_SWEEP_MAX_VALUES), SL_ERR;
		}
		for (int j = 0; j < sw->nvals[i]; j++)
			if (!strcmp(sw->vals[i][j], val)) {
				sl_errorf("%s=%s: '%s' is listed twice", k, v, val);
				free(val);
				return SL_ERR;
			}
		sw->vals[i][sw->nvals[i]++] = val;
		if (!c)
			break;
		p = c + 1;
	}
	return SL_OK;
}

/* The grid's option combinations: all, or random=K of them drawn from a
 * stream seeded by the line itself, in grid order. */
static int make_grid(sl_sweep *sw)
{
	if (sw->budget < 0)
		return sl_errorf("how long does each point train? give steps=N or epochs=N"), SL_ERR;
	if (!sw->nseeds)
		sw->seeds[sw->nseeds++] = 0;
	int64_t grid = 1;
	for (int i = 0; i < sw->nkeys; i++) {
		grid *= sw->nvals[i];
		if (grid * sw->nseeds > SL_SWEEP_MAX_POINTS)
			return sl_errorf("more than %d points", SL_SWEEP_MAX_POINTS), SL_ERR;
	}
	if (sw->random > grid)
		return sl_errorf("random=%d: the grid has only %lld option combinations", sw->random, (long long)grid),
		       SL_ERR;
	make_line(sw);
	int64_t *all = sl_xmalloc((size_t)grid * sizeof *all);
	for (int64_t g = 0; g < grid; g++)
		all[g] = g;
	sw->nconf = (int)grid;
	if (sw->random) {
		sl_rng r;
		sl_rng_seed(&r, sl_fnv1a64(SL_FNV_INIT, sw->line, strlen(sw->line)));
		for (int i = 0; i < sw->random; i++) {
			int64_t j = i + (int64_t)(sl_rng_u64(&r) % (uint64_t)(grid - i));
			int64_t t = all[i];
			all[i] = all[j];
			all[j] = t;
		}
		for (int i = 1; i < sw->random; i++)
			for (int j = i; j > 0 && all[j - 1] > all[j]; j--) {
				int64_t t = all[j];
				all[j] = all[j - 1];
				all[j - 1] = t;
			}
		sw->nconf = sw->random;
	}
	sw->conf = all;
	return SL_OK;
}

sl_sweep *sl_sweep_parse(const char *line, const char *task)
{
	sl_sweep *sw = sl_xcalloc(1, sizeof *sw);
	sw->metric = M_VAL_ACC;
	sw->budget = -1;
	sw->task = sl_xstrdup(task);
	/* the words as every command's are read: quotes and escapes included */
	sl_words *ws = sl_session_lex(line);
	const sl_word *w = ws ? ws->w : NULL;
	int n = ws ? ws->n : 0, have_seed = 0;
	if (n < 4 || w[0].key || strcmp(w[0].text, "sweep") || w[1].key || strcmp(w[2].text, "=") || w[3].key) {
		sl_errorf("expected 'sweep NAME = KIND key=value,value...'");
		goto fail;
	}
	if (!valid_name(w[1].text)) {
		sl_errorf("'%s' is not a sweep name (a letter, then letters, digits, _ - .; 31 at most)", w[1].text);
		goto fail;
	}
	snprintf(sw->name, sizeof sw->name, "%s", w[1].text);
	sw->kind = sl_model_kind_find(w[3].text);
	if (!sw->kind) {
		sl_errorf("unknown model kind '%s' (kinds: %s)", w[3].text, sl_model_kind_names(0));
		goto fail;
	}
	for (int i = 4; i < n; i++) {
		const char *k = w[i].key, *v = w[i].value;
		int done;
		if (!k || !*k) {
			sl_errorf("'%s': expected key=value,value...", w[i].text);
			goto fail;
		}
		if (parse_setting(sw, k, v, &done) != SL_OK)
			goto fail;
		if (done)
			continue;
		if (!strcmp(k, "seed")) {
			if (have_seed++) {
				sl_errorf("seed= given twice");
				goto fail;
			}
			if (parse_seeds(sw, v) != SL_OK)
				goto fail;
		} else if (parse_values(sw, k, v) != SL_OK) {
			goto fail;
		}
	}
	if (make_grid(sw) != SL_OK)
		goto fail;
	sl_words_free(ws);
	return sw;
fail:
	sl_words_free(ws);
	sl_sweep_free(sw);
	return NULL;
}

const char *sl_sweep_name(const sl_sweep *sw)
{
	return sw->name;
}

const char *sl_sweep_line(const sl_sweep *sw)
{
	return sw->line;
}

int sl_sweep_npoints(const sl_sweep *sw)
{
	return sw->nconf * sw->nseeds;
}

/* The value index of each key for grid index g (the last key fastest). */
static void digits_of(const sl_sweep *sw, int64_t g, int *d)
{
	for (int i = sw->nkeys - 1; i >= 0; i--) {
		d[i] = (int)(g % sw->nvals[i]);
		g /= sw->nvals[i];
	}
}

static const char *config_of(const sl_sweep *sw, const int *d, char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = 0;
	for (int i = 0; i < sw->nkeys && k < n; i++)
		if (sw->nvals[i] > 1)
			k += (size_t)snprintf(buf + k, n - k, "%s%s=%s", k ? " " : "", sw->keys[i], sw->vals[i][d[i]]);
	if (!buf[0])
		snprintf(buf, n, "base");
	return buf;
}

const char *sl_sweep_config(const sl_sweep *sw, int k, char *buf, size_t n)
{
	int d[SL_SWEEP_MAX_KEYS];
	digits_of(sw, sw->conf[k / sw->nseeds], d);
	return config_of(sw, d, buf, n);
}

uint64_t sl_sweep_seed(const sl_sweep *sw, int k)
{
	return sw->seeds[k % sw->nseeds];
}

static char *script_of(const sl_sweep *sw, const int *d, uint64_t seed, int train)
{
	size_t cap = 1024 + strlen(sw->task), n = 0;
	char *b = sl_xmalloc(cap);
#define PUT(...)                                                                  \
	do {                                                                      \
		int k_ = snprintf(NULL, 0, __VA_ARGS__);                          \
		while (n + (size_t)k_ + 1 > cap)                                  \
			b = sl_xrealloc(b, cap *= 2);                             \
		n += (size_t)snprintf(b + n, cap - n, __VA_ARGS__);               \
	} while (0)
	PUT("set seed=%" PRIu64 " threads=1\ntask %s\nmodel p = %s", seed, sw->task, sw->kind->name);
	for (int i = 0; i < sw->nkeys; i++)
		if (!sw->is_optim[i])
			PUT(" %s=%s", sw->keys[i], sw->vals[i][d[i]]);
	PUT(" seed=%" PRIu64 "\noptim p", seed);
	for (int i = 0; i < sw->nkeys; i++)
		if (sw->is_optim[i] && !strcmp(sw->keys[i], "optim"))
			PUT(" %s", sw->vals[i][d[i]]);
	for (int i = 0; i < sw->nkeys; i++)
		if (sw->is_optim[i] && strcmp(sw->keys[i], "optim"))
			PUT(" %s=%s", sw->keys[i], sw->vals[i][d[i]]);
	PUT(" %s=%lld\n", sw->epochs ? "epochs" : "steps", (long long)sw->budget);
	if (train) {
		PUT("train p %lld %s", (long long)sw->budget, sw->epochs ? "epochs" : "steps");
		if (sw->eval_every)
			PUT(" eval=%d", sw->eval_every);
		PUT("\n");
	}
#undef PUT
	return b;
}

char *sl_sweep_script(const sl_sweep *sw, int k, int train)
{
	int d[SL_SWEEP_MAX_KEYS];
	digits_of(sw, sw->conf[k / sw->nseeds], d);
	return script_of(sw, d, sl_sweep_seed(sw, k), train);
}

/* ---- files ---- */

sl_sweep *sl_sweep_load(const char *name)
{
	if (!valid_name(name)) { /* as when it was defined: no '/', no "..", no control characters */
		sl_errorf("'%s' is not a sweep name (a letter, then letters, digits, _ - .; 31 at most)", name);
		return NULL;
	}
	char path[512];
	snprintf(path, sizeof path, "%s.sweep/sweep.sl", name);
	size_t len;
	char *t = sl_session_read_file_len(path, &len);
	if (!t) {
		char why[512];
		snprintf(why, sizeof why, "%s", sl_error());
		sl_errorf("no sweep '%s' here (%s)", name, why);
		return NULL;
	}
	if (sl_sealed_check(t, len, "sweep") != SL_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", sl_error());
		sl_errorf("%s: %s", path, msg);
		free(t);
		return NULL;
	}
	/* the task line, then the sweep line */
	char *task = NULL, *line = NULL, *save = NULL;
	for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(l, "task ", 5) && !task)
			task = l + 5;
		else if (!strncmp(l, "sweep ", 6) && !line)
			line = l;
	}
	sl_sweep *sw = NULL;
	if (!task || !line)
		sl_errorf("%s: no task or sweep line", path);
	else
		sw = sl_sweep_parse(line, task);
	if (!sw) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", sl_error());
		sl_errorf("%s: %s", path, msg);
	} else if (strcmp(sw->name, name) != 0) {
		sl_errorf("%s defines the sweep '%s'", path, sw->name);
		sl_sweep_free(sw);
		sw = NULL;
	}
	free(t);
	return sw;
}

/* The sealed text of a definition. */
static char *definition_text(const sl_sweep *sw)
{
	size_t n = strlen(sw->task) + 8;
	char *task = sl_xmalloc(n);
	snprintf(task, n, "task %s", sw->task);
	const char *lines[] = { task, sw->line };
	const char *comments[] = { "A sweep: `seqlab --sweep FILE` runs it (--shard I/N for a part), or",
				   "`sweep run NAME jobs=N` from the prompt. Results: results*.tsv here." };
	char *t = sl_sealed_text("sweep", comments, 2, lines, 2);
	free(task);
	return t;
}

/* Creates NAME.sweep/ with sweep.sl, or checks that the one there is the
 * same definition. */
static int define(const sl_sweep *sw)
{
	char dir[128], path[256];
	snprintf(dir, sizeof dir, "%s.sweep", sw->name);
	snprintf(path, sizeof path, "%s/sweep.sl", dir);
	char *want = definition_text(sw);
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		sl_errorf("%s: %s", dir, strerror(errno));
		free(want);
		return SL_ERR;
	}
	sl_sweep *old = NULL;
	struct stat sb;
	if (stat(path, &sb) == 0) {
		old = sl_sweep_load(sw->name);
		if (!old) {
			free(want);
			return SL_ERR;
		}
		int same = !strcmp(old->line, sw->line) && !strcmp(old->task, sw->task);
		sl_sweep_free(old);
		free(want);
		if (!same) {
			sl_errorf("%s holds another definition of '%s'; pick another name or remove %s", path, sw->name,
				  dir);
			return SL_ERR;
		}
		return SL_OK;
	}
	/* write atomically: several shards may start at once */
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s/.sweep.sl.%ld", dir, (long)getpid());
	FILE *f = fopen(tmp, "wb");
	int ok = f && fputs(want, f) >= 0;
	ok = f && fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
	if (f)
		ok = fclose(f) == 0 && ok;
	ok = ok && rename(tmp, path) == 0;
	if (!ok) {
		sl_errorf("%s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(want);
	return ok ? SL_OK : SL_ERR;
}

const char *sl_sweep_results_path(const sl_sweep *sw, int shard, int nshards, char *buf, size_t n)
{
	if (nshards)
		snprintf(buf, n, "%s.sweep/results-%d-of-%d.tsv", sw->name, shard, nshards);
	else
		snprintf(buf, n, "%s.sweep/results.tsv", sw->name);
	return buf;
}

static const char row_header[] = "# point\tconfig\tseed\tstatus\tsteps\tloss\tval_loss\tval_acc\tcer\tseconds\n";

int sl_sweep_append(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0) {
		sl_errorf("%s: %s", path, strerror(errno));
		return SL_ERR;
	}
	struct stat sb;
	size_t n = strlen(text);
	char *all = sl_xmalloc(sizeof row_header + n);
	size_t len = 0;
	if (fstat(fd, &sb) == 0 && sb.st_size == 0) {
		memcpy(all, row_header, sizeof row_header - 1);
		len = sizeof row_header - 1;
	}
	memcpy(all + len, text, n);
	len += n;
	ssize_t k = write(fd, all, len);
	int err = errno;
	free(all);
	close(fd);
	if (k != (ssize_t)len) {
		sl_errorf("%s: %s", path, k < 0 ? strerror(err) : "short write");
		return SL_ERR;
	}
	return SL_OK;
}

void sl_sweep_format_row(const sl_sweep_row *r, char *buf, size_t n)
{
	snprintf(buf, n, "%d\t%s\t%" PRIu64 "\t%s\t%" PRId64 "\t%.9g\t%.9g\t%.9g\t%.9g\t%.3f\n", r->point, r->config,
		 r->seed, r->status, r->steps, r->loss, r->val_loss, r->val_acc, r->cer, r->seconds);
}

/* Parses one line into a row of sw; 0 if it is not one. */
static int parse_row(const sl_sweep *sw, char *line, sl_sweep_row *r)
{
	char *f[10];
	if (sl_split(line, '\t', f, 10) != 10)
		return 0;
	long long x;
	if (!parse_int(f[0], 0, sl_sweep_npoints(sw) - 1, &x))
		return 0;
	memset(r, 0, sizeof *r);
	r->point = (int)x;
	char want[512];
	sl_sweep_config(sw, r->point, want, sizeof want);
	char seed[32];
	snprintf(seed, sizeof seed, "%" PRIu64, sl_sweep_seed(sw, r->point));
	if (strcmp(f[1], want) || strcmp(f[2], seed))
		return 0;
	if (strcmp(f[3], "ok") && strcmp(f[3], "nan") && strcmp(f[3], "error"))
		return 0;
	snprintf(r->config, sizeof r->config, "%s", want);
	r->seed = sl_sweep_seed(sw, r->point);
	snprintf(r->status, sizeof r->status, "%s", f[3]);
	if (!parse_int(f[4], 0, INT64_MAX, &x))
		return 0;
	r->steps = x;
	double *v[5] = { &r->loss, &r->val_loss, &r->val_acc, &r->cer, &r->seconds };
	for (int i = 0; i < 5; i++) {
		char *end;
		*v[i] = strtod(f[5 + i], &end);
		if (end == f[5 + i] || *end)
			return 0;
	}
	return 1;
}

/* Adds the rows of one file to have[] (first wins). */
static void read_rows(const sl_sweep *sw, const char *path, sl_sweep_row *rows, char *have, int *skipped)
{
	char *t = sl_session_read_file(path);
	if (!t)
		return;
	char *p = t;
	while (*p) {
		char *nl = strchr(p, '\n');
		if (!nl) { /* a row still being written, or cut by a crash */
			(*skipped)++;
			break;
		}
		*nl = 0;
		sl_sweep_row r;
		if (*p == '#' || !*p) {
			/* a comment */
		} else if (!parse_row(sw, p, &r)) {
			(*skipped)++;
		} else if (!have[r.point]) {
			have[r.point] = 1;
			rows[r.point] = r;
		}
		p = nl + 1;
	}
	free(t);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The results files of sw: results.tsv first, then shards in name order. */
static int results_files(const sl_sweep *sw, char ***out)
{
	char dir[128];
	snprintf(dir, sizeof dir, "%s.sweep", sw->name);
	int n = 0, cap = 8;
	char **names = sl_xmalloc((size_t)cap * sizeof *names);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (strncmp(e->d_name, "results", 7) || l < 4 || strcmp(e->d_name + l - 4, ".tsv"))
			continue;
		if (n == cap)
			names = sl_xrealloc(names, (size_t)(cap *= 2) * sizeof *names);
		size_t pl = strlen(dir) + l + 2;
		names[n] = sl_xmalloc(pl);
		snprintf(names[n], pl, "%s/%s", dir, e->d_name);
		n++;
	}
	if (d)
		closedir(d);
	qsort(names, (size_t)n, sizeof *names, cmp_str); /* "results-" sorts before "results." */
	for (int i = 0; i < n; i++)
		if (strstr(names[i], "/results.tsv")) {
			char *t = names[i];
			memmove(names + 1, names, (size_t)i * sizeof *names);
			names[0] = t;
		}
	*out = names;
	return n;
}

sl_sweep_row *sl_sweep_rows(const sl_sweep *sw, int *n, int *skipped)
{
	int np = sl_sweep_npoints(sw), sk = 0;
	sl_sweep_row *all = sl_xcalloc((size_t)np, sizeof *all);
	char *have = sl_xcalloc((size_t)np, 1);
	char **files;
	int nf = results_files(sw, &files);
	for (int i = 0; i < nf; i++) {
		read_rows(sw, files[i], all, have, &sk);
		free(files[i]);
	}
	free(files);
	int k = 0;
	for (int i = 0; i < np; i++)
		if (have[i])
			all[k++] = all[i];
	free(have);
	*n = k;
	if (skipped)
		*skipped = sk;
	return all;
}

/* ---- running points ---- */

static void log_out(void *ud, int kind, const char *line)
{
	FILE *f = ud;
	if (f)
		fprintf(f, "%s%s\n", kind == SL_OUT_ERROR ? "error: " : "", line);
}

struct first_error {
	FILE *log;
	char err[512];
};

static void point_out(void *ud, int kind, const char *line)
{
	struct first_error *fe = ud;
	if (kind == SL_OUT_ERROR && !fe->err[0])
		snprintf(fe->err, sizeof fe->err, "%s", line);
	log_out(fe->log, kind, line);
}

/* What a point's script may run: a sweep directory is untrusted input (its
 * task line is copied into the script), so nothing that writes, reads
 * scripts or quits. */
static int point_filter(void *ud, const sl_cmd *c, const sl_word *w, int n)
{
	(void)ud;
	(void)w;
	(void)n;
	static const char *const ok[] = { "set", "task", "model", "optim", "train", "eval" };
	for (size_t i = 0; i < SL_COUNT(ok); i++)
		if (!strcmp(c->name, ok[i]))
			return SL_OK;
	sl_errorf("a sweep point runs only set, task, model, optim, train and eval; '%s' is refused (a forged "
		  "sweep.sl?)", c->name);
	return SL_ERR;
}

/* What a sealed sweep.sl may run: its task line and its definition. */
static int definition_filter(void *ud, const sl_cmd *c, const sl_word *w, int n)
{
	(void)ud;
	if (!strcmp(c->name, "task") || (!strcmp(c->name, "sweep") && n >= 2 && !w[1].key && !strcmp(w[1].text, "=")))
		return SL_OK;
	sl_errorf("a sweep's sweep.sl holds only its task and its definition; '%s' is refused (a forged file?)",
		  c->name);
	return SL_ERR;
}

/* Runs text in s on a workbench of its own, with the output going to fe,
 * nothing journaled, and the settings restored afterwards. The workbench
 * is handed back in *wb (the caller frees it). */
static int exec_aside(sl_session *s, const char *text, struct first_error *fe, sl_workbench **wb)
{
	sl_output_fn fn;
	void *ud;
	sl_session_get_output(s, &fn, &ud);
	uint64_t seed = sl_session_seed(s);
	int threads = sl_session_threads(s), kg = sl_session_keep_going(s);
	sl_workbench *cur = sl_session_workbench(s), *aside = sl_workbench_new();
	sl_workbench_exchange(cur, aside); /* the session's own tasks and runs wait aside */
	int async = sl_session_async(s);
	sl_session_set_async(s, 0);
	sl_session_set_output(s, point_out, fe);
	int rec = sl_session_set_recording(s, 0);
	sl_session_set_keep_going(s, 0);
	sl_filter_fn ffn;
	void *fud;
	sl_session_get_filter(s, &ffn, &fud);
	sl_session_set_filter(s, point_filter, NULL);
	int st = sl_session_exec(s, text, "point");
	sl_session_set_filter(s, ffn, fud);
	sl_session_set_keep_going(s, kg);
	sl_session_set_recording(s, rec);
	sl_session_set_output(s, fn, ud);
	sl_session_set_async(s, async);
	sl_workbench_exchange(cur, aside);
	*wb = aside; /* now what the text built */
	sl_session_set_seed(s, seed);
	if (sl_session_threads(s) != threads)
		sl_session_set_threads(s, threads);
	return st;
}

/* Runs point k on a workbench of its own in s (threads=1), its output in
 * the file logpath, and fills row. SL_ERR only when interrupted (no row). */
static int run_point(sl_session *s, const sl_sweep *sw, int k, const char *logpath, sl_sweep_row *row)
{
	memset(row, 0, sizeof *row);
	row->point = k;
	sl_sweep_config(sw, k, row->config, sizeof row->config);
	row->seed = sl_sweep_seed(sw, k);
	row->loss = row->val_loss = row->val_acc = row->cer = NAN;
	struct first_error fe = { .log = logpath ? fopen(logpath, "w") : NULL };
	char *script = sl_sweep_script(sw, k, 1);
	if (fe.log)
		fprintf(fe.log, "# sweep %s point %d\n%s", sw->name, k, script);
	sl_session_clear_interrupt(s);
	sl_workbench *wb;
	int st = exec_aside(s, script, &fe, &wb);
	free(script);
	int interrupted = sl_session_interrupted(s);
	sl_run *r = sl_workbench_run(wb, "p");
	if (r) {
		row->steps = r->step;
		row->seconds = r->seconds;
		if (r->nsteps)
			row->loss = r->loss[r->nsteps - 1];
		if (r->nevals) {
			const sl_eval *e = &r->evals[r->nevals - 1];
			row->val_loss = e->val_loss;
			row->val_acc = e->val_acc;
			row->cer = e->cer;
		}
	}
	snprintf(row->status, sizeof row->status, "%s",
		 st == SL_OK ? "ok" : strstr(fe.err, "non-finite") ? "nan" : "error");
	if (r && !interrupted) { /* the history, for `sweep show NAME curves=...` */
		char path[256];
		snprintf(path, sizeof path, "%s.sweep/curves", sw->name);
		mkdir(path, 0777);
		snprintf(path, sizeof path, "%s.sweep/curves/point-%d.csv", sw->name, k);
		unlink(path);
		sl_checkpoint_write_csv(path, r);
	}
	if (fe.log)
		fclose(fe.log);
	sl_workbench_free(wb);
	if (interrupted) {
		sl_errorf("interrupted at point %d", k);
		return SL_ERR;
	}
	return SL_OK;
}

static void row_summary(sl_session *s, const sl_sweep *sw, const sl_sweep_row *r, int done)
{
	sl_out(s, "sweep=%s point=%d config=\"%s\" seed=%" PRIu64 " status=%s steps=%" PRId64
		  " val_acc=%.4f val_loss=%.4f done=%d/%d",
	       sw->name, r->point, r->config, r->seed, r->status, r->steps, r->val_acc, r->val_loss, done,
	       sl_sweep_npoints(sw));
}

static char *done_map(const sl_sweep *sw, int *ndone)
{
	int n;
	sl_sweep_row *rows = sl_sweep_rows(sw, &n, NULL);
	char *done = sl_xcalloc((size_t)sl_sweep_npoints(sw) + 1, 1);
	for (int i = 0; i < n; i++)
		done[rows[i].point] = 1;
	free(rows);
	*ndone = n;
	return done;
}

int sl_sweep_run_shard(sl_session *s, const sl_sweep *sw, int shard, int nshards, const char *results_path,
		       char **rows)
{
	int ndone;
	char *done = done_map(sw, &ndone);
	char logs[128];
	snprintf(logs, sizeof logs, "%s.sweep/logs", sw->name);
	mkdir(logs, 0777);
	int ran = 0, np = sl_sweep_npoints(sw), st = SL_OK;
	size_t rlen = rows && *rows ? strlen(*rows) : 0;
	for (int k = nshards ? shard : 0; k < np; k += nshards ? nshards : 1) {
		if (done[k])
			continue;
		char logpath[256];
		snprintf(logpath, sizeof logpath, "%s/point-%d.log", logs, k);
		sl_sweep_row row;
		if (run_point(s, sw, k, logpath, &row) != SL_OK) {
			st = SL_ERR;
			break;
		}
		char line[1024];
		sl_sweep_format_row(&row, line, sizeof line);
		if (rows) {
			size_t l = strlen(line);
			*rows = sl_xrealloc(*rows, rlen + l + 1);
			memcpy(*rows + rlen, line, l + 1);
			rlen += l;
		} else if (sl_sweep_append(results_path, line) != SL_OK) {
			st = SL_ERR;
			break;
		}
		ran++;
		row_summary(s, sw, &row, ++ndone);
	}
	free(done);
	return st == SL_OK ? ran : SL_ERR;
}

/* ---- the table ---- */

typedef struct conf_stat {
	int n;
	double mean[4], sd[4]; /* val_acc, val_loss, loss, cer */
	int conf;
} conf_stat;

/* Best first by the metric (val_acc: highest), NaN last, then grid order. */
static int cmp_stat(const void *a, const void *b, void *ctx)
{
	const conf_stat *x = a, *y = b;
	int m = *(const int *)ctx;
	double u = x->mean[m], v = y->mean[m];
	if (isnan(u) != isnan(v))
		return isnan(u) ? 1 : -1;
	if (!isnan(u) && u != v)
		return (m == M_VAL_ACC ? u > v : u < v) ? -1 : 1;
	return x->conf - y->conf;
}

/* Column col of point k's history file (3 loss, 4 lr: the per-step rows;
 * 6 val_loss, 7 val_acc, 8 cer: the evaluations): *n points into x, y
 * (malloc'ed). */
static int point_curve(const sl_sweep *sw, int k, int col, double **x, double **y)
{
	char path[256];
	snprintf(path, sizeof path, "%s.sweep/curves/point-%d.csv", sw->name, k);
	char *t = access(path, F_OK) == 0 ? sl_session_read_file(path) : NULL;
	int n = 0, cap = 64, eval = col >= 6;
	*x = sl_xmalloc((size_t)cap * sizeof **x);
	*y = sl_xmalloc((size_t)cap * sizeof **y);
	char *save = NULL;
	for (char *l = t ? strtok_r(t, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, eval ? "eval," : "train,", eval ? 5 : 6))
			continue;
		char *f[12];
		if (sl_split(l, ',', f, 12) != 12)
			continue;
		if (n == cap) {
			*x = sl_xrealloc(*x, (size_t)(cap *= 2) * sizeof **x);
			*y = sl_xrealloc(*y, (size_t)cap * sizeof **y);
		}
		(*x)[n] = strtod(f[1], NULL);
		(*y)[n] = strtod(f[col], NULL);
		n++;
	}
	free(t);
	return n;
}

int sl_sweep_nconf(const sl_sweep *sw)
{
	return sw->nconf;
}

int sl_sweep_mean_curve(const sl_sweep *sw, int conf, int col, double **mx, double **my, int *seeds)
{
	int len = -1;
	double *sum = NULL;
	*mx = NULL;
	*seeds = 0;
	for (int si = 0; si < sw->nseeds; si++) {
		double *x, *y;
		int n = point_curve(sw, conf * sw->nseeds + si, col, &x, &y);
		if (n > 0) {
			if (len < 0) {
				len = n;
				*mx = x;
				x = NULL;
				sum = sl_xcalloc((size_t)n, sizeof *sum);
			}
			len = SL_MIN(len, n);
			for (int i = 0; i < len; i++)
				sum[i] += y[i];
			(*seeds)++;
		}
		free(x);
		free(y);
	}
	for (int i = 0; i < len; i++)
		sum[i] /= *seeds;
	*my = sum;
	return len > 0 ? len : 0;
}

/* Prints each option combination's curve of series (mean over its seeds,
 * over the steps all of them reached) as key=value lines. */
static void show_curves(sl_session *s, const sl_sweep *sw, int series, const int *order, int nc)
{
	static const int cols[4] = { 7, 6, 3, 8 }; /* val_acc val_loss loss cer */
	for (int c = 0; c < nc; c++) {
		double *mx, *my;
		int seeds, len = sl_sweep_mean_curve(sw, order[c], cols[series], &mx, &my, &seeds);
		char cfg[512];
		sl_sweep_config(sw, order[c] * sw->nseeds, cfg, sizeof cfg);
		for (int i = 0; i < len; i++)
			sl_out(s, "curve=\"%s\" series=%s step=%.0f value=%.6g", cfg, metric_names[series], mx[i], my[i]);
		free(mx);
		free(my);
	}
}

int sl_sweep_show(sl_session *s, const sl_sweep *sw, int curves)
{
	int n, skipped;
	sl_sweep_row *rows = sl_sweep_rows(sw, &n, &skipped);
	conf_stat *cs = sl_xcalloc((size_t)sw->nconf, sizeof *cs);
	int failed = 0;
	for (int c = 0; c < sw->nconf; c++) {
		cs[c].conf = c;
		double sum[4] = { 0 }, sq[4] = { 0 };
		for (int i = 0; i < n; i++) {
			const sl_sweep_row *r = &rows[i];
			if (r->point / sw->nseeds != c || strcmp(r->status, "ok"))
				continue;
			double v[4] = { r->val_acc, r->val_loss, r->loss, r->cer };
			for (int m = 0; m < 4; m++) {
				sum[m] += v[m];
				sq[m] += v[m] * v[m];
			}
			cs[c].n++;
		}
		for (int m = 0; m < 4; m++) {
			int k = cs[c].n;
			cs[c].mean[m] = k ? sum[m] / k : NAN;
			double var = k > 1 ? (sq[m] - sum[m] * sum[m] / k) / (k - 1) : 0;
			cs[c].sd[m] = k ? sqrt(var > 0 ? var : 0) : NAN;
		}
	}
	for (int i = 0; i < n; i++)
		failed += strcmp(rows[i].status, "ok") != 0;
	int metric = sw->metric;
	qsort_r(cs, (size_t)sw->nconf, sizeof *cs, cmp_stat, &metric);
	sl_out(s, "sweep=%s points=%d done=%d failed=%d metric=%s%s", sw->name, sl_sweep_npoints(sw), n, failed,
	       metric_names[sw->metric], skipped ? " note=skipped_bad_rows" : "");
	int width = 7;
	char cfg[512];
	for (int c = 0; c < sw->nconf; c++) {
		int k = cs[c].conf * sw->nseeds;
		width = SL_MAX(width, (int)strlen(sl_sweep_config(sw, k, cfg, sizeof cfg)));
	}
	static const char *const cols[4] = { "val_acc", "val_loss", "loss", "cer" };
	int order[4] = { sw->metric, 0, 0, 0 };
	for (int m = 0, j = 1; m < 4; m++)
		if (m != sw->metric)
			order[j++] = m;
	char head[256];
	snprintf(head, sizeof head, "%-4s  %-*s  %5s  %-17s  %-17s  %-17s  %s", "rank", width, "options", "seeds",
		 cols[order[0]], cols[order[1]], cols[order[2]], cols[order[3]]);
	sl_info(s, "%s", head);
	for (int c = 0, rank = 0; c < sw->nconf; c++) {
		if (!cs[c].n)
			continue;
		char v[4][64];
		for (int j = 0; j < 4; j++)
			snprintf(v[j], sizeof v[j], "%.4f ± %.4f", cs[c].mean[order[j]], cs[c].sd[order[j]]);
		sl_info(s, "%-4d  %-*s  %2d/%-2d  %-18s  %-18s  %-18s  %s", ++rank, width,
			sl_sweep_config(sw, cs[c].conf * sw->nseeds, cfg, sizeof cfg), cs[c].n, sw->nseeds, v[0], v[1],
			v[2], v[3]);
	}
	if (curves >= 0) {
		int *order = sl_xmalloc((size_t)sw->nconf * sizeof *order), nc = 0;
		for (int c = 0; c < sw->nconf; c++)
			if (cs[c].n)
				order[nc++] = cs[c].conf;
		show_curves(s, sw, curves, order, nc);
		free(order);
	}
	free(cs);
	free(rows);
	return SL_OK;
}

/* ---- merging ---- */

/* Writes all rows into results.tsv (atomically) and removes the shard files. */
static int merge(const sl_sweep *sw, int *nrows, int *nfiles)
{
	int n, skipped;
	sl_sweep_row *rows = sl_sweep_rows(sw, &n, &skipped);
	size_t cap = sizeof row_header + (size_t)n * 700, len = 0;
	char *text = sl_xmalloc(cap);
	memcpy(text, row_header, sizeof row_header);
	len = sizeof row_header - 1;
	for (int i = 0; i < n; i++) {
		char line[1024];
		sl_sweep_format_row(&rows[i], line, sizeof line);
		size_t l = strlen(line);
		memcpy(text + len, line, l + 1);
		len += l;
	}
	free(rows);
	char path[256], tmp[300];
	sl_sweep_results_path(sw, 0, 0, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.sweep/.results.tsv.%ld", sw->name, (long)getpid());
	FILE *f = fopen(tmp, "wb");
	int ok = f && fwrite(text, 1, len, f) == len;
	ok = f && fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
	if (f)
		ok = fclose(f) == 0 && ok;
	free(text);
	char **files;
	int nf = results_files(sw, &files);
	ok = ok && rename(tmp, path) == 0;
	if (!ok) {
		sl_errorf("%s: %s", path, strerror(errno));
		unlink(tmp);
	}
	*nfiles = 0;
	for (int i = 0; i < nf; i++) {
		if (ok && !strstr(files[i], "/results.tsv")) {
			unlink(files[i]);
			(*nfiles)++;
		}
		free(files[i]);
	}
	free(files);
	*nrows = n;
	return ok ? SL_OK : SL_ERR;
}

/* ---- local workers ---- */

typedef struct worker {
	pid_t pid;
	int point;
	double t0; /* when it started */
} worker;

/* Starts `SELF --sweep FILE --shard K/NP` with its output in a log. */
static pid_t spawn(const char *self, const char *file, int k, int np, const char *log)
{
	char shard[64];
	snprintf(shard, sizeof shard, "%d/%d", k, np);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* the child: only async-signal-safe calls until exec */
	setpgid(0, 0); /* Ctrl-C reaches the parent, which stops the workers */
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (nul >= 0)
		dup2(nul, 0);
	execl(self, self, "--sweep", file, "--shard", shard, (char *)NULL);
	_exit(127);
}

/* Moves the row of a finished worker for point k into results.tsv (unless
 * have[k] says a row is there already) and marks it. Returns 0, or -1 if it
 * wrote none. */
static int collect(const sl_sweep *sw, int k, sl_sweep_row *row, char *have)
{
	char path[256], main_path[256];
	snprintf(path, sizeof path, "%s.sweep/results-%d-of-%d.tsv", sw->name, k, sl_sweep_npoints(sw));
	sl_sweep_results_path(sw, 0, 0, main_path, sizeof main_path);
	char *t = sl_session_read_file(path);
	if (!t)
		return -1;
	int found = 0;
	char *save = NULL;
	for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (*l == '#')
			continue;
		char copy[1024];
		snprintf(copy, sizeof copy, "%s\n", l);
		sl_sweep_row r;
		if (parse_row(sw, l, &r) && r.point == k && !found) {
			if (!have[k] && sl_sweep_append(main_path, copy) != SL_OK)
				break;
			have[k] = 1;
			*row = r;
			found = 1;
		}
	}
	free(t);
	if (found)
		unlink(path);
	return found ? 0 : -1;
}

/* A `sweep run`: its workers, advanced by sl_sweep_job_tick (in the
 * background on the screen, in a loop in plain mode). */
struct sl_sweep_job {
	sl_sweep *sw;
	char self[4096], file[256], logs[160];
	int np, jobs, todo, ndone, started, running, failed, next, finished;
	char *done, *have;
	worker *w;
	double t0;
	double point_s; /* wall seconds of the points finished here */
	int stopped;
};

void sl_sweep_job_free(sl_sweep_job *j)
{
	if (!j)
		return;
	for (int i = 0; i < j->jobs; i++) /* a job dropped while its workers run */
		if (j->w[i].pid > 0) {
			kill(j->w[i].pid, SIGKILL);
			waitpid(j->w[i].pid, NULL, 0);
		}
	sl_sweep_free(j->sw);
	free(j->done);
	free(j->have);
	free(j->w);
	free(j);
}

sl_sweep_job *sl_sweep_job_start(sl_session *s, sl_sweep *sw, int jobs, int max)
{
	char self[4096];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl <= 0) {
		sl_fail(s, "cannot find the seqlab binary to start workers (/proc/self/exe: %s)", strerror(errno));
		sl_sweep_free(sw);
		return NULL;
	}
	self[sl] = 0;
	sl_sweep_job *j = sl_xcalloc(1, sizeof *j);
	j->sw = sw;
	memcpy(j->self, self, (size_t)sl + 1);
	snprintf(j->file, sizeof j->file, "%s.sweep/sweep.sl", sw->name);
	snprintf(j->logs, sizeof j->logs, "%s.sweep/logs", sw->name);
	mkdir(j->logs, 0777);
	int np = j->np = sl_sweep_npoints(sw);
	/* which points have a row in results.tsv */
	j->have = sl_xcalloc((size_t)np + 1, 1);
	char main_path[256];
	int ignored = 0;
	sl_sweep_row *tmp_rows = sl_xcalloc((size_t)np + 1, sizeof *tmp_rows);
	read_rows(sw, sl_sweep_results_path(sw, 0, 0, main_path, sizeof main_path), tmp_rows, j->have, &ignored);
	free(tmp_rows);
	/* rows a killed `sweep run` left in per-point files */
	for (int k = 0; k < np; k++) {
		char path[256];
		snprintf(path, sizeof path, "%s.sweep/results-%d-of-%d.tsv", sw->name, k, np);
		sl_sweep_row r;
		if (access(path, F_OK) == 0)
			collect(sw, k, &r, j->have);
	}
	j->done = done_map(sw, &j->ndone);
	for (int k = 0; k < np; k++)
		j->todo += !j->done[k];
	if (max && j->todo > max)
		j->todo = max;
	j->jobs = jobs;
	j->w = sl_xcalloc((size_t)jobs, sizeof *j->w);
	j->t0 = sl_now();
	sl_out(s, "sweep=%s points=%d done=%d todo=%d jobs=%d", sw->name, np, j->ndone, j->todo, jobs);
	return j;
}

/* The closing line; SL_ERR with the error set when points failed or the
 * run was stopped. */
static int job_end(sl_session *s, sl_sweep_job *j)
{
	const sl_sweep *sw = j->sw;
	sl_out(s, "sweep=%s done=%d/%d failed=%d seconds=%.1f%s", sw->name, j->ndone, j->np, j->failed,
	       sl_now() - j->t0, j->stopped ? " stopped=interrupted" : "");
	if (j->stopped) {
		sl_errorf("sweep %s stopped with %d of %d points done (finished points are kept); 'sweep run %s' goes on",
			  sw->name, j->ndone, j->np, sw->name);
		return SL_ERR;
	}
	if (j->failed) {
		sl_errorf("sweep %s: %d points failed", sw->name, j->failed);
		return SL_ERR;
	}
	return SL_OK;
}

/* Takes the row of the worker that ended (pid, status), if it is ours. */
static void job_reap(sl_session *s, sl_sweep_job *j, pid_t pid, int status)
{
	const sl_sweep *sw = j->sw;
	int slot = -1;
	for (int i = 0; i < j->jobs; i++)
		if (j->w[i].pid == pid)
			slot = i;
	if (slot < 0)
		return; /* not ours */
	int k = j->w[slot].point;
	j->w[slot].pid = 0;
	j->running--;
	sl_sweep_row row;
	if (collect(sw, k, &row, j->have) == 0) {
		j->finished++;
		j->point_s += sl_now() - j->w[slot].t0;
		row_summary(s, sw, &row, ++j->ndone);
	} else if (!j->stopped) {
		j->failed++;
		sl_info(s, "sweep %s: point %d failed (%s %d); see %s/worker-%d.log", sw->name, k,
			WIFSIGNALED(status) ? "signal" : "exit status",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), j->logs, k);
	}
}

int sl_sweep_job_tick(sl_session *s, sl_sweep_job *j, double seconds, int *finished)
{
	*finished = 0;
	double t0 = sl_now();
	for (;;) {
		if (sl_session_interrupted(s)) {
			sl_session_clear_interrupt(s);
			*finished = 1;
			return sl_sweep_job_stop(s, j);
		}
		while (j->running < j->jobs && j->started < j->todo) {
			while (j->next < j->np && j->done[j->next])
				j->next++;
			if (j->next >= j->np)
				break;
			int slot = 0;
			while (j->w[slot].pid > 0)
				slot++;
			char log[256];
			snprintf(log, sizeof log, "%s/worker-%d.log", j->logs, j->next);
			pid_t pid = spawn(j->self, j->file, j->next, j->np, log);
			if (pid < 0) {
				int e = errno;
				*finished = 1;
				sl_sweep_job_stop(s, j);
				sl_errorf("cannot start a worker: %s", strerror(e));
				return SL_ERR;
			}
			j->w[slot] = (worker){ .pid = pid, .point = j->next, .t0 = sl_now() };
			j->done[j->next] = 1;
			j->next++;
			j->running++;
			j->started++;
		}
		if (!j->running) {
			*finished = 1;
			return job_end(s, j);
		}
		int status;
		pid_t pid = -1;
		for (int i = 0; i < j->jobs && pid <= 0; i++)
			if (j->w[i].pid > 0)
				pid = waitpid(j->w[i].pid, &status, WNOHANG);
		if (pid > 0) {
			job_reap(s, j, pid, status);
			continue;
		}
		double left = seconds - (sl_now() - t0);
		if (left <= 0)
			return SL_OK;
		struct timespec ts = { 0, (long)(SL_MIN(left, 0.02) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

int sl_sweep_job_stop(sl_session *s, sl_sweep_job *j)
{
	j->stopped = 1;
	/* SIGTERM ends a worker where it is (its point has no row yet: a row
	 * is one write, after the point); SIGKILL after a few seconds */
	for (int i = 0; i < j->jobs; i++)
		if (j->w[i].pid > 0)
			kill(j->w[i].pid, SIGTERM);
	double t0 = sl_now();
	int killed = 0;
	while (j->running) {
		int status, reaped = 0;
		for (int i = 0; i < j->jobs; i++) {
			pid_t pid = j->w[i].pid > 0 ? waitpid(j->w[i].pid, &status, WNOHANG) : 0;
			if (pid > 0) {
				job_reap(s, j, pid, status);
				reaped = 1;
			}
		}
		if (reaped)
			continue;
		if (!killed && sl_now() - t0 > 3) {
			for (int i = 0; i < j->jobs; i++)
				if (j->w[i].pid > 0)
					kill(j->w[i].pid, SIGKILL);
			killed = 1;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return job_end(s, j);
}

void sl_sweep_job_progress(const sl_sweep_job *j, sl_sweep_progress *p)
{
	memset(p, 0, sizeof *p);
	p->name = j->sw->name;
	p->done = j->ndone;
	p->points = j->np;
	p->todo = j->todo;
	p->finished = j->finished;
	p->running = j->running;
	p->failed = j->failed;
	p->elapsed = sl_now() - j->t0;
	p->eta = -1;
	if (j->finished) {
		/* the mean point's time: what the running points still need, and
		 * the points not started, shared by the workers */
		double m = j->point_s / j->finished, work = (double)(j->todo - j->started) * m;
		double now = sl_now();
		for (int i = 0; i < j->jobs; i++)
			if (j->w[i].pid > 0)
				work += SL_MAX(m - (now - j->w[i].t0), 0.0);
		p->eta = work / SL_MAX(1, SL_MIN(j->jobs, j->todo - j->finished));
	}
}

const char *sl_sweep_job_name(const sl_sweep_job *j)
{
	return j->sw->name;
}

/* ---- the command ---- */

/* Checks every value by building the model and optimizer of the first
 * option combination and of each combination that differs from it in one
 * value (nothing is trained). */
static int dry_run(sl_session *s, const sl_sweep *sw)
{
	int d[SL_SWEEP_MAX_KEYS] = { 0 };
	for (int i = -1; i < sw->nkeys; i++) {
		for (int j = i < 0 ? 0 : 1; j < (i < 0 ? 1 : sw->nvals[i]); j++) {
			if (i >= 0)
				d[i] = j;
			char *script = script_of(sw, d, sw->seeds[0], 0);
			struct first_error fe = { .log = NULL };
			sl_workbench *wb;
			int st = exec_aside(s, script, &fe, &wb);
			sl_workbench_free(wb);
			free(script);
			if (i >= 0)
				d[i] = 0;
			if (st != SL_OK) {
				const char *msg = fe.err;
				const char *colon = strstr(msg, ": ");
				if (!strncmp(msg, "point:", 6) && colon)
					msg = colon + 2; /* drop "point:LINE: " */
				return sl_fail(s, "%s%s%s: %s", i >= 0 ? sw->keys[i] : "the first point", i >= 0 ? "=" : "",
					       i >= 0 ? sw->vals[i][j] : "", msg);
			}
		}
	}
	return SL_OK;
}

static int cmd_define(sl_session *s, sl_args *a, const char *name)
{
	if (sl_workbench_training(sl_session_workbench(s)))
		return sl_fail(s, "%s; 'stop' it first", sl_workbench_busy_text(sl_session_workbench(s)));
	const char *kind = sl_args_word(a);
	if (!kind)
		return sl_args_fail(a, "expected sweep NAME = KIND key=v1,v2 ... steps=N");
	/* the definition's words, quoted again where they need it, so the
	 * sweep's parser reads exactly what this command read */
	int cap = 16, n = 0;
	sl_word *w = sl_xmalloc((size_t)cap * sizeof *w);
	w[n++] = (sl_word){ .text = "sweep" };
	w[n++] = (sl_word){ .text = name };
	w[n++] = (sl_word){ .text = "=" };
	w[n++] = (sl_word){ .text = kind };
	const char *k, *v;
	while (sl_args_next_option(a, &k, &v)) {
		if (n == cap)
			w = sl_xrealloc(w, (size_t)(cap *= 2) * sizeof *w);
		w[n++] = (sl_word){ .key = k, .value = v };
	}
	char *line = sl_session_format_words(w, n);
	free(w);
	if (sl_args_end(a) != SL_OK) {
		free(line);
		return SL_ERR;
	}
	sl_task *t = sl_workbench_task(sl_session_workbench(s));
	if (!t) {
		free(line);
		return sl_fail(s, "no task yet: a sweep runs on the current task ('task piglatin ...' first)");
	}
	sl_sweep *sw = sl_sweep_parse(line, t->desc);
	free(line);
	if (!sw)
		return sl_fail(s, "%s", sl_error());
	if (dry_run(s, sw) != SL_OK) {
		sl_sweep_free(sw);
		return SL_ERR;
	}
	if (define(sw) != SL_OK) {
		sl_sweep_free(sw);
		return sl_fail(s, "%s", sl_error());
	}
	int ndone;
	free(done_map(sw, &ndone));
	sl_out(s, "sweep=%s points=%d options=%d seeds=%d done=%d dir=%s.sweep", sw->name, sl_sweep_npoints(sw),
	       sw->nconf, sw->nseeds, ndone, sw->name);
	sl_sweep_free(sw);
	return SL_OK;
}

int sl_cmd_sweep(sl_session *s, sl_args *a)
{
	const char *w1 = sl_args_word(a), *w2 = sl_args_word(a);
	if (!w1)
		return sl_args_fail(a, "expected NAME = KIND ..., run NAME, show NAME or merge NAME");
	if (w2 && !strcmp(w2, "="))
		return cmd_define(s, a, w1);
	if (strcmp(w1, "run") && strcmp(w1, "show") && strcmp(w1, "merge"))
		return sl_args_fail(a, "'%s': expected NAME = KIND ..., run NAME, show NAME or merge NAME", w1);
	long long jobs = 1, max = 0;
	int curves = -1;
	if (!strcmp(w1, "run")) {
		sl_args_int(a, "jobs", 1, 256, &jobs);
		sl_args_int(a, "max", 1, SL_SWEEP_MAX_POINTS, &max);
	} else if (!strcmp(w1, "show")) {
		sl_args_enum(a, "curves", metric_names, &curves);
	}
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!w2)
		return sl_args_fail(a, "which sweep?");
	sl_sweep *sw = sl_sweep_load(w2);
	if (!sw)
		return sl_fail(s, "%s", sl_error());
	int st;
	if (!strcmp(w1, "run")) {
		sl_workbench *wb = sl_session_workbench(s);
		if (sl_workbench_training(wb)) {
			sl_sweep_free(sw);
			return sl_fail(s, "%s; 'stop' it first", sl_workbench_busy_text(wb));
		}
		sl_sweep_job *j = sl_sweep_job_start(s, sw, (int)jobs, (int)max);
		return j ? sl_workbench_run_sweep(s, j) : SL_ERR;
	} else if (!strcmp(w1, "show")) {
		st = sl_sweep_show(s, sw, curves);
	} else {
		int rows, files;
		st = merge(sw, &rows, &files);
		if (st == SL_OK)
			sl_out(s, "sweep=%s merged=%d files=%d", sw->name, rows, files);
		else
			sl_fail(s, "%s", sl_error());
	}
	sl_sweep_free(sw);
	return st;
}

/* ---- seqlab --sweep FILE ---- */

int sl_sweep_define_file(sl_session *s, const char *file, char (*names)[64], int max)
{
	char *text = sl_session_read_file(file);
	if (!text)
		return SL_ERR;
	/* the `sweep NAME = ...` lines name the sweeps */
	int n = 0;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char w0[16], w1[64], w2[4];
		if (sscanf(l, " %15s %63s %3s", w0, w1, w2) == 3 && !strcmp(w0, "sweep") && !strcmp(w2, "=") && n < max)
			snprintf(names[n++], 64, "%s", w1);
	}
	int sealed = !strncmp(text, "# seqlab sweep ", 15);
	free(text);
	if (!n) {
		sl_errorf("%s: no 'sweep NAME = ...' line", file);
		return SL_ERR;
	}
	if (!sealed)
		return sl_session_exec_file(s, file) == SL_OK ? n : SL_ERR; /* the user's own file */
	/* a sweep directory's sweep.sl (`sweep run` gives it to its workers) is
	 * untrusted: it may only set the task and define the sweep */
	sl_filter_fn ffn;
	void *fud;
	sl_session_get_filter(s, &ffn, &fud);
	sl_session_set_filter(s, definition_filter, NULL);
	int st = sl_session_exec_file(s, file);
	sl_session_set_filter(s, ffn, fud);
	return st == SL_OK ? n : SL_ERR;
}

int sl_sweep_file(sl_session *s, const char *file, int shard, int nshards)
{
	char names[SL_SWEEP_MAX_FILE][64];
	int n = sl_sweep_define_file(s, file, names, SL_SWEEP_MAX_FILE);
	if (n < 0)
		return SL_ERR;
	for (int i = 0; i < n; i++) {
		sl_sweep *sw = sl_sweep_load(names[i]);
		if (!sw)
			return SL_ERR;
		char path[256];
		sl_sweep_results_path(sw, shard, nshards, path, sizeof path);
		int ran = sl_sweep_run_shard(s, sw, shard, nshards, path, NULL);
		if (ran >= 0)
			sl_out(s, "sweep=%s shard=%d/%d ran=%d", sw->name, shard, nshards ? nshards : 1, ran);
		sl_sweep_free(sw);
		if (ran < 0)
			return SL_ERR;
	}
	return SL_OK;
}
