#ifndef SEQLAB_SESSION_H
#define SEQLAB_SESSION_H
#endif
