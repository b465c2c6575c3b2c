/* sweep.h - ablation sweeps: a grid (or a random sample) of runs over
 * model options, optimizer options and seeds, each trained for the same
 * budget on a fresh single-threaded session, with results gathered into a
 * table (mean and standard deviation over seeds, sorted by a metric).
 *
 *	sweep abl = transformer hidden=16,32 lr=1e-3,3e-3 seed=0,1,2 steps=200 metric=val_acc
 *
 * defines the sweep `abl` on the current task: the points are every
 * combination of the values (the last key varies fastest, the seed fastest
 * of all), or with random=K a random sample of K option combinations
 * without repeats, each with every seed. The definition goes to the sealed
 * script abl.sweep/sweep.sl in the current directory (the task line and the
 * canonical sweep line): `seqlab --sweep FILE` reads such a file.
 *
 * Point k runs, in a fresh session, the script sl_sweep_script() returns:
 *	set seed=S threads=1
 *	task DESC
 *	model p = KIND <model options> seed=S
 *	optim p [sgd|adam|adamw] <optimizer options> steps=N
 *	train p N steps [eval=E]
 * and its result is one line of a results file (TSV, '#' lines are
 * comments):
 *	point  config  seed  status  steps  loss  val_loss  val_acc  cer  seconds
 * status is ok, nan (training diverged) or error. A point is done once a
 * row for it is in abl.sweep/results.tsv or in a shard's
 * abl.sweep/results-I-of-N.tsv; an interrupted sweep resumes by running the
 * points that have no row. Every number but seconds depends only on the
 * point, so a sweep run by local workers, by shards on several machines or
 * by MPI ranks gives the same table. */
#ifndef SEQLAB_SWEEP_H
#define SEQLAB_SWEEP_H

#include "seqlab/args.h"
#include "seqlab/session.h"

#include <stdint.h>

#define SL_SWEEP_MAX_KEYS 16
#define SL_SWEEP_MAX_VALUES 64
#define SL_SWEEP_MAX_POINTS 100000

typedef struct sl_sweep sl_sweep;

/* Parses a canonical sweep line ("sweep NAME = KIND key=v1,v2 ...") for the
 * task desc into a sweep (checks names and keys, not values). NULL with a
 * one-line error. */
sl_sweep *sl_sweep_parse(const char *line, const char *task);
/* Reads NAME.sweep/sweep.sl (sealed; see journal.h). NULL with the error. */
sl_sweep *sl_sweep_load(const char *name);
void sl_sweep_free(sl_sweep *sw);

const char *sl_sweep_name(const sl_sweep *sw);
/* The canonical sweep line; the number of points. */
const char *sl_sweep_line(const sl_sweep *sw);
int sl_sweep_npoints(const sl_sweep *sw);
/* Point k's options ("hidden=16 lr=0.003", without the seed) into buf, and
 * its seed. */
const char *sl_sweep_config(const sl_sweep *sw, int k, char *buf, size_t n);
uint64_t sl_sweep_seed(const sl_sweep *sw, int k);
/* The script that trains point k (caller frees). With train 0, without
 * the train line (a dry run that checks the options). */
char *sl_sweep_script(const sl_sweep *sw, int k, int train);

/* One result row. */
typedef struct sl_sweep_row {
	int point;
	char config[512];
	uint64_t seed;
	char status[16];      /* ok, nan, error */
	int64_t steps;
	double loss, val_loss, val_acc, cer;
	double seconds;
} sl_sweep_row;

/* The row as one TSV line with its newline, into buf. */
void sl_sweep_format_row(const sl_sweep_row *row, char *buf, size_t n);
/* Appends text (whole lines) to path with one write (O_APPEND), creating the
 * file with a header comment. SL_ERR with the error. */
int sl_sweep_append(const char *path, const char *text);

/* The rows of every results file of the sweep, one per point (the first
 * found), checked against the definition; *n receives the count. The
 * caller frees. Rows of another definition, or lines that are not rows,
 * are skipped; *skipped (may be NULL) counts them. */
sl_sweep_row *sl_sweep_rows(const sl_sweep *sw, int *n, int *skipped);
/* Runs the points i = shard, shard + nshards, ... (every point for nshards
 * 0) that have no row yet, one after the other in this process, each on a
 * workbench of its own in s at one thread (s's settings are restored), its
 * output in NAME.sweep/logs/point-K.log, one summary line per point through
 * s. Each row goes to results_path, or, if rows is not NULL, is appended to
 * the malloc'ed string *rows (MPI). Stops at an interrupt. Returns the
 * number of points run, or SL_ERR with the error set. */
int sl_sweep_run_shard(sl_session *s, const sl_sweep *sw, int shard, int nshards, const char *results_path,
		       char **rows);
/* The path of a results file: NAME.sweep/results.tsv (nshards 0) or
 * NAME.sweep/results-I-of-N.tsv, into buf. */
const char *sl_sweep_results_path(const sl_sweep *sw, int shard, int nshards, char *buf, size_t n);

/* Prints the table: a summary line, then the option combinations sorted
 * by the metric. With curves >= 0 (0 val_acc, 1 val_loss, 2 loss, 3 cer),
 * then each combination's curve of that series, the mean over its seeds,
 * as lines curve="OPTIONS" series=S step=N value=V (from the histories in
 * NAME.sweep/curves/), for a plotter to overlay. */
int sl_sweep_show(sl_session *s, const sl_sweep *sw, int curves);

/* The option combinations of the sweep (points / seeds). */
int sl_sweep_nconf(const sl_sweep *sw);
/* Combination conf's curve of column col of its points' histories
 * (NAME.sweep/curves/point-K.csv: 3 loss, 4 lr, 6 val_loss, 7 val_acc,
 * 8 cer), the mean over the seeds that have one, over the steps all of them
 * reached: returns the count of points (0: none yet) in *x (steps) and *y
 * (malloc'ed; the caller frees them, NULL when 0), and the seeds in *seeds. Its options are
 * sl_sweep_config(sw, conf * seeds_per_combination, ...). */
int sl_sweep_mean_curve(const sl_sweep *sw, int conf, int col, double **x, double **y, int *seeds);

/* Most sweeps one file may define. */
#define SL_SWEEP_MAX_FILE 64

/* `seqlab --sweep FILE [--shard I/N]`: runs FILE (tasks and sweep
 * definitions) through s, then, sweep after sweep, the points of shard I of
 * N (every point for N = 0) that have no row yet; rows go to the shard's
 * results file. SL_ERR if something failed: reported through s if a
 * command failed, else with the error set. */
int sl_sweep_file(sl_session *s, const char *file, int shard, int nshards);
/* Only its first half: runs FILE, and puts the names of the sweeps it
 * defines (its `sweep NAME = ...` lines, at most max) into names. Returns
 * their count, or SL_ERR. */
int sl_sweep_define_file(sl_session *s, const char *file, char (*names)[64], int max);

/* A `sweep run`: worker processes (`seqlab --sweep FILE --shard K/N`, one
 * per point, at most jobs at a time) over the points without a row, each
 * row moved into results.tsv and reported (one line per point) as its
 * worker ends. */
typedef struct sl_sweep_job sl_sweep_job;
/* Prints the plan line and returns the job (it owns sw), or NULL after
 * reporting (sw freed). */
sl_sweep_job *sl_sweep_job_start(sl_session *s, sl_sweep *sw, int jobs, int max);
/* Advances the job for about `seconds`: starts workers, takes the rows of
 * those that ended. An interrupt of s stops it. *finished is set when the
 * job is over (the closing line printed); then returns SL_ERR with the
 * error set if points failed or it was stopped. */
int sl_sweep_job_tick(sl_session *s, sl_sweep_job *j, double seconds, int *finished);
/* Ends the job now (Ctrl-C, `stop`): the workers get SIGTERM (SIGKILL after
 * 3 s), the rows of points that finished are kept, the closing line is
 * printed; returns SL_ERR with the error saying how to go on. */
int sl_sweep_job_stop(sl_session *s, sl_sweep_job *j);
void sl_sweep_job_free(sl_sweep_job *j);
const char *sl_sweep_job_name(const sl_sweep_job *j);

/* How far a job is, for a status line. */
typedef struct sl_sweep_progress {
	const char *name;
	int points, done;   /* points of the sweep; with a row */
	int todo, finished; /* this run's: to do, done */
	int running, failed;
	double elapsed;     /* seconds since `sweep run` */
	double eta;         /* seconds still to go, or -1 before a point ends */
} sl_sweep_progress;
void sl_sweep_job_progress(const sl_sweep_job *j, sl_sweep_progress *p);

/* The command: sweep NAME = ..., sweep run|show|merge NAME. */
int sl_cmd_sweep(sl_session *s, sl_args *a);

#endif
