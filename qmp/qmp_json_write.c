/* qmp_json_write: json-c values to text, formatted exactly as QEMU 5.0 formats QMP output.
 *
 * QEMU's qobject_to_json() separates with ", " and ": ", escapes every character outside
 * printable ASCII as \uXXXX (surrogate pairs beyond the BMP, U+FFFD for invalid UTF-8),
 * prints doubles with "%f" minus trailing zeros, and walks objects in QDict order: buckets
 * 0..511 of its tdb hash, newest member first within a bucket.  Reproducing this makes our
 * replies byte-identical to QEMU's, which keeps text-comparing tools and captured traffic
 * usable against migbench. */
#include "qmp_json.h"

#include <stdlib.h>
#include <string.h>

#define QDICT_BUCKETS 512

/* QEMU's QDict hash (tdb_hash, from gdbm). */
static unsigned qdict_bucket(const char *key)
{
    unsigned value = 0x238F13AFu * (unsigned)strlen(key);

    for (unsigned i = 0; key[i]; i++)
        value = value + ((unsigned)(unsigned char)key[i] << (i * 5 % 24));
    return (1103515243u * value + 12345u) % QDICT_BUCKETS;
}

typedef struct {
    const char *key;
    unsigned bucket;
    size_t index; /* insertion position */
} KeySlot;

static int cmp_slot(const void *a, const void *b)
{
    const KeySlot *x = a, *y = b;

    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    /* Same bucket: QDict inserts at the list head, so the newest comes first. */
    return x->index > y->index ? -1 : (x->index < y->index ? 1 : 0);
}

size_t qmp_json_qdict_keys(json_object *obj, const char **keys)
{
    size_t n = (size_t)json_object_object_length(obj), i = 0;
    KeySlot stack[16];
    KeySlot *slots = n <= 16 ? stack : g_new(KeySlot, n);

    json_object_object_foreach(obj, k, v)
    {
        (void)v;
        slots[i].key = k;
        slots[i].bucket = qdict_bucket(k);
        slots[i].index = i;
        i++;
    }
    qsort(slots, n, sizeof(*slots), cmp_slot);
    for (i = 0; i < n; i++)
        keys[i] = slots[i].key;
    if (slots != stack)
        g_free(slots);
    return n;
}

static void append_string(GString *out, const char *s)
{
    const char *end;

    g_string_append_c(out, '"');
    for (; *s; s = end) {
        int cp = qmp_utf8_codepoint(s, 6, &end);
        switch (cp) {
        case '"': g_string_append(out, "\\\""); break;
        case '\\': g_string_append(out, "\\\\"); break;
        case '\b': g_string_append(out, "\\b"); break;
        case '\f': g_string_append(out, "\\f"); break;
        case '\n': g_string_append(out, "\\n"); break;
        case '\r': g_string_append(out, "\\r"); break;
        case '\t': g_string_append(out, "\\t"); break;
        default:
            if (cp < 0)
                cp = 0xFFFD;
            if (cp > 0xFFFF)
                g_string_append_printf(out, "\\u%04X\\u%04X", 0xD800 + ((cp - 0x10000) >> 10),
                                       0xDC00 + ((cp - 0x10000) & 0x3FF));
            else if (cp < 0x20 || cp >= 0x7F)
                g_string_append_printf(out, "\\u%04X", cp);
            else
                g_string_append_c(out, (char)cp);
        }
    }
    g_string_append_c(out, '"');
}

static void append_double(GString *out, double d)
{
    /* "%f" of DBL_MAX has 309 integer digits. */
    char buf[400];
    size_t len;

    g_ascii_formatd(buf, sizeof(buf), "%f", d);
    len = strlen(buf);
    while (len > 0 && buf[len - 1] == '0')
        len--;
    if (len && buf[len - 1] == '.')
        len--;
    g_string_append_len(out, buf, (gssize)len);
}

static void newline(GString *out, unsigned flags, int indent)
{
    if (!(flags & QMP_JSON_PRETTY))
        return;
    g_string_append_c(out, '\n');
    for (int i = 0; i < indent; i++)
        g_string_append(out, "    ");
}

static void append_value(GString *out, json_object *v, unsigned flags, int indent)
{
    const char *comma = (flags & QMP_JSON_PRETTY) ? "," : ", ";

    switch (json_object_get_type(v)) {
    case json_type_null: g_string_append(out, "null"); break;
    case json_type_boolean:
        g_string_append(out, json_object_get_boolean(v) ? "true" : "false");
        break;
    case json_type_int: {
        int64_t i = json_object_get_int64(v);
        if (i == INT64_MAX)
            g_string_append_printf(out, "%" G_GUINT64_FORMAT, (guint64)json_object_get_uint64(v));
        else
            g_string_append_printf(out, "%" G_GINT64_FORMAT, (gint64)i);
        break;
    }
    case json_type_double: append_double(out, json_object_get_double(v)); break;
    case json_type_string: append_string(out, json_object_get_string(v)); break;
    case json_type_object: {
        size_t n = (size_t)json_object_object_length(v);
        if (n == 0) {
            g_string_append(out, "{}");
            break;
        }
        const char **keys = g_new(const char *, n);
        if (flags & QMP_JSON_QDICT_ORDER) {
            qmp_json_qdict_keys(v, keys);
        } else {
            size_t i = 0;
            json_object_object_foreach(v, k, val)
            {
                (void)val;
                keys[i++] = k;
            }
        }
        g_string_append_c(out, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                g_string_append(out, comma);
            newline(out, flags, indent + 1);
            append_string(out, keys[i]);
            g_string_append(out, ": ");
            append_value(out, json_object_object_get(v, keys[i]), flags, indent + 1);
        }
        newline(out, flags, indent);
        g_string_append_c(out, '}');
        g_free(keys);
        break;
    }
    case json_type_array: {
        size_t n = json_object_array_length(v);
        if (n == 0) {
            g_string_append(out, "[]");
            break;
        }
        g_string_append_c(out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                g_string_append(out, comma);
            newline(out, flags, indent + 1);
            append_value(out, json_object_array_get_idx(v, i), flags, indent + 1);
        }
        newline(out, flags, indent);
        g_string_append_c(out, ']');
        break;
    }
    }
}

void qmp_json_append(GString *out, json_object *v, unsigned flags)
{
    append_value(out, v, flags, 0);
}

char *qmp_json_to_string(json_object *v, unsigned flags)
{
    GString *s = g_string_new(NULL);

    append_value(s, v, flags, 0);
    return g_string_free(s, FALSE);
}
