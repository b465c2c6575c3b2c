/* sample.h - the `sample` command: text from a language model, streamed. */
#ifndef SEQLAB_SAMPLE_H
#define SEQLAB_SAMPLE_H

#include "seqlab/args.h"
#include "seqlab/session.h"

int sl_cmd_sample(sl_session *s, sl_args *a);

#endif
