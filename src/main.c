/* main.c - parse argv, build the session, pick a front-end, run it. */
#include "config.h"

#include "seqlab/plain.h"
#include "seqlab/session.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: seqlab [options] [FILE]\n"
	"A terminal workbench for training, probing and comparing small sequence models.\n"
	"\n"
	"  -c, --command=CMDS  run CMDS (commands separated by ';' or newlines); repeatable\n"
	"  -f, --file=FILE     run the commands in FILE; repeatable\n"
	"  -k, --keep-going    go on after a failing command (the exit status is still 1)\n"
	"      --plain         read commands from stdin line by line, even on a terminal\n"
	"  -h, --help          print this help and exit\n"
	"  -V, --version       print the version and exit\n"
	"\n"
	"With -c or -f, seqlab runs them in order and exits. Otherwise it runs FILE, if\n"
	"given, then reads commands from stdin: at a prompt on a terminal, line by line\n"
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
};

enum { OPT_PLAIN = 256 };

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
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
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
	return -1;
}

/* Runs what the command line asks for; returns the exit status. */
static int run(sl_session *s, const struct opts *o)
{
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
	sl_session_set_keep_going(s, o.keep_going);
	st = run(s, &o);
	sl_session_free(s);
	free(o.act);
	return st;
}
