"""Validate TOML files against a JSON Schema with the `jsonschema` package.

usage: validate.py SCHEMA.json FILE.toml...

The TOML is read with Python's own tomllib, so neither the parse nor the
validation is actgate's code. Prints one line per file: `ok FILE`, or
`invalid FILE` followed by one `  at PATH: MESSAGE` line per error.
Exit 0 when every file is valid, 1 when one is not, 2 when the schema
itself is not a valid schema of its draft.
"""

import json
import sys
import tomllib

import jsonschema


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        print(f"bad schema ({cls.__name__}): {e.message}")
        return 2
    print(f"validator {cls.__name__}")
    validator = cls(schema)
    status = 0
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            document = tomllib.load(f)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if not errors:
            print(f"ok {path}")
            continue
        status = 1
        print(f"invalid {path}")
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path) or "(top)"
            print(f"  at {where}: {e.message}")
    return status


if __name__ == "__main__":
    sys.exit(main())
