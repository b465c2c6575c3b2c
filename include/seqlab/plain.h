#ifndef SEQLAB_PLAIN_H
#define SEQLAB_PLAIN_H
#endif
