"""Features: which schema elements and transitions need which feature, and which features a
target has.

A test that needs a feature says so with `@pytest.mark.feature("postcopy")`; on a target
without it the test is skipped with the reason below, and the coverage report lists the
elements of a feature migbench has not built yet as "not built yet" (never silently).

When a feature lands in migbench, delete it from MIGBENCH_NOT_BUILT: its tests then run and
its elements must have tests like any other (the completeness check enforces it)."""

# Feature -> what it is, for skip reasons and the report.
FEATURES = {
    "postcopy": "postcopy (migrate-start-postcopy, page requests, blocktime, postcopy-paused)",
    "postcopy-recovery": "postcopy recovery (migrate-recover, migrate resume=true)",
    "colo": "COLO fault tolerance (x-colo, checkpoints, failover)",
    "failover": "virtio-net failover (wait-unplug, UNPLUG_PRIMARY)",
    "block": "block migration of disks (blk/inc, MigrationInfo.disk)",
}

# What migbench does not do (yet).  Everything else is built.
MIGBENCH_NOT_BUILT = set()

# What the KVM guest lacks besides (its own reasons).
MIGBENCH_KVM_MISSING = {
    "block": "the KVM guest has no disk yet: migbench refuses blk/inc and the block "
             "capability there",
    "postcopy": "the KVM guest cannot run with pages missing yet (no userfaultfd): an "
                "incoming KVM vm refuses postcopy-ram",
    "postcopy-recovery": "recovery needs postcopy, which the KVM guest cannot be the "
                         "destination of yet",
    "failover": "the KVM guest has no virtio-net failover pair (the sim guest's failover=ID)",
    "colo": "the KVM guest refuses x-colo (COLO runs with the simulated guest)",
}

# Elements that can only be exercised with a feature.  Everything else is exercised through
# the QMP API whatever the engine implements.
ELEMENT_FEATURE = {
    "enum:MigrationStatus.postcopy-active": "postcopy",
    "enum:MigrationStatus.postcopy-paused": "postcopy",
    "enum:MigrationStatus.postcopy-recover": "postcopy-recovery",
    "member:MigrationInfo.postcopy-blocktime": "postcopy",
    "member:MigrationInfo.postcopy-vcpu-blocktime": "postcopy",
    "enum:MigrationStatus.colo": "colo",
    "enum:COLOMode.primary": "colo",
    "enum:COLOMode.secondary": "colo",
    "enum:COLOExitReason.request": "colo",
    "enum:COLOExitReason.error": "colo",
    "enum:COLOExitReason.processing": "colo",
    "event:COLO_EXIT": "colo",
    "data:COLO_EXIT.mode": "colo",
    "data:COLO_EXIT.reason": "colo",
    "enum:MigrationStatus.wait-unplug": "failover",
    "event:UNPLUG_PRIMARY": "failover",
    "data:UNPLUG_PRIMARY.device-id": "failover",
    "member:MigrationInfo.disk": "block",
}
# COLOMessage is the COLO wire protocol and FailoverStatus its internal failover state:
# neither appears in any QMP reply, only a COLO implementation exercises them.  The COLO
# tests decode COLOMessage values from the migration stream (observe.wire); FailoverStatus
# stays internal (INTERNAL below).
_WHOLE_ENUM = {"COLOMessage": "colo", "FailoverStatus": "colo"}

# Elements no traffic can show, with the reason; the report lists them as internal and the
# completeness check does not ask for a test.
INTERNAL = {
    "FailoverStatus": "QEMU's internal failover state: no QMP reply or stream byte carries it "
                      "(query-colo-status and COLO_EXIT report it as a COLOExitReason)",
    "enum:COLOExitReason.processing": "a failover in progress: it lasts from the request to "
                                      "the end of the COLO thread, which the request itself "
                                      "wakes at once (no QMP command can land in between)",
}


def internal_reason(element):
    """Why an element cannot be exercised through any traffic, or None."""
    if element in INTERNAL:
        return INTERNAL[element]
    if element.startswith("enum:"):
        return INTERNAL.get(element[5:].split(".", 1)[0])
    return None


def element_feature(element):
    if element in ELEMENT_FEATURE:
        return ELEMENT_FEATURE[element]
    if element.startswith("enum:"):
        return _WHOLE_ENUM.get(element[5:].split(".", 1)[0])
    return None


def not_built_reason(feature):
    return f"not built yet in migbench: {FEATURES.get(feature, feature)}"
