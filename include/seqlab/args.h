#ifndef SEQLAB_ARGS_H
#define SEQLAB_ARGS_H
#endif
