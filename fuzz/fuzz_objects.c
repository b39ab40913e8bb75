/* fuzz_objects: the object property parsers of object-add and -object (engine/mig_objects.c)
 * on arbitrary input: never crash, always either accept or set an error.
 *
 * The first byte picks the form: even, the rest is an -object option string
 * ("TYPE,id=ID,KEY=VALUE,..."), split and then checked as command-line properties; odd,
 * the rest is object-add's JSON props, checked for tls-creds-x509 (byte & 2 == 0) or
 * authz-simple.  No object is created, so no file named by an input is ever opened. */
#include "mig_objects.h"

#include <json-c/json.h>
#include <stdint.h>
#include <string.h>

static void check(bool ok, GError *err)
{
    if (ok == (err != NULL))
        __builtin_trap();
    g_clear_error(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    char *text = g_strndup((const char *)data + 1, size - 1);
    GError *err = NULL;

    if (!(data[0] & 1)) {
        char *type = NULL;
        json_object *props = mig_objects_parse_opts(text, &type, &err);
        check(props != NULL, err); /* props first: the call above has returned */
        err = NULL;
        if (props) {
            json_object_object_del(props, "id");
            bool ok = mig_objects_check(type, props, true, &err);
            check(ok, err);
        }
        json_object_put(props);
        g_free(type);
    } else {
        json_object *props = json_tokener_parse(text);
        const char *type = data[0] & 2 ? "authz-simple" : "tls-creds-x509";
        bool ok = mig_objects_check(type, props, false, &err);
        check(ok, err);
        json_object_put(props);
    }
    g_free(text);
    return 0;
}
