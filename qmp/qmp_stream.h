/* qmp_stream: QEMU's JSON message framing (lexer + streamer) with its limits.
 *
 * A QMP peer sends a stream of top-level JSON values with nothing in between; a value may
 * arrive split over many reads, and one read may carry several.  Like QEMU's
 * json-lexer.c/json-streamer.c, bytes go through a lexer (a state machine recognising
 * strings, numbers, keywords and structural characters) and the tokens are collected until
 * braces and brackets balance, then parsed (qmp_json_parse_tokens).  Malformed input is
 * reported exactly where and how QEMU reports it ("JSON parse error, stray '@'", ...) and
 * the lexer resynchronises the same way: after a bad character it skips to the next
 * structural character or control character.
 *
 * Memory is bounded: one lexer token may not exceed max_token_size + 1 bytes, the tokens
 * of one message max_token_size bytes in total and max_token_count in number, nesting
 * max_nesting levels; exceeding any limit discards the partial message with QEMU's error
 * ("JSON token size limit exceeded", ...).  The defaults are QEMU's (64 MiB, 2 Mi tokens,
 * 1024 levels); tests and the fuzzer use small limits. */
#ifndef QMP_STREAM_H
#define QMP_STREAM_H

#include "qmp_json.h"

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    size_t max_token_size;  /* bytes; at most 1 GiB */
    size_t max_token_count; /* tokens per message */
    unsigned max_nesting;   /* open braces + brackets */
} QmpStreamLimits;

#define QMP_STREAM_MAX_TOKEN_SIZE  ((size_t)64 << 20)
#define QMP_STREAM_MAX_TOKEN_COUNT ((size_t)2 << 20)
#define QMP_STREAM_MAX_NESTING     1024u

/* QEMU's limits. */
void qmp_stream_default_limits(QmpStreamLimits *l);

/* Receives each framed message: either a value (err == NULL; value is a new reference,
 * NULL for JSON null) or an error (value == NULL; err owned by the callee).  The callback
 * may call qmp_stream_stop() but must not free the stream. */
typedef void (*QmpStreamEmit)(void *opaque, json_object *value, GError *err);

typedef struct QmpStream QmpStream;

/* `limits` NULL = QEMU's. */
QmpStream *qmp_stream_new(const QmpStreamLimits *limits, QmpStreamEmit emit, void *opaque);
void qmp_stream_free(QmpStream *s);

/* Feeds up to `len` bytes; returns how many were consumed, which is `len` unless the emit
 * callback called qmp_stream_stop(), in which case feeding stops after the byte that
 * completed the message (QEMU's monitor suspension works at the same granularity). */
size_t qmp_stream_feed(QmpStream *s, const char *buf, size_t len);
void qmp_stream_stop(QmpStream *s);

/* End of input: completes a pending number or keyword and parses what was collected (an
 * unfinished value yields "JSON parse error, premature EOI" or a stray error). */
void qmp_stream_flush(QmpStream *s);

/* Bytes currently allocated for buffered input (for boundedness checks). */
size_t qmp_stream_buffered(const QmpStream *s);

/* Parses a complete text holding exactly one value (QEMU's qobject_from_json): on success
 * stores a new reference (NULL for null) in *out.  Errors are the parser's, "Expecting a
 * JSON value" (nothing there) or "Expecting at most one JSON value". */
bool qmp_json_parse(const char *text, size_t len, json_object **out, GError **err);

#endif
