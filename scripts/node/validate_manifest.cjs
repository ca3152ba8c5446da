#!/usr/bin/env node
// Validate a Teams app package (zip or folder) against the official JSON schemas of its
// manifestVersion, offline: npm @microsoft/app-manifest bundles the schemas and picks
// the one the manifest's "$schema" names. The localization files are checked against
// their own "$schema" too.
//
//   node scripts/node/validate_manifest.cjs dist/atmt-bot-teams.zip
//
// Prints a JSON report {ok, files: {name: [errors]}} and exits 0 (valid) or 1.
"use strict";
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");
const { AppManifestUtils } = require("@microsoft/app-manifest");
// Dependencies of @microsoft/app-manifest (installed with it).
const Ajv04 = require("ajv-draft-04");
const addFormats = require("ajv-formats");

// The bundled localization schemas contain a pattern that is invalid as a Unicode
// regular expression ("\\b]" in activities.activityTypes[...]), which
// validateAgainstSchema's Ajv rejects; compile them without the "u" flag.
function validateLocalization(schema, data) {
  const ajv = new Ajv04({ allErrors: true, strict: false, unicodeRegExp: false });
  addFormats(ajv, ["uri", "email", "regex"]);
  const validate = ajv.compile(schema);
  if (validate(data)) return [];
  return validate.errors.map((e) => `${e.instancePath} ${e.message || ""}. Details: ${JSON.stringify(e.params)}`);
}

function unzip(file) {
  // Minimal reader of the central directory (stored or deflated entries).
  const buf = fs.readFileSync(file);
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${file}: not a zip file`);
  const count = buf.readUInt16LE(eocd + 10);
  let offset = buf.readUInt32LE(eocd + 16);
  const entries = {};
  for (let i = 0; i < count; i++) {
    const method = buf.readUInt16LE(offset + 10);
    const size = buf.readUInt32LE(offset + 20);
    const nameLen = buf.readUInt16LE(offset + 28);
    const extraLen = buf.readUInt16LE(offset + 30);
    const commentLen = buf.readUInt16LE(offset + 32);
    const local = buf.readUInt32LE(offset + 42);
    const name = buf.toString("utf8", offset + 46, offset + 46 + nameLen);
    const dataStart = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(dataStart, dataStart + size);
    entries[name] = method === 0 ? raw : zlib.inflateRawSync(raw);
    offset += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function readPackage(target) {
  if (fs.statSync(target).isDirectory()) {
    const entries = {};
    for (const name of fs.readdirSync(target)) entries[name] = fs.readFileSync(path.join(target, name));
    return entries;
  }
  return unzip(target);
}

async function main() {
  const target = process.argv[2];
  if (!target) throw new Error("usage: validate_manifest.cjs PACKAGE.zip|FOLDER");
  const entries = readPackage(target);
  const report = { ok: true, manifestVersion: null, files: {} };
  if (!entries["manifest.json"]) throw new Error("manifest.json is missing");
  const manifest = JSON.parse(entries["manifest.json"].toString("utf8"));
  report.manifestVersion = manifest.manifestVersion;
  report.files["manifest.json"] = await AppManifestUtils.validateAgainstSchema(manifest);
  const languages = (manifest.localizationInfo && manifest.localizationInfo.additionalLanguages) || [];
  for (const { file } of languages) {
    if (!entries[file]) {
      report.files[file] = ["file named in localizationInfo is missing"];
      continue;
    }
    const localized = JSON.parse(entries[file].toString("utf8"));
    const schema = await AppManifestUtils.fetchSchema(localized.$schema);
    report.files[file] = validateLocalization(schema, localized);
  }
  for (const errors of Object.values(report.files)) if (errors.length) report.ok = false;
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  process.exit(report.ok ? 0 : 1);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
