#!/usr/bin/env python3
"""Derive the google provider's schema from a cdktn-provider-google wheel.

Terraform's google provider cannot be downloaded where CI runs, so
`terraform validate` never compares terraform/ with the provider's schema.
The PyPI packages `cdktn-provider-google` are generated from that schema
(19.9.0 wraps google 7.40.0, 20.3.1 wraps 7.46.1): their jsii assembly
(`_jsii/provider-google@VERSION.jsii.tgz`, `package/.jsii`) has a class per
resource and data source, a `*Config` interface with its arguments, and a
struct per nested block, with each argument's optionality. This script turns
one wheel into a compact JSON schema that the Rust test
tests/tests/terraform/schema.rs checks terraform/ against:

    {"format": 1, "provider": "hashicorp/google", "version": "7.40.0",
     "source": "cdktn-provider-google 19.9.0",
     "resources": {TYPE: BLOCK}, "data_sources": {TYPE: BLOCK}}
    BLOCK = {"attributes": {NAME: {"mode": MODE, "type": TYPE}},
             "blocks": {NAME: {"required": bool, "list": bool, "block": BLOCK}}}
    MODE  = "required" | "optional" | "computed"   (computed = computed-only)
    TYPE  = "string" | "number" | "bool" | "any"
          | {"list": TYPE} | {"map": TYPE} | {"object": {NAME: TYPE}}

Where each fact comes from, and why:

- resource and data source types: classes based on `cdktn.TerraformResource`
  / `cdktn.TerraformDataSource`; the type name is the text of the registry
  link in the class summary (`{@link .../docs/resources/X google_X}`), the
  provider version the link's path;
- arguments, their optionality and whether they are blocks: the properties
  of the class's `config` interface and of the nested structs. Terraform's
  own name is the anchor of the property's registry link (`#max_instance_count`):
  converting camelCase back is wrong for about 1 name in 2,000
  (`hugepageSize1G` is `hugepage_size_1g`, `buildAttribute` is `build`). A
  block's summary is exactly "NAME block."; its struct type is the block's
  body, and a collection of it a repeatable block;
- computed-only attributes: the getters of the resource class (or of the
  block's `*OutputReference` class) that have no counterpart among the
  arguments. Getters carry no registry link, so their Terraform name is read
  from the generated JavaScript in the same package, which names every
  attribute it reads (`this.getStringAttribute('create_time')`,
  `new XList(this, "conditions", false)`);
- the rare property whose docs lost the link (a description with `/**` in
  it) is named from the struct's `*ToTerraform` mapper in the JavaScript.

Usage: tfschema.py derive WHEEL... --out DIR
  writes DIR/<wheel name>.schema.json for each wheel, unless it is newer than
  both the wheel and this script. Exit status: 0 done, 1 a wheel could not be
  read (the reason is printed), 2 usage.
"""

import json
import os
import re
import sys
import tarfile
import tempfile
import zipfile

FORMAT = 1
ASSEMBLY_PREFIX = "@cdktn/provider-google."

_LINK = re.compile(r"\{@link (\S+?)#([a-z0-9_]+) [^}]+\}")
_TYPE_LINK = re.compile(r"\{@link https://registry\.terraform\.io/providers/hashicorp/google/([0-9.]+)/docs/(resources|data-sources)/\S+ (google_[a-z0-9_]+)\}")
# Getters that read an attribute by name, and complex attributes built in constructors.
# (`cdktn.Fn.tolist(this.getListAttribute('x'))` for sets), and complex
# attributes built in the constructor or, in newer releases, as class fields.
_JS_GETTER = re.compile(r"get (\w+)\(\) \{\s*return [^;]*?this\.get\w*Attribute\('([a-z0-9_]+)'\)")
_JS_COMPLEX = re.compile(r"_(\w+) = new [\w.]+\(this, \"([a-z0-9_]+)\"")
# `tf_name: mapper(struct.camelName)` lines of the *ToTerraform functions.
# `get buildAttribute() { return this._build; }`: a getter renamed to avoid a clash.
_JS_FIELD_GETTER = re.compile(r"get (\w+)\(\) \{\s*return this\._(\w+);")
_JS_MAPPER = re.compile(r"^[ \t]+([a-z0-9_]+): [^\n]*\(struct\.(\w+)\),?$", re.M)

_PRIMITIVES = {"string": "string", "number": "number", "boolean": "bool", "any": "any", "json": "any", "date": "string"}
# cdktn's collection classes, as Terraform types.
_CDKTN_TYPES = {
    "cdktn.IResolvable": "any",
    "cdktn.StringMap": {"map": "string"},
    "cdktn.NumberMap": {"map": "number"},
    "cdktn.BooleanMap": {"map": "bool"},
    "cdktn.AnyMap": {"map": "any"},
    "cdktn.StringMapList": {"list": {"map": "string"}},
    "cdktn.NumberMapList": {"list": {"map": "number"}},
    "cdktn.BooleanMapList": {"list": {"map": "bool"}},
    "cdktn.AnyMapList": {"list": {"map": "any"}},
}


class Unreadable(Exception):
    """The wheel is not a cdktn-provider-google wheel this script understands."""


def read_wheel(path):
    """The assembly (parsed .jsii) and {module dir: JavaScript source} of a wheel."""
    with zipfile.ZipFile(path) as wheel:
        tgz = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
        if len(tgz) != 1:
            raise Unreadable(f"{path}: expected one .jsii.tgz, found {tgz}")
        assembly, js = None, {}
        with wheel.open(tgz[0]) as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
            for member in tar:
                if member.name == "package/.jsii":
                    assembly = json.load(tar.extractfile(member))
                elif member.name.startswith("package/lib/") and member.name.endswith(".js"):
                    # lib/MODULE/index.js, and lib/MODULE/index-structs/structsN.js
                    # where a module's structs are split over several files.
                    module = member.name.split("/")[2]
                    js[module] = js.get(module, "") + tar.extractfile(member).read().decode()
    if assembly is None:
        raise Unreadable(f"{path}: no package/.jsii in {tgz[0]}")
    return assembly, js


def js_names(source):
    """camelCase name -> Terraform name, as the generated JavaScript spells them."""
    names = {}
    for camel, tf in _JS_GETTER.findall(source):
        names.setdefault(camel, tf)
    # Only the few lines that can match: a regex over whole files is slow.
    for line in source.splitlines():
        if '(this, "' in line and " = new " in line:
            m = _JS_COMPLEX.search(line)
            if m:
                names.setdefault(m.group(1), m.group(2))
    for tf, camel in _JS_MAPPER.findall(source):
        names.setdefault(camel, tf)
    for getter, field in _JS_FIELD_GETTER.findall(source):
        if field in names:
            names.setdefault(getter, names[field])
    return names


def _doc_texts(docs):
    yield docs.get("summary", "")
    yield docs.get("remarks", "")
    yield docs.get("returns", "")
    for v in (docs.get("custom") or {}).values():
        yield v


class Deriver:
    def __init__(self, assembly, js):
        self.types = assembly["types"]
        self.js = js
        self.js_cache = {}
        self.guessed = []

    def module_names(self, fqn):
        t = self.types[fqn]
        module = t["locationInModule"]["filename"].split("/")[1]
        if module not in self.js_cache:
            self.js_cache[module] = js_names(self.js.get(module, ""))
        return self.js_cache[module]

    def tf_name(self, owner_fqn, prop):
        for text in _doc_texts(prop.get("docs") or {}):
            m = _LINK.search(text)
            if m:
                return m.group(2)
        name = self.module_names(owner_fqn).get(prop["name"])
        if name:
            return name
        # Last resort, and counted: camelCase back to snake_case.
        guess = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), prop["name"])
        self.guessed.append(f"{owner_fqn}.{prop['name']} -> {guess}")
        return guess

    def type_of(self, t):
        if "primitive" in t:
            return _PRIMITIVES.get(t["primitive"], "any")
        if "collection" in t:
            kind = "list" if t["collection"]["kind"] == "array" else "map"
            return {kind: self.type_of(t["collection"]["elementtype"])}
        if "union" in t:
            # `boolean | IResolvable`, `IResolvable | Struct[]`: the non-token member.
            members = [m for m in t["union"]["types"] if m.get("fqn") != "cdktn.IResolvable"]
            return self.type_of(members[0]) if len(members) == 1 else "any"
        fqn = t.get("fqn", "")
        if fqn in _CDKTN_TYPES:
            return _CDKTN_TYPES[fqn]
        if fqn.startswith(ASSEMBLY_PREFIX):
            return self.complex_type(fqn)
        return "any"

    def complex_type(self, fqn):
        """A provider type used as a value: a struct (nested attribute), or a
        computed list / object class."""
        t = self.types[fqn]
        if t["kind"] == "interface":
            return {"object": {self.tf_name(fqn, p): self.type_of(p["type"]) for p in t.get("properties", [])}}
        if t.get("base") == "cdktn.ComplexList":
            element = next(m for m in t.get("methods", []) if m["name"] == "get")["returns"]["type"]
            return {"list": self.type_of(element)}
        return {"object": {name: ty for name, ty in self.getters(fqn, set())}}

    def getters(self, class_fqn, known):
        """(Terraform name, type) of the class's attribute getters not in `known` (camelCase names)."""
        for p in self.types.get(class_fqn, {}).get("properties", []):
            if p.get("static") or not p.get("immutable") or p["name"].endswith("Input") or p["name"] in known:
                continue
            yield self.tf_name(class_fqn, p), self.type_of(p["type"])

    def block(self, struct_fqn, class_fqn):
        """The schema of a block whose arguments are `struct_fqn`'s properties and
        whose computed-only attributes are the extra getters of `class_fqn`."""
        struct = self.types[struct_fqn]
        attributes, blocks, known = {}, {}, set()
        for p in struct.get("properties", []):
            known.add(p["name"])
            name = self.tf_name(struct_fqn, p)
            element, repeated = self.block_element(p["type"])
            if element and (p.get("docs") or {}).get("summary") == f"{name} block.":
                blocks[name] = {
                    "required": not p.get("optional", False),
                    "list": repeated,
                    "block": self.block(element, element + "OutputReference"),
                }
            else:
                attributes[name] = {"mode": "optional" if p.get("optional") else "required", "type": self.type_of(p["type"])}
        for name, ty in self.getters(class_fqn, known):
            if name not in attributes and name not in blocks:
                attributes[name] = {"mode": "computed", "type": ty}
        return {"attributes": attributes, "blocks": blocks}

    def block_element(self, t):
        """(struct fqn, repeated) when `t` is a provider struct or a collection of one."""
        if "union" in t:
            for m in t["union"]["types"]:
                found = self.block_element(m)
                if found[0]:
                    return found
            return None, False
        if "collection" in t:
            inner, _ = self.block_element(t["collection"]["elementtype"])
            return inner, True
        fqn = t.get("fqn", "")
        if fqn.startswith(ASSEMBLY_PREFIX) and self.types[fqn].get("datatype"):
            return fqn, False
        return None, False

    def schema(self):
        out = {"resources": {}, "data_sources": {}}
        versions = set()
        for fqn, t in self.types.items():
            kind = {"cdktn.TerraformResource": "resources", "cdktn.TerraformDataSource": "data_sources"}.get(t.get("base"))
            if not kind:
                continue
            m = _TYPE_LINK.search((t.get("docs") or {}).get("summary", ""))
            if not m:
                raise Unreadable(f"{fqn}: no registry link naming the type in its summary")
            versions.add(m.group(1))
            config = next(p for p in t["initializer"]["parameters"] if p["name"] == "config")["type"]["fqn"]
            out[kind][m.group(3)] = self.block(config, fqn)
        if len(versions) != 1:
            raise Unreadable(f"the assembly links to several provider versions: {sorted(versions)}")
        out["version"] = versions.pop()
        return out


def derive(wheel):
    assembly, js = read_wheel(wheel)
    deriver = Deriver(assembly, js)
    schema = deriver.schema()
    if not schema["resources"] or not schema["data_sources"]:
        raise Unreadable(f"{wheel}: no resources or data sources found")
    return {
        "format": FORMAT,
        "provider": "hashicorp/google",
        "version": schema["version"],
        "source": f"cdktn-provider-google {assembly['version']}",
        "guessed_names": deriver.guessed,
        "resources": schema["resources"],
        "data_sources": schema["data_sources"],
    }


def output_path(out_dir, wheel):
    base = os.path.basename(wheel)
    return os.path.join(out_dir, base[: -len(".whl")] + ".schema.json")


def up_to_date(target, wheel):
    if not os.path.exists(target):
        return False
    newest_input = max(os.path.getmtime(wheel), os.path.getmtime(os.path.abspath(__file__)))
    return os.path.getmtime(target) > newest_input


def main(argv):
    args = argv[1:]
    if len(args) < 4 or args[0] != "derive" or "--out" not in args:
        print(__doc__.split("Usage:")[1].strip(), file=sys.stderr)
        return 2
    i = args.index("--out")
    out_dir, wheels = args[i + 1], args[1:i] + args[i + 2 :]
    if not wheels:
        print("tfschema: no wheels given", file=sys.stderr)
        return 2
    os.makedirs(out_dir, exist_ok=True)
    failed = False
    for wheel in wheels:
        target = output_path(out_dir, wheel)
        if up_to_date(target, wheel):
            continue
        try:
            schema = derive(wheel)
        except (Unreadable, OSError, KeyError, StopIteration, ValueError, zipfile.BadZipFile, tarfile.TarError) as e:
            print(f"tfschema: cannot derive a schema from {wheel}: {e!r}", file=sys.stderr)
            failed = True
            continue
        # Written whole, then renamed: a test reading it never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(schema, f, separators=(",", ":"), sort_keys=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        print(
            f"tfschema: {schema['source']} -> google {schema['version']}: "
            f"{len(schema['resources'])} resources, {len(schema['data_sources'])} data sources, "
            f"{len(schema['guessed_names'])} names guessed -> {target}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
