/* views.h - heatmaps of a language model's blocks, chosen by what each
 * block's mixer offers (besides `attn` of the encoder-decoder, which lives
 * with the other workbench commands). */
#ifndef SEQLAB_VIEWS_H
#define SEQLAB_VIEWS_H

#include "seqlab/args.h"
#include "seqlab/session.h"
#include "seqlab/workbench.h"

/* ssm RUN WORD [layer=N|all] [show=decay|delta|B|C|...]: any view a block
 * of the run offers. */
int sl_cmd_ssm(sl_session *s, sl_args *a);

/* gradflow RUN INPUT: |∂loss/∂x_t| against position t, the loss at the
 * input's last scored position (issue: the lecture's vanishing gradients). */
int sl_cmd_gradflow(sl_session *s, sl_args *a);

/* Translates word with run r (a language model on piglatin), runs it over
 * the prefix-LM sequence and shows view `view` of the blocks that offer it
 * (layer_s, head_s: a number, "all" or NULL). Reports errors through s and
 * a; returns SL_OK or SL_ERR. */
int sl_views_show(sl_session *s, sl_args *a, sl_run *r, const char *word, const char *view, const char *layer_s,
		  const char *head_s);

#endif
