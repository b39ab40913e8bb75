/* schema_int.h: the schema engine's internal model, shared by the files of schema/ only.
 *
 * The engine follows QEMU 5.0's QAPI generator in phases: the parser turns text into a
 * tree of QVal (schema_parse.c), the loader walks top-level expressions handling docs,
 * include and pragma (schema_load.c), the expression checker validates each definition's
 * shape (schema_expr.c), the definer turns expressions into entities (schema_def.c), and
 * schema_finish resolves names and checks the whole model (schema_check.c).  Validation
 * and introspection only read the finished model.
 *
 * Everything a Schema allocates lives in its arena and is freed with it, so the many small
 * parse and model objects need no individual ownership rules. */
#ifndef SCHEMA_INT_H
#define SCHEMA_INT_H

#include "schema.h"

#include <stdint.h>

/* ---- positions and errors ---- */

typedef struct {
    const char *file; /* NULL for predefined entities */
    int line;
    int col;
} SchemaPos;

/* Sets *err to "FILE:LINE:COL: message" (just "message" when pos or pos->file is NULL). */
void sch_error(GError **err, const SchemaPos *pos, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* ---- arena ---- */

typedef struct {
    GPtrArray *blocks;
    char *cur;
    size_t left;
} SchemaArena;

/* Zeroed memory owned by the schema. */
void *sch_alloc(Schema *s, size_t n);
char *sch_strdup(Schema *s, const char *str);
char *sch_strndup(Schema *s, const char *str, size_t n);
char *sch_printf(Schema *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Copies a GPtrArray's pointers into the arena; returns NULL for an empty array. */
void **sch_ptrs(Schema *s, GPtrArray *a, size_t *n);

/* ---- parse tree ---- */

typedef enum { QV_STR, QV_BOOL, QV_LIST, QV_DICT } QValKind;

typedef struct QVal QVal;
struct QVal {
    QValKind kind;
    SchemaPos pos;
    size_t n;          /* items of a list, entries of a dict */
    const char *str;   /* QV_STR */
    bool b;            /* QV_BOOL */
    QVal **items;      /* QV_LIST, QV_DICT values */
    const char **keys; /* QV_DICT keys, in source order */
};

/* The value of `key` in dict `d`, or NULL (also when d is not a dict). */
const QVal *qv_get(const QVal *d, const char *key);
bool qv_is_str(const QVal *v);

/* One top-level definition (not include or pragma) in the order QEMU would see it. */
typedef struct {
    const QVal *expr;
    SchemaPos pos;          /* where the expression starts */
    const char *doc_symbol; /* "@name:" of the preceding doc block, or NULL */
    bool has_doc;
    SchemaPos doc_pos;
    int module;
} SchExpr;

/* ---- parser (schema_parse.c) ---- */

typedef struct SchParser SchParser;

/* A parser over `text` (need not be NUL-terminated); `file` names it in errors. */
SchParser *sch_parser_new(Schema *s, const char *file, const char *text, size_t len);
void sch_parser_free(SchParser *p);
/* Reads the first token.  False on a lexical error. */
bool sch_parser_start(SchParser *p, GError **err);
/* What the current token is: 0 at end of input, '#' at a doc comment, else other. */
char sch_parser_tok(const SchParser *p);
/* Position of the current token. */
SchemaPos sch_parser_pos(SchParser *p);
/* Parses a top-level expression (must be a dict). */
QVal *sch_parser_expr(SchParser *p, GError **err);
/* Parses a '##' doc block (current token '#'); *symbol is its "@name:" or NULL. */
bool sch_parser_doc(SchParser *p, const char **symbol, GError **err);

/* ---- model ---- */

typedef enum {
    SB_STR,
    SB_NUMBER,
    SB_INT,
    SB_INT8,
    SB_INT16,
    SB_INT32,
    SB_INT64,
    SB_UINT8,
    SB_UINT16,
    SB_UINT32,
    SB_UINT64,
    SB_SIZE,
    SB_BOOL,
    SB_ANY,
    SB_NULL,
} SchBuiltin;

/* A named flag with a condition: features and enum values. */
typedef struct {
    const char *name;
    bool active;
    bool has_if;
} SchFlag;

typedef struct {
    SchemaMember pub; /* name, type (after finish), optional */
    const char *type_ref;
    const char *defined_in;  /* name of the type that declares it */
    const char *role;        /* "member" or "branch" */
    const char *describe_as; /* overrides the description in messages, or NULL */
    bool active;
    bool has_if;
    SchFlag *features;
    size_t nfeatures;
    SchemaPos pos;
} SchMember;

struct SchemaType {
    SchemaMeta meta;
    const char *name;      /* QAPI name; arrays "ElemList" */
    const char *display;   /* arrays "['Elem']", otherwise name */
    const char *defn_name; /* the definition that created it (for messages) */
    const char *defn_meta;
    SchemaPos pos;
    bool active;
    bool has_if;
    bool implicit;
    SchFlag *features;
    size_t nfeatures;
    /* builtin */
    SchBuiltin builtin;
    const char *json_type;
    /* enum */
    SchFlag *values;
    size_t nvalues;
    const char **active_values;
    size_t nactive_values;
    const char *prefix;
    /* array */
    const char *elem_ref;
    SchemaType *elem;
    /* object */
    const char *base_ref;
    SchemaType *base;
    SchMember **local;
    size_t nlocal;
    SchMember **members; /* base then local (after finish) */
    size_t nmembers;
    SchemaMember *pub; /* the active members */
    size_t npub;
    const char *tag_name; /* flat union discriminator */
    SchMember *tag;
    /* union variants, alternate branches */
    SchMember **variants;
    size_t nvariants;
    const char *wrapped_ref; /* simple-union wrapper: its condition is the wrapped type's */
    int state;               /* check: 0 not yet, 1 in progress, 2 done */
};

typedef enum { SCH_ENT_TYPE, SCH_ENT_COMMAND, SCH_ENT_EVENT } SchEntKind;

typedef struct {
    SchemaCommand pub;
    const char *arg_ref;
    const char *ret_ref;
    bool active;
    bool gen;
    SchFlag *features;
    size_t nfeatures;
    SchemaPos pos;
    int module;
} SchCommand;

typedef struct {
    SchemaEvent pub;
    const char *arg_ref;
    bool active;
    SchFlag *features;
    size_t nfeatures;
    SchemaPos pos;
    int module;
} SchEvent;

typedef struct {
    SchEntKind kind;
    const char *name;
    void *ent; /* SchemaType, SchCommand or SchEvent */
} SchEntity;

struct Schema {
    SchemaArena arena;
    char **defines;
    GHashTable *entities; /* name -> SchEntity */
    GPtrArray *order;     /* SchEntity in definition order */
    GPtrArray *commands;  /* SchCommand, all */
    GPtrArray *events;    /* SchEvent, all */
    GPtrArray *act_commands;
    GPtrArray *act_events;
    GHashTable *files;  /* keys of files already read */
    GPtrArray *modules; /* module keys in QEMU's visiting order */
    bool doc_required;
    GPtrArray *name_case_whitelist;
    SchemaType *empty;
    SchemaType *t_int;
    bool finished;
    bool failed;
};

/* ---- loader, checker, definer ---- */

/* schema_expr.c: QEMU's check_exprs for one definition. */
bool sch_check_expr(Schema *s, const SchExpr *e, GError **err);
/* Evaluates an 'if' value already checked by sch_check_expr (NULL = no condition). */
bool sch_cond_holds(const Schema *s, const QVal *ifv);

/* schema_def.c: builtins, then entities of checked expressions. */
void sch_def_predefined(Schema *s);
bool sch_def_expr(Schema *s, const SchExpr *e, GError **err);
SchemaType *sch_lookup_type(const Schema *s, const char *name);
/* Type describe() as QEMU's messages use it: "struct type 'Foo'", "array type ['int']". */
const char *sch_type_describe(Schema *s, const SchemaType *t);
/* Member describe(): "member 'x'", "parameter 'x'", "base member 'x'", "branch 'x'", or
 * "member 'x' of type 'T'" when T is not the definition `defn_name` being checked. */
const char *sch_member_describe(Schema *s, const SchMember *m, const char *defn_name);

/* schema_check.c: the whole-schema checks of schema_finish; on success also builds the
 * read-only views (active members, enum values, command and event lists). */
bool sch_check_all(Schema *s, GError **err);

/* The bundle, generated at build time by embed.c into schema_bundle_data.c; the array
 * ends with a NULL name. */
typedef struct {
    const char *name;
    const char *text;
    size_t len;
} SchemaBundleFile;
extern const SchemaBundleFile schema_bundle_files[];

/* QEMU's c_name(name, protect=False): '.' and '-' become '_'. */
char *sch_c_name(Schema *s, const char *name);

#endif
