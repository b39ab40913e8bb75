"""Reading a target's query-qmp-schema reply (QEMU's SchemaInfo list).

Type names may be masked (numbers, as QEMU serves them), so types are reached from the
commands and events that use them: e.g. the MigrationCapability enum is the type of the
`capability` member of the elements of query-migrate-capabilities' return array."""


class Introspection:
    def __init__(self, infos):
        self.by_name = {i["name"]: i for i in infos}
        self.commands = {i["name"]: i for i in infos if i["meta-type"] == "command"}
        self.events = {i["name"]: i for i in infos if i["meta-type"] == "event"}

    def type(self, name):
        return self.by_name[name]

    def members(self, type_name):
        """[(member name, type name, optional)] of an object type."""
        t = self.type(type_name)
        assert t["meta-type"] == "object", t
        return [(m["name"], m["type"], "default" in m) for m in t["members"]]

    def member_type(self, type_name, member):
        for name, t, _ in self.members(type_name):
            if name == member:
                return t
        raise KeyError(f"{type_name} has no member {member}")

    def enum_values(self, type_name):
        t = self.type(type_name)
        assert t["meta-type"] == "enum", t
        return list(t["values"])

    def element_type(self, type_name):
        t = self.type(type_name)
        assert t["meta-type"] == "array", t
        return t["element-type"]

    def command_args(self, name):
        return self.members(self.commands[name]["arg-type"])

    def command_ret(self, name):
        return self.commands[name]["ret-type"]

    def event_args(self, name):
        return self.members(self.events[name]["arg-type"])

    # ---- the migration types, reached from their users ----
    def migration_status(self):
        return self.enum_values(self.member_type(self.events["MIGRATION"]["arg-type"], "status"))

    def migration_capability(self):
        elem = self.element_type(self.command_ret("query-migrate-capabilities"))
        return self.enum_values(self.member_type(elem, "capability"))

    def migration_parameters(self):
        return [m for m, _, _ in self.members(self.command_ret("query-migrate-parameters"))]

    def migrate_set_parameters(self):
        return [m for m, _, _ in self.command_args("migrate-set-parameters")]

    def migration_info(self):
        return [m for m, _, _ in self.members(self.command_ret("query-migrate"))]

    def migration_stats(self):
        ram = self.member_type(self.command_ret("query-migrate"), "ram")
        return [m for m, _, _ in self.members(ram)]
