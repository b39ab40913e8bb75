/* schema_expr: the shape checks of each definition, and 'if' conditions.
 *
 * A port of QEMU 5.0's scripts/qapi/expr.py (check_exprs) with its messages: which keys a
 * definition may have, name rules, flag values, 'if' and 'features' forms, member and type
 * forms.  Where QEMU's generator would crash on a malformed definition (e.g. a struct whose
 * 'data' is a string) this reports an error instead.  Errors point at the most specific
 * value at hand rather than only at the definition's first line.
 *
 * QEMU hands 'if' strings to the C preprocessor; migbench evaluates them itself against
 * the schema's defines, understanding defined(NAME), defined NAME, 0, 1, !, &&, || and
 * parentheses. */
#include "schema_int.h"

#include <string.h>

#define COND_MAX_DEPTH 32

/* ---- conditions ---- */

typedef struct {
    const char *p;
    const char *const *defs;
    int depth;
    bool ok;
} Cond;

static void cond_space(Cond *c)
{
    while (*c->p == ' ' || *c->p == '\t')
        c->p++;
}

static bool cond_or(Cond *c);

static bool cond_defined(Cond *c)
{
    bool paren, found = false;
    const char *start;
    size_t n;

    cond_space(c);
    paren = *c->p == '(';
    if (paren)
        c->p++, cond_space(c);
    start = c->p;
    if (!g_ascii_isalpha(*c->p) && *c->p != '_')
        return c->ok = false;
    while (g_ascii_isalnum(*c->p) || *c->p == '_')
        c->p++;
    n = (size_t)(c->p - start);
    for (const char *const *d = c->defs; *d; d++)
        if (strlen(*d) == n && memcmp(*d, start, n) == 0)
            found = true;
    cond_space(c);
    if (paren && *c->p++ != ')')
        c->ok = false;
    return found;
}

static bool cond_unary(Cond *c)
{
    bool v = false;

    if (++c->depth > COND_MAX_DEPTH)
        return c->ok = false;
    cond_space(c);
    if (*c->p == '!') {
        c->p++;
        v = !cond_unary(c);
    } else if (*c->p == '(') {
        c->p++;
        v = cond_or(c);
        cond_space(c);
        if (*c->p++ != ')')
            c->ok = false;
    } else if (strncmp(c->p, "defined", 7) == 0 && !g_ascii_isalnum(c->p[7]) && c->p[7] != '_') {
        c->p += 7;
        v = cond_defined(c);
    } else if ((*c->p == '0' || *c->p == '1') && !g_ascii_isalnum(c->p[1])) {
        v = *c->p++ == '1';
    } else {
        c->ok = false;
    }
    c->depth--;
    return v;
}

static bool cond_and(Cond *c)
{
    bool v = cond_unary(c);

    for (cond_space(c); c->ok && strncmp(c->p, "&&", 2) == 0; cond_space(c)) {
        c->p += 2;
        v = cond_unary(c) && v;
    }
    return v;
}

static bool cond_or(Cond *c)
{
    bool v = cond_and(c);

    for (cond_space(c); c->ok && strncmp(c->p, "||", 2) == 0; cond_space(c)) {
        c->p += 2;
        v = cond_and(c) || v;
    }
    return v;
}

/* Evaluates one condition string; *ok tells whether it was understood. */
static bool cond_eval(const char *text, const char *const *defs, bool *ok)
{
    Cond c = { text, defs, 0, true };
    bool v = cond_or(&c);

    cond_space(&c);
    *ok = c.ok && *c.p == '\0';
    return v;
}

bool sch_cond_holds(const Schema *s, const QVal *ifv)
{
    bool ok;

    if (!ifv)
        return true;
    if (ifv->kind == QV_STR)
        return cond_eval(ifv->str, (const char *const *)s->defines, &ok);
    for (size_t i = 0; i < ifv->n; i++)
        if (!cond_eval(ifv->items[i]->str, (const char *const *)s->defines, &ok))
            return false;
    return true;
}

/* ---- helpers ---- */

typedef struct {
    Schema *s;
    GError **err;
} Ck;

static bool fail(Ck *c, const QVal *at, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static bool fail(Ck *c, const QVal *at, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    sch_error(c->err, &at->pos, "%s", msg);
    g_free(msg);
    return false;
}

/* Python truthiness of a parsed value. */
static bool truthy(const QVal *v)
{
    if (!v)
        return false;
    switch (v->kind) {
    case QV_STR: return v->str[0] != '\0';
    case QV_BOOL: return v->b;
    default: return v->n > 0;
    }
}

static bool whitelisted(GPtrArray *list, const char *name)
{
    for (guint i = 0; name && i < list->len; i++)
        if (strcmp(g_ptr_array_index(list, i), name) == 0)
            return true;
    return false;
}

/* A member written as 'TYPE' or as { 'type': TYPE, 'if': ..., 'features': ... }. */
static const QVal *mem_field(const QVal *m, const char *key)
{
    if (m->kind == QV_DICT)
        return qv_get(m, key);
    return strcmp(key, "type") == 0 || strcmp(key, "name") == 0 ? m : NULL;
}

/* QEMU's valid_name: ^(__[a-zA-Z0-9.-]+_)?[a-zA-Z][a-zA-Z0-9_-]*$ */
static bool valid_name(const char *n)
{
    if (n[0] == '_' && n[1] == '_') {
        const char *q = n + 2;
        while (g_ascii_isalnum(*q) || *q == '.' || *q == '-')
            q++;
        if (q == n + 2 || *q != '_')
            return false;
        n = q + 1;
    }
    if (!g_ascii_isalpha(*n))
        return false;
    for (n++; *n; n++)
        if (!g_ascii_isalnum(*n) && *n != '_' && *n != '-')
            return false;
    return true;
}

static bool has_upper(const char *n)
{
    for (; *n; n++)
        if (g_ascii_isupper(*n))
            return true;
    return false;
}

static bool check_name_str(Ck *c, const QVal *at, const char *name, const char *source,
                           bool allow_optional, bool enum_member, bool permit_upper)
{
    const char *member = name;
    char *tmp = NULL;
    bool ok = true;

    if (allow_optional && member[0] == '*')
        member++;
    if (enum_member && g_ascii_isdigit(member[0]))
        member = tmp = g_strconcat("D", member, NULL);
    if (!valid_name(member) || g_str_has_prefix(sch_c_name(c->s, member), "q_"))
        ok = fail(c, at, "%s has an invalid name", source);
    else if (!permit_upper && has_upper(name))
        ok = fail(c, at, "%s uses uppercase in name", source);
    g_free(tmp);
    return ok;
}

static bool check_name_is_str(Ck *c, const QVal *at, const QVal *v, const char *source)
{
    if (!qv_is_str(v))
        return fail(c, at, "%s requires a string name", source);
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "'a', 'b'" of a sorted copy of names. */
static char *pprint(GPtrArray *names)
{
    GString *out = g_string_new(NULL);

    g_ptr_array_sort(names, cmp_str);
    for (guint i = 0; i < names->len; i++)
        g_string_append_printf(out, "%s'%s'", i ? ", " : "",
                               (const char *)g_ptr_array_index(names, i));
    return g_string_free(out, FALSE);
}

static bool in_list(const char *const *list, const char *key)
{
    for (; *list; list++)
        if (strcmp(*list, key) == 0)
            return true;
    return false;
}

/* `required` and `optional` are NULL-terminated. */
static bool check_keys(Ck *c, const QVal *d, const char *source, const char *const *required,
                       const char *const *optional)
{
    GPtrArray *missing, *unknown;
    bool ok = true;
    char *list, *valid;

    if (d->kind != QV_DICT) /* QEMU first wraps a bare value as the one required key */
        return true;
    missing = g_ptr_array_new();
    unknown = g_ptr_array_new();

    for (const char *const *r = required; *r; r++)
        if (!qv_get(d, *r))
            g_ptr_array_add(missing, (gpointer)*r);
    for (size_t i = 0; i < d->n; i++)
        if (!in_list(required, d->keys[i]) && !in_list(optional, d->keys[i]))
            g_ptr_array_add(unknown, (gpointer)d->keys[i]);
    if (missing->len) {
        list = pprint(missing);
        ok = fail(c, d, "%s misses key%s %s", source, missing->len > 1 ? "s" : "", list);
        g_free(list);
    } else if (unknown->len) {
        GPtrArray *all = g_ptr_array_new();
        for (const char *const *r = required; *r; r++)
            g_ptr_array_add(all, (gpointer)*r);
        for (const char *const *o = optional; *o; o++)
            g_ptr_array_add(all, (gpointer)*o);
        list = pprint(unknown);
        valid = pprint(all);
        ok = fail(c, d, "%s has unknown key%s %s\nValid keys are %s.", source,
                  unknown->len > 1 ? "s" : "", list, valid);
        g_free(list);
        g_free(valid);
        g_ptr_array_free(all, TRUE);
    }
    g_ptr_array_free(missing, TRUE);
    g_ptr_array_free(unknown, TRUE);
    return ok;
}

static bool check_if_str(Ck *c, const QVal *v, const char *source)
{
    char *tmp;
    bool blank, ok;

    if (!qv_is_str(v))
        return fail(c, v, "'if' condition of %s must be a string or a list of strings", source);
    tmp = g_strstrip(g_strdup(v->str));
    blank = tmp[0] == '\0';
    g_free(tmp);
    if (blank)
        return fail(c, v, "'if' condition '%s' of %s makes no sense", v->str, source);
    cond_eval(v->str, (const char *const *)c->s->defines, &ok);
    if (!ok)
        return fail(c, v,
                    "'if' condition '%s' of %s is not understood (use defined(NAME), !, &&, "
                    "|| and parentheses)",
                    v->str, source);
    return true;
}

static bool check_if(Ck *c, const QVal *ifv, const char *source)
{
    if (!ifv)
        return true;
    if (ifv->kind != QV_LIST)
        return check_if_str(c, ifv, source);
    if (ifv->n == 0)
        return fail(c, ifv, "'if' condition [] of %s is useless", source);
    for (size_t i = 0; i < ifv->n; i++)
        if (!check_if_str(c, ifv->items[i], source))
            return false;
    return true;
}

static bool check_features(Ck *c, const QVal *features)
{
    static const char *const req[] = { "name", NULL }, *const opt[] = { "if", NULL };

    if (!features)
        return true;
    if (features->kind != QV_LIST)
        return fail(c, features, "'features' must be an array");
    for (size_t i = 0; i < features->n; i++) {
        const QVal *f = features->items[i], *name = mem_field(f, "name");
        char *source;
        bool ok;
        if (!check_keys(c, f, "'features' member", req, opt) ||
            !check_name_is_str(c, f, name, "'features' member"))
            return false;
        source = g_strdup_printf("'features' member '%s'", name->str);
        ok = check_name_str(c, f, name->str, source, false, false, false) &&
             check_if(c, mem_field(f, "if"), source);
        g_free(source);
        if (!ok)
            return false;
    }
    return true;
}

static bool check_type(Ck *c, const QVal *v, const char *source, bool allow_array, bool allow_dict,
                       const char *defn);

static bool check_dict_member(Ck *c, const char *key, const QVal *arg, const char *source,
                              bool permit_upper)
{
    static const char *const req[] = { "type", NULL }, *const opt[] = { "if", "features", NULL };
    char *key_source = g_strdup_printf("%s member '%s'", source, key);
    const char *cname = sch_c_name(c->s, key);
    bool ok = check_name_str(c, arg, key, key_source, true, false, permit_upper);

    if (ok && (strcmp(cname, "u") == 0 || g_str_has_prefix(cname, "has_")))
        ok = fail(c, arg, "%s uses reserved name", key_source);
    ok = ok && check_keys(c, arg, key_source, req, opt) &&
         check_if(c, mem_field(arg, "if"), key_source) &&
         check_features(c, mem_field(arg, "features")) &&
         check_type(c, mem_field(arg, "type"), key_source, true, false, NULL);
    g_free(key_source);
    return ok;
}

/* QEMU's check_type; `defn` is the definition's name when dicts are allowed. */
static bool check_type(Ck *c, const QVal *v, const char *source, bool allow_array, bool allow_dict,
                       const char *defn)
{
    bool permit_upper;

    if (!v)
        return true;
    if (v->kind == QV_LIST) {
        if (!allow_array)
            return fail(c, v, "%s cannot be an array", source);
        if (v->n != 1 || !qv_is_str(v->items[0]))
            return fail(c, v, "%s: array type must contain single type name", source);
        return true;
    }
    if (v->kind == QV_STR)
        return true;
    if (!allow_dict)
        return fail(c, v, "%s should be a type name", source);
    if (v->kind != QV_DICT)
        return fail(c, v, "%s should be an object or type name", source);
    permit_upper = whitelisted(c->s->name_case_whitelist, defn);
    for (size_t i = 0; i < v->n; i++)
        if (!check_dict_member(c, v->keys[i], v->items[i], source, permit_upper))
            return false;
    return true;
}

/* ---- per meta-type ---- */

static bool check_enum(Ck *c, const QVal *expr, const char *name)
{
    static const char *const req[] = { "name", NULL }, *const opt[] = { "if", NULL };
    const QVal *data = qv_get(expr, "data"), *prefix = qv_get(expr, "prefix");
    bool permit_upper = whitelisted(c->s->name_case_whitelist, name);

    if (data->kind != QV_LIST)
        return fail(c, data, "'data' must be an array");
    if (prefix && !qv_is_str(prefix))
        return fail(c, prefix, "'prefix' must be a string");
    for (size_t i = 0; i < data->n; i++) {
        const QVal *m = data->items[i], *mname = mem_field(m, "name");
        char *source;
        bool ok;
        if (!check_keys(c, m, "'data' member", req, opt) ||
            !check_name_is_str(c, m, mname, "'data' member"))
            return false;
        source = g_strdup_printf("'data' member '%s'", mname->str);
        ok = check_name_str(c, m, mname->str, source, false, true, permit_upper) &&
             check_if(c, mem_field(m, "if"), source);
        g_free(source);
        if (!ok)
            return false;
    }
    return true;
}

static bool check_struct(Ck *c, const QVal *expr, const char *name)
{
    const QVal *data = qv_get(expr, "data");

    if (!check_type(c, data, "'data'", false, true, name))
        return false;
    if (data->kind != QV_DICT) /* QEMU's generator crashes on a type name here */
        return fail(c, data, "'data' must be an object");
    return check_type(c, qv_get(expr, "base"), "'base'", false, false, NULL);
}

/* Branches of unions and alternates: { 'name': TYPE or { 'type': TYPE, 'if': ... } }. */
static bool check_branches(Ck *c, const QVal *data, bool allow_array)
{
    static const char *const req[] = { "type", NULL }, *const opt[] = { "if", NULL };

    if (data->kind != QV_DICT)
        return fail(c, data, "'data' must be an object");
    for (size_t i = 0; i < data->n; i++) {
        const QVal *v = data->items[i];
        char *source = g_strdup_printf("'data' member '%s'", data->keys[i]);
        bool ok = check_name_str(c, v, data->keys[i], source, false, false, false) &&
                  check_keys(c, v, source, req, opt) && check_if(c, mem_field(v, "if"), source) &&
                  check_type(c, mem_field(v, "type"), source, allow_array, false, NULL);
        g_free(source);
        if (!ok)
            return false;
    }
    return true;
}

static bool check_union(Ck *c, const QVal *expr, const char *name)
{
    const QVal *base = qv_get(expr, "base"), *disc = qv_get(expr, "discriminator");

    if (!disc) {
        if (base)
            return fail(c, base, "'base' requires 'discriminator'");
    } else {
        if (!check_type(c, base, "'base'", false, true, name))
            return false;
        if (!truthy(base))
            return fail(c, disc, "'discriminator' requires 'base'");
        if (!check_name_is_str(c, disc, disc, "'discriminator'"))
            return false;
    }
    return check_branches(c, qv_get(expr, "data"), !truthy(base));
}

static bool check_alternate(Ck *c, const QVal *expr)
{
    const QVal *data = qv_get(expr, "data");

    if (!truthy(data))
        return fail(c, data, "'data' must not be empty");
    return check_branches(c, data, false);
}

static bool check_command(Ck *c, const QVal *expr, bool is_command)
{
    const QVal *args = qv_get(expr, "data");
    bool boxed = truthy(qv_get(expr, "boxed"));

    if (boxed && !args)
        return fail(c, expr, "'boxed': true requires 'data'");
    if (!check_type(c, args, "'data'", false, !boxed, NULL))
        return false;
    return !is_command || check_type(c, qv_get(expr, "returns"), "'returns'", true, false, NULL);
}

static bool check_flags(Ck *c, const QVal *expr)
{
    static const char *const false_only[] = { "gen", "success-response" };
    static const char *const true_only[] = { "boxed", "allow-oob", "allow-preconfig" };

    for (size_t i = 0; i < G_N_ELEMENTS(false_only); i++) {
        const QVal *v = qv_get(expr, false_only[i]);
        if (v && (v->kind != QV_BOOL || v->b))
            return fail(c, v, "flag '%s' may only use false value", false_only[i]);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(true_only); i++) {
        const QVal *v = qv_get(expr, true_only[i]);
        if (v && (v->kind != QV_BOOL || !v->b))
            return fail(c, v, "flag '%s' may only use true value", true_only[i]);
    }
    return true;
}

/* ---- one definition ---- */

static const char *meta_of(const QVal *expr)
{
    static const char *const metas[] = {
        "enum", "union", "alternate", "struct", "command", "event"
    };

    for (size_t i = 0; i < G_N_ELEMENTS(metas); i++)
        if (qv_get(expr, metas[i]))
            return metas[i];
    return NULL;
}

static bool check_meta_keys(Ck *c, const QVal *expr, const char *meta)
{
    static const char
        *const enum_req[] = { "enum", "data", NULL },
               *const enum_opt[] = { "if", "features", "prefix", NULL },
               *const union_req[] = { "union", "data", NULL },
               *const union_opt[] = { "base", "discriminator", "if", "features", NULL },
               *const alt_req[] = { "alternate", "data", NULL },
               *const alt_opt[] = { "if", "features", NULL },
               *const struct_req[] = { "struct", "data", NULL },
               *const struct_opt[] = { "base", "if", "features", NULL },
               *const cmd_req[] = { "command", NULL }, *const cmd_opt[] = { "data",
                                                                            "returns",
                                                                            "boxed",
                                                                            "if",
                                                                            "features",
                                                                            "gen",
                                                                            "success-response",
                                                                            "allow-oob",
                                                                            "allow-preconfig",
                                                                            NULL },
               *const ev_req[] = { "event", NULL },
               *const ev_opt[] = { "data", "boxed", "if", "features", NULL };

    switch (meta[0]) {
    case 'e':
        if (meta[1] == 'n')
            return check_keys(c, expr, meta, enum_req, enum_opt);
        return check_keys(c, expr, meta, ev_req, ev_opt);
    case 'u': return check_keys(c, expr, meta, union_req, union_opt);
    case 'a': return check_keys(c, expr, meta, alt_req, alt_opt);
    case 's': return check_keys(c, expr, meta, struct_req, struct_opt);
    default: return check_keys(c, expr, meta, cmd_req, cmd_opt);
    }
}

static bool check_body(Ck *c, const QVal *expr, const char *meta, const char *name)
{
    if (strcmp(meta, "enum") == 0)
        return check_enum(c, expr, name);
    if (strcmp(meta, "union") == 0)
        return check_union(c, expr, name);
    if (strcmp(meta, "alternate") == 0)
        return check_alternate(c, expr);
    if (strcmp(meta, "struct") == 0)
        return check_struct(c, expr, name);
    return check_command(c, expr, strcmp(meta, "command") == 0);
}

static bool check_defn_name(Ck *c, const QVal *at, const char *name, const char *meta)
{
    if (!check_name_str(c, at, name, meta, false, false, true))
        return false;
    if (g_str_has_suffix(name, "Kind") || g_str_has_suffix(name, "List"))
        return fail(c, at, "%s name should not end in '%s'", meta, name + strlen(name) - 4);
    return true;
}

bool sch_check_expr(Schema *s, const SchExpr *e, GError **err)
{
    Ck c = { s, err };
    const QVal *expr = e->expr, *namev;
    const char *meta = meta_of(expr);
    char *quoted;
    bool ok;

    if (!meta)
        return fail(&c, expr, "expression is missing metatype");
    namev = qv_get(expr, meta);
    quoted = g_strdup_printf("'%s'", meta);
    ok = check_name_is_str(&c, namev, namev, quoted);
    g_free(quoted);
    if (!ok || !check_defn_name(&c, namev, namev->str, meta))
        return false;
    if (e->has_doc && strcmp(e->doc_symbol, namev->str) != 0)
        return fail(&c, expr, "documentation comment is for '%s'", e->doc_symbol);
    if (!e->has_doc && s->doc_required)
        return fail(&c, expr, "documentation comment required");
    return check_meta_keys(&c, expr, meta) && check_body(&c, expr, meta, namev->str) &&
           check_if(&c, qv_get(expr, "if"), meta) && check_features(&c, qv_get(expr, "features")) &&
           check_flags(&c, expr);
}
