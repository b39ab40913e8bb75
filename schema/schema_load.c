/* schema_load: building a Schema from files, the built-in bundle or memory.
 *
 * Mirrors the top-level loop of QEMU 5.0's parser.py: doc blocks must precede the
 * definition they name, 'include' is resolved relative to the including file and read at
 * once (so its errors come before later ones of the includer), each file is read once,
 * inclusion loops are errors, and 'pragma' sets schema-wide options.  One difference
 * makes QEMU's own migration.json usable alone: an include that does not exist next to the
 * including file is taken from the built-in bundle by its base name.
 *
 * Each load is parsed completely, then every definition is checked (schema_expr.c), then
 * defined (schema_def.c), in QEMU's order; schema_finish does the whole-schema checks. */
#include "schema_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const default_defines[] = { "CONFIG_REPLICATION", "CONFIG_ZSTD", NULL };

Schema *schema_new(const char *const *defines)
{
    Schema *s = g_new0(Schema, 1);

    s->arena.blocks = g_ptr_array_new_with_free_func(g_free);
    s->defines = g_strdupv((char **)(defines ? defines : default_defines));
    s->entities = g_hash_table_new(g_str_hash, g_str_equal);
    s->order = g_ptr_array_new();
    s->commands = g_ptr_array_new();
    s->events = g_ptr_array_new();
    s->act_commands = g_ptr_array_new();
    s->act_events = g_ptr_array_new();
    s->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    s->modules = g_ptr_array_new_with_free_func(g_free);
    s->name_case_whitelist = g_ptr_array_new_with_free_func(g_free);
    sch_def_predefined(s);
    return s;
}

void schema_free(Schema *s)
{
    if (!s)
        return;
    g_strfreev(s->defines);
    g_hash_table_destroy(s->entities);
    g_ptr_array_free(s->order, TRUE);
    g_ptr_array_free(s->commands, TRUE);
    g_ptr_array_free(s->events, TRUE);
    g_ptr_array_free(s->act_commands, TRUE);
    g_ptr_array_free(s->act_events, TRUE);
    g_hash_table_destroy(s->files);
    g_ptr_array_free(s->modules, TRUE);
    g_ptr_array_free(s->name_case_whitelist, TRUE);
    g_ptr_array_free(s->arena.blocks, TRUE);
    g_free(s);
}

const char *schema_builtin_text(const char *name, size_t *len)
{
    for (const SchemaBundleFile *f = schema_bundle_files; name && f->name; f++) {
        if (strcmp(f->name, name) == 0) {
            if (len)
                *len = f->len;
            return f->text;
        }
    }
    return NULL;
}

/* ---- one file ---- */

/* The chain of files being included, innermost first, for loop detection. */
typedef struct Frame {
    const char *key;
    const struct Frame *parent;
} Frame;

typedef struct {
    const char *name; /* for error messages */
    const char *key;  /* identity: canonical path or "bundle:NAME" */
    char *dir;        /* directory for includes; NULL resolves within the bundle */
    char *text;       /* owned copy for disk files */
    const char *data;
    size_t len;
} Source;

typedef struct {
    Schema *s;
    GPtrArray *exprs; /* SchExpr */
} Load;

static bool load_source(Load *l, const Source *src, const Frame *parent, GError **err);

static int module_index(Schema *s, const char *key)
{
    for (guint i = 0; i < s->modules->len; i++)
        if (strcmp(g_ptr_array_index(s->modules, i), key) == 0)
            return (int)i;
    g_ptr_array_add(s->modules, g_strdup(key));
    return (int)s->modules->len - 1;
}

static bool read_disk(const char *path, char **text, size_t *len, int *errnum)
{
    FILE *f = fopen(path, "rb");
    GString *buf;
    char chunk[8192];
    size_t n;

    if (!f) {
        *errnum = errno;
        return false;
    }
    buf = g_string_new(NULL);
    errno = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        g_string_append_len(buf, chunk, (gssize)n);
    *errnum = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (*errnum) {
        g_string_free(buf, TRUE);
        return false;
    }
    *len = buf->len;
    *text = g_string_free(buf, FALSE);
    return true;
}

static bool source_from_bundle(Schema *s, Source *src, const char *name, const char *shown)
{
    char *base = g_path_get_basename(name);
    const char *text = schema_builtin_text(base, &src->len);

    if (text) {
        src->name = sch_strdup(s, shown);
        src->key = sch_printf(s, "bundle:%s", base);
        src->data = text;
    }
    g_free(base);
    return text != NULL;
}

static bool source_from_disk(Schema *s, Source *src, const char *path, int *errnum)
{
    char *canon;

    if (!read_disk(path, &src->text, &src->len, errnum))
        return false;
    canon = g_canonicalize_filename(path, NULL);
    src->name = sch_strdup(s, path);
    src->key = sch_strdup(s, canon);
    src->dir = g_path_get_dirname(path); /* as given, so messages show paths as given */
    src->data = src->text;
    g_free(canon);
    return true;
}

static void source_clear(Source *src)
{
    g_free(src->dir);
    g_free(src->text);
}

/* Finds the file an 'include' names: next to the includer, else in the bundle. */
static bool resolve_include(Load *l, const Source *from, const QVal *expr, const char *include,
                            Source *out, GError **err)
{
    char *path = NULL;
    int errnum = ENOENT;
    bool ok = false;

    if (from->dir) {
        path = g_path_is_absolute(include) ? g_strdup(include)
                                           : g_build_filename(from->dir, include, NULL);
        if (g_file_test(path, G_FILE_TEST_EXISTS))
            ok = source_from_disk(l->s, out, path, &errnum);
        else
            ok = source_from_bundle(l->s, out, include, path);
    } else {
        ok = source_from_bundle(l->s, out, include, include);
    }
    if (!ok)
        sch_error(err, &expr->pos, "can't read include file '%s': %s", path ? path : include,
                  g_strerror(errnum));
    g_free(path);
    return ok;
}

static bool do_include(Load *l, const Source *from, const Frame *frame, const QVal *expr,
                       GError **err)
{
    const QVal *v = qv_get(expr, "include");
    Source inc = { 0 };
    bool ok = true;

    if (expr->n != 1) {
        sch_error(err, &expr->pos, "invalid 'include' directive");
        return false;
    }
    if (!qv_is_str(v)) {
        sch_error(err, &expr->pos, "value of 'include' must be a string");
        return false;
    }
    if (!resolve_include(l, from, expr, v->str, &inc, err))
        return false;
    for (const Frame *f = frame; f; f = f->parent) {
        if (strcmp(f->key, inc.key) == 0) {
            sch_error(err, &expr->pos, "inclusion loop for %s", v->str);
            ok = false;
            break;
        }
    }
    module_index(l->s, inc.key);
    if (ok && !g_hash_table_contains(l->s->files, inc.key))
        ok = load_source(l, &inc, frame, err);
    source_clear(&inc);
    return ok;
}

static bool str_list(const QVal *v)
{
    if (!v || v->kind != QV_LIST)
        return false;
    for (size_t i = 0; i < v->n; i++)
        if (!qv_is_str(v->items[i]))
            return false;
    return true;
}

static bool do_pragma(Load *l, const QVal *expr, GError **err)
{
    const QVal *d = qv_get(expr, "pragma");

    if (expr->n != 1) {
        sch_error(err, &expr->pos, "invalid 'pragma' directive");
        return false;
    }
    if (!d || d->kind != QV_DICT) {
        sch_error(err, &expr->pos, "value of 'pragma' must be an object");
        return false;
    }
    for (size_t i = 0; i < d->n; i++) {
        const char *name = d->keys[i];
        const QVal *v = d->items[i];
        if (strcmp(name, "doc-required") == 0) {
            if (v->kind != QV_BOOL) {
                sch_error(err, &expr->pos, "pragma 'doc-required' must be boolean");
                return false;
            }
            l->s->doc_required = v->b;
        } else if (strcmp(name, "returns-whitelist") == 0 ||
                   strcmp(name, "name-case-whitelist") == 0) {
            if (!str_list(v)) {
                sch_error(err, &expr->pos, "pragma %s must be a list of strings", name);
                return false;
            }
            /* returns-whitelist only matters to C code generation; accepted and unused */
            for (size_t k = 0; name[0] == 'n' && k < v->n; k++)
                g_ptr_array_add(l->s->name_case_whitelist, g_strdup(v->items[k]->str));
        } else {
            sch_error(err, &expr->pos, "unknown pragma '%s'", name);
            return false;
        }
    }
    return true;
}

typedef struct {
    bool present;
    const char *symbol;
    SchemaPos pos;
} Doc;

/* A doc block naming a symbol must be followed by that definition. */
static bool reject_doc(const Doc *doc, GError **err)
{
    if (doc->present && doc->symbol) {
        sch_error(err, &doc->pos, "documentation for '%s' is not followed by the definition",
                  doc->symbol);
        return false;
    }
    return true;
}

static bool add_definition(Load *l, const QVal *expr, const Doc *doc, int module, GError **err)
{
    SchExpr *e = sch_alloc(l->s, sizeof(*e));

    if (doc->present && !doc->symbol) {
        sch_error(err, &doc->pos, "definition documentation required");
        return false;
    }
    e->expr = expr;
    e->pos = expr->pos;
    e->has_doc = doc->present;
    e->doc_symbol = doc->symbol;
    e->doc_pos = doc->pos;
    e->module = module;
    g_ptr_array_add(l->exprs, e);
    return true;
}

static bool top_level(Load *l, SchParser *p, const Source *src, const Frame *frame, int module,
                      GError **err)
{
    Doc doc = { 0 };

    while (sch_parser_tok(p)) {
        QVal *expr;
        if (sch_parser_tok(p) == '#') {
            if (!reject_doc(&doc, err))
                return false;
            doc.present = true;
            doc.pos = sch_parser_pos(p);
            if (!sch_parser_doc(p, &doc.symbol, err))
                return false;
            continue;
        }
        if (!(expr = sch_parser_expr(p, err)))
            return false;
        if (qv_get(expr, "include")) {
            if (!reject_doc(&doc, err) || !do_include(l, src, frame, expr, err))
                return false;
        } else if (qv_get(expr, "pragma")) {
            if (!reject_doc(&doc, err) || !do_pragma(l, expr, err))
                return false;
        } else if (!add_definition(l, expr, &doc, module, err)) {
            return false;
        }
        memset(&doc, 0, sizeof(doc));
    }
    return reject_doc(&doc, err);
}

static bool load_source(Load *l, const Source *src, const Frame *parent, GError **err)
{
    Frame frame = { src->key, parent };
    SchParser *p = sch_parser_new(l->s, src->name, src->data, src->len);
    int module = module_index(l->s, src->key);
    bool ok;

    g_hash_table_add(l->s->files, g_strdup(src->key));
    ok = sch_parser_start(p, err) && top_level(l, p, src, &frame, module, err);
    sch_parser_free(p);
    return ok;
}

/* ---- a whole load ---- */

static bool load(Schema *s, Source *src, GError **err)
{
    Load l = { s, g_ptr_array_new() };
    bool ok = true;

    if (s->failed || s->finished) {
        sch_error(err, NULL, "%s",
                  s->failed ? "schema is unusable after an earlier error"
                            : "schema is already finished");
        ok = false;
    } else if (!g_hash_table_contains(s->files, src->key)) {
        ok = load_source(&l, src, NULL, err);
        for (guint i = 0; ok && i < l.exprs->len; i++)
            ok = sch_check_expr(s, g_ptr_array_index(l.exprs, i), err);
        for (guint i = 0; ok && i < l.exprs->len; i++)
            ok = sch_def_expr(s, g_ptr_array_index(l.exprs, i), err);
    }
    g_ptr_array_free(l.exprs, TRUE);
    source_clear(src);
    if (!ok)
        s->failed = true;
    return ok;
}

bool schema_load_file(Schema *s, const char *path, GError **err)
{
    Source src = { 0 };
    int errnum;

    g_return_val_if_fail(s && path, false);
    if (!source_from_disk(s, &src, path, &errnum)) {
        sch_error(err, NULL, "can't read schema file '%s': %s", path, g_strerror(errnum));
        s->failed = true;
        return false;
    }
    return load(s, &src, err);
}

bool schema_load_builtin(Schema *s, const char *name, GError **err)
{
    Source src = { 0 };

    g_return_val_if_fail(s && name, false);
    if (strchr(name, '/') || !source_from_bundle(s, &src, name, name)) {
        sch_error(err, NULL, "no built-in schema file '%s'", name);
        s->failed = true;
        return false;
    }
    return load(s, &src, err);
}

bool schema_load_buffer(Schema *s, const char *name, const char *text, size_t len, GError **err)
{
    Source src = { 0 };

    g_return_val_if_fail(s && name && (text || !len), false);
    src.name = sch_strdup(s, name);
    src.key = sch_printf(s, "buffer:%s", name);
    src.data = text ? text : "";
    src.len = len;
    return load(s, &src, err);
}
