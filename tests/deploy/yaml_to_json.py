"""Print the YAML documents of each file named on the command line as JSON:
[{"file": PATH, "documents": [...]}, ...]. Empty documents are left out.
Used by tests/deploy.rs, which asserts properties of the manifests in Rust."""

import json
import sys

import yaml

out = []
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    out.append({"file": path, "documents": docs})
json.dump(out, sys.stdout)
