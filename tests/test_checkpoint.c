/* test_checkpoint.c - saved sessions: save -> load -> continue equals an
 * uninterrupted run bit for bit (several models, optimizers, schedules,
 * accumulation, dropout, mid-epoch cursors); damaged, truncated or foreign
 * checkpoints and journals are rejected and leave the session unchanged;
 * a save that fails (a full disk, via RLIMIT_FSIZE) leaves the previous one
 * loadable; the journal records training jobs as what they did; export and
 * import round-trip the weights. */
#include "seqlab/checkpoint.h"
#include "seqlab/journal.h"
#include "seqlab/safetensors.h"
#include "seqlab/session.h"
#include "seqlab/workbench.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char errors[8192]; /* the last errors a session reported */

static void capture(void *ud, int kind, const char *line)
{
	(void)ud;
	if (kind != SL_OUT_ERROR)
		return;
	size_t n = strlen(errors);
	snprintf(errors + n, sizeof errors - n, "%s\n", line);
}

/* The errors without their last newline, for a test point's name. */
static const char *err1(void)
{
	static char b[sizeof errors];
	snprintf(b, sizeof b, "%s", errors);
	size_t n = strlen(b);
	if (n && b[n - 1] == '\n')
		b[n - 1] = 0;
	return b;
}

static sl_session *fresh(void)
{
	sl_session *s = sl_session_new();
	SL_ASSERT(s);
	sl_session_set_output(s, capture, NULL);
	errors[0] = 0;
	return s;
}

static int run(sl_session *s, const char *text)
{
	errors[0] = 0;
	int st = sl_session_exec(s, text, NULL);
	if (st != SL_OK)
		tap_diag("'%s' failed: %s", text, errors);
	return st;
}

static sl_run *get(sl_session *s, const char *name)
{
	return sl_workbench_run(sl_session_workbench(s), name);
}

/* Everything that must be equal after save -> load -> the same training. */
static int same_run(const sl_run *a, const sl_run *b, const char *what)
{
	const sl_params *pa = a->model->ps, *pb = b->model->ps;
	size_t n = pa->total * sizeof(float);
	int ok = 1;
#define SAME(c, ...)                        \
	do {                                \
		if (!(c)) {                 \
			tap_diag(__VA_ARGS__); \
			ok = 0;             \
		}                           \
	} while (0)
	SAME(pa->total == pb->total && !memcmp(pa->data, pb->data, n), "%s: parameters differ", what);
	SAME(!a->opt->m == !b->opt->m && (!a->opt->m || !memcmp(a->opt->m, b->opt->m, n)), "%s: m differs", what);
	SAME(!a->opt->v == !b->opt->v && (!a->opt->v || !memcmp(a->opt->v, b->opt->v, n)), "%s: v differs", what);
	SAME(a->opt->step == b->opt->step && a->opt->skipped == b->opt->skipped, "%s: optimizer counts", what);
	SAME(!memcmp(&a->ocfg, &b->ocfg, sizeof a->ocfg), "%s: optimizer config", what);
	SAME(!memcmp(&a->sched, &b->sched, sizeof a->sched), "%s: schedule", what);
	SAME(a->step == b->step && a->epoch == b->epoch && a->batch == b->batch, "%s: cursor %lld/%lld/%d vs %lld/%lld/%d",
	     what, (long long)a->step, (long long)a->epoch, a->batch, (long long)b->step, (long long)b->epoch, b->batch);
	SAME(a->words_trained == b->words_trained && a->bsz == b->bsz && a->seed == b->seed, "%s: counters", what);
	SAME(a->tokens_since_eval == b->tokens_since_eval && a->loss_sum_since_eval == b->loss_sum_since_eval,
	     "%s: loss since eval", what);
	SAME(a->nsteps == b->nsteps && !memcmp(a->loss, b->loss, (size_t)a->nsteps * sizeof(float)) &&
		     !memcmp(a->lr, b->lr, (size_t)a->nsteps * sizeof(float)),
	     "%s: loss/lr history", what);
	SAME(a->nevals == b->nevals, "%s: %d vs %d evals", what, a->nevals, b->nevals);
	for (int i = 0; ok && i < a->nevals; i++) {
		const sl_eval *x = &a->evals[i], *y = &b->evals[i];
		SAME(x->step == y->step && x->epoch == y->epoch && x->val_loss == y->val_loss && x->val_acc == y->val_acc &&
			     x->words == y->words && x->correct == y->correct &&
			     (x->train_loss == y->train_loss || (isnan(x->train_loss) && isnan(y->train_loss))),
		     "%s: eval %d differs", what, i);
	}
	SAME(a->mistakes.n == b->mistakes.n, "%s: mistakes", what);
	return ok;
#undef SAME
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		char p[1024];
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	*len = fread(b, 1, (size_t)n, f);
	b[*len] = 0;
	fclose(f);
	return b;
}

static void spit(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	SL_ASSERT(f);
	fwrite(data, 1, len, f);
	fclose(f);
}

static void copy_dir(const char *from, const char *to)
{
	rm_dir(to);
	mkdir(to, 0777);
	DIR *d = opendir(from);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char a[1024], b[1024];
		snprintf(a, sizeof a, "%s/%s", from, e->d_name);
		snprintf(b, sizeof b, "%s/%s", to, e->d_name);
		size_t n = 0;
		char *t = slurp(a, &n);
		spit(b, t, n);
		free(t);
	}
	closedir(d);
}

static char tmpdir[512];

static const char *at(const char *name)
{
	static char p[4][1024];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
	return p[k];
}

/* ---- save, load, continue ---- */

/* setup makes run t; train 1 goes to the save point, train 2 beyond it. */
static void resume_case(const char *what, const char *setup, const char *train1, const char *train2)
{
	char cmd[2048];
	sl_session *a = fresh();
	if (run(a, setup) != SL_OK || run(a, train1) != SL_OK) {
		TAP_OK(0, "%s: setup", what);
		sl_session_free(a);
		return;
	}
	snprintf(cmd, sizeof cmd, "save %s", at("resume"));
	int saved = run(a, cmd) == SL_OK;
	run(a, train2);

	sl_session *b = fresh();
	snprintf(cmd, sizeof cmd, "load %s", at("resume"));
	int loaded = run(b, cmd) == SL_OK;
	TAP_OK(saved && loaded && sl_session_threads(b) == sl_session_threads(a) &&
		       sl_session_seed(b) == sl_session_seed(a),
	       "%s: saved and loaded (settings restored)", what);
	run(b, train2);
	sl_run *ra = get(a, "t"), *rb = get(b, "t");
	TAP_OK(ra && rb && same_run(ra, rb, what), "%s: load + continue == uninterrupted (bit for bit)", what);

	/* the journals agree too, and replaying either gives the same run */
	const struct sl_journal *ja = sl_session_journal(a), *jb = sl_session_journal(b);
	int same = sl_journal_count(ja) == sl_journal_count(jb);
	for (int i = 1; same && i < sl_journal_count(ja); i++)
		same = !strcmp(sl_journal_line(ja, i), sl_journal_line(jb, i));
	TAP_OK(same, "%s: the loaded session's journal continues the saved one", what);
	char *jt = sl_journal_text(jb, NULL);
	sl_session *c = fresh();
	sl_session_exec(c, jt, "journal");
	free(jt);
	sl_run *rc = get(c, "t");
	TAP_OK(rc && same_run(ra, rc, what), "%s: replaying the journal gives the same run", what);
	sl_session_free(a);
	sl_session_free(b);
	sl_session_free(c);
}

static void test_resume(void)
{
	const char *tf = "set threads=2 seed=5; task piglatin size=200 seed=3;"
			 "model t = transformer hidden=16 heads=2 enc=1 dec=1 mlp=2 dropout=0.1;";
	char setup[1024];
	snprintf(setup, sizeof setup, "%s optim t adamw batch=16 steps=40 warmup=5", tf);
	resume_case("adamw cosine dropout, mid-epoch", setup, "train t 7 steps", "train t 9 steps eval=4");
	snprintf(setup, sizeof setup, "%s optim t sgd lr=0.05 momentum=0.9 nesterov=on batch=32 accum=2 sched=plateau patience=0",
		 tf);
	resume_case("sgd nesterov, accum, plateau, across epochs", setup, "train t 5 steps; train t 1 epochs",
		    "train t 2 epochs; eval t");
	snprintf(setup, sizeof setup, "%s optim t adam lr=3e-3 batch=8 shuffle=off sched=step step_size=3 gamma=0.5", tf);
	resume_case("adam, step schedule, no shuffle", setup, "train t 11 steps eval=5", "train t 6 steps");
	if (sl_model_kind_find("mamba")) {
		resume_case("mamba",
			    "set threads=1; task piglatin size=200 seed=1; model t = mamba hidden=16 layers=1; "
			    "optim t batch=16 steps=30",
			    "train t 4 steps", "train t 5 steps");
	}
	/* threads=1 vs the same at threads=1 after a reload from a threads=2 session
	 * is not promised; a fresh run that was never trained also round-trips */
	resume_case("untrained", "set threads=1; task piglatin size=100; model t = transformer hidden=16 heads=2 enc=1 dec=1",
		    "echo", "train t 3 steps");
}

/* ---- rejection ---- */

/* load dir must fail, mention want, and leave s as it was. */
static void load_fails(sl_session *s, const char *dir, const char *want, const char *what)
{
	char cmd[1024];
	int nj = sl_journal_count(sl_session_journal(s));
	uint64_t seed = sl_session_seed(s);
	int threads = sl_session_threads(s);
	snprintf(cmd, sizeof cmd, "load %s", dir);
	errors[0] = 0;
	int st = sl_session_exec(s, cmd, NULL);
	int lines = 0;
	for (const char *p = errors; *p; p++)
		lines += *p == '\n';
	int ok = st == SL_ERR && lines == 1 && strstr(errors, want) && strstr(errors, "the session is unchanged") &&
		 sl_workbench_nruns(sl_session_workbench(s)) == 0 && sl_journal_count(sl_session_journal(s)) == nj &&
		 sl_session_seed(s) == seed && sl_session_threads(s) == threads;
	if (!TAP_OK(ok, "%s: rejected", what))
		tap_diag("status %d, errors: %s", st, errors);
}

static void test_reject(void)
{
	char cmd[1024];
	sl_session *a = fresh();
	run(a, "set threads=1; task piglatin size=200 seed=3; model t = transformer hidden=16 heads=2 enc=1 dec=1 mlp=2;"
	       "optim t batch=16; train t 3 steps");
	snprintf(cmd, sizeof cmd, "save %s", at("good"));
	run(a, cmd);
	sl_session_free(a);

	sl_session *s = fresh();
	run(s, "set threads=2 seed=11");
	char bad[600];
	snprintf(bad, sizeof bad, "%s", at("bad"));
	char ck[1024], jn[1024], stp[1024];
	snprintf(ck, sizeof ck, "%s/t.safetensors", bad);
	snprintf(jn, sizeof jn, "%s/journal.sl", bad);
	snprintf(stp, sizeof stp, "%s/state.sl", bad);
	char goodck[1024], goodjn[1024];
	snprintf(goodck, sizeof goodck, "%s/t.safetensors", at("good"));
	snprintf(goodjn, sizeof goodjn, "%s/journal.sl", at("good"));
	size_t len, jlen;
	char *file = slurp(goodck, &len), *jfile = slurp(goodjn, &jlen);
	TAP_OK(file && jfile && len > 1000, "a saved checkpoint (%zu bytes)", len);

	/* whole loads: truncations and flips of the checkpoint */
	size_t cuts[] = { 0, 7, 8, 64, len / 2, len - 1 };
	for (size_t i = 0; i < SL_COUNT(cuts); i++) {
		copy_dir(at("good"), bad);
		spit(ck, file, cuts[i]);
		char what[128];
		snprintf(what, sizeof what, "checkpoint truncated to %zu bytes", cuts[i]);
		load_fails(s, bad, "t.safetensors", what);
	}
	copy_dir(at("good"), bad);
	file[len - 5] ^= 0x40;
	spit(ck, file, len);
	file[len - 5] ^= 0x40;
	load_fails(s, bad, "checksum", "checkpoint with a flipped bit in a weight");
	copy_dir(at("good"), bad);
	unlink(ck);
	load_fails(s, bad, "t.safetensors", "checkpoint missing");

	/* every byte of the header and a sample of the data, flipped, at the
	 * checkpoint level (sl_checkpoint_load + apply) */
	uint64_t hl = 0;
	memcpy(&hl, file, 8);
	sl_session *g = fresh();
	snprintf(cmd, sizeof cmd, "load %s", at("good"));
	run(g, cmd);
	sl_run *r = get(g, "t");
	int accepted = 0, tried = 0;
	for (size_t pos = 0; pos < len; pos += pos < 8 + hl ? 7 : 997) {
		file[pos] ^= 0x24;
		spit(ck, file, len);
		file[pos] ^= 0x24;
		tried++;
		sl_checkpoint *c = sl_checkpoint_load(ck);
		if (c && sl_checkpoint_apply(c, r, sl_session_pool(g)) == SL_OK) {
			if (accepted++ < 3)
				tap_diag("a flip at byte %zu was accepted", pos);
		}
		sl_checkpoint_free(c);
	}
	TAP_OK(accepted == 0, "%d single-byte changes of a checkpoint: every one rejected (%d accepted)", tried, accepted);
	sl_checkpoint *c = sl_checkpoint_load(goodck);
	TAP_OK(c && sl_checkpoint_apply(c, r, sl_session_pool(g)) == SL_OK, "the intact checkpoint still applies");
	sl_checkpoint_free(c);

	/* a checkpoint that is valid but of another run's model */
	sl_session *o = fresh();
	run(o, "set threads=1; task piglatin size=200 seed=3; model t = transformer hidden=32 heads=2 enc=1 dec=1");
	snprintf(cmd, sizeof cmd, "save %s", at("other"));
	run(o, cmd);
	sl_session_free(o);
	copy_dir(at("good"), bad);
	snprintf(cmd, sizeof cmd, "%s/t.safetensors", at("other"));
	size_t olen;
	char *ofile = slurp(cmd, &olen);
	spit(ck, ofile, olen);
	free(ofile);
	load_fails(s, bad, "model", "a checkpoint of another model");
	c = sl_checkpoint_load(ck);
	TAP_OK(c && sl_checkpoint_apply(c, r, sl_session_pool(g)) == SL_ERR && strstr(sl_error(), "hidden=32"),
	       "apply refuses another model's checkpoint: %s", sl_error());
	sl_checkpoint_free(c);
	sl_session_free(g);

	/* journals and state scripts */
	size_t jcuts[] = { 0, 10, jlen / 2, jlen - 1 };
	for (size_t i = 0; i < SL_COUNT(jcuts); i++) {
		copy_dir(at("good"), bad);
		spit(jn, jfile, jcuts[i]);
		char what[128];
		snprintf(what, sizeof what, "journal truncated to %zu bytes", jcuts[i]);
		load_fails(s, bad, jcuts[i] < 20 ? "saved seqlab session" : "journal.sl", what);
	}
	copy_dir(at("good"), bad);
	jfile[jlen / 2] ^= 1;
	spit(jn, jfile, jlen);
	jfile[jlen / 2] ^= 1;
	load_fails(s, bad, "hash", "journal with a changed byte");
	copy_dir(at("good"), bad);
	size_t slen;
	char *sfile = slurp(stp, &slen);
	spit(stp, sfile, slen - 3);
	load_fails(s, bad, "state.sl", "state.sl truncated");
	free(sfile);
	load_fails(s, at("nowhere"), "No such file", "a directory that does not exist");

	/* replay refuses a damaged journal too */
	copy_dir(at("good"), bad);
	spit(jn, jfile, jlen - 2);
	snprintf(cmd, sizeof cmd, "replay %s", bad);
	errors[0] = 0;
	TAP_OK(sl_session_exec(s, cmd, NULL) == SL_ERR && strstr(errors, "truncated") &&
		       sl_workbench_nruns(sl_session_workbench(s)) == 0,
	       "replay rejects a truncated journal: %s", err1());

	/* every single-byte change of a journal is caught by the seal */
	int caught = 0, n = 0;
	for (size_t pos = 0; pos < jlen; pos++) {
		for (int bit = 0; bit < 8; bit += 3) {
			jfile[pos] ^= (char)(1 << bit);
			caught += sl_sealed_check(jfile, jlen, "journal") == SL_ERR;
			jfile[pos] ^= (char)(1 << bit);
			n++;
		}
	}
	TAP_OK(caught == n, "journal: %d of %d single-bit changes caught", caught, n);
	TAP_OK(sl_sealed_check(jfile, jlen, "journal") == SL_OK && sl_sealed_check(jfile, jlen, "state") == SL_ERR,
	       "the intact journal passes; it is not a state script");

	/* load refuses a session with runs */
	run(s, "task piglatin size=100; model keep = transformer hidden=16 heads=2 enc=1 dec=1");
	snprintf(cmd, sizeof cmd, "load %s", at("good"));
	errors[0] = 0;
	TAP_OK(sl_session_exec(s, cmd, NULL) == SL_ERR && strstr(errors, "without runs") && get(s, "keep"),
	       "load refuses a session that has runs: %s", err1());

	free(file);
	free(jfile);
	sl_session_free(s);
}

/* ---- a save that fails keeps the previous one ---- */

static void test_full_disk(void)
{
	char cmd[1024];
	sl_session *s = fresh();
	run(s, "set threads=1; task piglatin size=200 seed=3; model t = transformer hidden=32 heads=2 enc=1 dec=1;"
	       "optim t batch=16; train t 2 steps");
	snprintf(cmd, sizeof cmd, "save %s", at("full"));
	TAP_OK(run(s, cmd) == SL_OK, "first save");
	run(s, "train t 3 steps");
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 20000; /* the checkpoint is far larger */
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	errors[0] = 0;
	int st = sl_session_exec(s, cmd, NULL);
	setrlimit(RLIMIT_FSIZE, &old);
	TAP_OK(st == SL_ERR && strstr(errors, "the previous save is unchanged") && !strchr(errors, '\n')[1],
	       "a save that runs out of space fails in one line: %s", err1());
	sl_session *b = fresh();
	snprintf(cmd, sizeof cmd, "load %s", at("full"));
	TAP_OK(run(b, cmd) == SL_OK && get(b, "t") && get(b, "t")->step == 2, "the previous save still loads (step 2)");
	/* no temporary directory is left behind */
	DIR *d = opendir(tmpdir);
	int left = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		left += strstr(e->d_name, ".save-") != NULL;
	closedir(d);
	TAP_OK(left == 0, "no temporary directory left");
	snprintf(cmd, sizeof cmd, "save %s", at("full"));
	TAP_OK(run(s, cmd) == SL_OK, "with space again, the save replaces the old one");
	sl_session_free(b);
	b = fresh();
	snprintf(cmd, sizeof cmd, "load %s", at("full"));
	TAP_OK(run(b, cmd) == SL_OK && get(b, "t")->step == 5, "and loads at step 5");
	/* a save over something that is not a session is refused */
	snprintf(cmd, sizeof cmd, "save %s", tmpdir);
	errors[0] = 0;
	TAP_OK(sl_session_exec(s, cmd, NULL) == SL_ERR && strstr(errors, "not a saved seqlab session"),
	       "save refuses to replace a directory that is not a session: %s", err1());
	sl_session_free(b);
	sl_session_free(s);
}

/* ---- the journal's record of training ---- */

static void test_journal(void)
{
	sl_session *s = fresh();
	run(s, "set threads=1; task piglatin size=200 seed=3; model t = transformer hidden=16 heads=2 enc=1 dec=1;"
	       "optim t batch=16; train t 1 epochs; train t 7 steps eval=3; train t until loss<=100 eval=2; eval t");
	const struct sl_journal *j = sl_session_journal(s);
	char all[4096] = "";
	for (int i = 1; i < sl_journal_count(j); i++) {
		strcat(all, sl_journal_line(j, i));
		strcat(all, "\n");
	}
	sl_run *r = get(s, "t");
	char want[1024];
	snprintf(want, sizeof want,
		 "set threads=1\ntask piglatin size=200 seed=3\nmodel t = transformer hidden=16 heads=2 enc=1 dec=1\n"
		 "optim t batch=16\ntrain t %d steps\ntrain t 7 steps eval=3\ntrain t 2 steps eval=2\neval t\n",
		 (int)(r->step - 9));
	if (!TAP_OK(!strcmp(all, want), "the journal records jobs as N steps, and eval"))
		tap_diag("got:\n%s", all);
	char *t = sl_journal_text(j, "train t 5 steps final=off");
	sl_journal *back = sl_journal_parse(t, strlen(t));
	TAP_OK(back && sl_journal_count(back) == sl_journal_count(j) + 1 &&
		       !strcmp(sl_journal_line(back, sl_journal_count(back) - 1), "train t 5 steps final=off"),
	       "a journal's text parses back");
	sl_journal_free(back);
	free(t);
	sl_session_free(s);
}

/* ---- export, import ---- */

static void test_export(void)
{
	char cmd[1024];
	sl_session *s = fresh();
	run(s, "set threads=1; task piglatin size=200 seed=3; model t = transformer hidden=16 heads=2 enc=1 dec=1;"
	       "optim t batch=16; train t 4 steps");
	snprintf(cmd, sizeof cmd, "export t %s; import u = %s; eval t; eval u", at("t.safetensors"), at("t.safetensors"));
	TAP_OK(run(s, cmd) == SL_OK, "export, import");
	sl_run *a = get(s, "t"), *b = get(s, "u");
	TAP_OK(a && b && a->model->ps->total == b->model->ps->total &&
		       !memcmp(a->model->ps->data, b->model->ps->data, a->model->ps->total * sizeof(float)) &&
		       a->evals[a->nevals - 1].val_loss == b->evals[b->nevals - 1].val_loss,
	       "the imported run has the same weights and evaluates the same");
	sl_safetensors *st = sl_safetensors_load(at("t.safetensors"));
	TAP_OK(st && sl_safetensors_count(st) == a->model->ps->n &&
		       sl_safetensors_find(st, a->model->ps->t[0]->name) != NULL,
	       "the file holds the parameters under their own names");
	TAP_OK(st && !strcmp(sl_safetensors_meta_get(st, "format"), "seqlab-model") &&
		       strstr(sl_safetensors_meta_get(st, "model"), "transformer hidden=16"),
	       "its metadata names the model");
	sl_safetensors_free(st);
	snprintf(cmd, sizeof cmd, "import v = %s", at("nosuch.safetensors"));
	errors[0] = 0;
	TAP_OK(sl_session_exec(s, cmd, NULL) == SL_ERR && !get(s, "v"), "import of a missing file fails: %s", err1());
	/* a weight file whose tensors do not fit the model */
	size_t len;
	char *f = slurp(at("t.safetensors"), &len);
	spit(at("cut.safetensors"), f, len - 4);
	free(f);
	snprintf(cmd, sizeof cmd, "import v = %s", at("cut.safetensors"));
	errors[0] = 0;
	TAP_OK(sl_session_exec(s, cmd, NULL) == SL_ERR && !get(s, "v") && sl_workbench_nruns(sl_session_workbench(s)) == 2,
	       "import of a truncated file fails and creates nothing: %s", err1());
	sl_session_free(s);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "%s/seqlab-ckpt.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_resume();
	test_reject();
	test_full_disk();
	test_journal();
	test_export();
	const char *dirs[] = { "resume", "good", "bad", "other", "full" };
	for (size_t i = 0; i < SL_COUNT(dirs); i++)
		rm_dir(at(dirs[i]));
	unlink(at("t.safetensors"));
	unlink(at("cut.safetensors"));
	rmdir(tmpdir);
	return tap_done();
}
