/* cli_guest: turns a --guest spec into a guest ("sim:..." or "kvm:..."); see cli_guest.h. */
#include "cli_guest.h"

#include "kvm.h"
#include "mb_error.h"
#include "sim.h"

#include <string.h>

MbGuest *cli_guest_new(const char *spec, bool incoming, GError **err)
{
    if (!strncmp(spec, "sim:", 4))
        return sim_guest_new(spec + 4, incoming, err);
    if (!strcmp(spec, "sim"))
        return sim_guest_new("hotspot", incoming, err);
    if (!strncmp(spec, "kvm:", 4) || !strcmp(spec, "kvm")) {
        if (!kvm_available(err))
            return NULL;
        return kvm_guest_new(spec[3] ? spec + 4 : "", incoming, err);
    }
    mb_error_set(err, "unknown guest '%s' (expected sim:SPEC or kvm:SPEC)", spec);
    return NULL;
}

bool cli_guest_check(const char *spec, GError **err)
{
    MbGuest *g = cli_guest_new(spec, false, err);

    mb_guest_free(g);
    return g != NULL;
}
