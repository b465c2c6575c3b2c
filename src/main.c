/* main.c - parse argv, build the session, pick a front-end, run it. */
#include "config.h"

#include "seqlab/ops.h"
#include "seqlab/plain.h"
#include "seqlab/screen.h"
#include "seqlab/session.h"
#include "seqlab/sweep.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef SL_MPI
#include <mpi.h>
#endif

static const char usage_text[] =
	"usage: seqlab [options] [FILE]\n"
	"A terminal workbench for training, probing and comparing small sequence models.\n"
	"\n"
	"  -c, --command=CMDS  run CMDS (commands separated by ';' or newlines); repeatable\n"
	"  -f, --file=FILE     run the commands in FILE; repeatable\n"
	"  -k, --keep-going    go on after a failing command (the exit status is still 1)\n"
	"      --plain         read commands from stdin line by line, even on a terminal\n"
	"                      (no screen)\n"
	"      --sweep=FILE    run the points of the sweep FILE defines that have no result\n"
	"                      yet, then exit (under mpirun: spread over the ranks)\n"
	"      --shard=I/N     with --sweep: only points I, I+N, I+2N, ... (0 <= I < N)\n"
	"  -h, --help          print this help and exit\n"
	"  -V, --version       print the version and exit\n"
	"\n"
	"With -c or -f, seqlab runs them in order and exits. Otherwise it runs FILE, if\n"
	"given, then reads commands from stdin: on the screen (panes for output, curves\n"
	"and heatmaps, a prompt) when stdin and stdout are terminals, line by line\n"
	"otherwise. Results go to stdout as key=value lines, errors to stderr.\n"
	"Exit status: 0 if every command succeeded, 1 if one failed, 2 for a bad option.\n"
	"Type 'help' inside seqlab for the commands; see seqlab(1) and seqlab(5).\n";

/* One -c or -f, in command-line order. */
struct action {
	int file; /* -f (else -c) */
	const char *arg;
};

struct opts {
	struct action *act;
	int nact;
	const char *script; /* the FILE operand */
	int keep_going, plain;
	const char *sweep;  /* --sweep FILE */
	int shard, nshards; /* --shard I/N (nshards 0: none) */
};

enum { OPT_PLAIN = 256, OPT_SWEEP, OPT_SHARD };

static int bad_usage(const char *fmt, const char *what)
{
	fprintf(stderr, "seqlab: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "; try 'seqlab --help'\n");
	return 2;
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{"command", required_argument, NULL, 'c'},
		{"file", required_argument, NULL, 'f'},
		{"keep-going", no_argument, NULL, 'k'},
		{"plain", no_argument, NULL, OPT_PLAIN},
		{"sweep", required_argument, NULL, OPT_SWEEP},
		{"shard", required_argument, NULL, OPT_SHARD},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	o->act = sl_xcalloc((size_t)argc, sizeof *o->act);
	opterr = 0;
	for (;;) {
		int c = getopt_long(argc, argv, ":c:f:khV", longs, NULL);
		if (c == -1)
			break;
		switch (c) {
		case 'c':
		case 'f':
			o->act[o->nact++] = (struct action){.file = c == 'f', .arg = optarg};
			break;
		case 'k':
			o->keep_going = 1;
			break;
		case OPT_PLAIN:
			o->plain = 1;
			break;
		case OPT_SWEEP:
			o->sweep = optarg;
			break;
		case OPT_SHARD: {
			int i, n, len = 0;
			if (sscanf(optarg, "%d/%d%n", &i, &n, &len) != 2 || optarg[len] || n < 1 || i < 0 || i >= n)
				return bad_usage("--shard %s: expected I/N with 0 <= I < N", optarg);
			o->shard = i;
			o->nshards = n;
			break;
		}
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("%s %s (matrix products: %s; OpenBLAS kernels: %s)\n", PACKAGE_NAME, PACKAGE_VERSION,
			       sl_gemm_name(), sl_blas_core());
			return 0;
		case ':':
			return bad_usage("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt) {
				char opt[3] = {'-', (char)optopt, 0};
				return bad_usage("unknown option '%s'", opt);
			}
			return bad_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		o->script = argv[optind++];
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if (o->nshards && !o->sweep)
		return bad_usage("%s needs --sweep FILE", "--shard");
	if (o->sweep && (o->nact || o->script))
		return bad_usage("%s runs alone: without -c, -f or FILE", "--sweep");
	return -1;
}

/* --sweep FILE [--shard I/N]: the points of one shard, in this process. */
static int run_sweep(sl_session *s, const struct opts *o)
{
	int before = sl_session_failures(s);
	if (sl_sweep_file(s, o->sweep, o->shard, o->nshards) == SL_OK)
		return 0;
	if (sl_session_failures(s) == before)
		fprintf(stderr, "seqlab: %s\n", sl_error());
	return 1;
}

#ifdef SL_MPI
/* One sweep over the ranks: rank r runs points r, r + N, ..., keeping its
 * rows in its shard's results file as it goes (so an interrupted sweep
 * resumes), then sends them to rank 0, which appends them all to
 * results.tsv and prints the table; the shard files are then removed.
 * Returns 1 if all went well (at rank 0: on every rank). */
static int mpi_one(sl_session *s, const char *name, int rank, int size)
{
	int ok = 1;
	sl_sweep *sw = sl_sweep_load(name);
	char *rows = sl_xcalloc(1, 1);
	char shard_path[256] = "";
	if (sw) {
		sl_sweep_results_path(sw, rank, size, shard_path, sizeof shard_path);
		if (sl_sweep_run_shard(s, sw, rank, size, NULL, &rows) < 0)
			ok = 0;
		if (rows[0] && sl_sweep_append(shard_path, rows) != SL_OK)
			ok = 0;
	} else {
		ok = 0;
	}
	if (!ok)
		fprintf(stderr, "seqlab: rank %d: %s\n", rank, sl_error());
	/* gather the rows at rank 0 */
	int len = (int)strlen(rows);
	int *lens = rank == 0 ? sl_xcalloc((size_t)size, sizeof *lens) : NULL;
	MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
	int *offs = NULL;
	char *all = NULL;
	if (rank == 0) {
		offs = sl_xcalloc((size_t)size, sizeof *offs);
		int total = 0;
		for (int r = 0; r < size; r++) {
			offs[r] = total;
			total += lens[r];
		}
		all = sl_xcalloc((size_t)total + 1, 1);
	}
	MPI_Gatherv(rows, len, MPI_CHAR, all, lens, offs, MPI_CHAR, 0, MPI_COMM_WORLD);
	int all_ok = 0;
	MPI_Reduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD);
	if (rank == 0 && sw) {
		char path[256];
		sl_sweep_results_path(sw, 0, 0, path, sizeof path);
		if (all[0] && sl_sweep_append(path, all) != SL_OK) {
			fprintf(stderr, "seqlab: %s\n", sl_error());
			all_ok = 0;
		}
		sl_sweep_show(s, sw, -1);
	}
	int gathered = rank == 0 ? all_ok : 0;
	MPI_Bcast(&gathered, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (gathered && shard_path[0])
		unlink(shard_path); /* its rows are in results.tsv now */
	free(lens);
	free(offs);
	free(all);
	free(rows);
	sl_sweep_free(sw);
	return rank == 0 ? all_ok : ok;
}

/* Whether an MPI launcher (mpirun, mpiexec, srun, hydra) started this
 * process: each sets its rank in the environment. */
static int under_mpi_launcher(void)
{
	static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
					    "MPI_LOCALNRANKS" };
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		if (getenv(vars[i]))
			return 1;
	return 0;
}

/* mpirun -n N seqlab --sweep FILE: every sweep FILE defines, over the ranks. */
static int run_sweep_mpi(sl_session *s, const struct opts *o, int rank, int size)
{
	char names[SL_SWEEP_MAX_FILE][64];
	int n = 0;
	/* rank 0 defines the sweeps (and writes NAME.sweep/sweep.sl) first */
	if (rank == 0)
		n = sl_sweep_define_file(s, o->sweep, names, SL_SWEEP_MAX_FILE);
	MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (n < 0) {
		if (rank == 0 && sl_session_failures(s) == 0)
			fprintf(stderr, "seqlab: %s\n", sl_error());
		return 1;
	}
	if (rank != 0 && sl_sweep_define_file(s, o->sweep, names, SL_SWEEP_MAX_FILE) != n)
		fprintf(stderr, "seqlab: rank %d: %s\n", rank, sl_error());
	int ok = 1;
	for (int i = 0; i < n; i++)
		ok &= mpi_one(s, names[i], rank, size);
	return !ok;
}

/* Quiet ranks: only rank 0 prints results. */
static void drop_output(void *ud, int kind, const char *line)
{
	(void)ud;
	if (kind == SL_OUT_ERROR)
		fprintf(stderr, "error: %s\n", line);
}
#endif

/* Runs what the command line asks for; returns the exit status. */
static int run(sl_session *s, const struct opts *o)
{
	if (o->sweep)
		return run_sweep(s, o);
	/* the screen, on a terminal without -c, -f or --plain; it runs FILE itself */
	if (o->nact == 0 && !o->plain && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
		int script_failed = 0;
		if (sl_screen_run(s, o->script, &script_failed) == SL_OK)
			return script_failed;
		fprintf(stderr, "seqlab: %s; using the plain prompt\n", sl_error());
	}
	int go_on = 1; /* no failure has stopped us */
	for (int i = 0; i < o->nact && go_on && !sl_session_quitting(s); i++) {
		const struct action *a = &o->act[i];
		int st = a->file ? sl_session_exec_file(s, a->arg) : sl_session_exec(s, a->arg, NULL);
		go_on = st == SL_OK || sl_session_keep_going(s);
	}
	if (o->nact == 0 && o->script)
		go_on = sl_session_exec_file(s, o->script) == SL_OK || sl_session_keep_going(s);
	if (o->nact == 0 && go_on && !sl_session_quitting(s)) {
		if (isatty(STDIN_FILENO) && !o->plain) {
			/* errors typed at the prompt do not change the exit status */
			int failed = sl_session_failures(s) > 0;
			sl_plain_prompt(s);
			return failed;
		}
		sl_plain_run_stream(s, stdin, "<stdin>");
	}
	return sl_session_failures(s) > 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	const char *gemm = getenv("SEQLAB_GEMM");
	if (gemm && *gemm && sl_gemm_select(gemm) != SL_OK)
		fprintf(stderr, "seqlab: SEQLAB_GEMM: %s; using %s\n", sl_error(),
			sl_gemm_select("auto") == SL_OK ? sl_gemm_name() : "?");
	int st = parse_args(argc, argv, &o);
	if (st >= 0) {
		free(o.act);
		return st;
	}
	sl_session *s = sl_session_new();
	if (!s) {
		fprintf(stderr, "seqlab: %s\n", sl_error());
		free(o.act);
		return 1;
	}
	sl_plain_attach(s);
	sl_screen_attach_plot_save(s);
	sl_session_set_keep_going(s, o.keep_going);
#ifdef SL_MPI
	int rank = 0, size = 1;
	/* MPI only under a launcher: a shard (a `sweep run` worker among them)
	 * and a sweep alone are one process each, and a singleton MPI_Init
	 * (Open MPI forks a daemon for it) adds nothing but a way to fail */
	int mpi = o.sweep && !o.nshards && under_mpi_launcher();
	if (mpi) {
		MPI_Init(&argc, &argv);
		MPI_Comm_rank(MPI_COMM_WORLD, &rank);
		MPI_Comm_size(MPI_COMM_WORLD, &size);
	}
	if (mpi && size > 1) {
		if (rank != 0)
			sl_session_set_output(s, drop_output, NULL);
		st = run_sweep_mpi(s, &o, rank, size);
	} else {
		st = run(s, &o);
	}
	if (mpi)
		MPI_Finalize();
#else
	st = run(s, &o);
#endif
	sl_session_free(s);
	free(o.act);
	return st;
}
