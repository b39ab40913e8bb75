/* guest_spec: turns a --guest spec into a guest ("sim:..." or "kvm:..."), the one place
 * that knows both guest implementations. */
#include "guest.h"
#include "kvm.h"
#include "mb_error.h"
#include "sim.h"

#include <string.h>

MbGuest *mb_guest_new(const char *spec, bool incoming, GError **err)
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
