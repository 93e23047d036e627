#!/usr/bin/env node
// Validates rendered Kubernetes manifests (multi-document YAML on stdin or in the files named
// on the command line) against the Kubernetes API's OpenAPI schemas as compiled by the npm
// package kubernetes-models (pinned in package-lock.json; 4.4.2 = the Kubernetes 1.27 API, the
// chart's minimum kubeVersion).
//
// Beyond the schemas (types, required fields, enums, formats), it is strict like
// `kubeconform -strict`: a field the schema does not define (a typo such as `nodeSelectr`, or
// a field from a newer Kubernetes) is an error. The compiled validators read every property
// their schema defines; each object is wrapped in a Proxy that records which keys were read,
// and keys never read are unknown. Maps (labels, annotations, resources) are enumerated by the
// validator, which marks all their keys as read.
//
// Kinds from outside the core API (CRDs such as monitoring.coreos.com ServiceMonitor) are
// checked only for apiVersion, kind and metadata.name, and reported as such.
// Exit 0 when every object is valid, 1 otherwise; prints one line per object.
"use strict";
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const modelsDir = path.dirname(require.resolve("kubernetes-models/package.json"));

function schemaFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const file = path.join(modelsDir, group, version, `${kind}.js`);
  if (!/^[A-Za-z0-9.]*$/.test(group) || !/^\w+$/.test(version) || !/^\w+$/.test(kind) ||
      !fs.existsSync(file)) {
    return null;
  }
  const name = Object.keys(require(file)).find((k) => k.startsWith("IoK8s"));
  if (!name) return null;
  const schemaFile = path.join(modelsDir, "_schemas", `${name}.js`);
  return fs.existsSync(schemaFile) ? require(schemaFile).validate : null;
}

// Wraps `value` so that every key a validator reads (or enumerates) is recorded in `seen`
// under its JSON pointer; `all` collects every key that exists.
function track(value, pointer, seen, all) {
  if (value === null || typeof value !== "object") return value;
  const children = new Map();
  if (!Array.isArray(value)) {
    for (const key of Object.keys(value)) all.add(`${pointer}/${key}`);
  }
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key !== "string" || !Object.prototype.hasOwnProperty.call(target, key)) {
        return Reflect.get(target, key, receiver);
      }
      const child = `${pointer}/${key}`;
      if (!Array.isArray(target)) seen.add(child);
      if (!children.has(key)) children.set(key, track(target[key], child, seen, all));
      return children.get(key);
    },
    ownKeys(target) {
      if (!Array.isArray(target)) {
        for (const key of Object.keys(target)) seen.add(`${pointer}/${key}`);
      }
      return Reflect.ownKeys(target);
    },
  });
}

function describe(doc) {
  const name = (doc.metadata && doc.metadata.name) || "<no name>";
  return `${doc.kind || "<no kind>"}/${name} (${doc.apiVersion || "<no apiVersion>"})`;
}

function validateDoc(doc) {
  const errors = [];
  if (typeof doc.apiVersion !== "string" || typeof doc.kind !== "string") {
    return {errors: ["apiVersion and kind must be strings"], checked: "none"};
  }
  if (!doc.metadata || typeof doc.metadata.name !== "string" || !doc.metadata.name) {
    errors.push("metadata.name is missing");
  }
  const validate = schemaFor(doc.apiVersion, doc.kind);
  if (!validate) {
    if (/^[a-z0-9.-]+\.[a-z]+\/\w+$/.test(doc.apiVersion) && !/\.k8s\.io\//.test(doc.apiVersion)) {
      return {errors, checked: "custom resource: apiVersion, kind, metadata.name only"};
    }
    errors.push(`no schema for ${doc.apiVersion} ${doc.kind} in the Kubernetes 1.27 API`);
    return {errors, checked: "none"};
  }
  const seen = new Set();
  const all = new Set();
  const ok = validate(track(doc, "", seen, all));
  if (!ok) {
    for (const e of validate.errors || []) {
      errors.push(`${e.instancePath || "/"}: ${e.keyword} ${JSON.stringify(e.params)}` +
                  (e.message ? ` ${e.message}` : ""));
    }
  }
  for (const key of all) {
    if (!seen.has(key)) errors.push(`${key}: unknown field (not in the schema)`);
  }
  return {errors, checked: "schema (strict)"};
}

function main() {
  const inputs = process.argv.slice(2);
  const texts = inputs.length ? inputs.map((f) => [f, fs.readFileSync(f, "utf8")])
                              : [["<stdin>", fs.readFileSync(0, "utf8")]];
  let objects = 0;
  let failed = 0;
  for (const [file, text] of texts) {
    for (const parsed of YAML.parseAllDocuments(text, {uniqueKeys: true})) {
      if (parsed.errors.length) {
        failed++;
        console.log(`FAIL ${file}: YAML: ${parsed.errors.map((e) => e.message).join("; ")}`);
        continue;
      }
      const doc = parsed.toJS();
      if (doc === null || doc === undefined) continue;  // empty document
      objects++;
      const {errors, checked} = validateDoc(doc);
      if (errors.length) {
        failed++;
        console.log(`FAIL ${file}: ${describe(doc)}`);
        for (const e of errors) console.log(`  ${e}`);
      } else {
        console.log(`ok   ${describe(doc)}: ${checked}`);
      }
    }
  }
  if (objects === 0) {
    console.log("FAIL: no Kubernetes object in the input");
    return 1;
  }
  console.log(`${objects} objects, ${failed} invalid`);
  return failed ? 1 : 0;
}

process.exitCode = main();
