/* schema_util: the schema's arena allocator, located error messages and small helpers.
 *
 * A schema is thousands of small immutable objects that all die together, so they are
 * carved from 16 KiB blocks owned by the Schema instead of being freed one by one. */
#include "schema_int.h"
#include "mb_error.h"

#include <stdarg.h>
#include <string.h>

#define ARENA_BLOCK 16384

void sch_error(GError **err, const SchemaPos *pos, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (pos && pos->file)
        mb_error_set(err, "%s:%d:%d: %s", pos->file, pos->line, pos->col, msg);
    else
        mb_error_set(err, "%s", msg);
    g_free(msg);
}

void *sch_alloc(Schema *s, size_t n)
{
    SchemaArena *a = &s->arena;
    void *p;

    n = (n + 15) & ~(size_t)15;
    if (n > ARENA_BLOCK / 4) { /* big objects get a block of their own */
        p = g_malloc0(n);
        g_ptr_array_add(a->blocks, p);
        return p;
    }
    if (n > a->left) {
        a->cur = g_malloc0(ARENA_BLOCK);
        a->left = ARENA_BLOCK;
        g_ptr_array_add(a->blocks, a->cur);
    }
    p = a->cur;
    a->cur += n;
    a->left -= n;
    return p;
}

char *sch_strndup(Schema *s, const char *str, size_t n)
{
    char *d = sch_alloc(s, n + 1);
    memcpy(d, str, n);
    return d;
}

char *sch_strdup(Schema *s, const char *str)
{
    return str ? sch_strndup(s, str, strlen(str)) : NULL;
}

char *sch_printf(Schema *s, const char *fmt, ...)
{
    va_list ap;
    char *tmp, *d;

    va_start(ap, fmt);
    tmp = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    d = sch_strdup(s, tmp);
    g_free(tmp);
    return d;
}

void **sch_ptrs(Schema *s, GPtrArray *a, size_t *n)
{
    void **v;

    *n = a->len;
    if (!a->len)
        return NULL;
    v = sch_alloc(s, a->len * sizeof(void *));
    memcpy(v, a->pdata, a->len * sizeof(void *));
    return v;
}

const QVal *qv_get(const QVal *d, const char *key)
{
    if (!d || d->kind != QV_DICT)
        return NULL;
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->keys[i], key) == 0)
            return d->items[i];
    return NULL;
}

bool qv_is_str(const QVal *v)
{
    return v && v->kind == QV_STR;
}

char *sch_c_name(Schema *s, const char *name)
{
    char *c = sch_strdup(s, name);
    for (char *p = c; *p; p++)
        if (*p == '.' || *p == '-')
            *p = '_';
    return c;
}
