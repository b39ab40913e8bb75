/* sweep_spec: the spec file of `migbench sweep` (docs/sweeps.md) and the points it expands
 * to.  A point is one `migbench run`: a guest, a capability set, parameter values, a seed
 * and the fixed run options.  Its identity is the hash of its canonical definition, so a
 * result file names the point it belongs to whatever the order of the spec's lists, and a
 * resumed sweep can tell which results match the spec. */
#ifndef SWEEP_SPEC_H
#define SWEEP_SPEC_H

#include <glib.h>
#include <json-c/json.h>

typedef struct {
    guint index;         /* position in the spec's expansion, from 0 */
    gchar *id;           /* "p" + 12 hex digits of SHA-256 of the canonical definition */
    json_object *def;    /* {"guest","capabilities","parameters","seed","options"} */
    gchar *guest;        /* the guest as written in the spec (without the seed) */
    gchar *guest_run;    /* the --guest given to run (a sim guest gets ",seed=N") */
    gchar *caps_label;   /* "none", "xbzrle", "xbzrle+multifd", "xbzrle=off" ... */
    json_object *caps;   /* {"name": bool} in spec order (owned by def) */
    json_object *params; /* {"name": value} in spec order (owned by def) */
    json_object *seed;   /* an int, or NULL when the spec has no seeds (owned by def) */
} SweepPoint;

typedef struct {
    gchar *name;       /* "name" of the spec, or its file's base name */
    json_object *root; /* the spec as parsed */
    GPtrArray *points; /* SweepPoint*, in expansion order */
    GPtrArray *swept;  /* gchar*: parameter names with more than one value */
} SweepSpec;

/* Parses and expands the spec file at `path`.  Every problem is a GError naming the file
 * and the member ("spec.json: \"parameters\".\"max-bandwidth\" must be a non-empty list");
 * an empty expansion is an error too.  Free with sweep_spec_free(). */
SweepSpec *sweep_spec_load(const char *path, GError **err);
/* The same from a JSON text (`what` names it in messages); used by the loader and tests. */
SweepSpec *sweep_spec_parse(const char *text, const char *what, GError **err);
void sweep_spec_free(SweepSpec *spec);

/* The argument vector of `migbench run` for `p` after the binary's name: "run", "-q",
 * "--json", json_path, then --guest, --cap, --param and the spec's run options.  Free with
 * g_strfreev(). */
gchar **sweep_point_run_args(const SweepPoint *p, const char *json_path);
/* The same as one shell command line for people ("migbench run -q --json - ..."). */
gchar *sweep_point_command(const SweepPoint *p);
/* The text of a parameter value as `run --param` takes it (strings as they are, numbers
 * in JSON).  Returns a new string. */
gchar *sweep_value_text(json_object *v);

#endif
