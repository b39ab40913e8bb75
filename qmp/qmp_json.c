/* qmp_json: the recursive-descent parser of QEMU's JSON dialect (token list -> json-c).
 *
 * Works on a token list the framing layer (qmp_stream.c) has already cut out of the byte
 * stream, so it never sees partial input.  Error behaviour follows QEMU's json-parser.c:
 * the first error found wins and is reported as "JSON parse error, <what>", strings are
 * decoded into modified UTF-8 (U+0000 becomes C0 80), and integer tokens become int64,
 * else uint64, else double.  Nesting depth is bounded by the framing layer's limit, which
 * also bounds the recursion here. */
#include "qmp_json.h"

#include "mb_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text;
    const QmpToken *toks;
    size_t ntok;
    size_t pos;
    GError *err; /* the first error; later ones are ignored */
} Parser;

static void G_GNUC_PRINTF(2, 3) parse_error(Parser *p, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (p->err)
        return;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    p->err = g_error_new(MB_ERROR, MB_ERR_GENERIC, "JSON parse error, %s", msg);
    g_free(msg);
}

static const QmpToken *peek(Parser *p)
{
    return p->pos < p->ntok ? &p->toks[p->pos] : NULL;
}

static const QmpToken *pop(Parser *p)
{
    return p->pos < p->ntok ? &p->toks[p->pos++] : NULL;
}

/* ---- modified UTF-8 ---- */

static bool valid_codepoint(int64_t cp)
{
    if (cp < 0 || cp > 0x10FFFF)
        return false;
    if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE)
        return false; /* noncharacter */
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return false; /* surrogate */
    return true;
}

int qmp_utf8_codepoint(const char *s, size_t n, const char **end)
{
    static const int min_cp[5] = { 0x80, 0x800, 0x10000, 0x200000, 0x4000000 };
    const unsigned char *p = (const unsigned char *)s;
    unsigned lead, len, i;
    int64_t cp;

    if (n == 0 || *p == 0) {
        *end = s;
        return -1;
    }
    lead = *p++;
    if (lead < 0x80) {
        *end = (const char *)p;
        return (int)lead;
    }
    if (lead >= 0xFE || !(lead & 0x40)) { /* impossible byte or stray continuation */
        *end = (const char *)p;
        return -1;
    }
    for (len = 0; lead & (0x80u >> len); len++)
        ;
    cp = lead & ((0x80u >> len) - 1);
    for (i = 1; i < len; i++) {
        unsigned byte = i < n ? *p : 0;
        if ((byte & 0xC0) != 0x80) {
            *end = (const char *)p;
            return -1;
        }
        p++;
        cp = (cp << 6) | (byte & 0x3F);
    }
    *end = (const char *)p;
    if (!valid_codepoint(cp))
        return -1;
    if (cp < min_cp[len - 2] && !(cp == 0 && len == 2))
        return -1; /* overlong, except the modified-UTF-8 NUL */
    return (int)cp;
}

int qmp_utf8_encode(char *buf, int cp)
{
    if (!valid_codepoint(cp))
        return -1;
    if (cp > 0 && cp <= 0x7F) {
        buf[0] = (char)cp;
        buf[1] = 0;
        return 1;
    }
    if (cp <= 0x7FF) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        buf[2] = 0;
        return 2;
    }
    if (cp <= 0xFFFF) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        buf[3] = 0;
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    buf[4] = 0;
    return 4;
}

/* Four hex digits at s (stopping at `end`), or -1. */
static int hex4(const char *s, const char *end)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        if (s + i >= end || !g_ascii_isxdigit(s[i]))
            return -1;
        v = (v << 4) | g_ascii_xdigit_value(s[i]);
    }
    return v;
}

/* Decodes a string token (quotes included) into a json-c string of modified UTF-8. */
static json_object *parse_string(Parser *p, const QmpToken *t)
{
    const char *ptr = p->text + t->off;
    const char *end = ptr + t->len; /* one past the closing quote */
    const char quote = *ptr++;
    GString *s = g_string_new(NULL);
    char utf8[5];
    json_object *res = NULL;

    g_assert(quote == '"' || quote == '\'');
    /* The closing quote is the token's last byte; an unescaped `quote` cannot occur
     * before it, and a failed \u escape ends the loop through `goto out`. */
    while (ptr < end - 1) {
        if (*ptr == '\\') {
            const char *beg = ptr++;
            int cp, trail;
            switch (*ptr++) {
            case '"': g_string_append_c(s, '"'); break;
            case '\'': g_string_append_c(s, '\''); break;
            case '\\': g_string_append_c(s, '\\'); break;
            case '/': g_string_append_c(s, '/'); break;
            case 'b': g_string_append_c(s, '\b'); break;
            case 'f': g_string_append_c(s, '\f'); break;
            case 'n': g_string_append_c(s, '\n'); break;
            case 'r': g_string_append_c(s, '\r'); break;
            case 't': g_string_append_c(s, '\t'); break;
            case 'u':
                cp = hex4(ptr, end);
                ptr += 4;
                /* A leading surrogate must be followed by \u and a trailing one. */
                if (cp >= 0xD800 && cp <= 0xDBFF && ptr + 1 < end && ptr[0] == '\\' &&
                    ptr[1] == 'u') {
                    cp = 0x10000 + ((cp & 0x3FF) << 10);
                    trail = hex4(ptr + 2, end);
                    if (trail >= 0xDC00 && trail <= 0xDFFF) {
                        cp |= trail & 0x3FF;
                        ptr += 6;
                    } else {
                        cp = -1;
                    }
                }
                if (qmp_utf8_encode(utf8, cp) < 0) {
                    /* QEMU prints the escape as far as it went, cut at the token's end. */
                    int n = (int)MIN(ptr - beg, end - beg);
                    parse_error(p, "%.*s is not a valid Unicode character", n, beg);
                    goto out;
                }
                g_string_append(s, utf8);
                break;
            default: parse_error(p, "invalid escape sequence in string"); goto out;
            }
        } else {
            const char *next;
            int cp = qmp_utf8_codepoint(ptr, MIN((size_t)6, (size_t)(end - ptr)), &next);
            if (cp < 0) {
                parse_error(p, "invalid UTF-8 sequence in string");
                goto out;
            }
            ptr = next;
            qmp_utf8_encode(utf8, cp);
            g_string_append(s, utf8);
        }
    }
    res = json_object_new_string_len(s->str, (int)s->len);
out:
    g_string_free(s, TRUE);
    return res;
}

static json_object *parse_number(Parser *p, const QmpToken *t)
{
    char small[64];
    char *str = t->len < sizeof(small) ? small : g_malloc(t->len + 1);
    json_object *res;

    memcpy(str, p->text + t->off, t->len);
    str[t->len] = 0;
    if (t->type == QMP_TOK_INTEGER) {
        char *ep;
        errno = 0;
        long long v = strtoll(str, &ep, 10);
        if (errno == 0) {
            res = json_object_new_int64(v);
            goto done;
        }
        if (str[0] != '-') {
            errno = 0;
            unsigned long long u = strtoull(str, &ep, 10);
            if (errno == 0) {
                res = json_object_new_uint64(u);
                goto done;
            }
        }
    }
    res = json_object_new_double(g_ascii_strtod(str, NULL));
done:
    if (str != small)
        g_free(str);
    return res;
}

static bool parse_value(Parser *p, json_object **out);

static bool parse_pair(Parser *p, json_object *dict)
{
    const QmpToken *t;
    json_object *key = NULL, *value = NULL;
    const char *k;

    if (!peek(p)) {
        parse_error(p, "premature EOI");
        return false;
    }
    if (!parse_value(p, &key) || !json_object_is_type(key, json_type_string)) {
        parse_error(p, "key is not a string in object");
        goto fail;
    }
    t = pop(p);
    if (!t) {
        parse_error(p, "premature EOI");
        goto fail;
    }
    if (t->type != QMP_TOK_COLON) {
        parse_error(p, "missing : in object pair");
        goto fail;
    }
    if (!parse_value(p, &value)) {
        parse_error(p, "Missing value in dict");
        goto fail;
    }
    k = json_object_get_string(key);
    if (json_object_object_get_ex(dict, k, NULL)) {
        parse_error(p, "duplicate key");
        json_object_put(value);
        goto fail;
    }
    json_object_object_add(dict, k, value);
    json_object_put(key);
    return true;
fail:
    json_object_put(key);
    return false;
}

static bool parse_object(Parser *p, json_object **out)
{
    json_object *dict = json_object_new_object();
    const QmpToken *t = pop(p);

    g_assert(t && t->type == QMP_TOK_LCURLY);
    t = peek(p);
    if (!t) {
        parse_error(p, "premature EOI");
        goto fail;
    }
    if (t->type == QMP_TOK_RCURLY) {
        pop(p);
        *out = dict;
        return true;
    }
    if (!parse_pair(p, dict))
        goto fail;
    for (;;) {
        t = pop(p);
        if (!t) {
            parse_error(p, "premature EOI");
            goto fail;
        }
        if (t->type == QMP_TOK_RCURLY)
            break;
        if (t->type != QMP_TOK_COMMA) {
            parse_error(p, "expected separator in dict");
            goto fail;
        }
        if (!parse_pair(p, dict))
            goto fail;
    }
    *out = dict;
    return true;
fail:
    json_object_put(dict);
    return false;
}

static bool parse_array(Parser *p, json_object **out)
{
    json_object *list = json_object_new_array();
    json_object *elem;
    const QmpToken *t = pop(p);

    g_assert(t && t->type == QMP_TOK_LSQUARE);
    t = peek(p);
    if (!t) {
        parse_error(p, "premature EOI");
        goto fail;
    }
    if (t->type == QMP_TOK_RSQUARE) {
        pop(p);
        *out = list;
        return true;
    }
    for (;;) {
        if (!parse_value(p, &elem)) {
            parse_error(p, "expecting value");
            goto fail;
        }
        json_object_array_add(list, elem);
        t = pop(p);
        if (!t) {
            parse_error(p, "premature EOI");
            goto fail;
        }
        if (t->type == QMP_TOK_RSQUARE)
            break;
        if (t->type != QMP_TOK_COMMA) {
            parse_error(p, "expected separator in list");
            goto fail;
        }
    }
    *out = list;
    return true;
fail:
    json_object_put(list);
    return false;
}

static bool parse_keyword(Parser *p, json_object **out)
{
    const QmpToken *t = pop(p);
    const char *s = p->text + t->off;

    if (t->len == 4 && !memcmp(s, "true", 4)) {
        *out = json_object_new_boolean(1);
        return true;
    }
    if (t->len == 5 && !memcmp(s, "false", 5)) {
        *out = json_object_new_boolean(0);
        return true;
    }
    if (t->len == 4 && !memcmp(s, "null", 4)) {
        *out = NULL;
        return true;
    }
    parse_error(p, "invalid keyword '%.*s'", (int)t->len, s);
    return false;
}

static bool parse_value(Parser *p, json_object **out)
{
    const QmpToken *t = peek(p);

    *out = NULL;
    if (!t) {
        parse_error(p, "premature EOI");
        return false;
    }
    switch (t->type) {
    case QMP_TOK_LCURLY: return parse_object(p, out);
    case QMP_TOK_LSQUARE: return parse_array(p, out);
    case QMP_TOK_INTEGER:
    case QMP_TOK_FLOAT: *out = parse_number(p, pop(p)); return true;
    case QMP_TOK_STRING: *out = parse_string(p, pop(p)); return *out != NULL;
    case QMP_TOK_KEYWORD: return parse_keyword(p, out);
    default: parse_error(p, "expecting value"); return false;
    }
}

bool qmp_json_parse_tokens(const char *text, const QmpToken *toks, size_t ntok, json_object **out,
                           GError **err)
{
    Parser p = { .text = text, .toks = toks, .ntok = ntok };
    json_object *v = NULL;
    bool ok = parse_value(&p, &v);

    if (!ok || p.err) {
        json_object_put(v);
        *out = NULL;
        g_assert(p.err);
        g_propagate_error(err, p.err);
        return false;
    }
    /* The framing only hands over complete values, so nothing may be left. */
    g_assert(p.pos == ntok);
    *out = v;
    return true;
}
