#ifndef SEQLAB_SCHED_H
#define SEQLAB_SCHED_H
#endif
