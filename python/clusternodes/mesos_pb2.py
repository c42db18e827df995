"""The Mesos messages, shaped like the protobuf classes Mesos's Python
bindings gave schedulers (mesos.interface.mesos_pb2), made from the same
definitions the Clusternodes master serves its v1 HTTP API with
(mesos.proto, beside this file).

    task = mesos_pb2.TaskInfo()
    task.task_id.value = "t-1"
    task.slave_id.value = offer.slave_id.value      # or agent_id: the same field
    task.command.value = "echo hello"
    cpus = task.resources.add()
    cpus.name = "cpus"
    cpus.type = mesos_pb2.Value.SCALAR
    cpus.scalar.value = 1
    if status.state == mesos_pb2.TASK_FINISHED: ...

or, as keyword arguments and plain values:

    mesos_pb2.TaskInfo(name="t", task_id={"value": "t-1"}, resources=[...])

Enums are ints, as in protobuf, with the same numbers as Mesos's; each enum
is also an object with Name() and Value(). The Mesos 0.x names that the v1
API renamed are kept as aliases: slave_id for agent_id, SlaveID for AgentID,
SlaveInfo for AgentInfo. A message converts to and from the v1 API's JSON
with to_json() and from_json().
"""

import base64
import os

from . import _proto

_DEFAULTS = {"double": 0.0, "float": 0.0, "bool": False, "string": "", "bytes": b""}
_INTEGERS = {"int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32",
             "sfixed64"}


class EnumType(object):
    """A protobuf enum: its values as attributes, Name(number) and Value(name)."""

    def __init__(self, desc):
        self.DESCRIPTOR = desc
        self._by_name = dict(desc.values)
        self._by_number = {}
        for name, number in desc.values:
            self._by_number.setdefault(number, name)
            setattr(self, name, number)
        # Mesos 0.x's names for what v1 calls agents (SOURCE_SLAVE, REASON_SLAVE_REMOVED, ...).
        for name, number in desc.values:
            if "AGENT" in name:
                old = name.replace("AGENT", "SLAVE")
                self._by_name.setdefault(old, number)
                setattr(self, old, number)
        self.aliases = [(n, v) for n, v in self._by_name.items() if (n, v) not in desc.values]

    def Name(self, number):
        if number not in self._by_number:
            raise ValueError("%d is not a value of enum %s" % (number, self.DESCRIPTOR.name))
        return self._by_number[number]

    def Value(self, name):
        if name not in self._by_name:
            raise ValueError("%r is not a value of enum %s" % (name, self.DESCRIPTOR.name))
        return self._by_name[name]

    def keys(self):
        return [name for name, _ in self.DESCRIPTOR.values]

    def values(self):
        return [number for _, number in self.DESCRIPTOR.values]

    def number(self, value, field):
        """`value` (a number or a name) as this enum's number, or a ValueError naming `field`."""
        if isinstance(value, bool):
            raise TypeError("%s: an enum %s, not %r" % (field, self.DESCRIPTOR.name, value))
        if isinstance(value, int):
            if value not in self._by_number:
                raise ValueError("%s: %d is not a value of enum %s" % (field, value, self.DESCRIPTOR.name))
            return value
        if isinstance(value, str):
            if value not in self._by_name:
                raise ValueError("%s: %r is not a value of enum %s" % (field, value, self.DESCRIPTOR.name))
            return self._by_name[value]
        raise TypeError("%s: an enum %s, not %r" % (field, self.DESCRIPTOR.name, value))


class RepeatedField(list):
    """A repeated field: a list whose add() appends a new message element."""

    def __init__(self, owner, field):
        super(RepeatedField, self).__init__()
        self._owner = owner
        self._field = field

    def _check(self, value):
        value = self._owner._coerce(self._field, value)
        self._owner._mark()
        return value

    def add(self, **fields):
        if self._field.kind != "message":
            raise TypeError("%s is a repeated %s: append() its values" % (self._field.name, self._field.type_name))
        element = _CLASSES[self._field.type_name](**fields)
        super(RepeatedField, self).append(element)
        self._owner._mark()
        return element

    def append(self, value):
        super(RepeatedField, self).append(self._check(value))

    def extend(self, values):
        super(RepeatedField, self).extend([self._check(v) for v in values])

    def insert(self, index, value):
        super(RepeatedField, self).insert(index, self._check(value))

    def __setitem__(self, index, value):
        if isinstance(index, slice):
            value = [self._check(v) for v in value]
        else:
            value = self._check(value)
        super(RepeatedField, self).__setitem__(index, value)


class Message(object):
    """A message of the schema; its class gives DESCRIPTOR and the field names."""

    DESCRIPTOR = None
    _FIELDS = {}  # by name, and by Mesos 0.x alias (slave_id for agent_id)

    def __init__(self, **fields):
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_present", False)
        object.__setattr__(self, "_parent", None)
        for name, value in fields.items():
            setattr(self, name, value)

    # ---- fields

    @classmethod
    def _field(cls, name):
        return cls._FIELDS.get(name)

    def _mark(self):
        message = self
        while message is not None and not message._present:
            object.__setattr__(message, "_present", True)
            message = message._parent

    def _coerce(self, field, value):
        where = "%s.%s" % (self.DESCRIPTOR.name, field.name)
        if field.kind == "message":
            cls = _CLASSES[field.type_name]
            if isinstance(value, dict):
                value = cls(**value)
            if not isinstance(value, cls):
                raise TypeError("%s: a %s, not %r" % (where, cls.DESCRIPTOR.name, value))
            return value
        if field.kind == "enum":
            return _ENUMS[field.type_name].number(value, where)
        kind = field.type_name
        if kind == "string":
            if not isinstance(value, str):
                raise TypeError("%s: a string, not %r" % (where, value))
            return value
        if kind == "bytes":
            if isinstance(value, str):
                return value.encode("utf-8")
            if not isinstance(value, (bytes, bytearray)):
                raise TypeError("%s: bytes, not %r" % (where, value))
            return bytes(value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError("%s: a bool, not %r" % (where, value))
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("%s: a number, not %r" % (where, value))
        if kind in _INTEGERS:
            if int(value) != value:
                raise TypeError("%s: an integer, not %r" % (where, value))
            value = int(value)
            if kind.startswith("u") and value < 0:
                raise ValueError("%s: not negative, not %r" % (where, value))
            return value
        return float(value)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        field = self._field(name)
        if field is None:
            raise AttributeError("%s has no field %r" % (self.DESCRIPTOR.name, name))
        values = self._values
        if field.name in values:
            return values[field.name]
        if field.repeated:
            values[field.name] = RepeatedField(self, field)
            return values[field.name]
        if field.kind == "message":
            # Read, a sub-message is its defaults; set within, it is present.
            child = _CLASSES[field.type_name]()
            object.__setattr__(child, "_parent", self)
            values[field.name] = child
            return child
        return _default(field)

    def __setattr__(self, name, value):
        field = self._field(name)
        if field is None:
            raise AttributeError("%s has no field %r" % (self.DESCRIPTOR.name, name))
        if field.repeated:
            items = RepeatedField(self, field)
            items.extend(value)
            self._values[field.name] = items
        else:
            value = self._coerce(field, value)
            if field.kind == "message":
                value = value.copy()
                object.__setattr__(value, "_parent", self)
                value._mark()
            self._values[field.name] = value
        self._mark()

    def HasField(self, name):
        field = self._field(name)
        if field is None or field.repeated:
            raise ValueError("%s has no singular field %r" % (self.DESCRIPTOR.name, name))
        value = self._values.get(field.name)
        if value is None:
            return False
        return value._present if field.kind == "message" else True

    def ClearField(self, name):
        field = self._field(name)
        if field is None:
            raise ValueError("%s has no field %r" % (self.DESCRIPTOR.name, name))
        self._values.pop(field.name, None)

    def Clear(self):
        self._values.clear()

    def CopyFrom(self, other):
        if type(other) is not type(self):
            raise TypeError("CopyFrom: a %s, not %r" % (self.DESCRIPTOR.name, other))
        self.Clear()
        self.MergeFrom(other)

    def MergeFrom(self, other):
        if type(other) is not type(self):
            raise TypeError("MergeFrom: a %s, not %r" % (self.DESCRIPTOR.name, other))
        other_json = other.to_json()
        for name, value in type(self).from_json(other_json)._values.items():
            field = self._field(name)
            if field.repeated:
                getattr(self, name).extend(value)
            elif field.kind == "message" and self.HasField(name):
                getattr(self, name).MergeFrom(value)
            elif field.kind != "message" or value._present:
                setattr(self, name, value)
        if other._present:
            self._mark()

    def SetInParent(self):
        self._mark()

    def copy(self):
        return type(self).from_json(self.to_json())

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        return (_restore, (self.DESCRIPTOR.full_name, self.to_json()))

    def ListFields(self):
        out = []
        for field in self.DESCRIPTOR.fields:
            if field.name not in self._values:
                continue
            value = self._values[field.name]
            if field.repeated and not value:
                continue
            if field.kind == "message" and not field.repeated and not value._present:
                continue
            out.append((field, value))
        return out

    # ---- the v1 API's JSON

    def to_json(self):
        """The message as the v1 HTTP API's JSON: a dict of the fields set, enums by name, bytes in base64."""
        out = {}
        for field, value in self.ListFields():
            if field.repeated:
                out[field.name] = [_to_json(field, v) for v in value]
            else:
                out[field.name] = _to_json(field, value)
        return out

    @classmethod
    def from_json(cls, data):
        """The message a dict of the v1 API's JSON holds; fields it does not know are left out."""
        if not isinstance(data, dict):
            raise TypeError("%s: a JSON object, not %r" % (cls.DESCRIPTOR.name, data))
        message = cls()
        for name, value in data.items():
            field = cls._field(name)
            if field is None:
                continue  # a field of a newer master
            if field.repeated:
                if not isinstance(value, list):
                    raise TypeError("%s.%s: a list, not %r" % (cls.DESCRIPTOR.name, name, value))
                items = getattr(message, field.name)
                for v in value:
                    v = _from_json(field, v)
                    if v is not _UNKNOWN:
                        super(RepeatedField, items).append(v)
                message._mark()
            else:
                value = _from_json(field, value)
                if value is not _UNKNOWN:
                    setattr(message, field.name, value)
        return message

    # ---- the rest of a value

    def __eq__(self, other):
        return type(other) is type(self) and self.to_json() == other.to_json()

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def __repr__(self):
        return "%s(%s)" % (self.DESCRIPTOR.name, ", ".join("%s=%r" % (f.name, v) for f, v in self.ListFields()))

    def __str__(self):
        return repr(self)


_UNKNOWN = object()


def _restore(full_name, data):  # pickle's way back
    return _CLASSES[full_name].from_json(data)


def _default(field):
    if field.kind == "enum":
        enum = _ENUMS[field.type_name]
        if field.default is not None:
            return enum.Value(field.default)
        return enum.DESCRIPTOR.values[0][1]
    if field.default is not None:
        text = field.default
        if field.type_name == "string":
            return text.strip('"')
        if field.type_name == "bool":
            return text == "true"
        if field.type_name in _INTEGERS:
            return int(text)
        return float(text)
    if field.type_name in _INTEGERS:
        return 0
    return _DEFAULTS[field.type_name]


def _to_json(field, value):
    if field.kind == "message":
        return value.to_json()
    if field.kind == "enum":
        return _ENUMS[field.type_name].Name(value)
    if field.type_name == "bytes":
        return base64.b64encode(value).decode("ascii")
    return value


def _from_json(field, value):
    if field.kind == "message":
        message = _CLASSES[field.type_name].from_json(value)
        message._mark()
        return message
    if field.kind == "enum":
        if isinstance(value, str) and value not in _ENUMS[field.type_name]._by_name:
            return _UNKNOWN  # a value of a newer master: the field stays unset, as in proto2
        return value
    if field.type_name == "bytes":
        if not isinstance(value, str):
            raise TypeError("%s: base64 text, not %r" % (field.name, value))
        return base64.b64decode(value)
    return value


# ---- the classes, made from mesos.proto

_SCHEMA = _proto.parse(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "mesos.proto")).read())
_CLASSES = {}
_ENUMS = {full_name: EnumType(desc) for full_name, desc in _SCHEMA.enums.items()}


def _make(desc):
    fields = {}
    for field in desc.fields:
        fields[field.name] = field
        if field.name.startswith("agent_"):
            fields["slave_" + field.name[len("agent_"):]] = field
    cls = type(str(desc.name), (Message,), {"DESCRIPTOR": desc, "_FIELDS": fields, "__slots__": ()})
    _CLASSES[desc.full_name] = cls
    for nested in desc.messages:
        setattr(cls, nested.name, _make(nested))
    for nested in desc.enums:
        enum = _ENUMS[nested.full_name]
        setattr(cls, nested.name, enum)
        for name, number in nested.values + enum.aliases:  # protobuf puts a nested enum's values on its message
            setattr(cls, name, number)
    return cls


for _desc in _SCHEMA.top_messages:
    globals()[_desc.name] = _make(_desc)
for _desc in _SCHEMA.top_enums:
    globals()[_desc.name] = _ENUMS[_desc.full_name]
    for _name, _number in _desc.values + _ENUMS[_desc.full_name].aliases:
        globals()[_name] = _number

# Mesos 0.x's names for what v1 calls agents.
SlaveID = AgentID  # noqa: F821 (made above)
SlaveInfo = AgentInfo  # noqa: F821
