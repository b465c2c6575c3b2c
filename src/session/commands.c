/* commands.c - the command table, the built-in commands, and lookup,
 * suggestion and completion over the table. */
#include "seqlab/commands.h"
#include "seqlab/checkpoint.h"
#include "seqlab/savedir.h"
#include "seqlab/sample.h"
#include "seqlab/journal.h"
#include "seqlab/sweep.h"
#include "seqlab/display.h"
#include "seqlab/views.h"
#include "seqlab/workbench.h"
#include "seqlab/args.h"
#include "seqlab/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- help ---- */

/* Emits text wrapped to the session's text width (72 columns, or the
 * screen's log pane), each line indented; a '\n' in text starts a new
 * paragraph. */
static void wrap(sl_session *s, const char *text, int indent)
{
	const int HELP_WIDTH = sl_session_text_width(s);
	char line[256];
	const char *p = text;
	while (*p) {
		size_t len = 0;
		int words = 0;
		while (*p && *p != '\n') {
			while (*p == ' ')
				p++;
			size_t wl = strcspn(p, " \n");
			if (wl == 0)
				break;
			if (words && (size_t)indent + len + 1 + wl > (size_t)HELP_WIDTH)
				break;
			if (len + wl + 2 >= sizeof line)
				wl = sizeof line - len - 2;
			if (words)
				line[len++] = ' ';
			memcpy(line + len, p, wl);
			len += wl;
			p += wl;
			words++;
		}
		line[len] = 0;
		if (words)
			sl_info(s, "%*s%s", indent, "", line);
		while (*p == ' ')
			p++;
		if (*p == '\n')
			p++;
	}
}

static void list_commands(sl_session *s, const sl_cmd *const *list, int n)
{
	int width = 0;
	for (int i = 0; i < n; i++)
		width = SL_MAX(width, (int)strlen(list[i]->name));
	for (int i = 0; i < n; i++)
		sl_info(s, "  %-*s  %s", width, list[i]->name, list[i]->summary);
}

static void describe(sl_session *s, const sl_cmd *c)
{
	sl_info(s, "usage: %s", c->usage);
	wrap(s, c->help, 2);
	if (c->opts && c->opts[0]) {
		char buf[512];
		size_t k = 0;
		for (int i = 0; c->opts[i] && k < sizeof buf; i++)
			k += (size_t)snprintf(buf + k, sizeof buf - k, " %s", c->opts[i]);
		sl_info(s, "options:%s", buf);
	}
}

/* One line per option of table t: key=default, the range or the choices,
 * and its meaning. A key two mixers share is listed once. */
static void describe_options(sl_session *s, const sl_optspec *t)
{
	for (const sl_optspec *o = t; o->key; o++) {
		if (sl_optspec_find(t, o->key) != o)
			continue;
		char range[160] = "";
		if (o->type == SL_OPT_ENUM) {
			size_t k = 0;
			for (int i = 0; o->choices[i] && k < sizeof range; i++)
				k += (size_t)snprintf(range + k, sizeof range - k, "%s%s", i ? "|" : "", o->choices[i]);
		} else if (o->type == SL_OPT_BOOL) {
			snprintf(range, sizeof range, "on|off");
		} else if (o->type == SL_OPT_STR) {
			snprintf(range, sizeof range, "text");
		} else {
			snprintf(range, sizeof range, "%.15g..%.15g", o->lo, o->hi);
		}
		sl_info(s, "  %s=%s (%s): %s", o->key, o->def, range, o->help);
	}
}

/* help task: the kinds; help task KIND: its options. */
static int help_task(sl_session *s, const char *kind_name)
{
	if (!kind_name) {
		describe(s, sl_command_find("task"));
		sl_info(s, "kinds (help task KIND lists its options):");
		for (int i = 0; sl_task_kinds[i]; i++)
			sl_info(s, "  %-12s %s", sl_task_kinds[i]->name, sl_task_kinds[i]->summary);
		return SL_OK;
	}
	const sl_task_kind *k = sl_task_kind_find(kind_name);
	if (!k)
		return sl_fail(s, "no task kind '%s' (kinds: %s)", kind_name, sl_task_kind_names());
	sl_info(s, "task %s [key=value...] [seed=N]: %s", k->name, k->summary);
	sl_info(s, "options (key=default (range): meaning):");
	describe_options(s, k->options);
	return SL_OK;
}

/* help model: the kinds and the mixers; help model KIND: its options. */
static int help_model(sl_session *s, const char *kind_name)
{
	if (!kind_name) {
		describe(s, sl_command_find("model"));
		sl_info(s, "kinds (help model KIND lists its options):");
		for (int i = 0; sl_model_kinds[i]; i++)
			sl_info(s, "  %-12s %s", sl_model_kinds[i]->name, sl_model_kinds[i]->summary);
		sl_info(s, "blocks of a hybrid's pattern (a letter each), and the views each offers (ssm show=VIEW):");
		for (int i = 0; sl_mixers[i]; i++) {
			const sl_mixer_kind *m = sl_mixers[i];
			char v[160] = "";
			size_t k = 0;
			for (int j = 0; m->views && m->views[j].name && k < sizeof v; j++)
				k += (size_t)snprintf(v + k, sizeof v - k, "%s%s", j ? ", " : "", m->views[j].name);
			sl_info(s, "  %c %-10s %s; views: %s", m->letter, m->name, m->summary, v);
		}
		return SL_OK;
	}
	const sl_model_kind *k = sl_model_kind_find(kind_name);
	if (!k)
		return sl_fail(s, "no model kind '%s' (kinds: %s)", kind_name, sl_model_kind_names(0));
	sl_info(s, "model NAME = %s [key=value...]: %s", k->name, k->summary);
	sl_info(s, "options (key=default (range): meaning):");
	describe_options(s, sl_model_options(k));
	return SL_OK;
}

static int cmd_help(sl_session *s, sl_args *a)
{
	const char *what = sl_args_word(a), *sub = what ? sl_args_word(a) : NULL;
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (what && strcmp(what, "model") == 0)
		return help_model(s, sub);
	if (what && strcmp(what, "task") == 0)
		return help_task(s, sub);
	if (sub)
		return sl_args_fail(a, "help takes one word (help model KIND and help task KIND take two)");
	const sl_cmd **list = sl_xmalloc((size_t)sl_command_count() * sizeof *list);
	int n = 0;
	if (!what) {
		for (int i = 0; i < sl_command_count(); i++)
			list[n++] = sl_command_at(i);
		sl_info(s, "commands (type 'help CMD' for one, or see seqlab(5)):");
		list_commands(s, list, n);
		free(list);
		return SL_OK;
	}
	const sl_cmd *c = sl_command_find(what);
	if (!c) {
		for (int i = 0; i < sl_command_count(); i++)
			if (strncmp(sl_command_at(i)->name, what, strlen(what)) == 0)
				list[n++] = sl_command_at(i);
		if (n == 1)
			c = list[0];
	}
	if (c)
		describe(s, c);
	else if (n > 1)
		list_commands(s, list, n);
	free(list);
	if (c || n > 1)
		return SL_OK;
	const char *near = sl_command_suggest(what);
	if (near)
		return sl_fail(s, "no command matches '%s'; did you mean '%s'?", what, near);
	return sl_fail(s, "no command matches '%s'; type 'help' for the list", what);
}

static void complete_commands(sl_session *s, const sl_cmd *cmd, int argi, const char *prefix,
			      sl_complete_add add, void *ctx)
{
	if (argi != 1)
		return;
	for (int i = 0; i < sl_command_count(); i++)
		if (strncmp(sl_command_at(i)->name, prefix, strlen(prefix)) == 0)
			add(ctx, sl_command_at(i)->name);
}

/* ---- set, show ---- */

static int cmd_set(sl_session *s, sl_args *a)
{
	uint64_t seed = 0;
	long long threads = 0;
	int has_seed = sl_args_u64(a, "seed", &seed);
	int has_threads = sl_args_int(a, "threads", 1, SL_THREADS_MAX, &threads);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!has_seed && !has_threads)
		return sl_args_fail(a, "nothing to set");
	if (has_threads && sl_session_set_threads(s, (int)threads) != SL_OK)
		return sl_fail(s, "%s", sl_error());
	if (has_seed)
		sl_session_set_seed(s, seed);
	return SL_OK;
}

static void show_settings(sl_session *s)
{
	sl_out(s, "seed=%llu", (unsigned long long)sl_session_seed(s));
	sl_out(s, "threads=%d", sl_session_threads(s));
}

static void show_journal(sl_session *s)
{
	const struct sl_journal *j = sl_session_journal(s);
	for (int i = 0; i < sl_journal_count(j); i++)
		sl_info(s, "%s", sl_journal_line(j, i));
}

/* What `show` can show: add a row to add a thing. */
static const struct show_item {
	const char *name;
	void (*show)(sl_session *s);
} show_items[] = {
	{"settings", show_settings},
	{"journal", show_journal},
};

static const char *const *show_names(void)
{
	static const char *names[SL_COUNT(show_items) + 1];
	for (size_t i = 0; i < SL_COUNT(show_items); i++)
		names[i] = show_items[i].name;
	return names;
}

static const char *show_list(char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = 0;
	for (size_t i = 0; i < SL_COUNT(show_items) && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", show_items[i].name);
	return buf;
}

static int cmd_show(sl_session *s, sl_args *a)
{
	char list[256];
	const char *what = sl_args_word(a);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!what)
		return sl_args_fail(a, "missing WHAT (one of: %s)", show_list(list, sizeof list));
	for (size_t i = 0; i < SL_COUNT(show_items); i++)
		if (strcmp(show_items[i].name, what) == 0) {
			show_items[i].show(s);
			return SL_OK;
		}
	const char *near = sl_args_suggest(what, show_names());
	if (near)
		return sl_fail(s, "cannot show '%s'; did you mean '%s'?", what, near);
	return sl_fail(s, "cannot show '%s'; can show: %s", what, show_list(list, sizeof list));
}

static void complete_show(sl_session *s, const sl_cmd *cmd, int argi, const char *prefix,
			  sl_complete_add add, void *ctx)
{
	if (argi != 1)
		return;
	for (size_t i = 0; i < SL_COUNT(show_items); i++)
		if (strncmp(show_items[i].name, prefix, strlen(prefix)) == 0)
			add(ctx, show_items[i].name);
}

/* ---- echo, source, quit ---- */

static int cmd_echo(sl_session *s, sl_args *a)
{
	size_t len = 0, cap = 64;
	char *line = sl_xmalloc(cap);
	line[0] = 0;
	for (const char *w; (w = sl_args_any(a));) {
		size_t n = strlen(w);
		if (len + n + 2 > cap) {
			cap = 2 * (len + n + 2);
			line = sl_xrealloc(line, cap);
		}
		if (len)
			line[len++] = ' ';
		memcpy(line + len, w, n + 1);
		len += n;
	}
	sl_info(s, "%s", line);
	free(line);
	return SL_OK;
}


static int cmd_source(sl_session *s, sl_args *a)
{
	const char *path = sl_args_word(a);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!path)
		return sl_args_fail(a, "missing FILE");
	if (sl_session_depth(s) > SL_SOURCE_DEPTH_MAX)
		return sl_fail(s, "'%s': files source each other too deeply (more than %d levels)", path,
			       SL_SOURCE_DEPTH_MAX);
	char *text = sl_session_read_file(path);
	if (!text)
		return sl_fail(s, "%s", sl_error());
	/* the file's own errors are reported as FILE:LINE; this command then
	 * fails without a message of its own */
	int st = sl_session_exec(s, text, path);
	free(text);
	return st;
}

/* save and load, after which every run is on disk as it is (quit on the
 * screen asks only about runs that trained since) */
static int cmd_save(sl_session *s, sl_args *a)
{
	int st = sl_cmd_save(s, a);
	if (st == SL_OK)
		sl_workbench_mark_saved(sl_session_workbench(s));
	return st;
}

static int cmd_load(sl_session *s, sl_args *a)
{
	int st = sl_cmd_load(s, a);
	if (st == SL_OK)
		sl_workbench_mark_saved(sl_session_workbench(s));
	return st;
}

static int cmd_quit(sl_session *s, sl_args *a)
{
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	sl_session_quit(s);
	return SL_OK;
}

static void complete_run(sl_session *s, const sl_cmd *cmd, int argi, const char *prefix, sl_complete_add add,
			 void *ctx)
{
	(void)cmd;
	if (argi == 1)
		sl_workbench_complete_runs(s, prefix, add, ctx);
}

/* The key= of every option in t that starts with prefix (shared keys once). */
static void complete_options(const sl_optspec *t, const char *prefix, sl_complete_add add, void *ctx)
{
	size_t n = strlen(prefix);
	for (const sl_optspec *o = t; o->key; o++) {
		char opt[80];
		snprintf(opt, sizeof opt, "%s=", o->key);
		if (sl_optspec_find(t, o->key) == o && strncmp(opt, prefix, n) == 0)
			add(ctx, opt);
	}
	if (strncmp("seed=", prefix, n) == 0)
		add(ctx, "seed=");
}

/* task KIND key=...: the kinds, then the kind's options. */
static void complete_task(sl_session *s, const sl_cmd *cmd, int argi, const char *prefix, sl_complete_add add,
			  void *ctx)
{
	(void)s;
	(void)cmd;
	if (argi == 1) {
		for (int i = 0; sl_task_kinds[i]; i++)
			if (strncmp(sl_task_kinds[i]->name, prefix, strlen(prefix)) == 0)
				add(ctx, sl_task_kinds[i]->name);
		return;
	}
	const sl_task_kind *k = sl_complete_word(1) ? sl_task_kind_find(sl_complete_word(1)) : NULL;
	if (k && !strchr(prefix, '='))
		complete_options(k->options, prefix, add, ctx);
}

/* model NAME = KIND key=...: the kinds, then the kind's options. */
static void complete_model(sl_session *s, const sl_cmd *cmd, int argi, const char *prefix, sl_complete_add add,
			   void *ctx)
{
	(void)s;
	(void)cmd;
	size_t n = strlen(prefix);
	if (argi == 3) {
		for (int i = 0; sl_model_kinds[i]; i++)
			if (strncmp(sl_model_kinds[i]->name, prefix, n) == 0)
				add(ctx, sl_model_kinds[i]->name);
		return;
	}
	if (argi < 4 || strchr(prefix, '=') || !sl_complete_word(3))
		return;
	const sl_model_kind *k = sl_model_kind_find(sl_complete_word(3));
	if (k)
		complete_options(sl_model_options(k), prefix, add, ctx);
}

/* ---- the table ---- */

static const sl_cmd commands[] = {
	{
		.name = "help",
		.usage = "help [CMD|PREFIX] | help model [KIND] | help task [KIND]",
		.summary = "list the commands, or describe one",
		.help = "Without an argument, lists every command with a one-line summary. "
			"With a command's name, shows its usage, what it does and its options. "
			"With the beginning of a name, lists the commands that start with it, "
			"or describes the only one. help model lists the model kinds and the blocks a "
			"hybrid's pattern can hold; help model KIND lists the kind's options with their "
			"defaults, ranges and meanings; help task and help task KIND do the same for tasks.",
		.run = cmd_help,
		.complete = complete_commands,
	},
	{
		.name = "set",
		.usage = "set [seed=N] [threads=N]",
		.summary = "change the seed or the thread count",
		.help = "Changes the session's settings; give at least one. "
			"seed=N (0..18446744073709551615, default 0) is the session seed: every "
			"random stream (initialisation, data order, dropout, sampling) derives "
			"from it. threads=N (1..64, default one per CPU) is the number of threads "
			"the numeric work is split over; results are bit-identical for the same "
			"seed, commands and thread count. A bad value changes nothing.",
		.flags = SL_CMD_STATE,
		.run = cmd_set,
		.opts = SL_OPTS("seed", "threads"),
	},
	{
		.name = "show",
		.usage = "show WHAT",
		.summary = "print the settings or the journal",
		.help = "Prints part of the session's state. "
			"show settings prints seed=N and threads=N. show journal prints the journal: "
			"every state-changing command so far, as 'save' writes it to journal.sl.",
		.run = cmd_show,
		.complete = complete_show,
	},
	{
		.name = "echo",
		.usage = "echo [WORD...]",
		.summary = "print a line of text",
		.help = "Prints its words, after quoting is removed, separated by one space: "
			"a label in a script's output, or a way to see how a line is split into words.",
		.run = cmd_echo,
	},
	{
		.name = "source",
		.usage = "source FILE",
		.summary = "run the commands in a file",
		.help = "Runs the commands in FILE as if they were typed here; their errors "
			"are reported as FILE:LINE. The first failing command stops the file and "
			"makes source fail (with --keep-going the file goes on). A relative FILE is "
			"found from the current directory. Files may source files up to 16 levels deep.",
		.run = cmd_source,
	},
	{
		.name = "task",
		.usage = "task KIND [key=value...] [seed=N]",
		.summary = "choose the task: Pig-Latin, associative recall, MQAR, selective copying",
		.help = "Sets the task later models train on; runs keep the task they were created with. seed=N "
			"defaults to the session seed. A task whose estimated memory exceeds the machine's (or "
			"SEQLAB_MEMORY) is refused before anything is allocated, with what it needs. The kinds: piglatin (English to Pig-Latin; pairs from a "
			"file=, or made by the rule from words= or corpus=, size=small|large|all|N, split 80/20 by "
			"a hash of (seed, word)), recall (associative recall and induction heads), mqar "
			"(zoology's multi-query recall) and copy (selective copying). The generated tasks draw "
			"batches=100 batches an epoch from the seed, score a fixed set of test=256 sequences, and "
			"take sequences up to maxlen=3L (eval RUN lengths=...). 'help task' lists the kinds, "
			"'help task KIND' every option of a kind with its default, range and meaning.",
		.flags = SL_CMD_STATE,
		.run = sl_cmd_task,
		.complete = complete_task,
	},
	{
		.name = "model",
		.usage = "model NAME = KIND [key=value...] [seed=N]",
		.summary = "create a run: a model of KIND on the current task",
		.help = "Creates the run NAME with a fresh model of KIND on the current task (refused if its "
			"estimated memory, with a training step at batch 1, exceeds the machine's), initialised "
			"from seed=N (default: the session seed), with the default optimizer (adamw lr=3e-3 "
			"wd=0.01 clip=1 batch=64, cosine schedule over 30 epochs, warmup 100). The kinds: the "
			"encoder-decoders transformer and rnn; the language models (gpt, mamba, hybrid, s4d, lru, "
			"hawk, griffin, elman, gru, lstm), which are stacks of blocks (a pattern of letters, one "
			"per block); and esn, an echo-state network fitted in closed form. 'help model' lists the "
			"kinds and blocks, 'help model KIND' every option of a kind with its default, range and "
			"meaning.",
		.flags = SL_CMD_STATE,
		.run = sl_cmd_model,
		.complete = complete_model,
	},
	{
		.name = "optim",
		.usage = "optim RUN [sgd|adam|adamw] [lr=X] [wd=X] [clip=X] [batch=N] [accum=N] [sched=constant|cosine|step|plateau] [warmup=N] [epochs=N|steps=N] ...",
		.summary = "set a run's optimizer, batch and learning-rate schedule",
		.help = "Replaces RUN's optimizer (its moments restart from zero). Options: lr, wd (weight decay: "
			"L2 for sgd/adam, decoupled for adamw), momentum and nesterov (sgd), beta1, beta2, eps, "
			"clip (global gradient norm, 0 = off), accum (micro-batches per update), batch, "
			"shuffle=on|off, sched (constant; cosine with warmup over epochs=N or steps=N down to "
			"min_lr; step with step_size and gamma; plateau with factor, patience, threshold, min_lr "
			"on the validation loss), warmup=N steps. A cosine schedule must be longer than its "
			"warm-up: an explicit warmup= that is not is refused; the default (100) shrinks to a "
			"tenth of a shorter schedule, and the line says note=warmup_cut_to_a_tenth.",
		.flags = SL_CMD_STATE,
		.run = sl_cmd_optim,
		.opts = SL_OPTS("lr", "wd", "momentum", "nesterov", "beta1", "beta2", "eps", "clip", "accum", "batch",
				"shuffle", "sched", "warmup", "epochs", "steps", "min_lr", "step_size", "gamma", "factor",
				"patience", "threshold"),
		.complete = complete_run,
	},
	{
		.name = "train",
		.usage = "train RUN N steps|N epochs|until METRIC>=X [max=DURATION|max=N] [eval=N]",
		.summary = "train a run for a while, or until a metric holds",
		.help = "Trains RUN for N more steps or epochs (N up to 10^12), or until an evaluation finds METRIC>=X or "
			"METRIC<=X (val_acc, val_loss, loss, cer). It evaluates on the validation words at each "
			"epoch's end (or every eval=N steps) and prints one line per evaluation (epoch= and step= "
			"say where the run is, loss= is the mean training loss since the evaluation before), then "
			"a summary with steps= and epochs= (what this job trained), step= and epoch= (where the run "
			"is), train_s= (wall seconds of the whole command, evaluations included), words_s=, loss= "
			"(as on the evaluation lines), val_loss=, val_acc= and "
			"stopped=done|until|max|interrupted|paused|nan|sched_end. "
			"max=90s, max=10m, max=1h or max=5000 (steps) caps it. A cosine schedule ends at lr 0: "
			"a job of N steps or epochs past its end stretches it on a run that has not trained (an "
			"'optim' line in the journal says so) and is refused on one that has, with the 'optim' "
			"line that stretches it; an until or max job stops there (stopped=sched_end). "
			"Ctrl-C stops at a step boundary; "
			"a non-finite loss or gradient stops it with an error naming the step and cause, and rolls the "
			"run back to its last good state (the job's last evaluation with a finite loss, or its "
			"start; eval=N keeps one every N steps). "
			"final=off skips the evaluation after the last step (the journal records a job that "
			"ended without one that way). The journal records what a job did when it ends, as "
			"'train RUN N steps'.",
		.flags = SL_CMD_RECORDS,
		.run = sl_cmd_train,
		.opts = SL_OPTS("max", "eval", "final"),
		.complete = complete_run,
	},
	{
		.name = "stop",
		.usage = "stop",
		.summary = "pause the training run at the next step, or end a running sweep",
		.help = "Pauses the run being trained (on the screen, where training runs in the background); "
			"'train RUN ...' goes on from where it stopped. A 'sweep run' running there ends its "
			"workers, keeping the finished points; 'sweep run NAME' goes on.",
		.run = sl_cmd_stop,
	},
	{
		.name = "eval",
		.usage = "eval RUN [lengths=A..B|N|all [n=N] [step=S]]",
		.summary = "evaluate a run on the validation words (or test sequences, or at many lengths)",
		.help = "Prints val_loss= (teacher-forced cross-entropy per character), val_acc= (exact-match "
			"word accuracy of greedy decoding), cer= (character error rate), words= and correct=. "
			"The evaluation joins the run's history (and feeds a plateau schedule). On recall, mqar "
			"and copy, val_loss and val_acc are the cross-entropy and accuracy on the scored "
			"positions of the task's fixed test sequences, positions= and correct= count them. "
			"lengths=A..B (or N, or all: the task's shortest to its maxlen) prints instead the "
			"accuracy-vs-length table: one length=N acc=X line per length (every step=S), each on "
			"n=N (default 256) fresh sequences of that length. A range beyond the model's "
			"learned positions is refused before a line, with the range that fits.",
		.flags = SL_CMD_STATE,
		.run = sl_cmd_eval,
		.opts = SL_OPTS("lengths", "n", "step"),
		.complete = complete_run,
	},
	{
		.name = "translate",
		.usage = "translate RUN WORD... [file=PATH] [beam=N]",
		.summary = "translate words with a run's model",
		.help = "Prints one line per word: word=, output= (greedy decoding, or beam search with beam=N), "
			"expected= (the rule's answer) and correct=yes|no; with more than one word, then "
			"words=N correct=N. Any number of words, and file=PATH adds those of a file (separated "
			"by blanks or lines). Words are lowercase a-z and '-' (and apostrophes on a task "
			"piglatin apostrophes=on, quoted: \"won't\"); the output may be up to three "
			"characters longer per piece than the input. Beam search runs on every model but the "
			"transformer with attn=linear, which decodes greedily (info's decoding=).",
		.run = sl_cmd_translate,
		.opts = SL_OPTS("beam", "file"),
		.complete = complete_run,
	},
	{
		.name = "mistakes",
		.usage = "mistakes RUN [n=N]",
		.summary = "list what the last evaluation got wrong",
		.help = "Lists up to n=N (default 20) validation words that the last evaluation of RUN "
			"translated wrongly, with the output and the expected translation. On recall, mqar and "
			"copy: the wrong answers on the test sequences, each as sequence=, position=, input= (the "
			"sequence's tokens, dot-separated), output= and expected= (the first 1000 are kept).",
		.run = sl_cmd_mistakes,
		.opts = SL_OPTS("n"),
		.complete = complete_run,
	},
	{
		.name = "sample",
		.usage = "sample RUN [prompt=TEXT] [n=500] [temp=0.8] [top_k=0] [seed=N] [file=PATH] [images=4]",
		.summary = "generate text with a language model on a text task",
		.help = "Generates n characters (1..100000) after the prompt (default a newline) with RUN's "
			"model on its charlm task, printing each line as it comes: the next character is drawn "
			"from the softmax of the logits divided by temp (temp=0: always the most likely one) "
			"over the top_k most likely (0: all), from seed=N (default: the session seed), so the "
			"same seed gives the same text. Every language model generates a character at a time "
			"in its step mode (attention through its key/value cache); past the positions a model "
			"has (learned ones), it re-runs the model on the last ctx characters. file=PATH also "
			"writes the "
			"prompt and the sample there. Ends with run=, sampled=, temp=, top_k=, seed=, decoding=. "
			"On a pixels task it draws images=N whole images (1..64, default 4) pixel by pixel, "
			"prints them as text (two characters a pixel) and shows them as heatmaps "
			"(heatmap save FILE.png keeps them).",
		.run = sl_cmd_sample,
		.opts = SL_OPTS("prompt", "n", "temp", "top_k", "seed", "file", "images"),
		.complete = complete_run,
	},
	{
		.name = "attn",
		.usage = "attn RUN WORD [layer=N|all] [head=N|all] [kind=enc|dec|cross]",
		.summary = "show attention weights as labelled heatmaps",
		.help = "Translates WORD, runs the model over (WORD, its translation) and shows the attention "
			"probabilities of kind (cross by default: decoder positions attend to source characters; "
			"enc: encoder self-attention; dec: causal decoder self-attention) for one layer and head, "
			"or the grid of all layers x heads. Rows attend to columns; ^ is the start token. "
			"An rnn with attention shows its one alignment (kind=cross, layer 0, head 0). "
			"For a language model (gpt, a hybrid) it shows the causal self-attention of each "
			"attention block over the prefix-LM sequence (WORD, $ = EOS, ^ = SOS, the "
			"translation) on Pig-Latin; over the text WORD (quoted) on a charlm task; and on "
			"recall, MQAR and copy over test sequence WORD (a number) or the tokens WORD "
			"(a,b,c), with recall's query, key and value marked q, k, v (and the model's answer); "
			"kind= does not apply.",
		.run = sl_cmd_attn,
		.opts = SL_OPTS("layer", "head", "kind"),
		.complete = complete_run,
	},
	{
		.name = "plot",
		.usage = "plot [save FILE] [RUN...|sweep=NAME] [SERIES...] [smooth=W] [raw=on|off] [log=on|off]",
		.summary = "choose the curves to draw, print their points, or save them as an image",
		.help = "Chooses the curves: the SERIES (loss, lr, val_loss, val_acc, cer; default loss, "
			"val_loss and val_acc) of each RUN (default: the current task's runs), overlaid, against "
			"the step; on the screen val_acc, cer and lr go on a second axis on the right. "
			"acc_len, drawn alone, is each run's last 'eval RUN lengths=...' table: accuracy against "
			"sequence length, the training length dotted. forecast, drawn alone, is a series task's "
			"run's prediction against the truth over the test part (x the time step; plain lines "
			"run=, series=forecast, curve=prediction|truth, t=, value=). sweep=NAME draws a sweep's option "
			"combinations instead of runs: each one's mean curve over the seeds that have finished. "
			"smooth=W (0..0.999, default 0.6) draws the training loss as a debiased moving "
			"average; raw=on adds the raw loss; log=on makes y logarithmic. On the screen the "
			"curve pane shows them and follows training. Elsewhere plot prints curves=N points=N, "
			"then one line per point: run=, series=, step=, value= (and smoothed= for the loss). "
			"plot save FILE writes the curves (those given, else the current ones) to FILE.png, "
			".svg or .pdf with gnuplot, with a title and axis labels.",
		.run = sl_cmd_plot,
		.opts = SL_OPTS("smooth", "raw", "log", "sweep"),
		.complete = sl_display_complete_plot,
	},
	{
		.name = "heatmap",
		.usage = "heatmap save FILE",
		.summary = "save the last attn or ssm heatmaps as an image",
		.help = "heatmap save FILE writes the heatmaps the last attn or ssm command showed (one, or the "
			"grid of every layer and head), with their row and column labels, titles and a colour "
			"scale, to FILE.png, .svg or .pdf with gnuplot; prints saved=FILE heatmaps=N.",
		.run = sl_cmd_heatmap,
	},
	{
		.name = "watch",
		.usage = "watch [attn|ssm|gradflow RUN [WORD] [key=value...]] [every=N]",
		.summary = "redraw a heatmap every N steps while its run trains",
		.help = "Runs the view command (attn, ssm or gradflow, with its own arguments) now, then again "
			"every N steps (every=N, default 25) of its run while it trains, so attention patterns, "
			"or how far back the gradient reaches, can be watched as they form. A new watch replaces the old one; a watch whose command fails ends. "
			"Without arguments, prints watch=\"COMMAND\" every=N, or watch=none.",
		.run = sl_cmd_watch,
		.complete = sl_display_complete_watch,
	},
	{
		.name = "unwatch",
		.usage = "unwatch",
		.summary = "stop redrawing the watched heatmap",
		.help = "Ends the watch started by watch, and prints unwatched=\"COMMAND\".",
		.run = sl_cmd_unwatch,
	},
	{
		.name = "ssm",
		.usage = "ssm RUN WORD [layer=N|all] [show=VIEW]",
		.summary = "show a language model's block internals (Mamba's decay, delta, B, C...) as heatmaps",
		.help = "Translates WORD with a language model run (mamba, a hybrid), runs it over the prefix-LM "
			"sequence (WORD, $ = EOS, ^ = SOS, the translation) and shows, for one layer or all, a "
			"view that its blocks offer (an error names those they do): decay (the default: row t, column s "
			"is the weight the state at t still gives to the input at s, the product of the discretised "
			"A over the positions between, averaged over channels and states: Mamba's implicit attention), "
			"delta (the step size per position and channel), B or C (per position and state); the "
			"LRU's lambda (its eigenvalues on the unit disc) and state (|x_t|); the RG-LRU's a (the "
			"recurrence gate). 'help model' lists every block's views.",
		.run = sl_cmd_ssm,
		.opts = SL_OPTS("layer", "show"),
		.complete = complete_run,
	},
	{
		.name = "gradflow",
		.usage = "gradflow RUN [INPUT] [at=N] [file=PATH]",
		.summary = "show how far back the loss's gradient reaches: |d loss / d h_t| per position and layer",
		.help = "Runs RUN's language model over INPUT (as attn reads it: a Pig-Latin word's prefix-LM "
			"sequence, a text, or a test sequence's number or tokens; by default a generated task's "
			"test sequence 0 or a Pig-Latin run's first validation word), takes the loss at position "
			"at= (by default the last position whose target is known: a generated task's scored "
			"position, else the last character predicted), and prints for each position t up to it "
			"the norm of the loss's gradient with respect to the embedded input x_t (grad_norm=) and "
			"to the residual stream after each block (grad_L0=, ...), and for each recurrent block "
			"the Jacobian norm |d s_p / d s_t|_F / sqrt(units) of its state at the loss position with "
			"respect to its state at t (jac_L0=, ...; 1 at t = p): by backpropagation for the elman, "
			"gru and lstm cells, from the decays for Mamba, S4D, LRU and RG-LRU blocks (a product of "
			"diagonals); then shows the "
			"log10 of these as heatmap rows (file=PATH also writes them to a .png, .svg or .pdf, as "
			"'heatmap save' does) and ends with loss_at=, loss=, grad_first=, grad_last= (and "
			"jac_first=). For the encoder-decoder transformer on Pig-Latin it reads the word and the "
			"model's own translation teacher-forced (SOS + translation; at= a decoder position, by "
			"default the one predicting EOS) and prints the gradient on each embedded source "
			"character (side=src) and decoder input (side=dec), then grad_src_first=, "
			"grad_src_last=, grad_first=, grad_last=. An Elman RNN's gradient vanishes with distance "
			"where an LSTM's, a Mamba's or attention's does not: the lecture's problem made visible. "
			"The run's own gradient is left as it was.",
		.run = sl_cmd_gradflow,
		.opts = SL_OPTS("at", "file"),
		.complete = complete_run,
	},
	{
		.name = "runs",
		.usage = "runs",
		.summary = "list the runs",
		.help = "One line per run: kind, parameters, steps, epochs, the last validation accuracy and "
			"loss, training seconds.",
		.run = sl_cmd_runs,
	},
	{
		.name = "info",
		.usage = "info RUN",
		.summary = "describe a run: model, optimizer, data, progress",
		.help = "Prints the parameter count, the model's full configuration, how it generates "
			"(decoding=step: a recurrent state or key/value cache, a token at a time; "
			"decoding=rerun: the whole model re-run for each token), the optimizer's parameter "
			"groups (param_group lr_scale= decay=on|off tensors= params= names=: the LRU's ν, θ, γ "
			"and B train at half the learning rate without weight decay), the optimizer and "
			"schedule, the data and the progress of RUN.",
		.run = sl_cmd_info,
		.complete = complete_run,
	},
	{
		.name = "drop",
		.usage = "drop RUN",
		.summary = "delete a run",
		.help = "Deletes RUN and frees its memory.",
		.flags = SL_CMD_STATE,
		.run = sl_cmd_drop,
		.complete = complete_run,
	},
	{
		.name = "save",
		.usage = "save DIR",
		.summary = "save the session: journal, checkpoints, histories",
		.help = "Writes the session to the directory DIR: journal.sl (every state-changing command, "
			"replayable), state.sl, and for each run RUN.safetensors (weights, optimizer moments, "
			"schedule, data cursor, history: training resumes exactly) and RUN.csv (its metrics). "
			"The files go to a temporary directory next to DIR and replace a previous save in one "
			"rename, so a crash or a full disk never damages it. DIR must be new or a saved session "
			"holding only what a save writes (a directory or another file of yours in it is never "
			"deleted: the save is refused); its name may not hold control characters.",
		.run = cmd_save,
	},
	{
		.name = "load",
		.usage = "load DIR",
		.summary = "restore a saved session without retraining",
		.help = "Restores the settings, tasks and runs saved in DIR, each run exactly as it was: "
			"training then continues bit-identically to a session that never stopped (at the same "
			"thread count, which load restores with the seed). The journal becomes the saved one. "
			"The session must have no runs. Every file is checked; a missing, truncated or damaged "
			"one is rejected and the session stays as it was. A save is untrusted: its state.sl may "
			"hold only set, task and model lines, and each checkpoint value must pass the checks of "
			"the command that sets it.",
		.run = cmd_load,
	},
	{
		.name = "replay",
		.usage = "replay DIR [check] [tol=X]",
		.summary = "re-run a saved session's journal, and compare its metrics",
		.help = "Runs DIR/journal.sl through the interpreter, retraining everything (the session must "
			"have no runs). With check, then compares every run's training loss, learning rate and "
			"evaluations with DIR/RUN.csv: one line 'mismatch run=... recorded=...' per difference, "
			"and the command fails if there is any. tol=X (default 0: bit for bit) allows a relative "
			"difference, for a save made on another CPU or with other OpenBLAS kernels (OPENBLAS_CORETYPE). "
			"A journal is untrusted: replay runs only the commands a journal records (state changes and "
			"train) and stops at any other (export, save, source, quit...) with an error; "
			"'source DIR/journal.sl' runs every command of a journal you trust.",
		.run = sl_cmd_replay,
		.opts = SL_OPTS("tol"),
	},
	{
		.name = "export",
		.usage = "export RUN FILE",
		.summary = "write a run's weights to a safetensors file",
		.help = "Writes RUN's parameters to FILE (name it .safetensors) as F32 tensors under their "
			"names, with the model spec, the task and the progress in __metadata__, for PyTorch, "
			"numpy or 'import'. The file is replaced atomically.",
		.run = sl_cmd_export,
		.complete = complete_run,
	},
	{
		.name = "import",
		.usage = "import NAME = FILE",
		.summary = "create a run from exported weights",
		.help = "Creates the run NAME on the current task with the model FILE's metadata describes and "
			"FILE's weights (a file from 'export', or a checkpoint from a saved session), with a fresh "
			"optimizer. The task must have the vocabulary and length the model was made for. Every "
			"tensor is checked against the model's.",
		.flags = SL_CMD_STATE,
		.run = sl_cmd_import,
	},
	{
		.name = "sweep",
		.usage = "sweep NAME = KIND [key=v1,v2...] [seed=S1,S2...] steps=N|epochs=N [eval=N] [metric=M] [random=K] | "
			 "sweep run NAME [jobs=N] [max=N] | sweep show NAME | sweep merge NAME",
		.summary = "define, run and tabulate an ablation sweep",
		.help = "sweep NAME = KIND ... defines a grid on the current task: every combination of the "
			"values of model options (of KIND) and optim options (lr, wd, batch, sched, ..., and "
			"optim=sgd,adam,adamw), each trained for steps=N or epochs=N from each seed (seed=0 by "
			"default); random=K takes K combinations at random instead of all. The definition goes to "
			"NAME.sweep/sweep.sl; every value is checked by building its model first.\n"
			"sweep run NAME runs the points that have no result yet on jobs=N worker processes (one "
			"thread each; max=N runs at most N points), one line per finished point. On the screen it "
			"runs in the background, its points and ETA on the status line; Ctrl-C or stop ends the "
			"workers (finished points are kept), and sweep run goes on where it stopped. Results: "
			"NAME.sweep/results.tsv.\n"
			"sweep show NAME prints the table: per combination, the mean and standard deviation over "
			"seeds of val_acc, val_loss, loss and cer, sorted by metric=M (val_acc by default); "
			"curves=SERIES adds each combination's mean curve as lines, and 'plot sweep=NAME' draws "
			"them.\n"
			"sweep merge NAME gathers the rows of shards (seqlab --sweep FILE --shard I/N) into "
			"results.tsv.",
		.run = sl_cmd_sweep,
	},
	{
		.name = "quit",
		.usage = "quit",
		.summary = "stop reading commands and exit",
		.help = "Stops seqlab: the rest of the line, of the file and of the input is "
			"not run. The exit status is 0, or 1 if a command failed before "
			"(with --keep-going).",
		.run = cmd_quit,
	},
	{
		.name = "quit!",
		.usage = "quit!",
		.summary = "exit without asking",
		.help = "Like quit. On the screen, quit asks before dropping runs that have trained since the "
			"last save or load; quit! does not ask.",
		.run = cmd_quit,
	},
};

static const int ncommands = (int)SL_COUNT(commands);

/* ---- lookup ---- */

const sl_cmd *sl_command_find(const char *name)
{
	for (int i = 0; i < ncommands; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int sl_command_count(void)
{
	return ncommands;
}

const sl_cmd *sl_command_at(int i)
{
	SL_ASSERT(i >= 0 && i < ncommands);
	return &commands[i];
}

const char *sl_command_suggest(const char *name)
{
	const char *names[SL_COUNT(commands) + 1];
	for (int i = 0; i < ncommands; i++)
		names[i] = commands[i].name;
	names[ncommands] = NULL;
	return sl_args_suggest(name, names);
}

/* ---- completion ---- */

/* The words of the line being completed before the cursor's (index 0: the
 * command); valid during sl_command_complete. */
static char complete_words[8][64];
static int complete_nwords;

const char *sl_complete_word(int i)
{
	return i >= 0 && i < complete_nwords && i < 8 ? complete_words[i] : NULL;
}

void sl_command_complete(sl_session *s, const char *text, sl_complete_add add, void *ctx)
{
	char name[64] = "", word[256] = "";
	complete_nwords = 0;
	size_t wl = 0;
	int argi = 0, inword = 0;
	char q = 0;
	/* a rough lexer: enough to know the command and the word under the cursor */
	for (const char *p = text; *p; p++) {
		char c = *p;
		if (q) {
			if (c == q)
				q = 0;
		} else if (c == '\'' || c == '"') {
			q = c;
		} else if (c == ' ' || c == '\t' || c == ';') {
			if (inword) {
				if (argi == 0)
					snprintf(name, sizeof name, "%.*s", (int)sizeof name - 1, word);
				if (argi < 8)
					snprintf(complete_words[argi], sizeof complete_words[argi], "%.*s",
						 (int)sizeof complete_words[argi] - 1, word);
				complete_nwords = ++argi;
			}
			if (c == ';')
				argi = complete_nwords = 0;
			inword = 0;
			wl = 0;
			word[0] = 0;
			continue;
		}
		inword = 1;
		if (wl + 1 < sizeof word) {
			word[wl++] = c;
			word[wl] = 0;
		}
	}
	if (q)
		return; /* inside quotes: nothing to offer */
	if (argi == 0) {
		for (int i = 0; i < ncommands; i++)
			if (strncmp(commands[i].name, word, wl) == 0)
				add(ctx, commands[i].name);
		return;
	}
	const sl_cmd *cmd = sl_command_find(name);
	if (!cmd)
		return;
	if (cmd->complete)
		cmd->complete(s, cmd, argi, word, add, ctx);
	if (cmd->opts && !strchr(word, '=')) {
		for (int i = 0; cmd->opts[i]; i++) {
			char opt[128];
			snprintf(opt, sizeof opt, "%s=", cmd->opts[i]);
			if (strncmp(opt, word, wl) == 0)
				add(ctx, opt);
		}
	}
}
