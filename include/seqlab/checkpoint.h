/* checkpoint.h - a run's exact state in a safetensors file, and its
 * history as CSV (saved sessions, made of these: savedir.h).
 *
 * A checkpoint (RUN.safetensors in a saved session) holds
 *   param.NAME       F32, every parameter of the model (store order)
 *   optim.m.NAME     F32, the optimizer's first moment / momentum, if it has one
 *   optim.v.NAME     F32, Adam's second moment, if it has one
 *   grad.NAME        F32, the gradient summed so far, if saved in the middle
 *                    of an accumulation (optim.micro > 0)
 *   history.loss     F32 (steps): the training loss of every step
 *   history.lr       F32 (steps): the learning rate of every step
 *   history.evals    F64 (evals, 9): step, epoch, seconds, train_loss,
 *                    val_loss, val_acc, cer, words, correct
 *   mistakes         U8: the last evaluation's wrong answers, "src\tout\twant\n" each
 * and, in __metadata__, format=seqlab-checkpoint, format_version, the seqlab
 * version, the run's name, model spec (`model NAME = SPEC` makes the same
 * model), task desc and shape, seed, batch size, shuffle, cursor (step,
 * epoch, batch), optimizer configuration and state, schedule (plateau state
 * included), counters, and `checksum`: an FNV-1a 64 hash of every other
 * metadata entry and every tensor (name, dtype, shape, bytes) in name order,
 * so a changed byte anywhere is caught. Together with the task (rebuilt from
 * its desc) that is everything training depends on: the batch plan of an
 * epoch is rebuilt from (seed, epoch), dropout from (seed, step), so a loaded
 * run continues bit-identically to one that never stopped (at the same
 * thread count).
 *
 * A saved session is a directory:
 *   journal.sl          the journal (journal.h), a sealed script
 *   state.sl            a sealed script that recreates the tasks and runs
 *                       without training (set, task, model lines)
 *   RUN.safetensors     one checkpoint per run
 *   RUN.csv             its history for people and `replay check`:
 *                       kind,step,epoch,loss,lr,train_loss,val_loss,val_acc,cer,words,correct,seconds
 * It is written into a temporary directory next to it (.NAME.save-PID),
 * every file fsync'ed, then swapped with the old one in one rename
 * (RENAME_EXCHANGE) and the old one removed: a crash, a kill or a full disk
 * at any moment leaves the previous save whole. */
#ifndef SEQLAB_CHECKPOINT_H
#define SEQLAB_CHECKPOINT_H

#include "seqlab/args.h"
#include "seqlab/run.h"
#include "seqlab/session.h"

#define SL_CHECKPOINT_VERSION 1

/* Writes r's state to path atomically (safetensors.h). SL_ERR with the error
 * "PATH: reason" on failure; any previous file at path is then untouched. */
int sl_checkpoint_save(const char *path, const sl_run *r);

/* A checkpoint read and checked (format, version, checksum); NULL with the
 * error "PATH: problem". Free with sl_checkpoint_free(). */
typedef struct sl_checkpoint sl_checkpoint;
sl_checkpoint *sl_checkpoint_load(const char *path);
void sl_checkpoint_free(sl_checkpoint *c);
/* A metadata value ("model", "task", "run", ...), or NULL. */
const char *sl_checkpoint_meta(const sl_checkpoint *c, const char *key);

/* Restores c into r, a run of the same model spec on a task of the same
 * desc (as state.sl makes it): parameters, optimizer, schedule, cursor,
 * history. Everything is checked first; on any mismatch returns SL_ERR with
 * the error naming it and r is unchanged. */
int sl_checkpoint_apply(const sl_checkpoint *c, sl_run *r, sl_pool *pool);

/* A model file (export): r's parameters (param names as in the store) with
 * format=seqlab-model, the model spec, the task, step, epoch, the last
 * evaluation and the checksum, written atomically. SL_ERR with the error. */
int sl_checkpoint_export(const char *path, const sl_run *r);
/* SL_OK if st's checksum (when it has one) matches its content; else SL_ERR
 * with the error (import's check of a model file or checkpoint). */
struct sl_safetensors;
int sl_checkpoint_verify(const struct sl_safetensors *st);

/* Writes r's history as CSV (the header above) to path, fsync'ed. */
int sl_checkpoint_write_csv(const char *path, const sl_run *r);

/* Compares r's history with the CSV at path: calls diff(ctx, line) with one
 * line per difference (at most max of them, then one "... N more") and
 * returns the number of differences, or -1 with the error set if the file
 * cannot be read or parsed. Values are equal when |a - b| <= tol max(|a|,
 * |b|) (tol 0: exactly; NaN equals NaN); times are not compared. */
int sl_checkpoint_compare_csv(const char *path, const sl_run *r, double tol, int max,
			      void (*diff)(void *ctx, const char *line), void *ctx);

#endif
