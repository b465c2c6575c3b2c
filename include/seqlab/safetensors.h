/* safetensors.h - reading and writing safetensors files: seqlab's checkpoints
 * and `export`, readable by PyTorch, numpy and the Hugging Face tools.
 *
 * The format (DESIGN.md §6, §8):
 *
 *   bytes 0..7      N, the header length, unsigned 64-bit little-endian
 *   bytes 8..8+N    the header: UTF-8 JSON, padded with spaces
 *                   {"__metadata__": {"key": "value", ...},
 *                    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
 *   bytes 8+N..     the data buffer: every tensor row-major, little-endian, at
 *                   [begin, end) relative to the buffer's start; the tensors
 *                   cover the buffer exactly, without gaps or overlaps.
 *
 * The writer pads the header to a multiple of 8 bytes and lays the tensors out
 * by decreasing element size, so that every tensor starts at a multiple of its
 * element size; it writes files atomically (temporary file in the same
 * directory, fsync, rename, fsync of the directory).
 *
 * The reader trusts nothing: it rejects, with one line naming the problem, a
 * truncated file, an absurd header length, a header that is not strict JSON
 * (RFC 8259, nesting depth at most 8, no duplicate keys, no NUL characters, no
 * trailing bytes but spaces), an unknown dtype or field, shape entries that
 * are negative, fractional or overflow, a size that does not match the
 * offsets, offsets outside the buffer, overlapping tensors, bytes of the
 * buffer that belong to no tensor, and metadata values that are not strings.
 * It accepts headers that are not padded to 8 bytes (older writers did not
 * pad). It never reads outside its input, whatever the input.
 *
 * Byte order: seqlab runs on little-endian machines only (a static assertion
 * in safetensors.c), so tensor data is used as it is stored. */
#ifndef SEQLAB_SAFETENSORS_H
#define SEQLAB_SAFETENSORS_H

#include "seqlab/common.h"
#include "seqlab/params.h"

#include <stdint.h>

/* The dtypes of the format (all known to the reader; seqlab itself writes
 * F32 for parameters and I32/I64/U64/U8 for counters, cursors, RNG states). */
enum sl_st_dtype {
	SL_ST_BOOL,
	SL_ST_U8,
	SL_ST_I8,
	SL_ST_F8_E5M2,
	SL_ST_F8_E4M3,
	SL_ST_I16,
	SL_ST_U16,
	SL_ST_F16,
	SL_ST_BF16,
	SL_ST_I32,
	SL_ST_U32,
	SL_ST_F32,
	SL_ST_F64,
	SL_ST_I64,
	SL_ST_U64,
	SL_ST_NDTYPE
};

/* Most dimensions a tensor of a safetensors file may have here. */
#define SL_ST_MAXDIM 8
/* Largest header the reader accepts (the reference implementation's limit). */
#define SL_ST_MAX_HEADER 100000000u

/* "F32" for SL_ST_F32; NULL for a value out of range. */
const char *sl_st_dtype_name(int dtype);
/* Bytes per element (1, 2, 4 or 8); 0 for a value out of range. */
size_t sl_st_dtype_size(int dtype);
/* The dtype called name ("F32"), or -1. */
int sl_st_dtype_find(const char *name);

/* One tensor: what the writer takes, what the reader gives. */
typedef struct sl_safetensors_tensor {
	const char *name;            /* UTF-8, not empty, not "__metadata__" */
	int dtype;                   /* SL_ST_* */
	int ndim;                    /* 0 (a scalar) to SL_ST_MAXDIM */
	int64_t shape[SL_ST_MAXDIM]; /* each >= 0 */
	const void *data;            /* product(shape) elements, row-major; may be
	                              * NULL if there are none. From the reader:
	                              * aligned to the element size when seqlab wrote
	                              * the file, otherwise possibly not (copy it
	                              * out with memcpy) */
	size_t nbytes;               /* from the reader: product(shape) × dtype size;
	                              * ignored by the writer */
} sl_safetensors_tensor;

/* One metadata entry: both strings UTF-8 (keys not empty). */
typedef struct sl_safetensors_meta {
	const char *key;
	const char *value;
} sl_safetensors_meta;

/* An F32 entry for a seqlab tensor under the given name (t's own name if
 * name is NULL); borrows t's data and the name. */
sl_safetensors_tensor sl_safetensors_tensor_of(const sl_tensor *t, const char *name);

/* ---- writing ---- */

/* Serialises tensors t[0..n) and metadata meta[0..nmeta) into one buffer.
 * On success returns SL_OK with *out (malloc'ed, the caller frees it) and
 * *len set; on invalid input (bad dtype, rank or shape, empty, duplicate or
 * reserved name, duplicate metadata key, text that is not UTF-8, missing data)
 * returns SL_ERR with the error set and *out NULL. */
int sl_safetensors_encode(const sl_safetensors_tensor *t, int n, const sl_safetensors_meta *meta,
			  int nmeta, unsigned char **out, size_t *len);

/* Writes the same bytes to path, atomically: into a new file next to it,
 * fsync'ed, renamed over path, then the directory fsync'ed. On failure
 * (invalid input, ENOSPC, EIO, a short write...) removes the temporary file,
 * leaves any previous file at path untouched and returns SL_ERR with the
 * error "PATH: reason" (e.g. "run.st: No space left on device"). Only if the
 * final fsync of the directory fails is the new file already in place. */
int sl_safetensors_write(const char *path, const sl_safetensors_tensor *t, int n,
			 const sl_safetensors_meta *meta, int nmeta);

/* Writes every parameter of the allocated store ps (F32, named as in the
 * store, in declaration order) and the metadata, as sl_safetensors_write(). */
int sl_safetensors_save_params(const char *path, const sl_params *ps, const sl_safetensors_meta *meta,
			       int nmeta);

/* ---- reading ---- */

/* A loaded file: its tensors and metadata, owned by it. */
typedef struct sl_safetensors sl_safetensors;

/* Reads and validates the whole file at path. Returns NULL with the error
 * "PATH: problem" if the file cannot be read or is not a valid safetensors
 * file. Free the result with sl_safetensors_free(). */
sl_safetensors *sl_safetensors_load(const char *path);
/* The same from len bytes in memory (copied: the caller keeps its buffer).
 * Errors name the problem without a path. */
sl_safetensors *sl_safetensors_parse(const void *bytes, size_t len);
void sl_safetensors_free(sl_safetensors *st);

/* Tensors in the order of the header; i in [0, count). Pointers stay valid
 * until sl_safetensors_free(). */
int sl_safetensors_count(const sl_safetensors *st);
const sl_safetensors_tensor *sl_safetensors_at(const sl_safetensors *st, int i);
/* The tensor called name, or NULL. */
const sl_safetensors_tensor *sl_safetensors_find(const sl_safetensors *st, const char *name);
/* Size of the data buffer: the sum of every tensor's nbytes. */
size_t sl_safetensors_data_size(const sl_safetensors *st);

/* Metadata in the order of the header; i in [0, meta_count). */
int sl_safetensors_meta_count(const sl_safetensors *st);
const sl_safetensors_meta *sl_safetensors_meta_at(const sl_safetensors *st, int i);
/* The value of metadata key, or NULL. */
const char *sl_safetensors_meta_get(const sl_safetensors *st, const char *key);

/* Copies the file's tensors into the allocated store ps. With prefix NULL or
 * "", the file must hold exactly the store's parameters; otherwise only the
 * file's tensors whose names start with prefix are considered, the prefix
 * removed (so one checkpoint can hold several stores). Every parameter must
 * be present as F32 with the same shape, and no other tensor may be: on any
 * mismatch returns SL_ERR with an error naming the tensor and leaves ps
 * unchanged. */
int sl_safetensors_get_params(const sl_safetensors *st, const char *prefix, sl_params *ps);

/* sl_safetensors_load() + sl_safetensors_get_params(st, NULL, ps); errors are
 * "PATH: problem", and ps is unchanged on any error. */
int sl_safetensors_load_params(const char *path, sl_params *ps);

#endif
