/* sweep_spec: parses a sweep spec and expands it into points (see sweep_spec.h and
 * docs/sweeps.md).  The expansion order is fixed (guests, then capability sets, then each
 * parameter in spec order, then seeds, the last varying fastest) so that point indexes,
 * Slurm array task ids and the rows of the merged results are stable. */
#include "sweep_spec.h"

#include "mb_error.h"

#include <stdbool.h>

#include <string.h>

/* The `migbench run` options a spec may fix for every point ("options"): those that shape
 * the migration, not the runner's output. */
static const char *const run_options[] = { "schema",       "transport",  "link-bandwidth",
                                           "link-latency", "max-passes", "max-time",
                                           "timeout",      "scenario" };

static void point_free(gpointer data)
{
    SweepPoint *p = data;

    g_free(p->id);
    g_free(p->guest);
    g_free(p->guest_run);
    g_free(p->caps_label);
    json_object_put(p->def);
    g_free(p);
}

void sweep_spec_free(SweepSpec *spec)
{
    if (!spec)
        return;
    g_free(spec->name);
    json_object_put(spec->root);
    if (spec->points)
        g_ptr_array_free(spec->points, TRUE);
    if (spec->swept)
        g_ptr_array_free(spec->swept, TRUE);
    g_free(spec);
}

gchar *sweep_value_text(json_object *v)
{
    if (json_object_is_type(v, json_type_string))
        return g_strdup(json_object_get_string(v));
    return g_strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
}

static gchar *caps_label(json_object *caps)
{
    GString *s = g_string_new(NULL);

    json_object_object_foreach(caps, k, v)
    {
        if (s->len)
            g_string_append_c(s, '+');
        g_string_append(s, k);
        if (!json_object_get_boolean(v))
            g_string_append(s, "=off");
    }
    if (!s->len)
        g_string_append(s, "none");
    return g_string_free(s, FALSE);
}

/* A new point from its parts (each taken as a new reference). */
static SweepPoint *point_new(const char *guest, json_object *caps, json_object *params,
                             json_object *seed, json_object *options, GError **err)
{
    SweepPoint *p = g_new0(SweepPoint, 1);

    p->guest = g_strdup(guest);
    p->def = json_object_new_object();
    json_object_object_add(p->def, "guest", json_object_new_string(guest));
    json_object_object_add(p->def, "capabilities", caps);
    json_object_object_add(p->def, "parameters", params);
    json_object_object_add(p->def, "seed", seed);
    json_object_object_add(p->def, "options", options);
    p->caps = caps;
    p->params = params;
    p->seed = seed;
    p->caps_label = caps_label(caps);
    if (seed && g_str_has_prefix(guest, "sim:")) {
        /* The seed is the sim guest's generator and content seed; a kvm guest has none,
         * so there it only labels a repetition. */
        if (strstr(guest, "seed=")) {
            mb_error_set(err, "guest '%s' sets seed= and the spec has \"seeds\"", guest);
            point_free(p);
            return NULL;
        }
        p->guest_run = g_strdup_printf("%s%sseed=%" G_GINT64_FORMAT, guest,
                                       guest[strlen(guest) - 1] == ':' ? "" : ",",
                                       (gint64)json_object_get_int64(seed));
    } else {
        p->guest_run = g_strdup(guest);
    }
    const char *canon = json_object_to_json_string_ext(p->def, JSON_C_TO_STRING_PLAIN);
    gchar *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, canon, -1);
    p->id = g_strdup_printf("p%.12s", sum);
    g_free(sum);
    return p;
}

/* ---- validation helpers: each names the spec and the member ---- */

static bool is_scalar(json_object *v)
{
    return json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int) ||
           json_object_is_type(v, json_type_double);
}

static bool check_caps(json_object *caps, const char *what, const char *where, GError **err)
{
    if (!json_object_is_type(caps, json_type_object)) {
        mb_error_set(err, "%s: %s must be an object of capability: true|false", what, where);
        return false;
    }
    json_object_object_foreach(caps, k, v)
    {
        if (!json_object_is_type(v, json_type_boolean)) {
            mb_error_set(err, "%s: %s.\"%s\" must be true or false", what, where, k);
            return false;
        }
    }
    return true;
}

static bool check_options(json_object *opts, const char *what, GError **err)
{
    if (!json_object_is_type(opts, json_type_object)) {
        mb_error_set(err, "%s: \"options\" must be an object", what);
        return false;
    }
    json_object_object_foreach(opts, k, v)
    {
        bool known = false;
        for (size_t i = 0; i < G_N_ELEMENTS(run_options); i++)
            known |= !strcmp(k, run_options[i]);
        if (!known) {
            mb_error_set(err, "%s: \"options\": '%s' is not a run option a spec may set", what, k);
            return false;
        }
        if (!is_scalar(v)) {
            mb_error_set(err, "%s: \"options\".\"%s\" must be a string or a number", what, k);
            return false;
        }
    }
    return true;
}

static json_object *member(json_object *o, const char *k)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static bool is_list(json_object *v)
{
    return json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0;
}

/* ---- the product ---- */

typedef struct {
    SweepSpec *spec;
    json_object *guests, *capsets, *params, *seeds, *options;
    const char *what;
} Expand;

static bool add_point(Expand *e, const char *guest, json_object *caps, json_object *params,
                      json_object *seed, GError **err)
{
    SweepPoint *p = point_new(guest, json_object_get(caps), params, json_object_get(seed),
                              json_object_get(e->options), err);
    if (!p) {
        g_prefix_error(err, "%s: ", e->what);
        return false;
    }
    p->index = e->spec->points->len;
    g_ptr_array_add(e->spec->points, p);
    return true;
}

/* The parameter combinations: param k of n varies slower than k+1. */
static bool expand_params(Expand *e, const char *guest, json_object *caps, size_t k,
                          json_object *chosen, GError **err)
{
    size_t n = (size_t)json_object_object_length(e->params);
    if (k == n) {
        size_t ns = e->seeds ? json_object_array_length(e->seeds) : 1;
        for (size_t s = 0; s < ns; s++) {
            json_object *copy = NULL;
            json_object_deep_copy(chosen, &copy, NULL);
            if (!add_point(e, guest, caps, copy,
                           e->seeds ? json_object_array_get_idx(e->seeds, s) : NULL, err))
                return false;
        }
        return true;
    }
    size_t i = 0;
    json_object_object_foreach(e->params, name, values)
    {
        if (i++ != k)
            continue;
        for (size_t v = 0; v < json_object_array_length(values); v++) {
            json_object_object_add(chosen, name,
                                   json_object_get(json_object_array_get_idx(values, v)));
            if (!expand_params(e, guest, caps, k + 1, chosen, err))
                return false;
        }
        json_object_object_del(chosen, name);
        break;
    }
    return true;
}

static bool expand_product(Expand *e, GError **err)
{
    for (size_t g = 0; g < json_object_array_length(e->guests); g++) {
        const char *guest = json_object_get_string(json_object_array_get_idx(e->guests, g));
        for (size_t c = 0; c < json_object_array_length(e->capsets); c++) {
            json_object *chosen = json_object_new_object();
            bool ok =
                expand_params(e, guest, json_object_array_get_idx(e->capsets, c), 0, chosen, err);
            json_object_put(chosen);
            if (!ok)
                return false;
        }
    }
    return true;
}

/* "points": an explicit list replaces the product. */
static bool expand_list(Expand *e, json_object *list, GError **err)
{
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *pt = json_object_array_get_idx(list, i), *g = member(pt, "guest");
        json_object *caps = member(pt, "capabilities"), *params = member(pt, "parameters");
        json_object *seed = member(pt, "seed");
        gchar *where = g_strdup_printf("\"points\"[%zu]", i);
        bool ok =
            json_object_is_type(pt, json_type_object) && json_object_is_type(g, json_type_string);
        if (!ok)
            mb_error_set(err, "%s: %s must be an object with a \"guest\" string", e->what, where);
        if (ok && caps)
            ok = check_caps(caps, e->what, where, err);
        if (ok && params && !json_object_is_type(params, json_type_object)) {
            mb_error_set(err, "%s: %s.\"parameters\" must be an object", e->what, where);
            ok = false;
        }
        if (ok && seed && !json_object_is_type(seed, json_type_int)) {
            mb_error_set(err, "%s: %s.\"seed\" must be an integer", e->what, where);
            ok = false;
        }
        g_free(where);
        if (!ok)
            return false;
        json_object *empty = json_object_new_object(), *pcopy = NULL;
        json_object_deep_copy(params ? params : empty, &pcopy, NULL);
        ok = add_point(e, json_object_get_string(g), caps ? caps : empty, pcopy, seed, err);
        json_object_put(empty);
        if (!ok)
            return false;
    }
    return true;
}

/* Checks the lists of the product form. */
static bool check_product(Expand *e, GError **err)
{
    if (!is_list(e->guests)) {
        mb_error_set(err, "%s: \"guests\" must be a non-empty list of guest specs", e->what);
        return false;
    }
    for (size_t i = 0; i < json_object_array_length(e->guests); i++)
        if (!json_object_is_type(json_object_array_get_idx(e->guests, i), json_type_string)) {
            mb_error_set(err, "%s: \"guests\"[%zu] must be a string", e->what, i);
            return false;
        }
    if (!is_list(e->capsets)) {
        mb_error_set(err, "%s: \"capabilities\" must be a non-empty list of capability sets",
                     e->what);
        return false;
    }
    for (size_t i = 0; i < json_object_array_length(e->capsets); i++) {
        gchar *where = g_strdup_printf("\"capabilities\"[%zu]", i);
        bool ok = check_caps(json_object_array_get_idx(e->capsets, i), e->what, where, err);
        g_free(where);
        if (!ok)
            return false;
    }
    if (!json_object_is_type(e->params, json_type_object)) {
        mb_error_set(err, "%s: \"parameters\" must be an object of name: [values]", e->what);
        return false;
    }
    json_object_object_foreach(e->params, k, v)
    {
        bool ok = is_list(v);
        for (size_t i = 0; ok && i < json_object_array_length(v); i++)
            ok = is_scalar(json_object_array_get_idx(v, i));
        if (!ok) {
            mb_error_set(err, "%s: \"parameters\".\"%s\" must be a non-empty list of values",
                         e->what, k);
            return false;
        }
        if (json_object_array_length(v) > 1)
            g_ptr_array_add(e->spec->swept, g_strdup(k));
    }
    if (e->seeds) {
        bool ok = is_list(e->seeds);
        for (size_t i = 0; ok && i < json_object_array_length(e->seeds); i++)
            ok = json_object_is_type(json_object_array_get_idx(e->seeds, i), json_type_int);
        if (!ok) {
            mb_error_set(err, "%s: \"seeds\" must be a non-empty list of integers", e->what);
            return false;
        }
    }
    return true;
}

SweepSpec *sweep_spec_parse(const char *text, const char *what, GError **err)
{
    SweepSpec *spec = g_new0(SweepSpec, 1);
    json_tokener *tok = json_tokener_new();
    Expand e = { .spec = spec, .what = what };
    bool ok = false;

    spec->points = g_ptr_array_new_with_free_func(point_free);
    spec->swept = g_ptr_array_new_with_free_func(g_free);
    spec->root = json_tokener_parse_ex(tok, text, (int)strlen(text));
    if (!spec->root || json_tokener_get_error(tok) != json_tokener_success ||
        text[json_tokener_get_parse_end(tok) +
             strspn(text + json_tokener_get_parse_end(tok), " \t\r\n")]) {
        mb_error_set(err, "%s: not valid JSON (%s)", what,
                     json_tokener_error_desc(json_tokener_get_error(tok)));
        goto out;
    }
    if (!json_object_is_type(spec->root, json_type_object)) {
        mb_error_set(err, "%s: a sweep spec is a JSON object", what);
        goto out;
    }
    static const char *const known[] = { "name",  "guests",  "capabilities", "parameters",
                                         "seeds", "options", "points",       "comment" };
    json_object_object_foreach(spec->root, k, v)
    {
        (void)v;
        bool found = false;
        for (size_t i = 0; i < G_N_ELEMENTS(known); i++)
            found |= !strcmp(k, known[i]);
        if (!found) {
            mb_error_set(err, "%s: unknown member \"%s\"", what, k);
            goto out;
        }
    }
    json_object *name = member(spec->root, "name");
    if (name && !json_object_is_type(name, json_type_string)) {
        mb_error_set(err, "%s: \"name\" must be a string", what);
        goto out;
    }
    spec->name = g_strdup(name ? json_object_get_string(name) : what);
    e.guests = member(spec->root, "guests");
    e.capsets = member(spec->root, "capabilities");
    e.params = member(spec->root, "parameters");
    e.seeds = member(spec->root, "seeds");
    e.options = member(spec->root, "options");
    if (e.options && !check_options(e.options, what, err))
        goto out;
    json_object *empty_opts = NULL;
    if (!e.options)
        e.options = empty_opts = json_object_new_object();
    json_object *list = member(spec->root, "points");
    if (list) {
        if (!is_list(list)) {
            mb_error_set(err, "%s: \"points\" must be a non-empty list of points", what);
        } else if (e.guests || e.capsets || e.params || e.seeds) {
            mb_error_set(err,
                         "%s: \"points\" lists the points itself: it does not go with "
                         "\"guests\", \"capabilities\", \"parameters\" or \"seeds\"",
                         what);
        } else {
            ok = expand_list(&e, list, err);
        }
    } else {
        json_object *none = NULL, *noparams = NULL;
        if (!e.capsets) {
            /* No "capabilities": one set, the defaults. */
            e.capsets = none = json_object_new_array();
            json_object_array_add(none, json_object_new_object());
        }
        if (!e.params)
            e.params = noparams = json_object_new_object();
        ok = check_product(&e, err) && expand_product(&e, err);
        json_object_put(none);
        json_object_put(noparams);
    }
    json_object_put(empty_opts);
    if (ok && list) {
        /* Swept parameters of a list: those taking more than one value. */
        GHashTable *first = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        for (guint i = 0; i < spec->points->len; i++) {
            SweepPoint *p = spec->points->pdata[i];
            json_object_object_foreach(p->params, pk, pv)
            {
                gchar *t = sweep_value_text(pv);
                const char *seen = g_hash_table_lookup(first, pk);
                if (!seen) {
                    g_hash_table_insert(first, g_strdup(pk), t);
                    t = NULL;
                } else if (strcmp(seen, t) &&
                           !g_ptr_array_find_with_equal_func(spec->swept, pk, g_str_equal, NULL)) {
                    g_ptr_array_add(spec->swept, g_strdup(pk));
                }
                g_free(t);
            }
        }
        g_hash_table_destroy(first);
    }
out:
    json_tokener_free(tok);
    if (!ok) {
        sweep_spec_free(spec);
        return NULL;
    }
    return spec;
}

SweepSpec *sweep_spec_load(const char *path, GError **err)
{
    gchar *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, err))
        return NULL;
    gchar *base = g_path_get_basename(path);
    SweepSpec *spec = sweep_spec_parse(text, base, err);
    g_free(base);
    g_free(text);
    return spec;
}

gchar **sweep_point_run_args(const SweepPoint *p, const char *json_path)
{
    GPtrArray *a = g_ptr_array_new();
    json_object *opts = member(p->def, "options");

    g_ptr_array_add(a, g_strdup("run"));
    g_ptr_array_add(a, g_strdup("-q"));
    g_ptr_array_add(a, g_strdup("--json"));
    g_ptr_array_add(a, g_strdup(json_path));
    g_ptr_array_add(a, g_strdup("--guest"));
    g_ptr_array_add(a, g_strdup(p->guest_run));
    json_object_object_foreach(p->caps, ck, cv)
    {
        g_ptr_array_add(a, g_strdup("--cap"));
        g_ptr_array_add(a,
                        g_strdup_printf("%s=%s", ck, json_object_get_boolean(cv) ? "on" : "off"));
    }
    json_object_object_foreach(p->params, pk, pv)
    {
        gchar *t = sweep_value_text(pv);
        g_ptr_array_add(a, g_strdup("--param"));
        g_ptr_array_add(a, g_strdup_printf("%s=%s", pk, t));
        g_free(t);
    }
    json_object_object_foreach(opts, ok, ov)
    {
        g_ptr_array_add(a, g_strdup_printf("--%s", ok));
        g_ptr_array_add(a, sweep_value_text(ov));
    }
    g_ptr_array_add(a, NULL);
    return (gchar **)g_ptr_array_free(a, FALSE);
}

gchar *sweep_point_command(const SweepPoint *p)
{
    gchar **args = sweep_point_run_args(p, "-");
    GString *s = g_string_new("migbench");

    for (gchar **a = args; *a; a++) {
        gchar *q = g_shell_quote(*a);
        g_string_append_printf(s, " %s", strpbrk(*a, " '\"\\$*?;&|<>()") ? q : *a);
        g_free(q);
    }
    g_strfreev(args);
    return g_string_free(s, FALSE);
}
