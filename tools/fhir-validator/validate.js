// Validate FHIR R4 JSON files with two validators that share no code with the project:
// HL7's R4 JSON Schema (fhir.schema.json, checked by ajv) and FHIR.js (R4 StructureDefinitions).
// Prints one JSON line per file: {file, valid, errors: [...]}. Exit 0 when all are valid, 1 otherwise.
'use strict';
const fs = require('fs');
const SchemaValidator = require('@asymmetrik/fhir-json-schema-validator');
const { Fhir } = require('fhir');

const schema = new SchemaValidator();
const fhirjs = new Fhir();
let allValid = true;
for (const file of process.argv.slice(2)) {
  const errors = [];
  let resource;
  try {
    resource = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    errors.push({ validator: 'json', message: String(e) });
  }
  if (resource) {
    for (const e of schema.validate(resource, true)) {
      errors.push({ validator: 'hl7-json-schema', path: e.dataPath, message: e.message });
    }
    const result = fhirjs.validate(resource, { errorOnUnexpected: true });
    for (const m of result.messages || []) {
      if (m.severity === 'error') errors.push({ validator: 'fhir.js', path: m.location, message: m.message });
    }
  }
  if (errors.length) allValid = false;
  console.log(JSON.stringify({ file, valid: errors.length === 0, errors }));
}
process.exit(allValid ? 0 : 1);
