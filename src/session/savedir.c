/* savedir.c - saved sessions: a directory of the journal, the state that
 * makes the runs again, and every run's checkpoint and history, written
 * atomically (save), read back as untrusted input (load), re-run and
 * compared (replay); and model files (export, import). */
#include "config.h"

#include "seqlab/checkpoint.h"
#include "seqlab/savedir.h"
#include "seqlab/commands.h"
#include "seqlab/journal.h"
#include "seqlab/ops.h"
#include "seqlab/safetensors.h"
#include "seqlab/workbench.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPEC_MAX 4096

/* ---- files ---- */

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		sl_errorf("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return SL_ERR;
	}
	close(fd);
	return SL_OK;
}

/* Removes the files of a flat directory, then the directory. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char p[4096];
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = sl_xmalloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* dir split into its parent and base name (trailing slashes dropped). */
static int split_path(const char *dir, char *parent, size_t np, char *base, size_t nb)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	size_t s = n;
	while (s > 0 && dir[s - 1] != '/')
		s--;
	if (n == s || n - s >= nb || (n - s == 1 && dir[s] == '.') || (n - s == 2 && !strncmp(dir + s, "..", 2))) {
		sl_errorf("'%s' is not a directory name to save to", dir);
		return SL_ERR;
	}
	memcpy(base, dir + s, n - s);
	base[n - s] = 0;
	if (s == 0)
		snprintf(parent, np, ".");
	else if (s == 1)
		snprintf(parent, np, "/");
	else
		snprintf(parent, np, "%.*s", (int)(s - 1), dir);
	return SL_OK;
}

/* Whether dir holds a saved session (its journal.sl begins like one). */
static int is_session_dir(const char *dir)
{
	char *p = path_join(dir, "journal.sl");
	FILE *f = fopen(p, "rb");
	free(p);
	if (!f)
		return 0;
	char head[32] = "";
	size_t k = fread(head, 1, sizeof head - 1, f);
	fclose(f);
	head[k] = 0;
	return strncmp(head, "# seqlab journal ", 17) == 0;
}

/* Removes temporary directories .BASE.save-PID in parent whose process is
 * gone (a save that was killed). */
static void clean_stale(const char *parent, const char *base)
{
	DIR *d = opendir(parent);
	if (!d)
		return;
	char pre[300];
	snprintf(pre, sizeof pre, ".%s.save-", base);
	size_t pl = strlen(pre);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, pre, pl) != 0)
			continue;
		char *end;
		long pid = strtol(e->d_name + pl, &end, 10);
		if (*end || pid <= 0)
			continue;
		int gone = pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
		if (!gone)
			continue; /* another save of the same name is running */
		char *p = path_join(parent, e->d_name);
		remove_dir(p);
		free(p);
	}
	closedir(d);
}

/* ---- saving a session ---- */

/* state.sl: the settings, then each run's task (when it changes) and model. */
static char *state_text(sl_session *s)
{
	sl_workbench *wb = sl_session_workbench(s);
	int nr = sl_workbench_nruns(wb);
	char **lines = sl_xcalloc((size_t)(2 * nr + 3), sizeof *lines);
	int n = 0;
	char buf[SPEC_MAX + 512], spec[SPEC_MAX];
	snprintf(buf, sizeof buf, "set seed=%" PRIu64 " threads=%d", sl_session_seed(s), sl_session_threads(s));
	lines[n++] = sl_xstrdup(buf);
	const sl_task *last = NULL;
	for (int i = 0; i < nr; i++) {
		const sl_run *r = sl_workbench_run_at(wb, i);
		if (r->task != last) {
			snprintf(buf, sizeof buf, "task %s", r->task->desc);
			lines[n++] = sl_xstrdup(buf);
			last = r->task;
		}
		snprintf(buf, sizeof buf, "model %s = %s seed=%" PRIu64, r->name, sl_model_spec(r->model, spec, sizeof spec),
			 r->seed);
		lines[n++] = sl_xstrdup(buf);
	}
	const sl_task *cur = sl_workbench_task(wb);
	if (cur && cur != last) {
		snprintf(buf, sizeof buf, "task %s", cur->desc);
		lines[n++] = sl_xstrdup(buf);
	}
	const char *comments[] = {
		"Recreates the session's tasks and runs without training; `load` then",
		"restores every run's state from RUN.safetensors. Not for editing.",
	};
	char *t = sl_sealed_text("state", comments, 2, (const char *const *)lines, n);
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	return t;
}

/* Writes every file of the session into the empty directory tmp. */
static int write_session(sl_session *s, const char *tmp)
{
	sl_workbench *wb = sl_session_workbench(s);
	char job[256];
	int has_job = sl_workbench_job_line(wb, job, sizeof job);
	char *jt = sl_journal_text(sl_session_journal(s), has_job ? job : NULL);
	char *p = path_join(tmp, "journal.sl");
	int st = sl_write_new_file(p, jt, strlen(jt));
	free(p);
	free(jt);
	if (st != SL_OK)
		return SL_ERR;
	char *stt = state_text(s);
	p = path_join(tmp, "state.sl");
	st = sl_write_new_file(p, stt, strlen(stt));
	free(p);
	free(stt);
	for (int i = 0; st == SL_OK && i < sl_workbench_nruns(wb); i++) {
		const sl_run *r = sl_workbench_run_at(wb, i);
		char name[128];
		snprintf(name, sizeof name, "%s.safetensors", r->name);
		p = path_join(tmp, name);
		st = sl_checkpoint_save(p, r);
		free(p);
		if (st != SL_OK)
			break;
		snprintf(name, sizeof name, "%s.csv", r->name);
		p = path_join(tmp, name);
		st = sl_checkpoint_write_csv(p, r);
		free(p);
	}
	if (st == SL_OK)
		st = fsync_dir(tmp);
	return st;
}

/* Whether name is a file a save writes (and may replace). */
static int save_file(const char *name)
{
	size_t n = strlen(name);
	if (!strcmp(name, "journal.sl") || !strcmp(name, "state.sl"))
		return 1;
	return name[0] != '.' &&
	       ((n > 12 && !strcmp(name + n - 12, ".safetensors")) || (n > 4 && !strcmp(name + n - 4, ".csv")));
}

/* SL_OK if the saved session dir holds only what a save writes (regular
 * files: it is replaced whole); else SL_ERR naming the first stranger. */
static int only_save_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		sl_errorf("%s: %s", dir, strerror(errno));
		return SL_ERR;
	}
	int st = SL_OK;
	struct dirent *e;
	while (st == SL_OK && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *p = path_join(dir, e->d_name);
		struct stat sb;
		int reg = lstat(p, &sb) == 0 && S_ISREG(sb.st_mode);
		free(p);
		if (!reg || !save_file(e->d_name)) {
			sl_errorf("%s holds %s'%s', which is not part of a save and would be lost; move it out of %s "
				  "or save elsewhere", dir, reg ? "the file " : S_ISDIR(sb.st_mode) ? "the directory " : "",
				  e->d_name, dir);
			st = SL_ERR;
		}
	}
	closedir(d);
	return st;
}

int sl_savedir_save(sl_session *s, const char *dir)
{
	char parent[4096], base[256];
	for (const char *p = dir; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			sl_errorf("a directory name with a control character (a newline, a tab...) is refused; pick "
				  "another name");
			return SL_ERR;
		}
	if (split_path(dir, parent, sizeof parent, base, sizeof base) != SL_OK)
		return SL_ERR;
	struct stat sb;
	if (stat(parent, &sb) != 0) {
		sl_errorf("%s: %s; nothing was saved", parent, strerror(errno));
		return SL_ERR;
	}
	if (!S_ISDIR(sb.st_mode)) {
		sl_errorf("%s: not a directory; nothing was saved", parent);
		return SL_ERR;
	}
	int exists = lstat(dir, &sb) == 0;
	if (exists && S_ISLNK(sb.st_mode)) {
		sl_errorf("%s is a symbolic link; save to the directory it points to", dir);
		return SL_ERR;
	}
	if (exists && !S_ISDIR(sb.st_mode)) {
		sl_errorf("%s exists and is not a directory; pick another name", dir);
		return SL_ERR;
	}
	if (exists && !is_session_dir(dir)) {
		sl_errorf("%s exists and is not a saved seqlab session; pick another name", dir);
		return SL_ERR;
	}
	if (exists && only_save_files(dir) != SL_OK) {
		char msg[1200];
		snprintf(msg, sizeof msg, "%s", sl_error());
		sl_errorf("%s; the previous save is unchanged", msg);
		return SL_ERR;
	}
	clean_stale(parent, base);
	char tmp[4400], old[4400];
	snprintf(tmp, sizeof tmp, "%s/.%s.save-%ld", parent, base, (long)getpid());
	remove_dir(tmp); /* our own leftover */
	if (mkdir(tmp, 0777) != 0) {
		sl_errorf("%s: %s", tmp, strerror(errno));
		return SL_ERR;
	}
	if (write_session(s, tmp) != SL_OK) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", sl_error());
		remove_dir(tmp);
		sl_errorf("%s%s", msg, exists ? "; the previous save is unchanged" : "; nothing was saved");
		return SL_ERR;
	}
	if (exists) {
		/* swap the new directory and the old one in one step */
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) != 0) {
			if (errno != EINVAL && errno != ENOSYS) {
				sl_errorf("%s: %s; the previous save is unchanged", dir, strerror(errno));
				remove_dir(tmp);
				return SL_ERR;
			}
			/* no exchange on this file system: two renames */
			snprintf(old, sizeof old, "%s/.%s.prev-%ld", parent, base, (long)getpid());
			if (rename(dir, old) != 0) {
				sl_errorf("%s: %s; the previous save is unchanged", dir, strerror(errno));
				remove_dir(tmp);
				return SL_ERR;
			}
			if (rename(tmp, dir) != 0) {
				sl_errorf("%s: %s; the previous save is in %s", dir, strerror(errno), old);
				remove_dir(tmp);
				return SL_ERR;
			}
			snprintf(tmp, sizeof tmp, "%s", old);
		}
		fsync_dir(parent);
		remove_dir(tmp); /* now the old save */
	} else {
		if (rename(tmp, dir) != 0) {
			sl_errorf("%s: %s; nothing was saved", dir, strerror(errno));
			remove_dir(tmp);
			return SL_ERR;
		}
		fsync_dir(parent);
	}
	return SL_OK;
}

/* ---- loading ---- */

/* Runs text with the output captured (the first error kept), nothing
 * recorded in the journal, and only the commands filter allows (if any). */
struct capture {
	char err[1024];
	int have;
};

static void capture_out(void *ud, int kind, const char *line)
{
	struct capture *c = ud;
	if (kind == SL_OUT_ERROR && !c->have) {
		snprintf(c->err, sizeof c->err, "%s", line);
		c->have = 1;
	}
}

/* The commands a saved state.sl (or the model line import builds) may run:
 * the ones that describe state, nothing that writes, reads scripts or quits. */
static int state_filter(void *ud, const sl_cmd *c, const sl_word *w, int n)
{
	(void)ud;
	(void)w;
	(void)n;
	if (!strcmp(c->name, "set") || !strcmp(c->name, "task") || !strcmp(c->name, "model"))
		return SL_OK;
	sl_errorf("a saved state holds only set, task and model lines; '%s' is refused (the file was forged?)",
		  c->name);
	return SL_ERR;
}

/* What a journal given to replay may run: the commands a journal records. */
static int journal_filter(void *ud, const sl_cmd *c, const sl_word *w, int n)
{
	(void)w;
	(void)n;
	if (c->flags & (SL_CMD_STATE | SL_CMD_RECORDS))
		return SL_OK;
	sl_errorf("a journal holds only commands that change the session's state; replay refuses '%s' "
		  "(to run any command, 'source %s/journal.sl')", c->name, (const char *)ud);
	return SL_ERR;
}

static int exec_quiet(sl_session *s, const char *text, const char *origin, sl_filter_fn filter)
{
	sl_output_fn fn;
	void *ud;
	sl_session_get_output(s, &fn, &ud);
	struct capture c = { .have = 0 };
	sl_session_set_output(s, capture_out, &c);
	int rec = sl_session_set_recording(s, 0);
	int kg = sl_session_keep_going(s);
	sl_session_set_keep_going(s, 0);
	sl_filter_fn ffn;
	void *fud;
	sl_session_get_filter(s, &ffn, &fud);
	sl_session_set_filter(s, filter, NULL);
	int st = sl_session_exec(s, text, origin);
	sl_session_set_filter(s, ffn, fud);
	sl_session_set_keep_going(s, kg);
	sl_session_set_recording(s, rec);
	sl_session_set_output(s, fn, ud);
	if (st != SL_OK)
		sl_errorf("%s", c.have ? c.err : "failed");
	return st;
}

/* Reads and checks a sealed script of kind in dir; NULL with the error. */
static char *read_sealed(const char *dir, const char *name, const char *kind)
{
	char *p = path_join(dir, name);
	size_t len;
	char *t = sl_session_read_file_len(p, &len);
	if (t && sl_sealed_check(t, len, kind) != SL_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", sl_error());
		sl_errorf("%s: %s", p, msg);
		free(t);
		t = NULL;
	}
	free(p);
	return t;
}

/* The reason a directory is not a saved session, for a missing one. */
static void explain_missing(const char *dir)
{
	struct stat sb;
	if (stat(dir, &sb) != 0)
		sl_errorf("%s: %s", dir, strerror(errno));
	else if (!S_ISDIR(sb.st_mode))
		sl_errorf("%s is not a directory (a saved session is one)", dir);
	else {
		char *j = path_join(dir, "journal.sl");
		if (stat(j, &sb) != 0 || sl_session_regular_file(j) == SL_OK)
			sl_errorf("%s is not a saved seqlab session (no journal.sl)", dir);
		/* else: the error says what journal.sl is (a device...) */
		free(j);
	}
}

static int no_runs(sl_session *s, const char *what)
{
	sl_workbench *wb = sl_session_workbench(s);
	int n = sl_workbench_nruns(wb);
	if (n == 0)
		return SL_OK;
	sl_errorf("%s needs a session without runs, and this one has %d (%s%s); 'drop' them or start a new seqlab", what,
		  n, sl_workbench_run_at(wb, 0)->name, n > 1 ? ", ..." : "");
	return SL_ERR;
}

int sl_savedir_load(sl_session *s, const char *dir)
{
	if (no_runs(s, "load") != SL_OK)
		return SL_ERR;
	if (!is_session_dir(dir)) {
		explain_missing(dir);
		return SL_ERR;
	}
	char *jt = read_sealed(dir, "journal.sl", "journal");
	if (!jt)
		return SL_ERR;
	sl_journal *j = sl_journal_parse(jt, strlen(jt));
	free(jt);
	if (!j) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", sl_error());
		sl_errorf("%s/journal.sl: %s", dir, msg);
		return SL_ERR;
	}
	char *stt = read_sealed(dir, "state.sl", "state");
	if (!stt) {
		sl_journal_free(j);
		return SL_ERR;
	}
	/* build the session aside; keep the old one until all is well */
	uint64_t seed0 = sl_session_seed(s);
	int threads0 = sl_session_threads(s);
	sl_workbench *wb = sl_session_workbench(s), *old = sl_workbench_new();
	sl_workbench_exchange(wb, old); /* the old tasks wait aside */
	char *origin = path_join(dir, "state.sl");
	int st = exec_quiet(s, stt, origin, state_filter);
	free(origin);
	free(stt);
	for (int i = 0; st == SL_OK && i < sl_workbench_nruns(wb); i++) {
		sl_run *r = sl_workbench_run_at(wb, i);
		char name[128];
		snprintf(name, sizeof name, "%s.safetensors", r->name);
		char *p = path_join(dir, name);
		sl_checkpoint *c = sl_checkpoint_load(p);
		if (!c) {
			st = SL_ERR;
		} else if (!sl_checkpoint_meta(c, "run") || strcmp(sl_checkpoint_meta(c, "run"), r->name) != 0) {
			sl_errorf("%s: the checkpoint of run '%s', not '%s'", p,
				  sl_checkpoint_meta(c, "run") ? sl_checkpoint_meta(c, "run") : "?", r->name);
			st = SL_ERR;
		} else if (sl_checkpoint_apply(c, r, sl_session_pool(s)) != SL_OK) {
			char msg[1024];
			snprintf(msg, sizeof msg, "%s", sl_error());
			sl_errorf("%s: %s", p, msg);
			st = SL_ERR;
		}
		sl_checkpoint_free(c);
		free(p);
	}
	if (st != SL_OK) {
		char msg[1200];
		snprintf(msg, sizeof msg, "%s", sl_error());
		sl_workbench_exchange(wb, old);
		sl_workbench_free(old); /* what was built */
		sl_session_set_seed(s, seed0);
		if (sl_session_threads(s) != threads0)
			sl_session_set_threads(s, threads0);
		sl_journal_free(j);
		sl_errorf("%s", msg);
		return SL_ERR;
	}
	sl_workbench_free(old);
	sl_journal_free(sl_session_set_journal(s, j));
	return SL_OK;
}

/* ---- commands ---- */

int sl_cmd_save(sl_session *s, sl_args *a)
{
	const char *dir = sl_args_word(a);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!dir)
		return sl_args_fail(a, "save where? (a directory name)");
	if (sl_savedir_save(s, dir) != SL_OK)
		return sl_fail(s, "%s", sl_error());
	sl_workbench *wb = sl_session_workbench(s);
	sl_out(s, "saved=%s runs=%d commands=%d", dir, sl_workbench_nruns(wb),
	       sl_journal_count(sl_session_journal(s)));
	return SL_OK;
}

int sl_cmd_load(sl_session *s, sl_args *a)
{
	const char *dir = sl_args_word(a);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!dir)
		return sl_args_fail(a, "load what? (a saved session's directory)");
	if (no_runs(s, "load") != SL_OK)
		return sl_fail(s, "%s", sl_error());
	if (sl_savedir_load(s, dir) != SL_OK)
		return sl_fail(s, "%s; the session is unchanged", sl_error());
	sl_workbench *wb = sl_session_workbench(s);
	sl_out(s, "loaded=%s runs=%d commands=%d seed=%" PRIu64 " threads=%d", dir, sl_workbench_nruns(wb),
	       sl_journal_count(sl_session_journal(s)), sl_session_seed(s), sl_session_threads(s));
	for (int i = 0; i < sl_workbench_nruns(wb); i++) {
		const sl_run *r = sl_workbench_run_at(wb, i);
		const sl_eval *e = r->nevals ? &r->evals[r->nevals - 1] : NULL;
		sl_out(s, "run=%s kind=%s steps=%lld epochs=%lld val_acc=%.4f val_loss=%.4f", r->name,
		       r->model->kind->name, (long long)r->step, (long long)r->epoch, e ? e->val_acc : NAN,
		       e ? e->val_loss : NAN);
	}
	return SL_OK;
}

/* The run names of a state.sl text: its "model NAME = ..." lines. */
static int state_runs(const char *text, char names[][64], int max)
{
	int n = 0;
	for (const char *p = text; *p && n < max;) {
		const char *e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		if (!strncmp(p, "model ", 6)) {
			const char *q = p + 6, *sp = strchr(q, ' ');
			if (sp && sp < e && sp - q < 64) {
				memcpy(names[n], q, (size_t)(sp - q));
				names[n][sp - q] = 0;
				n++;
			}
		}
		p = *e ? e + 1 : e;
	}
	return n;
}

static void report_diff(void *ctx, const char *line)
{
	sl_out(ctx, "mismatch %s", line);
}

int sl_cmd_replay(sl_session *s, sl_args *a)
{
	const char *dir = sl_args_word(a), *mode = sl_args_word(a);
	double tol = 0;
	sl_args_float(a, "tol", 0, 1, &tol);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!dir)
		return sl_args_fail(a, "replay what? (a saved session's directory)");
	if (mode && strcmp(mode, "check") != 0)
		return sl_args_fail(a, "'%s': expected check", mode);
	int check = mode != NULL;
	if (no_runs(s, "replay") != SL_OK)
		return sl_fail(s, "%s", sl_error());
	if (!is_session_dir(dir)) {
		explain_missing(dir);
		return sl_fail(s, "%s", sl_error());
	}
	char *jt = read_sealed(dir, "journal.sl", "journal");
	if (!jt)
		return sl_fail(s, "%s (a journal edited by hand runs with 'source %s/journal.sl')", sl_error(), dir);
	char *stt = check ? read_sealed(dir, "state.sl", "state") : NULL;
	if (check && !stt) {
		free(jt);
		return sl_fail(s, "%s", sl_error());
	}
	char *origin = path_join(dir, "journal.sl");
	sl_filter_fn ffn;
	void *fud;
	sl_session_get_filter(s, &ffn, &fud);
	sl_session_set_filter(s, journal_filter, (void *)dir);
	int kg = sl_session_keep_going(s);
	sl_session_set_keep_going(s, 0); /* an untrusted journal stops at its first error */
	int st = sl_session_exec(s, jt, origin);
	sl_session_set_keep_going(s, kg);
	sl_session_set_filter(s, ffn, fud);
	free(origin);
	free(jt);
	if (st != SL_OK) {
		free(stt);
		return SL_ERR; /* the journal's error, located in it, is the message */
	}
	if (!check) {
		sl_out(s, "replayed=%s runs=%d", dir, sl_workbench_nruns(sl_session_workbench(s)));
		return SL_OK;
	}
	char names[256][64];
	int nr = state_runs(stt, names, 256);
	free(stt);
	sl_workbench *wb = sl_session_workbench(s);
	int diffs = 0, steps = 0, evals = 0;
	for (int i = 0; i < nr; i++) {
		sl_run *r = sl_workbench_run(wb, names[i]);
		if (!r) {
			sl_out(s, "mismatch run=%s is in the save but not in the replay", names[i]);
			diffs++;
			continue;
		}
		char file[128];
		snprintf(file, sizeof file, "%s.csv", r->name);
		char *p = path_join(dir, file);
		int d = sl_checkpoint_compare_csv(p, r, tol, 20, report_diff, s);
		free(p);
		if (d < 0)
			return sl_fail(s, "%s", sl_error());
		diffs += d;
		steps += r->nsteps;
		evals += r->nevals;
	}
	for (int i = 0; i < sl_workbench_nruns(wb); i++) {
		const char *n = sl_workbench_run_at(wb, i)->name;
		int found = 0;
		for (int k = 0; k < nr && !found; k++)
			found = !strcmp(names[k], n);
		if (!found) {
			sl_out(s, "mismatch run=%s is in the replay but not in the save", n);
			diffs++;
		}
	}
	sl_out(s, "replayed=%s runs=%d steps=%d evals=%d mismatches=%d", dir, nr, steps, evals, diffs);
	if (diffs && tol == 0) {
		char kern[96];
		if (strcmp(sl_gemm_name(), "openblas"))
			snprintf(kern, sizeof kern, "seqlab's");
		else
			snprintf(kern, sizeof kern, "OpenBLAS's %s", sl_blas_core());
		return sl_fail(s,
			       "%d differences from the recorded metrics (an exact replay needs the matrix "
			       "kernels of the recording; these are %s, see SEQLAB_GEMM; or give tol=1e-4)",
			       diffs, kern);
	}
	if (diffs)
		return sl_fail(s, "%d differences from the recorded metrics", diffs);
	return SL_OK;
}

/* ---- export, import ---- */

static sl_run *find_run(sl_session *s, const char *name)
{
	sl_run *r = sl_workbench_run(sl_session_workbench(s), name);
	if (!r)
		sl_fail(s, "no run '%s'; 'runs' lists them", name);
	return r;
}

int sl_cmd_export(sl_session *s, sl_args *a)
{
	const char *name = sl_args_word(a), *file = sl_args_word(a);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!name || !file)
		return sl_args_fail(a, "expected RUN FILE");
	sl_run *r = find_run(s, name);
	if (!r)
		return SL_ERR;
	const sl_params *ps = r->model->ps;
	if (sl_checkpoint_export(file, r) != SL_OK)
		return sl_fail(s, "%s", sl_error());
	sl_out(s, "exported=%s run=%s tensors=%d params=%zu", file, r->name, ps->n, sl_params_count(ps));
	return SL_OK;
}

int sl_cmd_import(sl_session *s, sl_args *a)
{
	const char *name = sl_args_word(a), *eq = sl_args_word(a), *file = sl_args_word(a);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!name || !eq || strcmp(eq, "=") != 0 || !file)
		return sl_args_fail(a, "expected NAME = FILE");
	sl_workbench *wb = sl_session_workbench(s);
	if (sl_workbench_run(wb, name))
		return sl_fail(s, "run '%s' exists; 'drop %s' first, or pick another name", name, name);
	sl_safetensors *st = sl_safetensors_load(file);
	if (!st)
		return sl_fail(s, "%s", sl_error());
	const char *fmt = sl_safetensors_meta_get(st, "format");
	const char *model = sl_safetensors_meta_get(st, "model");
	const char *task = sl_safetensors_meta_get(st, "task");
	const char *prefix = NULL;
	int rc = SL_ERR;
	if (fmt && !strcmp(fmt, "seqlab-checkpoint")) {
		prefix = "param.";
	} else if (!fmt || strcmp(fmt, "seqlab-model") != 0) {
		sl_fail(s, "%s: not a seqlab model (its metadata has no format=seqlab-model)", file);
		goto out;
	}
	if (!model) {
		sl_fail(s, "%s: its metadata has no model spec", file);
		goto out;
	}
	if (sl_checkpoint_verify(st) != SL_OK) {
		sl_fail(s, "%s: %s", file, sl_error());
		goto out;
	}
	sl_task *t = sl_workbench_task(wb);
	if (!t) {
		sl_fail(s, "no task yet: the model was trained on '%s'; run 'task %s' first", task ? task : "?",
			task ? task : "piglatin");
		goto out;
	}
	const char *vs = sl_safetensors_meta_get(st, "task_vocab"), *ls = sl_safetensors_meta_get(st, "task_maxlen");
	if ((vs && atoi(vs) != t->shape.vocab) || (ls && atoi(ls) != t->shape.maxlen)) {
		sl_fail(s, "%s: the model's task (vocab %s, longest %s) does not fit the current one (vocab %d, longest %d)",
			file, vs ? vs : "?", ls ? ls : "?", t->shape.vocab, t->shape.maxlen);
		goto out;
	}
	if (strchr(model, '\n') || strchr(model, ';') || strchr(model, '#')) {
		sl_fail(s, "%s: a bad model spec", file);
		goto out;
	}
	size_t n = strlen(name) + strlen(model) + 32;
	char *cmd = sl_xmalloc(n);
	snprintf(cmd, n, "model %s = %s", name, model);
	int ok = exec_quiet(s, cmd, NULL, state_filter);
	free(cmd);
	if (ok != SL_OK) {
		sl_fail(s, "%s: %s", file, sl_error());
		goto out;
	}
	sl_run *r = sl_workbench_run(wb, name);
	SL_ASSERT(r);
	if (sl_safetensors_get_params(st, prefix, r->model->ps) != SL_OK) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", sl_error());
		char drop[128];
		snprintf(drop, sizeof drop, "drop %s", name);
		exec_quiet(s, drop, NULL, NULL);
		sl_fail(s, "%s: %s", file, msg);
		goto out;
	}
	sl_out(s, "run=%s kind=%s params=%zu imported=%s", name, r->model->kind->name, sl_params_count(r->model->ps),
	       file);
	rc = SL_OK;
out:
	sl_safetensors_free(st);
	return rc;
}
