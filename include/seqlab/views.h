/* views.h - commands that show a model's internals as heatmaps (besides
 * `attn`, which lives with the other workbench commands). */
#ifndef SEQLAB_VIEWS_H
#define SEQLAB_VIEWS_H

#include "seqlab/args.h"
#include "seqlab/session.h"

/* ssm RUN WORD [layer=N|all] [show=decay|delta|B|C] */
int sl_cmd_ssm(sl_session *s, sl_args *a);

#endif
