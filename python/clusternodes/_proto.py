"""A reader of the protobuf schema the package's messages are made from.

mesos.proto (the master's own copy of Apache Mesos's v1 message definitions,
a subset) uses a small part of the proto2 language: messages and enums,
nested, with optional, required and repeated fields and [default = ...]
options. This reads that part, and refuses anything else with the line it
could not read.
"""

import re

_SCALARS = {"double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32",
            "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes"}
_TOKEN = re.compile(r'\s*(//[^\n]*|"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_.]*|-?\d+(?:\.\d+)?|[{}=;\[\],])')


class FieldDesc(object):
    def __init__(self, name, number, label, type_name, default):
        self.name = name
        self.number = number
        self.label = label          # "optional", "required" or "repeated"
        self.type_name = type_name  # a scalar's name, or a message's or enum's full name once resolved
        self.default = default      # the [default = ...] text, or None
        self.kind = None            # "scalar", "message" or "enum", once resolved

    @property
    def repeated(self):
        return self.label == "repeated"


class EnumDesc(object):
    def __init__(self, full_name):
        self.full_name = full_name
        self.values = []  # (name, number), in order

    @property
    def name(self):
        return self.full_name.rsplit(".", 1)[-1]


class MessageDesc(object):
    def __init__(self, full_name):
        self.full_name = full_name
        self.fields = []    # FieldDesc, in order
        self.messages = []  # nested MessageDesc
        self.enums = []     # nested EnumDesc

    @property
    def name(self):
        return self.full_name.rsplit(".", 1)[-1]


class Schema(object):
    """Every message and enum of one file, by full name ("mesos.v1.TaskInfo")."""

    def __init__(self, package, messages, enums, top_messages, top_enums):
        self.package = package
        self.messages = messages
        self.enums = enums
        self.top_messages = top_messages
        self.top_enums = top_enums


def _tokens(text):
    line = 1
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if not match:
            rest = text[at:].strip()
            if not rest:
                return
            raise ValueError("mesos.proto line %d: cannot read %r" % (line, rest[:30]))
        line += text.count("\n", at, match.end())
        at = match.end()
        token = match.group(1)
        if not token.startswith("//"):
            yield token, line


def parse(text):
    tokens = list(_tokens(text))
    position = [0]

    def peek():
        return tokens[position[0]][0] if position[0] < len(tokens) else None

    def take(expected=None):
        if position[0] >= len(tokens):
            raise ValueError("mesos.proto: ends early")
        token, line = tokens[position[0]]
        if expected is not None and token != expected:
            raise ValueError("mesos.proto line %d: expected %r, not %r" % (line, expected, token))
        position[0] += 1
        return token

    messages = {}
    enums = {}
    package = ""

    def read_enum(scope):
        desc = EnumDesc(scope + "." + take())
        take("{")
        while peek() != "}":
            name = take()
            take("=")
            desc.values.append((name, int(take())))
            take(";")
        take("}")
        enums[desc.full_name] = desc
        return desc

    def read_options():
        options = {}
        if peek() == "[":
            take("[")
            while True:
                key = take()
                take("=")
                options[key] = take()
                if peek() == ",":
                    take(",")
                    continue
                take("]")
                break
        return options

    def read_message(scope):
        desc = MessageDesc(scope + "." + take())
        take("{")
        while peek() != "}":
            word = peek()
            if word == "message":
                take()
                desc.messages.append(read_message(desc.full_name))
            elif word == "enum":
                take()
                desc.enums.append(read_enum(desc.full_name))
            elif word in ("optional", "required", "repeated"):
                label = take()
                type_name = take()
                name = take()
                take("=")
                number = int(take())
                default = read_options().get("default")
                take(";")
                desc.fields.append(FieldDesc(name, number, label, type_name, default))
            else:
                raise ValueError("mesos.proto line %d: unexpected %r in message %s"
                                 % (tokens[position[0]][1], word, desc.full_name))
        take("}")
        messages[desc.full_name] = desc
        return desc

    top_messages = []
    top_enums = []
    while peek() is not None:
        word = take()
        if word == "syntax":
            take("=")
            take()
            take(";")
        elif word == "package":
            package = take()
            take(";")
        elif word == "message":
            top_messages.append(read_message(package))
        elif word == "enum":
            top_enums.append(read_enum(package))
        else:
            raise ValueError("mesos.proto line %d: unexpected %r" % (tokens[position[0] - 1][1], word))

    def resolve(scope, name):
        # Innermost scope first, as protoc looks names up.
        parts = scope.split(".")
        while parts:
            candidate = ".".join(parts + [name])
            if candidate in messages or candidate in enums:
                return candidate
            parts.pop()
        if name in messages or name in enums:
            return name
        raise ValueError("mesos.proto: unknown type %r in %s" % (name, scope))

    for desc in messages.values():
        for field in desc.fields:
            if field.type_name in _SCALARS:
                field.kind = "scalar"
                continue
            field.type_name = resolve(desc.full_name, field.type_name)
            field.kind = "message" if field.type_name in messages else "enum"
    return Schema(package, messages, enums, top_messages, top_enums)
