// Validates Kubernetes objects against the API's schemas with kubernetes-models (ESM
// only, so it runs as its own process rather than inside jest's CommonJS tests).
// stdin: a JSON array of objects. stdout: a JSON array of { kind, name, error }, one per
// object, error null when the object is valid. Exit 2 when a kind has no model.
import { readFileSync } from 'node:fs';

const objects = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
let unknown = false;
for (const object of objects) {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const module =
    group === 'monitoring.coreos.com'
      ? `@kubernetes-models/prometheus-operator/${group}/${version}/${object.kind}`
      : `kubernetes-models/${group ? `${group}/` : ''}${version}/${object.kind}`;
  let Model;
  try {
    Model = (await import(module))[object.kind];
  } catch {
    Model = undefined;
  }
  if (typeof Model !== 'function') {
    unknown = true;
    results.push({
      kind: object.kind,
      name: object.metadata?.name,
      error: `no schema model for ${object.apiVersion} ${object.kind}`,
    });
    continue;
  }
  try {
    new Model(object).validate();
    results.push({ kind: object.kind, name: object.metadata?.name, error: null });
  } catch (err) {
    results.push({ kind: object.kind, name: object.metadata?.name, error: String(err?.message ?? err) });
  }
}
process.stdout.write(JSON.stringify(results));
process.exitCode = unknown ? 2 : 0;
