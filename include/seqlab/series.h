/* series.h - time-series forecasting (the `series` task): a series generated
 * from a chaotic system, predicted one step ahead by a model that regresses
 * (model.h's regress), scored by RMSE and NRMSE on its last part. */
#ifndef SEQLAB_SERIES_H
#define SEQLAB_SERIES_H

#include "seqlab/task.h"

enum { SL_SERIES_MACKEY_GLASS };
enum { SL_SERIES_MODE_FORECAST, SL_SERIES_MODE_GENERATIVE };

typedef struct sl_series_config {
	int system;             /* SL_SERIES_MACKEY_GLASS */
	int length;             /* values in the series */
	int tau;                /* Mackey-Glass: the delay, a, b, n, the first value x0 and the step h */
	float a, b, n, x0, h;
	float test;             /* the fraction of the series held out at its end */
	int warmup;             /* leading training positions run but not fitted */
	int mode;               /* SL_SERIES_MODE_FORECAST or SL_SERIES_MODE_GENERATIVE */
} sl_series_config;

/* The Mackey-Glass series as reservoirpy (v0.4) makes it: with hl =
 * floor(tau/h) and history[0..hl) the values before the series, x starts at
 * x0 and each step, with x_tau the value hl steps back (the history first),
 * integrates the delay equation by reservoirpy's _mg_rk4. Writes n values
 * to out. */
void sl_mackey_glass(int n, int tau, double a, double b, double nexp, double x0, double h, const double *history,
		     double *out);
/* The history length floor(tau/h), and reservoirpy's history x0 + 0.2 (U -
 * 0.5) with U uniform from rng (not numpy's generator: pass the same history
 * to compare). */
int sl_mackey_glass_history_len(int tau, double h);
void sl_mackey_glass_history(int len, double x0, sl_rng *rng, double *history);

/* The series of a series task (*n values) and where its test part starts
 * (the first test target's index); NULL for other tasks. */
const double *sl_series_task_values(const sl_task *t, int *n, int *test_from);

/* m's predictions for every position of series task t (n - 1 values into
 * out: out[i] predicts value i + 1), in the task's mode. SL_ERR with the
 * error set (a model that cannot regress). */
int sl_series_task_predict(sl_task *t, sl_model *m, sl_tape *tp, float *out);

#endif
