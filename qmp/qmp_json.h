/* qmp_json: QEMU's JSON dialect, read into and written from json-c objects.
 *
 * QMP peers (QEMU itself, libvirt, qmp-shell, hand-typed input) speak a JSON dialect that
 * json-c cannot read: single-quoted strings, the \' escape, "modified UTF-8" (U+0000 is the
 * two bytes C0 80 so that strings stay NUL-terminated), integers beyond int64 kept as
 * uint64.  A message is parsed in two stages, like QEMU does: qmp_stream.c cuts the byte
 * stream into tokens and frames top-level values, then qmp_json_parse_tokens() turns one
 * framed token list into a value, with QEMU's error texts ("JSON parse error, ...").
 *
 * The writer produces QEMU's output byte for byte: ", " and ": " separators, non-ASCII and
 * control characters as \uXXXX, doubles as "%f" without trailing zeros, and (optionally)
 * object members in the order a QEMU QDict iterates them (its hash-bucket order), so a
 * reply we send is textually identical to the one QEMU would send for the same value.
 *
 * JSON null is the NULL json_object pointer (json-c's convention); functions that can
 * return null therefore report success separately. */
#ifndef QMP_JSON_H
#define QMP_JSON_H

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Token types produced by the lexer (qmp_stream.c). */
typedef enum {
    QMP_TOK_LCURLY,
    QMP_TOK_RCURLY,
    QMP_TOK_LSQUARE,
    QMP_TOK_RSQUARE,
    QMP_TOK_COLON,
    QMP_TOK_COMMA,
    QMP_TOK_INTEGER,
    QMP_TOK_FLOAT,
    QMP_TOK_KEYWORD,
    QMP_TOK_STRING, /* text includes the quotes */
} QmpTokenType;

/* One token: its text is text[off, off + len) of the buffer passed along with it. */
typedef struct {
    uint32_t type;
    uint32_t len;
    uint32_t off;
} QmpToken;

/* Parses exactly one value from `ntok` tokens (the framing guarantees they form at most
 * one value).  On success returns true and stores the value (new reference; NULL for JSON
 * null) in *out.  On failure returns false with a GenericError "JSON parse error, ..."
 * (QEMU's texts: "expecting value", "premature EOI", "invalid keyword 'x'", ...). */
bool qmp_json_parse_tokens(const char *text, const QmpToken *toks, size_t ntok, json_object **out,
                           GError **err);

/* Writer flags. */
enum {
    QMP_JSON_QDICT_ORDER = 1 << 0, /* members in QEMU's QDict iteration order */
    QMP_JSON_PRETTY = 1 << 1,      /* one member per line, 4-space indent */
};

/* Appends the JSON text of `v` (NULL = null) to `out`. */
void qmp_json_append(GString *out, json_object *v, unsigned flags);
/* The JSON text of `v` as a new string (g_free). */
char *qmp_json_to_string(json_object *v, unsigned flags);

/* The members of object `obj` in QEMU's QDict iteration order: fills keys[i] (borrowed)
 * and returns the count; `keys` must hold json_object_object_length(obj) entries. */
size_t qmp_json_qdict_keys(json_object *obj, const char **keys);

/* Decodes one modified-UTF-8 sequence of at most n bytes at s, exactly like QEMU's
 * mod_utf8_codepoint(): returns the code point or -1, and sets *end past what it used. */
int qmp_utf8_codepoint(const char *s, size_t n, const char **end);
/* Encodes `cp` in modified UTF-8 into buf (>= 5 bytes, NUL-terminated); returns the
 * length, or -1 for an invalid code point (surrogate, noncharacter, > U+10FFFF). */
int qmp_utf8_encode(char *buf, int cp);

#endif
