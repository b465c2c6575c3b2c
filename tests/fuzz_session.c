/* fuzz_session.c - fuzzing the command interpreter itself: any text run
 * through sl_session_exec(), every command of the table reachable, in a
 * session that cannot write outside a temporary directory. Two builds of one
 * file, like fuzz_journal.c:
 *
 * - `make fuzz-session` compiles it and the whole library with clang
 *   -DSL_FUZZ_LIBFUZZER -fsanitize=fuzzer,address,undefined into
 *   tests/fuzz_session and runs it for FUZZ_TIME seconds on the seeds the
 *   second build writes.
 * - Otherwise it is tests/test_fuzz_session, a TAP program of `make check`:
 *     test_fuzz_session                     seeds + 300 mutations (TAP)
 *     test_fuzz_session FILE...             replay files (e.g. a crash)
 *     test_fuzz_session --write-corpus DIR  write the seeds as files
 *
 * The sandbox: the process works in a fresh temporary directory (removed
 * with everything in it after each input), and a command filter
 * (sl_session_set_filter) lets the commands that write (save, export) take
 * only plain names in it, refuses what starts other processes or writes
 * elsewhere (sweep, plot save), and caps the sizes that make an input slow
 * (counts over 4096 in task, model, optim, train, eval; threads over 2).
 * SEQLAB_MEMORY=512M bounds what a task or a model may take, and training is
 * interrupted after 0.3 s of CPU time per input.
 *
 * For every input the invariants are: no crash or sanitizer report, every
 * error is one non-empty line, a failing text reports at least one error,
 * and nothing appears outside the sandbox. */
#include "seqlab/args.h"
#include "seqlab/commands.h"
#include "seqlab/rng.h"
#include "seqlab/session.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static char broken[512];
static char sandbox[512];
static volatile sig_atomic_t over_time;
static sl_session *current;

/* ---- the sandbox ---- */

static int plain_name(const char *p)
{
	return p && p[0] && p[0] != '.' && !strchr(p, '/');
}

/* An integer word over the cap (a count that would make the input slow). */
static int too_big(const char *v)
{
	if (!v || !*v)
		return 0;
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	return end != v && (*end == 0 || !strcmp(end, "steps") || !strcmp(end, "epochs")) && x > 4096;
}

static int fuzz_filter(void *ud, const sl_cmd *c, const sl_word *w, int n)
{
	(void)ud;
	const char *name = c->name;
	if (!strcmp(name, "sweep")) {
		sl_errorf("fuzz: sweeps start processes");
		return SL_ERR;
	}
	int writes = !strcmp(name, "save") || !strcmp(name, "export");
	int sized = !strcmp(name, "task") || !strcmp(name, "model") || !strcmp(name, "optim") ||
		    !strcmp(name, "train") || !strcmp(name, "eval") || !strcmp(name, "translate") ||
		    !strcmp(name, "watch");
	for (int i = 0; i < n; i++) {
		const char *v = w[i].key ? w[i].value : w[i].text;
		if (!strcmp(name, "plot") && !w[i].key && !strcmp(w[i].text, "save")) {
			sl_errorf("fuzz: plot save runs gnuplot");
			return SL_ERR;
		}
		if (writes && !w[i].key && !plain_name(w[i].text)) {
			sl_errorf("fuzz: writes only to plain names in the sandbox");
			return SL_ERR;
		}
		if (sized && too_big(v)) {
			sl_errorf("fuzz: too big to be quick");
			return SL_ERR;
		}
		if (w[i].key && !strcmp(w[i].key, "threads") && too_big(v) == 0 && atoi(v) > 2) {
			sl_errorf("fuzz: at most 2 threads");
			return SL_ERR;
		}
	}
	return SL_OK;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

static void sandbox_clear(void)
{
	nftw(sandbox, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_vtalrm(int sig)
{
	(void)sig;
	over_time = 1;
	if (current)
		sl_session_interrupt(current);
}

static void setup(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	snprintf(sandbox, sizeof sandbox, "%s/seqlab-fuzz-session.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(sandbox) || chdir(sandbox) != 0) {
		perror("fuzz_session: sandbox");
		abort();
	}
	setenv("SEQLAB_MEMORY", "512M", 1);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_vtalrm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGVTALRM, &sa, NULL);
}

/* ---- one input ---- */

struct seen {
	int errors, bad_error;
	char example[256];
};

static void out_cb(void *ud, int kind, const char *line)
{
	struct seen *v = ud;
	if (kind != SL_OUT_ERROR)
		return;
	v->errors++;
	size_t n = strlen(line);
	if (!n || strchr(line, '\n') || strchr(line, '\r') || (n >= 2 && !strcmp(line + n - 2, ": "))) {
		v->bad_error = 1;
		snprintf(v->example, sizeof v->example, "%s", line);
	}
}

/* 1 ran without failing, 0 failed (with errors), -1 an invariant broken. */
static int check_one(const unsigned char *data, size_t size)
{
	setup();
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0; /* a NUL ends the text, as a C string does */
	sl_session *s = sl_session_new();
	if (!s) {
		free(text);
		return 0;
	}
	struct seen v = { 0 };
	sl_session_set_output(s, out_cb, &v);
	sl_session_set_filter(s, fuzz_filter, NULL);
	sl_session_set_keep_going(s, 1);
	sl_session_set_threads(s, 1);
	current = s;
	over_time = 0;
	/* CPU time: libFuzzer's own -timeout uses SIGALRM */
	struct itimerval it = { .it_interval = { 0, 50000 }, .it_value = { 0, 300000 } };
	setitimer(ITIMER_VIRTUAL, &it, NULL);
	int st = sl_session_exec(s, text, NULL);
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_VIRTUAL, &off, NULL);
	current = NULL;
	sl_session_free(s);
	free(text);
	int r = st == SL_OK ? 1 : 0;
	if (v.bad_error) {
		snprintf(broken, sizeof broken, "an error that is not one non-empty line: '%.200s'", v.example);
		r = -1;
	} else if (st != SL_OK && v.errors == 0) {
		snprintf(broken, sizeof broken, "a failing text without an error");
		r = -1;
	}
	/* nothing outside the sandbox: the working directory is still it */
	char cwd[600];
	if (!getcwd(cwd, sizeof cwd) || strcmp(cwd, sandbox) != 0) {
		snprintf(broken, sizeof broken, "the working directory moved out of the sandbox");
		r = -1;
	}
	sandbox_clear();
	return r;
}

#ifdef SL_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (check_one(data, size) < 0) {
		fprintf(stderr, "fuzz_session: %s\n", broken);
		abort();
	}
	return 0;
}
#else

/* ---- seeds: small sessions that reach most commands ---- */

static const char *const seeds[] = {
	"help; help tr; help nosuch; set seed=3 threads=1; show settings; show journal; echo a 'b c' \"d\\te\"",
	"task recall K=8 d=8 L=8 batches=2 test=4\nmodel t = gpt hidden=8 layers=1 heads=1\n"
	"optim t adam lr=1e-2 batch=4 sched=constant\ntrain t 3 steps eval=2\neval t\neval t lengths=3..12 n=4\n"
	"runs; info t; plot; plot t loss smooth=0.5 raw=on log=on; drop t",
	"task recall K=8 L=8 batches=2 test=4 embed=learned\nmodel m = mamba hidden=8 layers=1\n"
	"train m 2 steps final=off\nsave sv\ndrop m\nload sv\nruns\ndrop m\nreplay sv check",
	"task mqar vocab=64 L=16 pairs=2 batches=2 test=4\nmodel h = hybrid pattern=MA hidden=8 heads=2\n"
	"train h 2 steps\nexport h h.safetensors\nimport h2 = h.safetensors\nruns",
	"task copy L=8 N=2 A=4 batches=2 test=4\nmodel g = gpt hidden=8 layers=1 heads=1 pe=rope\n"
	"train g until val_acc>=0.9 max=3\nmistakes g",
	"task piglatin size=100\nmodel t = transformer hidden=8 heads=2 enc=1 dec=1 mlp=1\n"
	"optim t sgd lr=0.1 momentum=0.9 batch=8\ntrain t 2 steps\ntranslate t shop team beam=2\n"
	"attn t shop layer=0 head=all kind=cross\nmistakes t n=3\nwatch attn t shop every=1\nwatch\nunwatch",
	"task piglatin size=100\nmodel m = mamba hidden=8 layers=1\ntrain m 1 steps\nssm m shop show=delta layer=all",
	"set seed=18446744073709551616\ntrain t 18446744073709551616 steps\nset threads=0\n"
	"optim t lr=nan\nmodel x = gpt hidden=abc\ntask recall L=100000 test=100000",
	"source nosuch.sl\nload nosuch\nreplay nosuch\nsave ../up\nsave a/b/c\nsave \"n\\nl\"\nsweep run ../etc",
	"echo 'unterminated\necho \"also\necho back\\\\slash\\\necontinued\n# comment\n;;; ;\nquit\necho never",
	"task recall K=8 L=8 batches=2 test=4; model t = gpt hidden=8 layers=1 heads=1; "
	"optim t sgd lr=10 clip=0 momentum=0.99 sched=constant; train t 20 steps eval=2; eval t",
	"quit!",
};
#define NSEEDS ((int)(sizeof seeds / sizeof seeds[0]))

static size_t mutate(sl_rng *r, char *t, size_t n, size_t cap)
{
	static const char *const words[] = {
		"task", "model", "train", "optim", "eval", "save", "load", "replay", "source", "export", "import",
		"sweep", "plot", "watch", "drop", "quit", "help", "set", "show", "echo", ";", "\n", "=", " ",
		"'", "\"", "\\", "#", "steps", "epochs", "until", "val_acc>=", "lengths=", "seed=", "hidden=",
		"-1", "0", "99999999999999999999", "1e308", "nan", "t", "all", "..", "/", "\t",
	};
	int times = 1 + (int)(sl_rng_u64(r) % 4);
	for (int m = 0; m < times; m++) {
		size_t pos = n ? sl_rng_u64(r) % n : 0;
		switch (sl_rng_u64(r) % 5) {
		case 0: /* a random byte */
			if (n)
				t[pos] = sl_rng_u64(r) % 2 ? (char)sl_rng_u64(r) : " ;\n=#'\"\\"[sl_rng_u64(r) % 8];
			break;
		case 1: /* truncate */
			n = pos;
			break;
		case 2: /* delete a run */
			if (n) {
				size_t want = 1 + sl_rng_u64(r) % 12, k = SL_MIN(n - pos, want);
				memmove(t + pos, t + pos + k, n - pos - k);
				n -= k;
			}
			break;
		case 3: /* insert a word of the language */
		{
			const char *s = words[sl_rng_u64(r) % SL_COUNT(words)];
			size_t k = strlen(s);
			if (n + k < cap) {
				memmove(t + pos + k, t + pos, n - pos);
				memcpy(t + pos, s, k);
				n += k;
			}
			break;
		}
		default: /* duplicate a run */
			if (n && n + 64 < cap) {
				size_t want = 1 + sl_rng_u64(r) % 64, k = SL_MIN(n - pos, want);
				memmove(t + pos + k, t + pos, n - pos);
				n += k;
			}
			break;
		}
	}
	return n;
}

static int tap_n, tap_bad;

static void point(int ok, const char *fmt, int a, int b)
{
	tap_n++;
	printf("%s %d - ", ok ? "ok" : "not ok", tap_n);
	printf(fmt, a, b);
	printf("\n");
	tap_bad += !ok;
}

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	static unsigned char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	int r = check_one(buf, n);
	printf("%s: %s%s\n", path, r > 0 ? "ran" : r == 0 ? "failed (errors reported)" : "BROKEN: ",
	       r < 0 ? broken : "");
	return r < 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "--write-corpus")) {
		for (int k = 0; k < NSEEDS; k++) {
			char path[1024];
			snprintf(path, sizeof path, "%s/seed-%02d.sl", argv[2], k);
			FILE *f = fopen(path, "wb");
			if (!f) {
				perror(path);
				return 1;
			}
			fwrite(seeds[k], 1, strlen(seeds[k]), f);
			fclose(f);
		}
		return 0;
	}
	if (argc > 1) {
		int bad = 0;
		for (int i = 1; i < argc; i++)
			bad |= replay_file(argv[i]);
		return bad;
	}
	int ran = 0, broken_n = 0;
	for (int k = 0; k < NSEEDS; k++) {
		int c = check_one((const unsigned char *)seeds[k], strlen(seeds[k]));
		if (c < 0 && broken_n++ < 5)
			printf("# seed %d: %s\n", k, broken);
		ran += c == 1;
	}
	point(broken_n == 0, "the %d seeds break no invariant (%d broken)", NSEEDS, broken_n);
	point(ran >= 6 && ran < NSEEDS, "most seeds run, the ones made of errors fail (%d of %d ran)", ran, NSEEDS);
	/* the sandbox holds: a save outside it is refused, nothing is left */
	const char *escape = "task recall K=8 d=8 L=8 batches=2 test=4; model t = gpt hidden=8 layers=1 heads=1; "
			     "save ../seqlab-fuzz-escape; export t /tmp/seqlab-fuzz-escape.safetensors";
	char up[600];
	snprintf(up, sizeof up, "%s/../seqlab-fuzz-escape", sandbox[0] ? sandbox : "/nonexistent");
	int c = check_one((const unsigned char *)escape, strlen(escape));
	snprintf(up, sizeof up, "%s/../seqlab-fuzz-escape", sandbox);
	point(c == 0 && access(up, F_OK) != 0 && access("/tmp/seqlab-fuzz-escape.safetensors", F_OK) != 0,
	      "writes outside the sandbox are refused (%d, %d)", c, 0);
	sl_rng r;
	sl_rng_seed(&r, 20261207);
	int n = 300, ok_n = 0, fail_n = 0;
	broken_n = 0;
	static char buf[8192];
	for (int i = 0; i < n; i++) {
		const char *t = seeds[i % NSEEDS];
		size_t len = strlen(t);
		memcpy(buf, t, len);
		len = mutate(&r, buf, len, sizeof buf - 128);
		int k = check_one((const unsigned char *)buf, len);
		if (k < 0 && broken_n++ < 5)
			printf("# mutation %d: %s\n", i, broken);
		ok_n += k == 1;
		fail_n += k == 0;
	}
	point(broken_n == 0, "%d mutations: no invariant broken (%d broken)", n, broken_n);
	point(ok_n > 10 && fail_n > 10, "both outcomes are exercised (%d ran, %d failed)", ok_n, fail_n);
	rmdir(sandbox);
	printf("1..%d\n", tap_n);
	return tap_bad != 0;
}
#endif
