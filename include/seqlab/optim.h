#ifndef SEQLAB_OPTIM_H
#define SEQLAB_OPTIM_H
#endif
